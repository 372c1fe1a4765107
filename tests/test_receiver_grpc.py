"""OTLP/gRPC conformance (otlp-conformance.md T1, G1-G10, T3, R1, R3, R4), raw grpc client
against a real Receiver on a real Store in tmp_path."""

from __future__ import annotations

import threading
import time

import grpc
import polars as pl
import pytest
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceResponse
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from receiver_support import TRACE_METHOD, grpc_call, otlp_request, running_receiver, stored_spans, wait_for

from tracelens import schema as s
from tracelens.config import DEFAULT_GRPC_PORT, DEFAULT_HOST, DEFAULT_HTTP_PORT, ReceiverConfig
from tracelens.receiver.grpc_transport import server_options


def _response(raw: bytes) -> ExportTraceServiceResponse:
    return ExportTraceServiceResponse.FromString(raw)


def test_t1_defaults_are_loopback_and_standard_ports(tmp_path):
    config = ReceiverConfig()
    assert (config.host, config.grpc_port, config.http_port) == (DEFAULT_HOST, DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT)
    assert DEFAULT_HOST == "127.0.0.1" and (DEFAULT_GRPC_PORT, DEFAULT_HTTP_PORT) == (4317, 4318)
    with running_receiver(tmp_path) as (rx, _):
        assert rx.endpoints()["grpc"] == f"127.0.0.1:{rx.grpc_port}"


def test_t1_port_in_use_is_a_clear_error(tmp_path):
    from tracelens.errors import ReceiverError
    from tracelens.receiver import Receiver

    with running_receiver(tmp_path) as (rx, store):
        clash = Receiver(store, ReceiverConfig(grpc_port=rx.grpc_port, http_port=None))
        with pytest.raises(ReceiverError, match="cannot listen"):
            clash.start()


@pytest.mark.parametrize("compression", [None, grpc.Compression.Gzip], ids=["identity", "gzip"])
def test_g1_g4_identity_and_gzip_full_success(tmp_path, compression):
    with running_receiver(tmp_path) as (rx, store):
        raw, call = grpc_call(rx.grpc_port, otlp_request(4).SerializeToString(), compression=compression)
        assert call.code() == grpc.StatusCode.OK
        assert not _response(raw).HasField("partial_success")  # G4
        frame = stored_spans(store)
        assert frame.height == 4
        assert set(frame[s.SERVICE_NAME]) == {"checkout"}
        assert rx.counters["accepted_spans"] == 4


def test_g2_default_limit_is_64_mib_not_grpcs_4_mib(tmp_path):
    assert dict(server_options(ReceiverConfig()))["grpc.max_receive_message_length"] == 64 * 1024 * 1024
    big = otlp_request(1, name="x" * (6 * 1024 * 1024))  # 6 MiB: over grpcio's own 4 MiB default
    with running_receiver(tmp_path) as (rx, store):
        _, call = grpc_call(rx.grpc_port, big.SerializeToString(), options=(("grpc.max_send_message_length", -1),))
        assert call.code() == grpc.StatusCode.OK
        assert stored_spans(store).height == 1


def test_g2_limit_applies_after_decompression_and_is_counted(tmp_path):
    huge = otlp_request(1, name="y" * (3 * 1024 * 1024)).SerializeToString()
    with running_receiver(tmp_path, max_request_bytes=1024 * 1024) as (rx, store):
        with pytest.raises(grpc.RpcError) as failure:
            grpc_call(rx.grpc_port, huge, compression=grpc.Compression.Gzip)  # ~3 KiB on the wire
        assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert wait_for(lambda: rx.counters["refused_requests"].get("too_large") == 1)
        _, call = grpc_call(rx.grpc_port, otlp_request(2).SerializeToString())  # still serving
        assert call.code() == grpc.StatusCode.OK
        assert stored_spans(store).height == 2


