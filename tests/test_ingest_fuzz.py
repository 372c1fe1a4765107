"""Fuzz: generated and mutated OTLP requests.

The fast decoder (numba wire scanner) must raise nothing but DecodeError, must accept exactly
what upb (the reference decoder) accepts, and must produce the same frame, rejections and
error sentences for it.
"""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tracelens.errors import DecodeError
from tracelens.ingest import decode_otlp_protobuf, decode_otlp_protobuf_batch, validate_otlp_protobuf
from tracelens.ingest.otlp_reference import decode_otlp_protobuf_reference

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ids16 = st.one_of(st.binary(min_size=16, max_size=16), st.sampled_from([b"", b"\x00" * 16, b"\x01" * 15, b"\x02" * 17]))
ids8 = st.one_of(st.binary(min_size=8, max_size=8), st.sampled_from([b"", b"\x00" * 8, b"\x01" * 7, b"\x02" * 9]))
texts = st.text(max_size=20)
keys = st.one_of(
    st.sampled_from(["service.name", "http.route", "http.method", "http.request.method", "http.status_code",
                     "http.response.status_code", "db.system", "host.name", "deployment.environment"]),
    texts,
)
scalars = st.one_of(
    st.none(), texts, st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True), st.binary(max_size=20),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)), max_leaves=6)
attributes = st.lists(st.tuples(keys, values), max_size=5)


def fill_value(target: AnyValue, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, list):
        target.array_value.SetInParent()
        for item in value:
            fill_value(target.array_value.values.add(), item)
    else:
        target.kvlist_value.SetInParent()
        for k, item in value.items():
            kv = target.kvlist_value.values.add(key=k)
            fill_value(kv.value, item)


def fill_attributes(target, attrs) -> None:
    for key, value in attrs:
        fill_value(target.add(key=key).value, value)


spans = st.fixed_dictionaries(
    {
        "trace_id": ids16, "span_id": ids8, "parent_span_id": ids8, "name": texts,
        "kind": st.integers(min_value=-1, max_value=7), "start": st.integers(min_value=0, max_value=2**64 - 1),
        "end": st.integers(min_value=0, max_value=2**64 - 1), "flags": st.integers(min_value=0, max_value=2**32 - 1),
        "trace_state": texts, "status": st.tuples(st.integers(min_value=0, max_value=3), texts),
        "attributes": attributes,
        "events": st.lists(st.tuples(st.integers(min_value=0, max_value=2**64 - 1), texts, attributes), max_size=2),
        "links": st.lists(st.tuples(st.binary(max_size=17), st.binary(max_size=9), texts, attributes), max_size=2),
    }
)
requests = st.lists(
    st.tuples(attributes, st.lists(st.tuples(texts, texts, st.lists(spans, max_size=3)), max_size=2)), max_size=2
)


def build(resource_spans) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for resource_attrs, scopes in resource_spans:
        rs = request.resource_spans.add()
        fill_attributes(rs.resource.attributes, resource_attrs)
        for scope_name, scope_version, span_list in scopes:
            ss = rs.scope_spans.add()
            ss.scope.name, ss.scope.version = scope_name, scope_version
            for d in span_list:
                span = ss.spans.add(
                    trace_id=d["trace_id"], span_id=d["span_id"], parent_span_id=d["parent_span_id"], name=d["name"],
                    kind=d["kind"], start_time_unix_nano=d["start"], end_time_unix_nano=d["end"], flags=d["flags"],
                    trace_state=d["trace_state"],
                )
                span.status.code, span.status.message = d["status"]
                fill_attributes(span.attributes, d["attributes"])
                for time, name, attrs in d["events"]:
                    fill_attributes(span.events.add(time_unix_nano=time, name=name).attributes, attrs)
                for trace_id, span_id, state, attrs in d["links"]:
                    fill_attributes(span.links.add(trace_id=trace_id, span_id=span_id, trace_state=state).attributes, attrs)
    return request


def assert_same_outcome(data: bytes) -> None:
    """Fast and reference decoders agree: both DecodeError, or the same result."""
    try:
        expected = decode_otlp_protobuf_reference(data)
    except DecodeError:
        expected = None
    try:
        verdict = validate_otlp_protobuf(data)
    except DecodeError:
        verdict = None
    try:
        got = decode_otlp_protobuf(data)
    except DecodeError:
        assert expected is None, "fast decoder refused a request upb accepts"
        assert verdict is None, "validation accepted a request the decoder refuses"
        return
    assert expected is not None, "fast decoder accepted a request upb refuses"
    assert got.spans.schema == expected.spans.schema
    assert got.spans.equals(expected.spans), _first_difference(got.spans, expected.spans)
    assert (got.rejected, got.rejected_by_reason, got.errors) == (expected.rejected, expected.rejected_by_reason, expected.errors)
    assert verdict is not None, "validation refused a request the decoder accepts"
    assert (verdict.accepted, verdict.rejected, verdict.rejected_by_reason, verdict.errors) == (
        got.spans.height, got.rejected, got.rejected_by_reason, got.errors
    )


