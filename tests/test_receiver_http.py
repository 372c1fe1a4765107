"""OTLP/HTTP conformance (otlp-conformance.md T2, T3, H1-H10, R3): raw HTTP requests against a
real Receiver on a real Store in tmp_path."""

from __future__ import annotations

import gzip
import http.client
import json
import zlib

import pytest
import zstandard
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from receiver_support import http_post, otlp_request, running_receiver, stored_spans

from tracelens import schema as s
from tracelens.receiver.http_transport import accepts_gzip, media_encoding
from tracelens.receiver.wire import Encoding

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def json_request(n_spans: int = 2, *, trace_id: str = "5B8EFFF798038103D269B633813FC60C", bad: int = 0) -> bytes:
    spans = [
        {
            "traceId": trace_id if i < n_spans else trace_id[:30],
            "spanId": f"{i + 1:016X}",
            "name": "GET /cart",
            "kind": 2,
            "startTimeUnixNano": "1767225600000000000",
            "endTimeUnixNano": 1767225600005000000,
            "attributes": [{"key": "http.route", "value": {"stringValue": "/cart"}}],
            "status": {"code": "STATUS_CODE_ERROR"},
            "someFutureField": {"ignored": True},
        }
        for i in range(n_spans + bad)
    ]
    body = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cart"}}]},
                "scopeSpans": [{"scope": {"name": "tests"}, "spans": spans}],
            }
        ]
    }
    return json.dumps(body).encode()


def _status(body: bytes, encoding: Encoding) -> status_pb2.Status:
    if encoding is Encoding.PROTOBUF:
        return status_pb2.Status.FromString(body)
    from google.protobuf import json_format

    return json_format.Parse(body, status_pb2.Status())


def test_media_type_and_accept_encoding_parsing():
    assert media_encoding("application/x-protobuf") is Encoding.PROTOBUF
    assert media_encoding("Application/JSON; charset=utf-8") is Encoding.JSON
    assert media_encoding("text/plain") is None and media_encoding(None) is None
    assert accepts_gzip("gzip, deflate") and accepts_gzip("br;q=1.0, gzip;q=0.5")
    assert not accepts_gzip("gzip;q=0") and not accepts_gzip("identity") and not accepts_gzip(None)


def test_h1_h6_protobuf_in_protobuf_out(tmp_path):
    with running_receiver(tmp_path) as (rx, store):
        status, headers, body = http_post(rx.http_port, otlp_request(3).SerializeToString(), PROTOBUF)
        assert status == 200
        assert headers["content-type"] == "application/x-protobuf"
        assert not ExportTraceServiceResponse.FromString(body).HasField("partial_success")
        assert stored_spans(store).height == 3
        assert rx.counters["requests"] == {"http": 1}


def test_h1_t2_json_with_charset_on_the_same_port(tmp_path):
    with running_receiver(tmp_path) as (rx, store):
        status, headers, body = http_post(rx.http_port, json_request(2), {"Content-Type": "application/json; charset=utf-8"})
        assert status == 200
        assert headers["content-type"] == "application/json"
        assert json.loads(body) == {}
        frame = stored_spans(store).sort(s.SPAN_ID)
        assert frame[s.TRACE_ID].to_list() == ["5b8efff798038103d269b633813fc60c"] * 2  # hex, not base64 (J1)
        assert frame[s.SERVICE_NAME].to_list() == ["cart", "cart"]
        assert frame[s.STATUS_CODE].to_list() == ["error", "error"]


def test_h6_partial_success_is_200_in_the_request_encoding(tmp_path):
    with running_receiver(tmp_path) as (rx, store):
        status, _, body = http_post(rx.http_port, json_request(2, bad=1), JSON)
        assert status == 200
        partial = json.loads(body)["partialSuccess"]
        assert partial["rejectedSpans"] == "1" and "trace_id" in partial["errorMessage"]
        status, _, body = http_post(rx.http_port, otlp_request(2, bad_trace_ids=3, trace_byte=9).SerializeToString(), PROTOBUF)
        assert status == 200
        assert ExportTraceServiceResponse.FromString(body).partial_success.rejected_spans == 3
        assert stored_spans(store).height == 4
        assert rx.counters["rejected_spans"] == {"invalid_trace_id": 4}


