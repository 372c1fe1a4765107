"""OTLP/JSON (ExportTraceServiceRequest as JSON) -> span frame.

Conformance (see shared/otlp-conformance.md): ids are hex in any case, never base64 (J1);
enums as numbers or names (J2); lowerCamelCase or snake_case keys (J3); unknown fields are
ignored at any depth because only known keys are read (J4); 64-bit ints as numbers or
strings, "NaN"/"Infinity" doubles, bytesValue kept as base64 (J5). Wrong shapes, invalid
JSON and non-hex ids raise DecodeError; ids of the wrong length reject just that span (G5).
"""

from __future__ import annotations

import base64
from typing import Any

from tracelens import schema as s
from tracelens.errors import DecodeError
from tracelens.ingest._jsonvalues import (
    as_bool,
    as_enum,
    as_float,
    as_int,
    as_list,
    as_object,
    as_str,
    base64_bytes,
    field,
    hex_id,
    load_json,
)
from tracelens.ingest._rows import Attr, SpanRows, typed
from tracelens.ingest.result import DecodeResult

_KIND_NAMES = tuple(k.upper() for k in s.SPAN_KINDS)
_STATUS_NAMES = tuple(c.upper() for c in s.STATUS_CODES)
#: AnyValue fields in the order they are looked for (a valid value sets exactly one)
_MAX_NESTING = 64


def decode_otlp_json(data: bytes | str) -> DecodeResult:
    """OTLP/JSON text (bytes or str) -> DecodeResult; DecodeError on invalid JSON or shape."""
    request = load_json(data)
    return decode_otlp_json_object(request)


def decode_otlp_json_object(request: Any) -> DecodeResult:
    """An already-parsed OTLP/JSON request (dict) -> DecodeResult."""
    if not isinstance(request, dict):
        msg = f"OTLP/JSON request must be an object, got {type(request).__name__}"
        raise DecodeError(msg)
    rows = SpanRows()
    for i, rs in enumerate(as_list(field(request, "resourceSpans", "resource_spans"), "resourceSpans")):
        where = f"resourceSpans[{i}]"
        rs = as_object(rs, where)
        resource = as_object(field(rs, "resource"), f"{where}.resource")
        resource_attrs = attributes(field(resource, "attributes"), f"{where}.resource.attributes")
        for j, ss in enumerate(as_list(field(rs, "scopeSpans", "scope_spans", "instrumentationLibrarySpans", "instrumentation_library_spans"), f"{where}.scopeSpans")):
            where_ss = f"{where}.scopeSpans[{j}]"
            ss = as_object(ss, where_ss)
            scope = as_object(field(ss, "scope", "instrumentationLibrary", "instrumentation_library"), f"{where_ss}.scope")
            scope_name = as_str(field(scope, "name"), f"{where_ss}.scope.name")
            scope_version = as_str(field(scope, "version"), f"{where_ss}.scope.version")
            for k, span in enumerate(as_list(field(ss, "spans"), f"{where_ss}.spans")):
                add_span(rows, as_object(span, f"{where_ss}.spans[{k}]"), f"{where_ss}.spans[{k}]",
                         scope_name, scope_version, resource_attrs)
    return rows.result()


def add_span(rows: SpanRows, span: dict[str, Any], where: str, scope_name: str, scope_version: str,
             resource_attrs: list[Attr]) -> None:
    status = as_object(field(span, "status"), f"{where}.status")
    rows.add(
        trace_id=hex_id(field(span, "traceId", "trace_id"), f"{where}.traceId"),
        span_id=hex_id(field(span, "spanId", "span_id"), f"{where}.spanId"),
        parent_span_id=hex_id(field(span, "parentSpanId", "parent_span_id"), f"{where}.parentSpanId"),
        name=as_str(field(span, "name"), f"{where}.name"),
        kind=as_enum(field(span, "kind"), f"{where}.kind", _KIND_NAMES, "SPAN_KIND_"),
        start=as_int(field(span, "startTimeUnixNano", "start_time_unix_nano"), f"{where}.startTimeUnixNano"),
        end=as_int(field(span, "endTimeUnixNano", "end_time_unix_nano"), f"{where}.endTimeUnixNano"),
        status_code=as_enum(field(status, "code"), f"{where}.status.code", _STATUS_NAMES, "STATUS_CODE_"),
        status_message=as_str(field(status, "message"), f"{where}.status.message"),
        trace_state=as_str(field(span, "traceState", "trace_state"), f"{where}.traceState"),
        flags=as_int(field(span, "flags"), f"{where}.flags"),
        scope_name=scope_name,
        scope_version=scope_version,
        attributes=attributes(field(span, "attributes"), f"{where}.attributes"),
        resource_attributes=resource_attrs,
        events=[event(as_object(e, f"{where}.events[{i}]"), f"{where}.events[{i}]")
                for i, e in enumerate(as_list(field(span, "events"), f"{where}.events"))],
        links=[link(as_object(k, f"{where}.links[{i}]"), f"{where}.links[{i}]")
               for i, k in enumerate(as_list(field(span, "links"), f"{where}.links"))],
    )


