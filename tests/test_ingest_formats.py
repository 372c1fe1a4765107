"""Jaeger / Zipkin importers, encoders (round trips) and decode_file sniffing."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import polars as pl
import pytest

from tracelens import schema as s
from tracelens.errors import DecodeError
from tracelens.ingest import (
    decode_file,
    decode_jaeger_json,
    decode_otlp_json,
    decode_otlp_protobuf,
    decode_zipkin_json,
    encode_jaeger_json,
    encode_otlp_json,
    encode_otlp_protobuf,
)
from tracelens.testing import make_trace, span_id_for, trace_id_for

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.workload import realistic_requests  # noqa: E402


def rich_frame() -> pl.DataFrame:
    rows = [
        {"span": "root", "service": "web", "name": "GET /", "start": 0, "end": 100, "kind": "server",
         "attrs": {"http.route": "/x", "http.status_code": 503, "f": 1.5, "b": True, "raw": b"\x00\x01",
                   "list": [1, "x", None], "map": {"a": {"b": [2.5]}}},
         "resource": {"service.version": "1.2", "deployment.environment.name": "prod"},
         "events": [(5, "exception", {"exception.type": "E"})], "links": [("t2", "s2", {"k": 1})],
         "status": "error", "status_message": "bad"},
        {"span": "db", "parent": "root", "service": "db", "start": 10, "end": 60, "kind": "client",
         "attrs": {"db.system": "postgresql"}, "scope": "sql"},
        {"span": "other", "trace": "t3", "service": "web", "start": 3, "end": 4, "kind": "unspecified", "status": "ok"},
    ]
    return make_trace(rows)


def by_id(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(s.TRACE_ID, s.SPAN_ID)


@pytest.mark.parametrize(
    ("encode", "decode"),
    [
        (lambda f: json.dumps(encode_otlp_json(f)), decode_otlp_json),
        (lambda f: json.dumps(encode_otlp_json(f)).encode(), decode_otlp_json),
        (encode_otlp_protobuf, decode_otlp_protobuf),
    ],
)
def test_otlp_round_trip_is_exact(encode, decode):
    frame = rich_frame()
    back = decode(encode(frame))
    assert back.rejected == 0
    assert by_id(back.spans).equals(by_id(frame))


def test_realistic_requests_round_trip_through_every_otlp_encoding():
    data = realistic_requests(1, spans_per_request=64, seed=3)[0]
    frame = decode_otlp_protobuf(data).spans
    assert frame.height == 64
    assert decode_otlp_protobuf(encode_otlp_protobuf(frame)).spans.equals(frame)
    assert decode_otlp_json(json.dumps(encode_otlp_json(frame))).spans.equals(frame)


def test_encode_otlp_json_uses_hex_ids_and_string_int64():
    doc = encode_otlp_json(rich_frame())
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["traceId"] == trace_id_for("trace-1") and span["spanId"] == span_id_for("root")
    assert isinstance(span["startTimeUnixNano"], str) and span["kind"] == 2 and span["status"]["code"] == 2


def test_jaeger_round_trip_for_jaeger_representable_frames():
    """Jaeger keeps microseconds, scalar tags and link ids (not link attributes)."""
    rows = [
        {"span": "root", "service": "web", "name": "GET /", "start": 0, "end": 100, "kind": "server",
         "attrs": {"http.route": "/x", "n": 3, "f": 1.5, "b": True, "raw": b"\x00\x01"},
         "resource": {"host.name": "h1"}, "events": [(5, "exception", {"exception.type": "E"})],
         "links": [("t2", "s2", {})], "status": "error", "status_message": "bad"},
        {"span": "db", "parent": "root", "service": "db", "start": 10, "end": 60, "kind": "client", "scope": "sql"},
    ]
    frame = make_trace(rows)
    back = decode_jaeger_json(json.dumps(encode_jaeger_json(frame)))
    assert by_id(back.spans).equals(by_id(frame))


JAEGER = {
    "data": [{
        "traceID": "abc123",
        "spans": [
            {"traceID": "abc123", "spanID": "1", "operationName": "GET /pay", "references": [],
             "startTime": 1_700_000_000_000_000, "duration": 2500, "flags": 1,
             "tags": [{"key": "span.kind", "type": "string", "value": "server"},
                      {"key": "http.status_code", "type": "int64", "value": 500},
                      {"key": "error", "type": "bool", "value": True},
                      {"key": "payload", "type": "binary", "value": "AAE="},
                      {"key": "ratio", "type": "float64", "value": 0.5}],
             "logs": [{"timestamp": 1_700_000_000_000_100, "fields": [
                 {"key": "event", "type": "string", "value": "exception"},
                 {"key": "exception.message", "type": "string", "value": "boom"}]}],
             "processID": "p1", "warnings": None},
            {"traceID": "abc123", "spanID": "2", "operationName": "SELECT",
             "references": [{"refType": "CHILD_OF", "traceID": "abc123", "spanID": "1"},
                            {"refType": "FOLLOWS_FROM", "traceID": "ff", "spanID": "9"}],
             "startTime": 1_700_000_000_000_500, "duration": 1000,
             "tags": [{"key": "span.kind", "type": "string", "value": "client"},
                      {"key": "otel.status_code", "type": "string", "value": "OK"}],
             "logs": [], "processID": "p2", "warnings": None},
            {"traceID": "abc123", "spanID": "", "operationName": "no id", "startTime": 0, "duration": 0, "processID": "p1"},
        ],
        "processes": {"p1": {"serviceName": "checkout", "tags": [{"key": "host.name", "type": "string", "value": "h1"}]},
                      "p2": {"serviceName": "db", "tags": []}},
        "warnings": None,
    }]
}


def test_jaeger_golden():
    result = decode_jaeger_json(json.dumps(JAEGER))
    frame = s.validate(result.spans)
    assert result.rejected_by_reason == {"invalid_span_id": 1}
    root, child = frame.row(0, named=True), frame.row(1, named=True)
    assert root[s.TRACE_ID] == "abc123".rjust(32, "0") and root[s.SPAN_ID] == "1".rjust(16, "0")
    assert root[s.KIND] == "server" and root[s.STATUS_CODE] == "error" and root[s.SERVICE_NAME] == "checkout"
    assert root[s.HOST_NAME] == "h1" and root[s.HTTP_RESPONSE_STATUS_CODE] == 500 and root[s.FLAGS] == 1
    assert frame[s.DURATION][0].total_seconds() == pytest.approx(0.0025)
    assert frame[s.START].cast(pl.Int64)[0] == 1_700_000_000_000_000_000
    attrs = s.plain_attributes(root[s.ATTRIBUTES])
    assert attrs == {"http.status_code": 500, "payload": b"\x00\x01", "ratio": 0.5}
    assert root[s.EVENTS][0]["name"] == "exception"
    assert s.plain_attributes(root[s.EVENTS][0]["attributes"]) == {"exception.message": "boom"}
    assert child[s.PARENT_SPAN_ID] == root[s.SPAN_ID] and child[s.KIND] == "client" and child[s.STATUS_CODE] == "ok"
    assert child[s.SERVICE_NAME] == "db"
    assert [(k["trace_id"], k["span_id"]) for k in child[s.LINKS]] == [("ff".rjust(32, "0"), "9".rjust(16, "0"))]


ZIPKIN = [
    {"traceId": "463ac35c9f6413ad", "id": "a2fb4a1d1a96d312", "name": "get /api", "kind": "SERVER",
     "timestamp": 1_700_000_000_000_000, "duration": 2000, "localEndpoint": {"serviceName": "frontend", "ipv4": "10.0.0.1"},
     "tags": {"http.method": "GET", "http.path": "/api", "error": "timeout"},
     "annotations": [{"timestamp": 1_700_000_000_000_010, "value": "wr"}]},
    {"traceId": "463ac35c9f6413ad", "id": "b2fb4a1d1a96d312", "parentId": "a2fb4a1d1a96d312", "name": "query",
     "kind": "CLIENT", "timestamp": 1_700_000_000_000_100, "duration": 500,
     "localEndpoint": {"serviceName": "frontend"}, "remoteEndpoint": {"serviceName": "mysql", "ipv4": "10.0.0.9", "port": 3306},
     "tags": {"error": "true"}},
    {"traceId": "463ac35c9f6413ad48485a3953bb6124", "id": "c2fb4a1d1a96d312", "name": "local",
     "timestamp": 1_700_000_000_000_200, "localEndpoint": {"serviceName": "backend"}},
    {"traceId": "463ac35c9f6413ad", "id": "zz", "name": "bad id", "timestamp": 1},
]


def test_zipkin_golden():
    result = decode_zipkin_json(json.dumps(ZIPKIN).encode())
    frame = s.validate(result.spans)
    assert result.rejected_by_reason == {"invalid_span_id": 1}
    server, client, local = (frame.row(i, named=True) for i in range(3))
    assert server[s.TRACE_ID] == "0000000000000000463ac35c9f6413ad" and server[s.PARENT_SPAN_ID] is None
    assert server[s.KIND] == "server" and server[s.SERVICE_NAME] == "frontend" and server[s.HTTP_REQUEST_METHOD] == "GET"
    assert server[s.STATUS_CODE] == "error" and server[s.STATUS_MESSAGE] == "timeout"
    assert "error" not in s.plain_attributes(server[s.ATTRIBUTES])
    assert server[s.EVENTS][0]["name"] == "wr"
    assert client[s.PARENT_SPAN_ID] == "a2fb4a1d1a96d312" and client[s.KIND] == "client"
    assert client[s.STATUS_CODE] == "error" and client[s.STATUS_MESSAGE] == ""
    assert client[s.PEER_SERVICE] == "mysql" and client[s.NETWORK_PEER_ADDRESS] == "10.0.0.9"
    assert s.plain_attributes(client[s.ATTRIBUTES])["network.peer.port"] == 3306
    assert local[s.TRACE_ID] == "463ac35c9f6413ad48485a3953bb6124" and local[s.KIND] == "unspecified"
    assert local[s.SERVICE_NAME] == "backend" and frame[s.DURATION][2].total_seconds() == 0


@pytest.mark.parametrize(
    ("decode", "data"),
    [
        (decode_jaeger_json, b"{oops"),
        (decode_jaeger_json, b'{"data": 5}'),
        (decode_jaeger_json, b'{"data": [{"spans": [{"startTime": "soon"}]}]}'),
        (decode_jaeger_json, b'{"data": [{"spans": [{"tags": [{"key": "x", "type": "int64", "value": "nope"}]}]}]}'),
        (decode_jaeger_json, b"42"),
        (decode_zipkin_json, b"{}"),
        (decode_zipkin_json, b"[1, 2]"),
        (decode_zipkin_json, b'[{"traceId": "01", "id": "02", "tags": []}]'),
        (decode_zipkin_json, b'[{"traceId": "01", "id": "02", "timestamp": "x"}]'),
        (decode_zipkin_json, b"\xff\xfe"),
    ],
)
def test_bad_importer_input_raises_decode_error(decode, data):
    with pytest.raises(DecodeError):
        decode(data)


def test_decode_file_sniffs_every_format(tmp_path):
    frame = rich_frame()
    otlp = json.dumps(encode_otlp_json(frame)).encode()
    files = {
        "a.json": otlp,
        "b.bin": encode_otlp_protobuf(frame),
        "c.jaeger": json.dumps(JAEGER).encode(),
        "d.txt": json.dumps(ZIPKIN).encode(),
        "e.json.gz": gzip.compress(otlp),
        "f.pb.gz": gzip.compress(encode_otlp_protobuf(frame)),
        "g.jsonl": otlp + b"\n" + otlp + b"\n",
    }
    heights = {}
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        heights[name] = decode_file(tmp_path / name).spans.height
    assert heights == {"a.json": 3, "b.bin": 3, "c.jaeger": 2, "d.txt": 3, "e.json.gz": 3, "f.pb.gz": 3, "g.jsonl": 6}
    assert by_id(decode_file(tmp_path / "f.pb.gz").spans).equals(by_id(frame))


def test_decode_file_errors_are_decode_errors(tmp_path):
    with pytest.raises(DecodeError, match="cannot read"):
        decode_file(tmp_path / "missing.json")
    (tmp_path / "x.json").write_bytes(b'{"something": "else"}')
    with pytest.raises(DecodeError, match="not OTLP"):
        decode_file(tmp_path / "x.json")
    (tmp_path / "y.gz").write_bytes(b"\x1f\x8b" + b"garbage")
    with pytest.raises(DecodeError, match="gzip"):
        decode_file(tmp_path / "y.gz")
    (tmp_path / "z.bin").write_bytes(b"\xff\xff\xff")
    with pytest.raises(DecodeError, match="z.bin"):
        decode_file(tmp_path / "z.bin")