@pytest.mark.parametrize(
    ("content_type", "method", "path", "expected", "reason"),
    [
        ("text/plain", "POST", "/v1/traces", 415, "unsupported_media_type"),
        (None, "POST", "/v1/traces", 415, "unsupported_media_type"),
        ("application/x-protobuf", "GET", "/v1/traces", 405, "method_not_allowed"),
        ("application/x-protobuf", "PUT", "/v1/traces", 405, "method_not_allowed"),
        ("application/x-protobuf", "POST", "/v2/nothing", 404, "not_found"),
    ],
)
def test_h2_wrong_type_method_or_path_get_a_status_body(tmp_path, content_type, method, path, expected, reason):
    headers = {"Content-Type": content_type} if content_type else {}
    with running_receiver(tmp_path) as (rx, store):
        status, response_headers, body = http_post(rx.http_port, b"\x0a\x00", headers, method=method, path=path)
        assert status == expected
        assert _status(body, Encoding.JSON).message  # google.rpc.Status, JSON for humans
        if expected == 405:
            assert response_headers["allow"] == "POST"
        assert rx.counters["refused_requests"] == {reason: 1}
        assert http_post(rx.http_port, otlp_request(1).SerializeToString(), PROTOBUF)[0] == 200  # keeps serving
        assert stored_spans(store).height == 1


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", gzip.compress),
        ("gzip", lambda data: gzip.compress(data[:10]) + gzip.compress(data[10:])),  # concatenated members
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compressobj(wbits=-15).compress(data) + zlib.compressobj(wbits=-15).flush()),
        ("zstd", lambda data: zstandard.ZstdCompressor().compress(data)),
        ("identity", lambda data: data),
    ],
    ids=["gzip", "gzip-members", "deflate", "raw-deflate", "zstd", "identity"],
)
def test_h3_content_encodings(tmp_path, coding, compress):
    raw = otlp_request(4).SerializeToString()
    if coding == "deflate" and compress is not zlib.compress:
        stream = zlib.compressobj(wbits=-15)
        body = stream.compress(raw) + stream.flush()
    else:
        body = compress(raw)
    with running_receiver(tmp_path) as (rx, store):
        status, _, _ = http_post(rx.http_port, body, PROTOBUF | {"Content-Encoding": coding})
        assert status == 200
        assert stored_spans(store).height == 4


def test_h3_unknown_encoding_is_415(tmp_path):
    with running_receiver(tmp_path) as (rx, store):
        status, _, body = http_post(rx.http_port, b"whatever", PROTOBUF | {"Content-Encoding": "br"})
        assert status == 415
        assert "br" in _status(body, Encoding.PROTOBUF).message
        assert rx.counters["refused_requests"] == {"unsupported_encoding": 1}


def test_h4_bounded_while_inflating_413(tmp_path):
    bomb = gzip.compress(b"\0" * (8 * 1024 * 1024))  # ~8 KiB on the wire
    with running_receiver(tmp_path, max_request_bytes=1024 * 1024) as (rx, store):
        status, _, body = http_post(rx.http_port, bomb, PROTOBUF | {"Content-Encoding": "gzip"})
        assert status == 413
        assert _status(body, Encoding.PROTOBUF).code == 8  # RESOURCE_EXHAUSTED
        plain = b"\x0a" + b"\0" * (2 * 1024 * 1024)
        assert http_post(rx.http_port, plain, PROTOBUF)[0] == 413  # too large before inflating
        assert rx.counters["refused_requests"] == {"too_large": 2}
        assert http_post(rx.http_port, otlp_request(1).SerializeToString(), PROTOBUF)[0] == 200
        assert stored_spans(store).height == 1


