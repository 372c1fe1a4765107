"""Reference OTLP protobuf decoder: upb messages -> rows, one span at a time.

Small and obviously correct; it is the baseline of benchmarks/decode.py and the oracle
the fast decoder (otlp_protobuf.py) is tested against. Not used on the hot path.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tracelens.errors import DecodeError
from tracelens.ingest._rows import Attr, SpanRows, typed
from tracelens.ingest.result import DecodeResult


def parse_request(data: bytes) -> ExportTraceServiceRequest:
    try:
        return ExportTraceServiceRequest.FromString(bytes(data))
    except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
        msg = f"not a valid OTLP ExportTraceServiceRequest: {exc}"
        raise DecodeError(msg) from exc


def anyvalue_plain(value: AnyValue) -> Any:
    """An AnyValue as plain Python (bytes stay bytes; unresolvable string indexes are None)."""
    which = value.WhichOneof("value")
    if which is None or which == "string_value_strindex":
        return None
    if which == "array_value":
        return [anyvalue_plain(v) for v in value.array_value.values]
    if which == "kvlist_value":
        return {kv.key: anyvalue_plain(kv.value) for kv in value.kvlist_value.values}
    if which == "bytes_value":
        return bytes(value.bytes_value)
    return getattr(value, which)


def keyvalue_typed(kv: KeyValue) -> Attr:
    return typed(kv.key, anyvalue_plain(kv.value))


def attributes_typed(kvs: Any) -> list[Attr]:
    return [keyvalue_typed(kv) for kv in kvs]


def decode_otlp_protobuf_reference(data: bytes) -> DecodeResult:
    """ExportTraceServiceRequest bytes -> DecodeResult, via upb messages (slow, simple)."""
    request = parse_request(data)
    rows = SpanRows()
    for rs in request.resource_spans:
        resource = attributes_typed(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                rows.add(
                    trace_id=span.trace_id,
                    span_id=span.span_id,
                    parent_span_id=span.parent_span_id,
                    name=span.name,
                    kind=span.kind,
                    start=span.start_time_unix_nano,
                    end=span.end_time_unix_nano,
                    status_code=span.status.code,
                    status_message=span.status.message,
                    trace_state=span.trace_state,
                    flags=span.flags,
                    scope_name=ss.scope.name,
                    scope_version=ss.scope.version,
                    attributes=attributes_typed(span.attributes),
                    resource_attributes=resource,
                    events=[
                        {"time": e.time_unix_nano, "name": e.name, "attributes": attributes_typed(e.attributes)}
                        for e in span.events
                    ],
                    links=[
                        {"trace_id": k.trace_id, "span_id": k.span_id, "trace_state": k.trace_state,
                         "attributes": attributes_typed(k.attributes)}
                        for k in span.links
                    ],
                )
    return rows.result()
