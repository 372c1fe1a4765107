"""OTLP protobuf and OTLP/JSON decoding: golden cases, G5 rejections, J1-J6."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tracelens import schema as s
from tracelens.errors import DecodeError
from tracelens.ingest import decode_otlp_json, decode_otlp_protobuf
from tracelens.ingest.otlp_reference import decode_otlp_protobuf_reference

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN = bytes.fromhex("eee19b7ec3c1b174")
PARENT = bytes.fromhex("eee19b7ec3c1b173")


def golden_request() -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    for key, value in (("service.name", "checkout"), ("service.version", "2.1"), ("deployment.environment", "prod")):
        kv = rs.resource.attributes.add(key=key)
        kv.value.string_value = value
    ss = rs.scope_spans.add()
    ss.scope.name = "lib"
    ss.scope.version = "1.0"
    span = ss.spans.add(
        trace_id=TRACE, span_id=SPAN, parent_span_id=PARENT, name="POST /pay",
        kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=1_000, end_time_unix_nano=5_000,
        trace_state="k=v", flags=0x101,
    )
    span.status.code = Status.STATUS_CODE_ERROR
    span.status.message = "boom"
    span.attributes.add(key="http.route").value.string_value = "/pay"
    span.attributes.add(key="http.method").value.string_value = "POST"  # legacy name
    span.attributes.add(key="http.request.method").value.string_value = "PUT"  # current name wins
    span.attributes.add(key="http.status_code").value.int_value = 503
    span.attributes.add(key="ratio").value.double_value = 0.5
    span.attributes.add(key="ok").value.bool_value = False
    span.attributes.add(key="blob").value.bytes_value = b"\x00\xff"
    arr = span.attributes.add(key="list").value.array_value
    arr.values.add().int_value = 1
    arr.values.add().string_value = "x"
    kvl = span.attributes.add(key="map").value.kvlist_value
    kvl.values.add(key="a").value.bool_value = True
    span.attributes.add(key="nothing")
    event = span.events.add(time_unix_nano=2_000, name="exception")
    event.attributes.add(key="exception.type").value.string_value = "ValueError"
    link = span.links.add(trace_id=b"\x11" * 16, span_id=b"\x22" * 8, trace_state="a=b")
    link.attributes.add(key="n").value.int_value = 7
    return request


def test_golden_protobuf_span():
    result = decode_otlp_protobuf(golden_request().SerializeToString())
    frame = s.validate(result.spans)
    assert result.rejected == 0 and frame.height == 1
    row = frame.row(0, named=True)
    assert row[s.TRACE_ID] == TRACE.hex() and row[s.SPAN_ID] == SPAN.hex() and row[s.PARENT_SPAN_ID] == PARENT.hex()
    assert row[s.NAME] == "POST /pay" and row[s.KIND] == "server" and row[s.SERVICE_NAME] == "checkout"
    assert row[s.STATUS_CODE] == "error" and row[s.STATUS_MESSAGE] == "boom"
    assert row[s.TRACE_STATE] == "k=v" and row[s.FLAGS] == 0x101
    assert row[s.SCOPE_NAME] == "lib" and row[s.SCOPE_VERSION] == "1.0"
    assert frame[s.DURATION][0] == frame[s.END][0] - frame[s.START][0]
    assert frame[s.START].cast(pl.Int64)[0] == 1_000
    assert row[s.HTTP_ROUTE] == "/pay" and row[s.HTTP_REQUEST_METHOD] == "PUT"
    assert row[s.HTTP_RESPONSE_STATUS_CODE] == 503
    assert row[s.SERVICE_VERSION] == "2.1" and row[s.DEPLOYMENT_ENVIRONMENT] == "prod"
    attrs = s.plain_attributes(row[s.ATTRIBUTES])
    assert attrs == {
        "http.route": "/pay", "http.method": "POST", "http.request.method": "PUT", "http.status_code": 503,
        "ratio": 0.5, "ok": False, "blob": b"\x00\xff", "list": [1, "x"], "map": {"a": True}, "nothing": None,
    }
    assert [a["type"] for a in row[s.ATTRIBUTES]] == [
        "string", "string", "string", "int", "double", "bool", "bytes", "array", "kvlist", "empty"]
    assert row[s.EVENTS][0]["name"] == "exception"
    assert s.plain_attributes(row[s.EVENTS][0]["attributes"]) == {"exception.type": "ValueError"}
    assert row[s.LINKS] == [{"trace_id": "11" * 16, "span_id": "22" * 8, "trace_state": "a=b",
                             "attributes": [s.typed_attribute("n", 7)]}]


def test_root_and_unknown_service():
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    spans.add(trace_id=TRACE, span_id=SPAN, name="empty parent")
    spans.add(trace_id=TRACE, span_id=PARENT, parent_span_id=b"\x00" * 8, name="zero parent")
    frame = decode_otlp_protobuf(request.SerializeToString()).spans
    assert frame[s.PARENT_SPAN_ID].to_list() == [None, None]
    assert frame[s.SERVICE_NAME].to_list() == [s.UNKNOWN_SERVICE] * 2


def test_unknown_kind_and_status_numbers_are_the_defaults():
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    spans.add(trace_id=TRACE, span_id=SPAN, name="known", kind=Span.SPAN_KIND_CONSUMER).status.code = Status.STATUS_CODE_ERROR
    spans.add(trace_id=TRACE, span_id=PARENT, name="unknown", kind=6).status.code = 3
    data = request.SerializeToString()
    frame = decode_otlp_protobuf(data).spans
    assert frame[s.KIND].to_list() == ["consumer", "unspecified"]
    assert frame[s.STATUS_CODE].to_list() == ["error", "unset"]
    assert frame.equals(decode_otlp_protobuf_reference(data).spans)


@pytest.mark.parametrize(
    ("field", "value", "reason", "fragment"),
    [
        ("trace_id", b"\x01" * 15, "invalid_trace_id", "trace_id must be 16 bytes, got 15"),
        ("trace_id", b"", "invalid_trace_id", "trace_id must be 16 bytes, got 0"),
        ("trace_id", b"\x00" * 16, "invalid_trace_id", "trace_id must not be all zero"),
        ("span_id", b"\x01" * 9, "invalid_span_id", "span_id must be 8 bytes, got 9"),
        ("span_id", b"\x00" * 8, "invalid_span_id", "span_id must not be all zero"),
        ("parent_span_id", b"\x01" * 4, "invalid_parent_span_id", "parent_span_id must be empty or 8 bytes, got 4"),
    ],
)
def test_invalid_ids_rejected_one_by_one(field, value, reason, fragment):
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    spans.add(trace_id=TRACE, span_id=SPAN, name="good-1")
    bad = spans.add(trace_id=TRACE, span_id=PARENT, name="bad")
    setattr(bad, field, value)
    spans.add(trace_id=TRACE, span_id=b"\x05" * 8, name="good-2")
    result = decode_otlp_protobuf(request.SerializeToString())
    assert result.spans[s.NAME].to_list() == ["good-1", "good-2"]
    assert result.rejected == 1 and result.rejected_by_reason == {reason: 1}
    assert result.errors == (f"span 'bad' #1: {fragment}",)
    assert fragment in result.error_message()


@pytest.mark.parametrize("data", [b"\x0a\x05\x12\x03", b"\xff\xff\xff", b"\x0a", bytes(range(256))])
def test_bad_protobuf_raises_decode_error(data):
    with pytest.raises(DecodeError):
        decode_otlp_protobuf(data)


def test_empty_request_is_empty_frame():
    result = decode_otlp_protobuf(b"")
    assert result.spans.height == 0 and result.spans.schema == s.SPAN_SCHEMA and result.rejected == 0


# --- OTLP/JSON ----------------------------------------------------------------------------
def test_j6_canonical_example_matches_protobuf():
    """fixtures/otlp_example_trace.json is opentelemetry-proto's examples/trace.json (Apache-2.0)."""
    text = (FIXTURES / "otlp_example_trace.json").read_bytes()
    from_json = decode_otlp_json(text).spans
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "my.service"
    ss = rs.scope_spans.add()
    ss.scope.name, ss.scope.version = "my.library", "1.0.0"
    ss.scope.attributes.add(key="my.scope.attribute").value.string_value = "some scope attribute"
    span = ss.spans.add(
        trace_id=TRACE, span_id=SPAN, parent_span_id=PARENT, name="I'm a server span",
        start_time_unix_nano=1544712660000000000, end_time_unix_nano=1544712661000000000, kind=2,
    )
    span.attributes.add(key="my.span.attr").value.string_value = "some value"
    from_protobuf = decode_otlp_protobuf(request.SerializeToString()).spans
    assert from_json.equals(from_protobuf)
    assert from_json[s.TRACE_ID][0] == "5b8efff798038103d269b633813fc60c"  # hex, not base64 (J1)
    assert from_json[s.SERVICE_NAME][0] == "my.service" and from_json[s.KIND][0] == "server"