def event(obj: dict[str, Any], where: str) -> dict[str, Any]:
    return {
        "time": as_int(field(obj, "timeUnixNano", "time_unix_nano"), f"{where}.timeUnixNano"),
        "name": as_str(field(obj, "name"), f"{where}.name"),
        "attributes": attributes(field(obj, "attributes"), f"{where}.attributes"),
    }


def link(obj: dict[str, Any], where: str) -> dict[str, Any]:
    return {
        "trace_id": hex_id(field(obj, "traceId", "trace_id"), f"{where}.traceId"),
        "span_id": hex_id(field(obj, "spanId", "span_id"), f"{where}.spanId"),
        "trace_state": as_str(field(obj, "traceState", "trace_state"), f"{where}.traceState"),
        "attributes": attributes(field(obj, "attributes"), f"{where}.attributes"),
    }


def attributes(value: Any, where: str) -> list[Attr]:
    out = []
    for i, kv in enumerate(as_list(value, where)):
        kv = as_object(kv, f"{where}[{i}]")
        key = as_str(field(kv, "key"), f"{where}[{i}].key")
        plain = anyvalue(field(kv, "value"), f"{where}[{i}].value", 0)
        if isinstance(plain, _Bytes):
            out.append({**typed(key, None), "type": "bytes", "str": plain.text})
        else:
            out.append(typed(key, plain))
    return out


class _Bytes:
    """A bytesValue: kept as (normalised) base64 text."""

    __slots__ = ("text",)

    def __init__(self, raw: bytes) -> None:
        self.text = base64.b64encode(raw).decode("ascii")


def anyvalue(value: Any, where: str, depth: int) -> Any:
    """An OTLP/JSON AnyValue as plain Python (None = empty); bytes as _Bytes."""
    if depth > _MAX_NESTING:
        msg = f"{where}: values nested deeper than {_MAX_NESTING} levels"
        raise DecodeError(msg)
    obj = as_object(value, where)
    if (v := field(obj, "stringValue", "string_value")) is not None:
        return as_str(v, f"{where}.stringValue")
    if (v := field(obj, "boolValue", "bool_value")) is not None:
        return as_bool(v, f"{where}.boolValue")
    if (v := field(obj, "intValue", "int_value")) is not None:
        return as_int(v, f"{where}.intValue")
    if (v := field(obj, "doubleValue", "double_value")) is not None:
        return as_float(v, f"{where}.doubleValue")
    if (v := field(obj, "bytesValue", "bytes_value")) is not None:
        return _Bytes(base64_bytes(v, f"{where}.bytesValue"))
    if (v := field(obj, "arrayValue", "array_value")) is not None:
        values = as_list(field(as_object(v, f"{where}.arrayValue"), "values"), f"{where}.arrayValue.values")
        return [_nested(anyvalue(x, f"{where}.arrayValue.values[{i}]", depth + 1)) for i, x in enumerate(values)]
    if (v := field(obj, "kvlistValue", "kvlist_value")) is not None:
        values = as_list(field(as_object(v, f"{where}.kvlistValue"), "values"), f"{where}.kvlistValue.values")
        out = {}
        for i, kv in enumerate(values):
            kv = as_object(kv, f"{where}.kvlistValue.values[{i}]")
            key = as_str(field(kv, "key"), f"{where}.kvlistValue.values[{i}].key")
            out[key] = _nested(anyvalue(field(kv, "value"), f"{where}.kvlistValue.values[{i}].value", depth + 1))
        return out
    return None


def _nested(value: Any) -> Any:
    return value.text if isinstance(value, _Bytes) else value
