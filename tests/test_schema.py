import polars as pl
import pytest

from tracelens import schema as s
from tracelens.errors import SchemaError
from tracelens.testing import make_trace, span_id_for


def test_make_trace_meets_contract():
    frame = make_trace(
        [
            {"span": "root", "service": "web", "name": "GET /", "start": 0, "end": 100,
             "attrs": {"http.route": "/x", "http.status_code": 200}},
            {"span": "db", "parent": "root", "service": "db", "start": 10, "end": 60, "kind": "client"},
        ]
    )
    s.validate(frame)
    assert frame[s.PARENT_SPAN_ID].to_list() == [None, span_id_for("root")]
    assert frame[s.HTTP_ROUTE][0] == "/x"
    assert frame[s.HTTP_RESPONSE_STATUS_CODE][0] == 200  # legacy name promoted
    assert s.plain_attributes(frame[s.ATTRIBUTES][0].to_list()) == {"http.route": "/x", "http.status_code": 200}


def test_validate_names_every_problem():
    frame = make_trace([{"span": "a", "start": 0, "end": 1}])
    bad = frame.with_columns(pl.lit("XYZ").alias(s.TRACE_ID), pl.lit(None, pl.String).alias(s.NAME))
    with pytest.raises(SchemaError) as info:
        s.validate(bad)
    text = str(info.value)
    assert "trace_id" in text and "lowercase hex" in text and "'name' has 1 null" in text
    with pytest.raises(SchemaError, match="missing column 'kind'"):
        s.validate(frame.drop(s.KIND))


def test_typed_attributes_round_trip():
    values = {"s": "x", "b": True, "i": 7, "f": 1.5, "y": b"\x00\x01", "a": [1, "x"], "m": {"k": 1}, "n": None}
    assert s.plain_attributes(s.typed_attributes(values)) == values


def test_conform_fills_missing_and_duration():
    frame = make_trace([{"span": "a", "start": 0, "end": 5}])
    lean = frame.select(s.TRACE_ID, s.SPAN_ID, s.NAME, s.KIND, s.SERVICE_NAME, s.START, s.END, s.STATUS_CODE)
    out = s.conform(lean).collect()
    assert out.schema == s.SPAN_SCHEMA
    assert out[s.DURATION][0].total_seconds() == pytest.approx(0.005)
