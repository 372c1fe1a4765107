"""OTLP responses and google.rpc.Status bodies, in protobuf or JSON.

Everything a transport writes back is built here, so gRPC and HTTP answer with the same
messages: ExportTraceServiceResponse (partial success only when something was rejected,
G4/G5), google.rpc.Status bodies for HTTP errors (H2, H4, H5), and RetryInfo for overload
(G7, H7).
"""

from __future__ import annotations

import enum
import json

from google.protobuf import duration_pb2, json_format
from google.protobuf.any_pb2 import Any as AnyProto
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from tracelens.config import DEFAULT_MAX_RESPONSE_MESSAGE_BYTES

#: error_message is cut to this many bytes so a response never nears the 4 MiB gRPC
#: default receive limit of clients (G9), however long the offending span names are.
MAX_ERROR_MESSAGE_BYTES = min(64 * 1024, DEFAULT_MAX_RESPONSE_MESSAGE_BYTES // 4)
TRUNCATION_MARK = " …(truncated)"


class Encoding(enum.Enum):
    """The body encoding of an OTLP/HTTP request (and so of its response, H1)."""

    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


class Signal(enum.Enum):
    """OTLP signals. Only traces are stored; the others get a polite partial success (H10)."""

    TRACES = "traces"
    METRICS = "metrics"
    LOGS = "logs"


NOT_SUPPORTED_MESSAGE = {
    Signal.METRICS: "tracelens stores traces only: metrics are not supported and were dropped",
    Signal.LOGS: "tracelens stores traces only: logs are not supported and were dropped",
}


def truncate_message(message: str, limit: int = MAX_ERROR_MESSAGE_BYTES) -> str:
    """``message`` cut to at most ``limit`` UTF-8 bytes (whole characters), marked when cut."""
    raw = message.encode("utf-8")
    if len(raw) <= limit:
        return message
    keep = limit - len(TRUNCATION_MARK.encode("utf-8"))
    return raw[:keep].decode("utf-8", errors="ignore") + TRUNCATION_MARK


def trace_response(rejected_spans: int = 0, error_message: str = "") -> trace_service_pb2.ExportTraceServiceResponse:
    """The Export response; ``partial_success`` is set only if something was rejected or said (G3, G4)."""
    response = trace_service_pb2.ExportTraceServiceResponse()
    if rejected_spans or error_message:
        response.partial_success.rejected_spans = rejected_spans
        response.partial_success.error_message = truncate_message(error_message)
    return response


def not_supported_response(signal: Signal) -> metrics_service_pb2.ExportMetricsServiceResponse | logs_service_pb2.ExportLogsServiceResponse:
    """200/OK for metrics and logs, with a warning rather than an error (H10): rejected 0."""
    if signal is Signal.METRICS:
        metrics = metrics_service_pb2.ExportMetricsServiceResponse()
        metrics.partial_success.error_message = NOT_SUPPORTED_MESSAGE[signal]
        return metrics
    logs = logs_service_pb2.ExportLogsServiceResponse()
    logs.partial_success.error_message = NOT_SUPPORTED_MESSAGE[Signal.LOGS]
    return logs


def retry_info(seconds: float) -> error_details_pb2.RetryInfo:
    """A RetryInfo asking the client to wait ``seconds`` before retrying (G7)."""
    whole = int(seconds)
    return error_details_pb2.RetryInfo(
        retry_delay=duration_pb2.Duration(seconds=whole, nanos=int(round((seconds - whole) * 1e9)))
    )


def rpc_status(code: int, message: str, retry_after_seconds: float | None = None) -> status_pb2.Status:
    """A google.rpc.Status; with RetryInfo in ``details`` when a retry delay is given."""
    status = status_pb2.Status(code=code, message=truncate_message(message))
    if retry_after_seconds is not None:
        detail = AnyProto()
        detail.Pack(retry_info(retry_after_seconds))
        status.details.append(detail)
    return status


def serialize(message: object, encoding: Encoding) -> bytes:
    """``message`` (a protobuf message) in the wire encoding of the request.

    JSON follows OTLP/JSON: lowerCamelCase names, int64 as strings, and an empty object
    for an empty message (so a full success is ``{}``)."""
    if encoding is Encoding.PROTOBUF:
        return message.SerializeToString()  # type: ignore[attr-defined, no-any-return]
    return json_format.MessageToJson(message, indent=None).encode("utf-8")  # type: ignore[arg-type]


def warm_up_request(encoding: Encoding) -> bytes:
    """A one-span ExportTraceServiceRequest in ``encoding`` (used to warm up decoders)."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    attribute = resource_spans.resource.attributes.add()
    attribute.key, attribute.value.string_value = "service.name", "warm-up"
    span = resource_spans.scope_spans.add().spans.add()
    span.trace_id, span.span_id, span.name = b"\x01" * 16, b"\x01" * 8, "warm-up"
    span.start_time_unix_nano, span.end_time_unix_nano = 1, 2
    if encoding is Encoding.PROTOBUF:
        return request.SerializeToString()
    return json.dumps(
        {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "warm-up"}}]},
          "scopeSpans": [{"spans": [{"traceId": "01" * 16, "spanId": "01" * 8, "name": "warm-up",
                                     "startTimeUnixNano": "1", "endTimeUnixNano": "2"}]}]}]}
    ).encode("utf-8")
