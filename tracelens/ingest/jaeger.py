"""Jaeger JSON (as the Jaeger UI downloads it: ``{"data": [trace, ...]}``) -> span frame.

Mapping follows Jaeger's own Jaeger->OTLP translator: the first CHILD_OF reference in the
same trace is the parent, every other reference is a link; ``span.kind`` sets the kind;
``otel.status_code`` (or legacy ``error=true``) and ``otel.status_description`` set the
status; ``otel.scope.name``/``otel.library.name`` and ``w3c.tracestate`` fill their columns.
Those special tags are consumed (not repeated in ``attributes``) so that
encode_jaeger_json -> decode_jaeger_json gives the same frame back. Times are microseconds.
Ids shorter than 32/16 hex digits are left-padded with zeros.

This per-span Python decoder is the reference (the specification, ~50 us per span).
:func:`decode_jaeger_json` first tries the columnar decoder (jaeger_columnar.py, a numba
scan, same frame) and falls back to the reference for input the columnar path does not
model exactly; tests compare the two.
"""

from __future__ import annotations

from typing import Any

from tracelens import schema as s
from tracelens.ingest._jsonvalues import (
    as_bool,
    as_float,
    as_int,
    as_list,
    as_object,
    as_str,
    base64_bytes,
    fail,
    load_json,
)
from tracelens.ingest._rows import Attr, SpanRows, typed
from tracelens.ingest.result import DecodeResult

_KINDS = {name: i for i, name in enumerate(s.SPAN_KINDS)}
_STATUS = {"UNSET": 0, "OK": 1, "ERROR": 2}
SPECIAL_TAGS = frozenset(
    {"span.kind", "otel.status_code", "otel.status_description", "error", "otel.scope.name",
     "otel.scope.version", "otel.library.name", "otel.library.version", "w3c.tracestate"}
)


def padded_id(value: Any, width: int) -> bytes:
    """Hex id, left-padded with zeros to ``width`` hex digits; b"" when absent or not hex."""
    if not isinstance(value, str) or not value or len(value) > width:
        return b""
    try:
        return bytes.fromhex(value.rjust(width, "0"))
    except ValueError:
        return b""


def tag_value(tag: dict[str, Any], where: str) -> Any:
    kind = str(tag.get("type", "string")).lower()
    value = tag.get("value")
    if kind == "bool":
        return as_bool(value, where)
    if kind == "int64":
        return as_int(value, where)
    if kind == "float64":
        return as_float(value, where)
    if kind == "binary":
        return base64_bytes(value, where)
    return value if isinstance(value, str) else ("" if value is None else str(value))


def read_tags(value: Any, where: str) -> dict[str, Any]:
    """Tags as an ordered mapping key -> Python value (later duplicates win)."""
    out: dict[str, Any] = {}
    for i, tag in enumerate(as_list(value, where)):
        tag = as_object(tag, f"{where}[{i}]")
        out[as_str(tag.get("key"), f"{where}[{i}].key")] = tag_value(tag, f"{where}[{i}].value")
    return out


def _attrs(tags: dict[str, Any]) -> list[Attr]:
    return [typed(k, v) for k, v in tags.items()]


def decode_jaeger_json(data: bytes | str) -> DecodeResult:
    """Jaeger UI JSON -> DecodeResult; DecodeError on invalid JSON or shape."""
    fast = decode_jaeger_fast(data)
    if fast is not None:
        return fast
    return decode_jaeger_reference(data)


def decode_jaeger_fast(data: bytes | str) -> DecodeResult | None:
    """The columnar decoder's result, or None where only the reference decodes exactly."""
    from tracelens.ingest.jaeger_columnar import decode_jaeger_columnar  # numba: loaded on first use

    if isinstance(data, str):
        try:
            data = data.encode()
        except UnicodeEncodeError:  # lone surrogates: json.loads(str) still parses them
            return None
    elif not isinstance(data, bytes):
        data = bytes(data)
    return decode_jaeger_columnar(data)


def decode_jaeger_reference(data: bytes | str) -> DecodeResult:
    """The reference decoder alone (json.loads + per-span Python)."""
    return decode_jaeger_object(load_json(data))