def _first_difference(a: pl.DataFrame, b: pl.DataFrame) -> str:
    if a.height != b.height:
        return f"heights {a.height} != {b.height}"
    for name in a.columns:
        if not a[name].equals(b[name]):
            return f"column {name}: {a[name].to_list()[:3]} != {b[name].to_list()[:3]}"
    return "?"


@SETTINGS
@given(requests)
def test_generated_requests_decode_like_reference(resource_spans):
    assert_same_outcome(build(resource_spans).SerializeToString())


@SETTINGS
@given(st.lists(requests, min_size=0, max_size=6), st.integers(min_value=1, max_value=4000))
def test_batch_decode_gives_the_rows_of_each_request_in_order(batch, batch_bytes):
    """Several acknowledged requests decoded together (the flusher's path), in groups of
    any size, give exactly the concatenated frames of decoding each alone."""
    import tracelens.ingest.otlp_protobuf as otlp

    bodies = [build(resource_spans).SerializeToString() for resource_spans in batch]
    singles = [decode_otlp_protobuf(body).spans for body in bodies]
    expected = pl.concat(singles, how="vertical") if singles else None
    saved = otlp.BATCH_BYTES
    otlp.BATCH_BYTES = batch_bytes
    try:
        got = decode_otlp_protobuf_batch(bodies)
    finally:
        otlp.BATCH_BYTES = saved
    if expected is None:
        assert got.is_empty()
        return
    assert got.schema == expected.schema
    assert got.equals(expected), _first_difference(got, expected)


@st.composite
def mutated(draw):
    data = bytearray(build(draw(requests)).SerializeToString())
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        op = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate"]))
        if not data:
            data.extend(draw(st.binary(min_size=1, max_size=8)))
            continue
        i = draw(st.integers(min_value=0, max_value=len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif op == "set":
            data[i] = draw(st.integers(min_value=0, max_value=255))
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del data[i : i + draw(st.integers(min_value=1, max_value=4))]
        else:
            del data[i:]
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated())
def test_mutated_requests_decode_like_reference(data):
    assert_same_outcome(data)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_only_decode_error(data):
    assert_same_outcome(data)


@pytest.mark.parametrize(
    "data",
    [
        bytes.fromhex("0a04") + b"\x12\x02\x12\x00",  # RS > SS > empty span
        b"\x0a\x03\x12\x01\xff",  # bad inner length
        b"\x0a\x06\x12\x04\x12\x02\x2a\x00",  # span with empty name
        b"\x0a\x07\x12\x05\x12\x03\x2a\x01\xff",  # span name not UTF-8
        b"\x0b\x0c",  # unknown group at top level
        b"\x0b\x0a\x00\x0c",  # group containing a length field
        b"\x0c",  # end group alone
        b"\x0b\x13\x1b\x1c\x14\x0c",  # groups nested three deep (the group stack)
        b"\x0b\x13\x1b\x14\x1c\x0c",  # nested groups closed in the wrong order
        b"\x0b" * 99 + b"\x0c" * 99,  # groups nested near upb's depth limit
        b"\x0b" * 101 + b"\x0c" * 101,  # ... and past it
        b"\x0a\x08\x12\x06\x12\x04\x5b\x0b\x0c\x5c",  # a group inside a span (field 11 as a group)
        b"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # 10-byte varint, unknown field
        b"\x08\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01",  # 11-byte varint
    ],
)
def test_wire_edge_cases_decode_like_reference(data):
    assert_same_outcome(data)


def test_deep_nesting_limit_like_upb():
    for depth in (20, 46, 47, 48, 49):
        value = AnyValue()
        for _ in range(depth):
            outer = AnyValue()
            outer.array_value.values.add().CopyFrom(value)
            value = outer
        request = ExportTraceServiceRequest()
        span = request.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
        span.attributes.add(key="deep").value.CopyFrom(value)
        try:
            data = request.SerializeToString()
        except Exception:  # noqa: BLE001 - the SDK may refuse to build it at all
            continue
        assert_same_outcome(data)