def test_g3_empty_request_and_resource_without_spans_are_ok(tmp_path):
    empty_resource = ExportTraceServiceRequest()
    empty_resource.resource_spans.add().scope_spans.add()
    with running_receiver(tmp_path) as (rx, store):
        for request in (ExportTraceServiceRequest(), empty_resource):
            raw, call = grpc_call(rx.grpc_port, request.SerializeToString())
            assert call.code() == grpc.StatusCode.OK
            assert not _response(raw).HasField("partial_success")
        assert stored_spans(store).height == 0


def test_g5_invalid_spans_rejected_one_by_one(tmp_path):
    request = otlp_request(3, bad_trace_ids=2)
    with running_receiver(tmp_path) as (rx, store):
        raw, call = grpc_call(rx.grpc_port, request.SerializeToString())
        assert call.code() == grpc.StatusCode.OK
        response = _response(raw)
        assert response.HasField("partial_success")
        assert response.partial_success.rejected_spans == 2
        message = response.partial_success.error_message
        assert "2 span(s) rejected" in message and "trace_id" in message
        assert stored_spans(store).height == 3  # the valid ones of the same request
        assert rx.counters["rejected_spans"] == {"invalid_trace_id": 2}


def test_g6_unparseable_request_is_invalid_argument_and_counted(tmp_path):
    with running_receiver(tmp_path) as (rx, store):
        with pytest.raises(grpc.RpcError) as failure:
            grpc_call(rx.grpc_port, b"\xff\xfe this is not protobuf")
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert rx.counters["refused_requests"] == {"undecodable": 1}
        truncated = otlp_request(5).SerializeToString()[:-7]
        with pytest.raises(grpc.RpcError) as failure:
            grpc_call(rx.grpc_port, truncated)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert stored_spans(store).height == 0


def test_g7_g8_overload_is_unavailable_with_retry_info_in_both_trailers(tmp_path):
    # a negative backlog bound makes every request an overload, deterministically
    with running_receiver(tmp_path, max_wal_backlog_bytes=-1, retry_after_seconds=2) as (rx, store):
        with pytest.raises(grpc.RpcError) as failure:
            grpc_call(rx.grpc_port, otlp_request(2).SerializeToString())
        error = failure.value
        assert error.code() == grpc.StatusCode.UNAVAILABLE  # never RESOURCE_EXHAUSTED (G8)
        trailers = dict(error.trailing_metadata())
        bare = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
        assert 1 <= bare.retry_delay.seconds <= 5
        status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
        assert status.code == grpc.StatusCode.UNAVAILABLE.value[0]
        packed = error_details_pb2.RetryInfo()
        assert status.details[0].Unpack(packed)
        assert packed.retry_delay.seconds == 2
        assert rx.counters["refused_requests"] == {"overloaded": 1}
        assert stored_spans(store).height == 0


def test_g9_response_stays_under_4_mib(tmp_path):
    request = otlp_request(0, bad_trace_ids=3, name="n" * (3 * 1024 * 1024))
    with running_receiver(tmp_path) as (rx, _):
        raw, call = grpc_call(
            rx.grpc_port, request.SerializeToString(), options=(("grpc.max_receive_message_length", 4 * 1024 * 1024),)
        )
        assert call.code() == grpc.StatusCode.OK
        assert len(raw) <= 4 * 1024 * 1024
        assert _response(raw).partial_success.rejected_spans == 3


def test_g10_stream_keepalive_and_age_options_are_configurable():
    config = ReceiverConfig(max_concurrent_streams=7, keepalive_seconds=11, keepalive_timeout_seconds=3, max_connection_age_seconds=60)
    options = dict(server_options(config))
    assert options["grpc.max_concurrent_streams"] == 7
    assert options["grpc.keepalive_time_ms"] == 11_000
    assert options["grpc.keepalive_timeout_ms"] == 3_000
    assert options["grpc.max_connection_age_ms"] == 60_000
    assert "grpc.max_connection_age_ms" not in dict(server_options(ReceiverConfig()))


