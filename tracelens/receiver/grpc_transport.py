"""OTLP/gRPC: ``TraceService/Export`` on a generic handler with identity (de)serializers.

We register the method ourselves and parse the bytes ourselves (G6): grpcio's generated
servicer would answer an unparseable request with a bare INTERNAL. grpc core's message
decompression is switched off and we inflate gzip/deflate messages ourselves, with the size
limit enforced while inflating (G2): a gzip bomb costs at most the limit and is counted.
The handler is *request-streaming* on our side (the wire format of a unary call is
identical), so auth and overload are checked before the body is received, and a message
core refuses as too large on the wire still shows up as a zero-message call we count (R3).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc

from tracelens.config import DEFAULT_MAX_RESPONSE_MESSAGE_BYTES, ReceiverConfig
from tracelens.errors import DecodeError, ReceiverError
from tracelens.receiver.counters import Reason
from tracelens.receiver.inflate import TooLargeError, inflate_grpc_message
from tracelens.receiver.pipeline import STORE_ERROR, Outcome, Pipeline
from tracelens.receiver.security import TLSFiles, token_matches
from tracelens.receiver.wire import Encoding, Signal, not_supported_response, retry_info, rpc_status, trace_response

logger = logging.getLogger("tracelens.receiver")

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
METRICS_SERVICE = "opentelemetry.proto.collector.metrics.v1.MetricsService"
LOGS_SERVICE = "opentelemetry.proto.collector.logs.v1.LogsService"
STATUS_DETAILS_TRAILER = "grpc-status-details-bin"
RETRY_INFO_TRAILER = "google.rpc.retryinfo-bin"
TRANSPORT = "grpc"

_GRPC_CODE_BY_REFUSAL = {
    Reason.UNDECODABLE: grpc.StatusCode.INVALID_ARGUMENT,
    Reason.TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Reason.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    # Overload is UNAVAILABLE, never a bare RESOURCE_EXHAUSTED: Go clients treat the
    # latter as permanent and drop the data (G8).
    Reason.OVERLOADED: grpc.StatusCode.UNAVAILABLE,
    STORE_ERROR: grpc.StatusCode.UNAVAILABLE,
    Reason.INTERNAL: grpc.StatusCode.INTERNAL,
}


@dataclass(frozen=True)
class _AbortStatus(grpc.Status):  # type: ignore[misc]
    code: grpc.StatusCode
    details: str
    trailing_metadata: tuple[tuple[str, bytes], ...]


def server_options(config: ReceiverConfig) -> list[tuple[str, int]]:
    """grpc core channel arguments for the server (G2, G9, G10)."""
    options = [
        # Messages are inflated by us, with the limit enforced while inflating (G2): grpc
        # core would inflate a gzip bomb up to the limit and refuse it where we cannot
        # count it. The wire limit still applies to the (compressed) message as received.
        ("grpc.per_message_decompression", 0),
        ("grpc.max_receive_message_length", config.max_request_bytes),
        ("grpc.max_send_message_length", DEFAULT_MAX_RESPONSE_MESSAGE_BYTES),
        ("grpc.max_concurrent_streams", config.max_concurrent_streams),
        ("grpc.keepalive_time_ms", int(config.keepalive_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", int(config.keepalive_timeout_seconds * 1000)),
        # Refuse to share a port silently with another server (grpc's default is SO_REUSEPORT).
        ("grpc.so_reuseport", 0),
    ]
    if config.max_connection_age_seconds is not None:
        options.append(("grpc.max_connection_age_ms", int(config.max_connection_age_seconds * 1000)))
        options.append(("grpc.max_connection_age_grace_ms", int(config.max_connection_age_grace_seconds * 1000)))
    return options


def abort_status(outcome: Outcome) -> _AbortStatus:
    """The gRPC status of a refused request; overload carries RetryInfo in both trailers (G7)."""
    assert outcome.refusal is not None
    code = _GRPC_CODE_BY_REFUSAL.get(outcome.refusal, grpc.StatusCode.INTERNAL)
    trailers: tuple[tuple[str, bytes], ...] = ()
    if outcome.retry_after_seconds is not None:
        status = rpc_status(code.value[0], outcome.message, outcome.retry_after_seconds)
        trailers = (
            (STATUS_DETAILS_TRAILER, status.SerializeToString()),
            (RETRY_INFO_TRAILER, retry_info(outcome.retry_after_seconds).SerializeToString()),
        )
    return _AbortStatus(code, outcome.message[:4096], trailers)


class GrpcTransport:
    """The gRPC server of a Receiver."""

    def __init__(self, pipeline: Pipeline, config: ReceiverConfig) -> None:
        self._pipeline = pipeline
        self._config = config
        self._server: grpc.Server | None = None
        self.port: int | None = None

    def start(self) -> int:
        config = self._config
        handlers = [
            grpc.method_handlers_generic_handler(
                TRACE_SERVICE, {"Export": grpc.stream_unary_rpc_method_handler(self._export_traces)}
            ),
            grpc.method_handlers_generic_handler(
                METRICS_SERVICE, {"Export": grpc.stream_unary_rpc_method_handler(self._export_metrics)}
            ),
            grpc.method_handlers_generic_handler(
                LOGS_SERVICE, {"Export": grpc.stream_unary_rpc_method_handler(self._export_logs)}
            ),
        ]
        executor = futures.ThreadPoolExecutor(max_workers=config.grpc_workers, thread_name_prefix="tracelens-grpc")
        server = grpc.server(executor, handlers=handlers, options=server_options(config))
        address = f"{_bracket(config.host)}:{config.grpc_port}"
        try:
            if config.tls_cert and config.tls_key:
                credentials = TLSFiles(config.tls_cert, config.tls_key, config.tls_client_ca).grpc_credentials()
                port = server.add_secure_port(address, credentials)
            else:
                port = server.add_insecure_port(address)
        except RuntimeError as exc:
            port = 0
            logger.debug("grpc bind failed: %s", exc)
        if not port:
            executor.shutdown(wait=False)
            msg = f"cannot listen for OTLP/gRPC on {address} (port in use or address unavailable)"
            raise ReceiverError(msg)
        server.start()
        self._server, self.port = server, port
        return port

    def stop(self, grace: float) -> None:
        """Stop accepting calls and wait up to ``grace`` seconds for the ones in flight."""
        if self._server is not None:
            self._server.stop(grace).wait(grace + 1.0)
            self._server = None

    # --- handlers ---------------------------------------------------------------------
    def _authenticated(self, context: grpc.ServicerContext, metadata: dict[str, Any]) -> None:
        if not token_matches(metadata.get("authorization"), self._config.auth_token):
            outcome = self._pipeline.refuse(
                Reason.UNAUTHENTICATED, "missing or wrong bearer token", context.peer()
            )
            context.abort(grpc.StatusCode.UNAUTHENTICATED, outcome.message)

    def _export_traces(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        peer = context.peer()
        metadata = dict(context.invocation_metadata())
        self._authenticated(context, metadata)
        refusal = self._pipeline.overloaded(peer)
        if refusal is not None:
            context.abort_with_status(abort_status(refusal))
        try:
            body = next(requests, None)
        except grpc.RpcError:
            body = None
        if body is None:
            # No message: grpc core already answered RESOURCE_EXHAUSTED because it is over
            # the limit as received (G2); depending on timing the iterator ends or raises. (A client cancelling mid-upload looks the same from here; it is rare
            # enough to be counted alike, and the detail says so.)
            detail = f"over {self._config.max_request_bytes} bytes (or cancelled mid-upload)"
            self._pipeline.refuse(Reason.TOO_LARGE, detail, peer)
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, detail)
        compressed = len(body)
        try:
            body = inflate_grpc_message(body, self._config.max_request_bytes)
        except TooLargeError as exc:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, self._pipeline.refuse(Reason.TOO_LARGE, str(exc), peer).message)
        except DecodeError as exc:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, self._pipeline.refuse(Reason.UNDECODABLE, str(exc), peer).message)
        self._pipeline.counters.request(TRANSPORT, len(body), "identity" if len(body) == compressed else "compressed")
        try:
            outcome = self._pipeline.export(body, Encoding.PROTOBUF, metadata, peer)
        except Exception:  # a bug of ours, not the client's: say so (H8's "real internal failure")
            logger.exception("internal error while handling an OTLP/gRPC export from %s", peer)
            outcome = self._pipeline.refuse(Reason.INTERNAL, "internal error (see the receiver log)", peer)
        if outcome.refusal is not None:
            context.abort_with_status(abort_status(outcome))
        if not outcome.rejected:
            return b""  # the empty ExportTraceServiceResponse: partial_success unset (G4)
        return trace_response(outcome.rejected, outcome.message).SerializeToString()

    def _export_unsupported(self, signal: Signal, requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        self._authenticated(context, dict(context.invocation_metadata()))
        for _ in requests:
            pass
        self._pipeline.counters.unsupported_signal(signal.value)
        return not_supported_response(signal).SerializeToString()

    def _export_metrics(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        return self._export_unsupported(Signal.METRICS, requests, context)

    def _export_logs(self, requests: Iterator[bytes], context: grpc.ServicerContext) -> bytes:
        return self._export_unsupported(Signal.LOGS, requests, context)


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host