def _json_span(**span: object) -> bytes:
    base = {"traceId": TRACE.hex(), "spanId": SPAN.hex(), "name": "s"}
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": [base | span]}]}]}).encode()


def test_json_variants_j1_to_j5():
    camel = {
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}], "extra": {"deep": [1]}},
            "scopeSpans": [{
                "scope": {"name": "lib", "unknown": 1},
                "spans": [{
                    "traceId": TRACE.hex().upper(), "spanId": SPAN.hex().upper(), "parentSpanId": "",
                    "name": "n", "kind": "SPAN_KIND_CLIENT", "startTimeUnixNano": "1544712660000000000",
                    "endTimeUnixNano": 1544712661000000000, "status": {"code": "STATUS_CODE_ERROR", "message": "m"},
                    "attributes": [
                        {"key": "i", "value": {"intValue": "9007199254740993"}},
                        {"key": "nan", "value": {"doubleValue": "NaN"}},
                        {"key": "inf", "value": {"doubleValue": "Infinity"}},
                        {"key": "b", "value": {"bytesValue": "AP8="}},
                        {"key": "arr", "value": {"arrayValue": {"values": [{"intValue": 1}, {"stringValue": "x"}]}}},
                        {"key": "u", "value": {"stringValue": "v", "futureField": 3}},
                    ],
                    "events": [{"timeUnixNano": "5", "name": "e", "attributes": [], "droppedAttributesCount": 0}],
                    "links": [{"traceId": "AB" * 16, "spanId": "cd" * 8}],
                    "someNewField": {"x": [1, 2]},
                }],
            }],
        }]
    }
    snake = {
        "resource_spans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"string_value": "svc"}}]},
            "scope_spans": [{
                "scope": {"name": "lib"},
                "spans": [{
                    "trace_id": TRACE.hex(), "span_id": SPAN.hex(), "parent_span_id": "",
                    "name": "n", "kind": 3, "start_time_unix_nano": 1544712660000000000,
                    "end_time_unix_nano": "1544712661000000000", "status": {"code": 2, "message": "m"},
                    "attributes": [
                        {"key": "i", "value": {"int_value": 9007199254740993}},
                        {"key": "nan", "value": {"double_value": "NaN"}},
                        {"key": "inf", "value": {"double_value": "Infinity"}},
                        {"key": "b", "value": {"bytes_value": "AP8"}},
                        {"key": "arr", "value": {"array_value": {"values": [{"int_value": "1"}, {"string_value": "x"}]}}},
                        {"key": "u", "value": {"string_value": "v"}},
                    ],
                    "events": [{"time_unix_nano": 5, "name": "e"}],
                    "links": [{"trace_id": "ab" * 16, "span_id": "CD" * 8}],
                }],
            }],
        }]
    }
    a = decode_otlp_json(json.dumps(camel)).spans
    b = decode_otlp_json(json.dumps(snake).encode()).spans
    assert a.equals(b)
    row = a.row(0, named=True)
    assert row[s.TRACE_ID] == TRACE.hex() and row[s.KIND] == "client" and row[s.STATUS_CODE] == "error"
    assert a[s.START].cast(pl.Int64)[0] == 1544712660000000000
    attrs = s.plain_attributes(row[s.ATTRIBUTES])
    assert attrs["i"] == 9007199254740993 and attrs["inf"] == float("inf") and attrs["nan"] != attrs["nan"]
    assert row[s.ATTRIBUTES][3]["str"] == "AP8=" and attrs["b"] == b"\x00\xff"
    assert attrs["arr"] == [1, "x"]
    assert row[s.LINKS][0]["trace_id"] == "ab" * 16 and row[s.LINKS][0]["span_id"] == "cd" * 8