@pytest.mark.parametrize(
    ("body", "headers", "encoding"),
    [
        (b"\xff\xfe\xfd not protobuf", PROTOBUF, Encoding.PROTOBUF),
        (b'{"resourceSpans": [', JSON, Encoding.JSON),
        (b"\x1f\x8b\x08 broken gzip", PROTOBUF | {"Content-Encoding": "gzip"}, Encoding.PROTOBUF),
    ],
    ids=["protobuf", "json", "gzip"],
)
def test_h5_undecodable_is_400_in_the_request_encoding(tmp_path, body, headers, encoding):
    with running_receiver(tmp_path) as (rx, store):
        status, response_headers, response = http_post(rx.http_port, body, headers)
        assert status == 400
        assert response_headers["content-type"] == encoding.value
        assert _status(response, encoding).code == 3  # INVALID_ARGUMENT
        assert rx.counters["refused_requests"] == {"undecodable": 1}
        assert stored_spans(store).height == 0


def test_h5_bad_hex_id_in_json_is_400(tmp_path):
    with running_receiver(tmp_path) as (rx, store):
        status, _, body = http_post(rx.http_port, json_request(1, trace_id="zz" * 16), JSON)
        assert status == 400
        assert "traceId" in _status(body, Encoding.JSON).message
        assert rx.counters["refused_requests"] == {"undecodable": 1}
        assert stored_spans(store).height == 0


def test_h7_h8_overload_is_503_with_retry_after_never_500(tmp_path):
    with running_receiver(tmp_path, max_wal_backlog_bytes=-1, retry_after_seconds=2) as (rx, store):
        status, headers, body = http_post(rx.http_port, otlp_request(2).SerializeToString(), PROTOBUF)
        assert status == 503
        assert headers["retry-after"] == "2"
        status_message = _status(body, Encoding.PROTOBUF)
        assert status_message.code == 14  # UNAVAILABLE
        retry = error_details_pb2.RetryInfo()
        assert status_message.details[0].Unpack(retry) and retry.retry_delay.seconds == 2
        assert rx.counters["refused_requests"] == {"overloaded": 1}
        assert stored_spans(store).height == 0


def test_h9_gzip_response_when_accepted(tmp_path):
    with running_receiver(tmp_path) as (rx, _):
        body = otlp_request(1, bad_trace_ids=1).SerializeToString()
        status, headers, raw = http_post(rx.http_port, body, PROTOBUF | {"Accept-Encoding": "gzip"})
        assert status == 200 and headers["content-encoding"] == "gzip"
        assert ExportTraceServiceResponse.FromString(gzip.decompress(raw)).partial_success.rejected_spans == 1
        status, headers, raw = http_post(rx.http_port, body, PROTOBUF)
        assert "content-encoding" not in headers
        assert ExportTraceServiceResponse.FromString(raw).partial_success.rejected_spans == 1


@pytest.mark.parametrize("path", ["/v1/metrics", "/v1/logs"])
def test_h10_metrics_and_logs_get_200_with_a_warning(tmp_path, path):
    with running_receiver(tmp_path) as (rx, _):
        status, _, body = http_post(rx.http_port, b"", PROTOBUF, path=path)
        assert status == 200
        response = ExportMetricsServiceResponse.FromString(body)  # same shape for logs
        assert "not supported" in response.partial_success.error_message
        status, _, body = http_post(rx.http_port, b"{}", JSON, path=path)
        assert status == 200 and "not supported" in json.loads(body)["partialSuccess"]["errorMessage"]
        assert rx.counters["refused_requests"] == {}