def decode_jaeger_object(document: Any) -> DecodeResult:
    if isinstance(document, dict) and "data" in document:
        traces = as_list(document["data"], "data")
    elif isinstance(document, dict) and "spans" in document:
        traces = [document]
    elif isinstance(document, list):
        traces = document
    else:
        raise fail("Jaeger JSON", document, '{"data": [traces]}')
    rows = SpanRows()
    for t, trace in enumerate(traces):
        trace = as_object(trace, f"data[{t}]")
        processes = {
            key: _process(as_object(p, f"data[{t}].processes.{key}"), f"data[{t}].processes.{key}")
            for key, p in as_object(trace.get("processes"), f"data[{t}].processes").items()
        }
        for i, span in enumerate(as_list(trace.get("spans"), f"data[{t}].spans")):
            where = f"data[{t}].spans[{i}]"
            span = as_object(span, where)
            if isinstance(span.get("process"), dict):
                resource = _process(span["process"], f"{where}.process")
            else:
                resource = processes.get(str(span.get("processID")), processes.get("", _UNKNOWN))
            _add_span(rows, span, where, trace.get("traceID"), resource)
    return rows.result()


_UNKNOWN: list[Attr] = []


def _process(process: dict[str, Any], where: str) -> list[Attr]:
    tags = read_tags(process.get("tags"), f"{where}.tags")
    name = as_str(process.get("serviceName"), f"{where}.serviceName")
    resource = {"service.name": name} if name else {}
    return _attrs(resource | {k: v for k, v in tags.items() if k != "service.name" or not name})


def _add_span(rows: SpanRows, span: dict[str, Any], where: str, trace_hex: Any, resource: list[Attr]) -> None:
    trace_hex = span.get("traceID", trace_hex)
    trace_id = padded_id(trace_hex, 32)
    parent = b""
    links = []
    for i, ref in enumerate(as_list(span.get("references"), f"{where}.references")):
        ref = as_object(ref, f"{where}.references[{i}]")
        ref_trace = padded_id(ref.get("traceID", trace_hex), 32)
        ref_span = padded_id(ref.get("spanID"), 16)
        if not parent and str(ref.get("refType", "CHILD_OF")).upper() == "CHILD_OF" and ref_trace == trace_id:
            parent = ref_span
        else:
            links.append({"trace_id": ref_trace, "span_id": ref_span, "trace_state": "", "attributes": []})
    if not parent and isinstance(span.get("parentSpanID"), str):
        parent = padded_id(span["parentSpanID"], 16)
    tags = read_tags(span.get("tags"), f"{where}.tags")
    kind = _KINDS.get(str(tags.get("span.kind", "")).lower(), 0)
    status = _STATUS.get(str(tags.get("otel.status_code", "")).upper(), 0)
    error = tags.get("error")
    if status == 0 and (error is True or (isinstance(error, str) and error.lower() == "true")):
        status = 2
    start = as_int(span.get("startTime"), f"{where}.startTime") * 1000
    duration = as_int(span.get("duration"), f"{where}.duration") * 1000
    events = []
    for i, log in enumerate(as_list(span.get("logs"), f"{where}.logs")):
        log = as_object(log, f"{where}.logs[{i}]")
        fields = read_tags(log.get("fields"), f"{where}.logs[{i}].fields")
        name = fields.pop("event", "")
        events.append({
            "time": as_int(log.get("timestamp"), f"{where}.logs[{i}].timestamp") * 1000,
            "name": name if isinstance(name, str) else str(name),
            "attributes": _attrs(fields),
        })
    flags = span.get("flags")
    rows.add(
        trace_id=trace_id,
        span_id=padded_id(span.get("spanID"), 16),
        parent_span_id=parent,
        name=as_str(span.get("operationName"), f"{where}.operationName"),
        kind=kind,
        start=start,
        end=start + duration,
        status_code=status,
        status_message=str(tags.get("otel.status_description", "")),
        trace_state=str(tags.get("w3c.tracestate", "")),
        flags=None if flags is None else as_int(flags, f"{where}.flags"),
        scope_name=str(tags.get("otel.scope.name", tags.get("otel.library.name", ""))),
        scope_version=str(tags.get("otel.scope.version", tags.get("otel.library.version", ""))),
        attributes=_attrs({k: v for k, v in tags.items() if k not in SPECIAL_TAGS}),
        resource_attributes=resource,
        events=events,
        links=links,
    )