def test_g10_max_connection_age_closes_connections(tmp_path):
    states: list[grpc.ChannelConnectivity] = []
    with running_receiver(tmp_path, max_connection_age_seconds=0.3, max_connection_age_grace_seconds=0.1) as (rx, _):
        channel = grpc.insecure_channel(f"127.0.0.1:{rx.grpc_port}")
        channel.subscribe(states.append, try_to_connect=True)
        call = channel.unary_unary(TRACE_METHOD)
        call(otlp_request(1).SerializeToString(), timeout=10)
        # the server sends GOAWAY after the max age: the channel leaves READY by itself
        assert wait_for(lambda: states and states[-1] != grpc.ChannelConnectivity.READY, timeout=10)
        call(otlp_request(1, span_offset=5).SerializeToString(), timeout=10)  # and reconnects
        channel.close()


def test_t3_bearer_token_on_grpc(tmp_path):
    body = otlp_request(1).SerializeToString()
    with running_receiver(tmp_path, auth_token="s3cret") as (rx, store):
        for metadata in ((), (("authorization", "Bearer wrong"),), (("authorization", "s3cret"),)):
            with pytest.raises(grpc.RpcError) as failure:
                grpc_call(rx.grpc_port, body, metadata=metadata)
            assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert rx.counters["refused_requests"] == {"unauthenticated": 3}
        _, call = grpc_call(rx.grpc_port, body, metadata=(("authorization", "Bearer s3cret"),))
        assert call.code() == grpc.StatusCode.OK
        assert stored_spans(store).height == 1


def test_r1_same_request_twice_is_stored_once(tmp_path):
    body = otlp_request(5).SerializeToString()
    with running_receiver(tmp_path) as (rx, store):
        grpc_call(rx.grpc_port, body)
        grpc_call(rx.grpc_port, body)
        assert stored_spans(store).height == 5
        store.flush()
        assert stored_spans(store).height == 5


def test_r4_header_passed_into_resource_attributes(tmp_path):
    with running_receiver(tmp_path, header_attributes=("x-tenant=tenant.id",)) as (rx, store):
        grpc_call(rx.grpc_port, otlp_request(2).SerializeToString(), metadata=(("x-tenant", "acme"),))
        frame = stored_spans(store)
        tenants = frame.select(
            pl.col(s.RESOURCE_ATTRIBUTES).list.eval(
                pl.element().filter(pl.element().struct.field("key") == "tenant.id").struct.field("str")
            )
        ).to_series().to_list()
        assert tenants == [["acme"], ["acme"]]


def test_concurrent_exports_are_all_stored(tmp_path):
    with running_receiver(tmp_path) as (rx, store):
        errors: list[BaseException] = []

        def send(worker: int) -> None:
            try:
                for k in range(5):
                    grpc_call(rx.grpc_port, otlp_request(20, trace_byte=worker + 1, span_offset=k * 100).SerializeToString())
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(w,)) for w in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not errors
        assert stored_spans(store).height == 8 * 5 * 20
        assert rx.counters["accepted_requests"] == 40


def test_metrics_and_logs_are_acknowledged_with_a_warning(tmp_path):
    with running_receiver(tmp_path) as (rx, _):
        raw, call = grpc_call(rx.grpc_port, b"", method="/opentelemetry.proto.collector.logs.v1.LogsService/Export")
        assert call.code() == grpc.StatusCode.OK
        response = ExportLogsServiceResponse.FromString(raw)
        assert response.partial_success.rejected_log_records == 0
        assert "not supported" in response.partial_success.error_message
        assert rx.counters["unsupported_signal_requests"] == {"logs": 1}


def test_grpc_stop_drains_and_refuses_afterwards(tmp_path):
    with running_receiver(tmp_path) as (rx, _):
        port = rx.grpc_port
        rx.stop(grace=1)
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as failure:
            grpc_call(port, otlp_request(1).SerializeToString())
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        assert time.monotonic() - started < 30