@pytest.mark.parametrize(
    "data",
    [
        b"{not json",
        b"[]",
        b'{"resourceSpans": {}}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [7]}]}]}',
        _json_span(traceId="zz" * 16),
        _json_span(traceId=TRACE.hex()[:-1]),
        _json_span(kind="SPAN_KIND_NOPE"),
        _json_span(startTimeUnixNano="soon"),
        _json_span(attributes=[{"key": "b", "value": {"bytesValue": "!!"}}]),
        _json_span(attributes="nope"),
        b"\xff\xfe\x00garbage",
    ],
)
def test_bad_json_raises_decode_error(data):
    with pytest.raises(DecodeError):
        decode_otlp_json(data)


def test_json_wrong_length_id_rejects_only_that_span():
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [
        {"traceId": TRACE.hex(), "spanId": SPAN.hex(), "name": "good"},
        {"traceId": TRACE.hex()[:30], "spanId": SPAN.hex(), "name": "short"},
    ]}]}]}
    result = decode_otlp_json(json.dumps(doc))
    assert result.spans[s.NAME].to_list() == ["good"]
    assert result.rejected_by_reason == {"invalid_trace_id": 1}


def test_reference_and_fast_agree_on_golden():
    data = golden_request().SerializeToString()
    assert decode_otlp_protobuf(data).spans.equals(decode_otlp_protobuf_reference(data).spans)


def test_concurrent_decoding_gives_the_same_frames():
    """The kernels release the GIL (receiver threads decode in parallel); no shared state."""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    sys.path.insert(0, str(FIXTURES.parent))
    from benchmarks.workload import realistic_requests

    payloads = realistic_requests(6, spans_per_request=64, seed=7)
    expected = [decode_otlp_protobuf(p).spans for p in payloads]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(lambda p: decode_otlp_protobuf(p).spans, payloads * 3))
    assert all(g.equals(expected[i % len(payloads)]) for i, g in enumerate(got))