def test_t3_bearer_token_on_http_same_as_grpc(tmp_path):
    body = otlp_request(1).SerializeToString()
    with running_receiver(tmp_path, auth_token="s3cret") as (rx, store):
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic s3cret"}):
            status, response_headers, response = http_post(rx.http_port, body, PROTOBUF | headers)
            assert status == 401
            assert response_headers["www-authenticate"].startswith("Bearer")
            assert _status(response, Encoding.PROTOBUF).code == 16  # UNAUTHENTICATED
        assert http_post(rx.http_port, body, PROTOBUF | {"Authorization": "bearer s3cret"})[0] == 200
        assert http_post(rx.http_port, b"", {}, path="/api/v1/status", method="GET")[0] == 401
        assert rx.counters["refused_requests"] == {"unauthenticated": 4}
        assert stored_spans(store).height == 1


def test_configurable_traces_path_chunked_body_and_keep_alive(tmp_path):
    with running_receiver(tmp_path, http_traces_path="/otlp/v1/traces") as (rx, store):
        connection = http.client.HTTPConnection("127.0.0.1", rx.http_port, timeout=30)
        try:
            for k in range(3):  # one connection, three requests (HTTP/1.1 keep-alive)
                body = otlp_request(2, span_offset=10 * k).SerializeToString()
                connection.request("POST", "/otlp/v1/traces", body=iter([body[:5], body[5:]]), headers=PROTOBUF, encode_chunked=True)
                response = connection.getresponse()
                response.read()
                assert response.status == 200
        finally:
            connection.close()
        assert stored_spans(store).height == 6
        assert http_post(rx.http_port, otlp_request(1).SerializeToString(), PROTOBUF)[0] == 404


def test_status_endpoint_reports_counters_and_store(tmp_path):
    with running_receiver(tmp_path) as (rx, _):
        http_post(rx.http_port, otlp_request(2, bad_trace_ids=1).SerializeToString(), PROTOBUF)
        http_post(rx.http_port, b"junk", PROTOBUF)
        status, headers, body = http_post(rx.http_port, b"", {}, path="/api/v1/status", method="GET")
        assert status == 200 and headers["content-type"] == "application/json"
        report = json.loads(body)
        assert report["accepted_spans"] == 2
        assert report["rejected_spans"] == {"invalid_trace_id": 1}
        assert report["refused_requests"] == {"undecodable": 1}
        assert report["wal_backlog_bytes"] >= 0 and "table_rows" in report["store"]


def test_r4_http_header_passed_into_resource_attributes(tmp_path):
    import polars as pl

    with running_receiver(tmp_path, header_attributes=("X-Tenant",)) as (rx, store):
        assert http_post(rx.http_port, otlp_request(2).SerializeToString(), PROTOBUF | {"x-TENANT": "acme"})[0] == 200
        tenants = stored_spans(store).select(
            pl.col(s.RESOURCE_ATTRIBUTES).list.eval(
                pl.element().filter(pl.element().struct.field("key") == "x-tenant").struct.field("str")
            )
        ).to_series().to_list()
        assert tenants == [["acme"], ["acme"]]


def test_h8_500_and_internal_only_for_a_real_internal_failure(tmp_path):
    """A bug in a decoder (here: one that raises RuntimeError) is the one case for 500 /
    INTERNAL; it is counted and the server keeps serving."""
    import grpc
    from receiver_support import grpc_call

    from tracelens.config import ReceiverConfig
    from tracelens.receiver import Receiver
    from tracelens.store import Store

    def broken(body: bytes):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug")

    with Store.open(tmp_path / "data") as store:
        receiver = Receiver(store, ReceiverConfig(grpc_port=0, http_port=0), decoders={Encoding.PROTOBUF: broken})
        with receiver:
            status, _, body = http_post(receiver.http_port, otlp_request(1).SerializeToString(), PROTOBUF)
            assert status == 500 and _status(body, Encoding.PROTOBUF).code == 13
            with pytest.raises(grpc.RpcError) as failure:
                grpc_call(receiver.grpc_port, otlp_request(1).SerializeToString())
            assert failure.value.code() == grpc.StatusCode.INTERNAL
            assert receiver.counters["refused_requests"] == {"internal": 2}
            assert http_post(receiver.http_port, b"", {}, path="/api/v1/status", method="GET")[0] == 200
