"""Span frames back out: OTLP/JSON, OTLP protobuf, Jaeger JSON.

Spans are grouped by (resource attributes, scope) as an SDK would send them. Encoding is not
on a hot path (exports, fixtures, round-trip tests), so it walks rows in Python.
Decoding the output gives the input frame back (spans grouped by resource and scope; Jaeger
keeps microseconds, and arrays/kvlists become JSON strings there, as Jaeger tags are scalar).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterator, Mapping
from typing import Any

import polars as pl
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tracelens import schema as s

_RAW_EVENTS = pl.List(pl.Struct({"time": pl.Int64, "name": pl.String, "attributes": s.ATTRIBUTES_DTYPE}))
_KIND_INDEX = {name: i for i, name in enumerate(s.SPAN_KINDS)}
_STATUS_INDEX = {name: i for i, name in enumerate(s.STATUS_CODES)}


def _rows(frame: pl.DataFrame) -> Iterator[dict[str, Any]]:
    raw = s.conform(frame).with_columns(
        pl.col(s.START).dt.epoch("ns"),
        pl.col(s.END).dt.epoch("ns"),
        pl.col(s.EVENTS).cast(_RAW_EVENTS),
    )
    return raw.collect().iter_rows(named=True)


def _groups(frame: pl.DataFrame) -> dict[str, dict[tuple[str, str], list[dict[str, Any]]]]:
    """resource (JSON key) -> (scope name, version) -> rows, in first-seen order."""
    groups: dict[str, dict[tuple[str, str], list[dict[str, Any]]]] = {}
    for row in _rows(frame):
        resource_key = json.dumps(row[s.RESOURCE_ATTRIBUTES], sort_keys=True, default=str)
        scope = (row[s.SCOPE_NAME] or "", row[s.SCOPE_VERSION] or "")
        groups.setdefault(resource_key, {}).setdefault(scope, []).append(row)
    return groups


# --- OTLP/JSON ------------------------------------------------------------------------------
def _json_double(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _json_anyvalue(value: Any) -> dict[str, Any]:
    """A plain nested value (from JSON text) as an OTLP/JSON AnyValue."""
    if value is None:
        return {}
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": _json_double(value)}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": [{"key": k, "value": _json_anyvalue(v)} for k, v in value.items()]}}
    return {"arrayValue": {"values": [_json_anyvalue(v) for v in value]}}


def _json_attribute(attr: Mapping[str, Any]) -> dict[str, Any]:
    kind = attr["type"]
    if kind == "string":
        value: dict[str, Any] = {"stringValue": attr["str"]}
    elif kind == "bool":
        value = {"boolValue": attr["bool"]}
    elif kind == "int":
        value = {"intValue": str(attr["int"])}
    elif kind == "double":
        value = {"doubleValue": _json_double(attr["float"])}
    elif kind == "bytes":
        value = {"bytesValue": attr["str"]}
    elif kind in ("array", "kvlist"):
        value = _json_anyvalue(json.loads(attr["str"]))
    else:
        value = {}
    return {"key": attr["key"], "value": value}


def _json_attributes(attrs: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    return [_json_attribute(a) for a in attrs or []]


def _json_span(row: dict[str, Any]) -> dict[str, Any]:
    span: dict[str, Any] = {
        "traceId": row[s.TRACE_ID],
        "spanId": row[s.SPAN_ID],
        "parentSpanId": row[s.PARENT_SPAN_ID] or "",
        "traceState": row[s.TRACE_STATE] or "",
        "flags": row[s.FLAGS] or 0,
        "name": row[s.NAME],
        "kind": _KIND_INDEX[row[s.KIND]],
        "startTimeUnixNano": str(row[s.START] % 2**64),
        "endTimeUnixNano": str(row[s.END] % 2**64),
        "attributes": _json_attributes(row[s.ATTRIBUTES]),
        "events": [
            {"timeUnixNano": str(e["time"] % 2**64), "name": e["name"], "attributes": _json_attributes(e["attributes"])}
            for e in row[s.EVENTS] or []
        ],
        "links": [
            {"traceId": k["trace_id"], "spanId": k["span_id"], "traceState": k["trace_state"] or "",
             "attributes": _json_attributes(k["attributes"])}
            for k in row[s.LINKS] or []
        ],
        "status": {"code": _STATUS_INDEX[row[s.STATUS_CODE]], "message": row[s.STATUS_MESSAGE] or ""},
    }
    return span


def encode_otlp_json(frame: pl.DataFrame) -> dict[str, Any]:
    """A span frame as an OTLP/JSON ExportTraceServiceRequest (hex ids, int64 as strings)."""
    resource_spans = []
    for scopes in _groups(frame).values():
        first = next(iter(scopes.values()))[0]
        resource_spans.append({
            "resource": {"attributes": _json_attributes(first[s.RESOURCE_ATTRIBUTES])},
            "scopeSpans": [
                {"scope": {"name": name, "version": version}, "spans": [_json_span(r) for r in rows]}
                for (name, version), rows in scopes.items()
            ],
        })
    return {"resourceSpans": resource_spans}


# --- OTLP protobuf --------------------------------------------------------------------------
def _fill_plain(target: AnyValue, value: Any) -> None:
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
    elif isinstance(value, Mapping):
        target.kvlist_value.SetInParent()
        for k, v in value.items():
            _fill_plain(target.kvlist_value.values.add(key=k).value, v)
    else:
        target.array_value.SetInParent()
        for v in value:
            _fill_plain(target.array_value.values.add(), v)


def _fill_attributes(target: Any, attrs: list[Mapping[str, Any]] | None) -> None:
    for attr in attrs or []:
        kv = target.add(key=attr["key"])
        kind = attr["type"]
        if kind == "string":
            kv.value.string_value = attr["str"]
        elif kind == "bool":
            kv.value.bool_value = attr["bool"]
        elif kind == "int":
            kv.value.int_value = attr["int"]
        elif kind == "double":
            kv.value.double_value = attr["float"]
        elif kind == "bytes":
            kv.value.bytes_value = base64.b64decode(attr["str"])
        elif kind in ("array", "kvlist"):
            _fill_plain(kv.value, json.loads(attr["str"]))
            if kind == "array":
                kv.value.array_value.SetInParent()
            else:
                kv.value.kvlist_value.SetInParent()


def encode_otlp_request(frame: pl.DataFrame) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    for scopes in _groups(frame).values():
        rs = request.resource_spans.add()
        first = next(iter(scopes.values()))[0]
        _fill_attributes(rs.resource.attributes, first[s.RESOURCE_ATTRIBUTES])
        for (name, version), rows in scopes.items():
            ss = rs.scope_spans.add()
            ss.scope.name, ss.scope.version = name, version
            for row in rows:
                span = ss.spans.add(
                    trace_id=bytes.fromhex(row[s.TRACE_ID]),
                    span_id=bytes.fromhex(row[s.SPAN_ID]),
                    parent_span_id=bytes.fromhex(row[s.PARENT_SPAN_ID] or ""),
                    trace_state=row[s.TRACE_STATE] or "",
                    flags=(row[s.FLAGS] or 0) % 2**32,
                    name=row[s.NAME],
                    kind=_KIND_INDEX[row[s.KIND]],
                    start_time_unix_nano=row[s.START] % 2**64,
                    end_time_unix_nano=row[s.END] % 2**64,
                )
                span.status.code = _STATUS_INDEX[row[s.STATUS_CODE]]
                span.status.message = row[s.STATUS_MESSAGE] or ""
                _fill_attributes(span.attributes, row[s.ATTRIBUTES])
                for e in row[s.EVENTS] or []:
                    _fill_attributes(span.events.add(time_unix_nano=e["time"] % 2**64, name=e["name"]).attributes, e["attributes"])
                for k in row[s.LINKS] or []:
                    link = span.links.add(
                        trace_id=bytes.fromhex(k["trace_id"]), span_id=bytes.fromhex(k["span_id"]),
                        trace_state=k["trace_state"] or "",
                    )
                    _fill_attributes(link.attributes, k["attributes"])
    return request


def encode_otlp_protobuf(frame: pl.DataFrame) -> bytes:
    """A span frame as serialised ExportTraceServiceRequest bytes."""
    return encode_otlp_request(frame).SerializeToString()


# --- Jaeger JSON ----------------------------------------------------------------------------
def _jaeger_tag(key: str, attr: Mapping[str, Any]) -> dict[str, Any]:
    kind = attr["type"]
    if kind == "bool":
        return {"key": key, "type": "bool", "value": attr["bool"]}
    if kind == "int":
        return {"key": key, "type": "int64", "value": attr["int"]}
    if kind == "double":
        return {"key": key, "type": "float64", "value": _json_double(attr["float"])}
    if kind == "bytes":
        return {"key": key, "type": "binary", "value": attr["str"]}
    return {"key": key, "type": "string", "value": attr["str"] or ""}


def _jaeger_tags(attrs: list[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    return [_jaeger_tag(a["key"], a) for a in attrs or [] if a["type"] != "empty"]


def _string_tag(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "type": "string", "value": value}


def _jaeger_span(row: dict[str, Any], process_id: str) -> dict[str, Any]:
    tags = _jaeger_tags(row[s.ATTRIBUTES])
    if row[s.KIND] not in ("unspecified",):
        tags.append(_string_tag("span.kind", row[s.KIND]))
    if row[s.STATUS_CODE] != "unset":
        tags.append(_string_tag("otel.status_code", row[s.STATUS_CODE].upper()))
    if row[s.STATUS_CODE] == "error":
        tags.append({"key": "error", "type": "bool", "value": True})
    if row[s.STATUS_MESSAGE]:
        tags.append(_string_tag("otel.status_description", row[s.STATUS_MESSAGE]))
    if row[s.SCOPE_NAME]:
        tags.append(_string_tag("otel.scope.name", row[s.SCOPE_NAME]))
    if row[s.SCOPE_VERSION]:
        tags.append(_string_tag("otel.scope.version", row[s.SCOPE_VERSION]))
    if row[s.TRACE_STATE]:
        tags.append(_string_tag("w3c.tracestate", row[s.TRACE_STATE]))
    references = []
    if row[s.PARENT_SPAN_ID]:
        references.append({"refType": "CHILD_OF", "traceID": row[s.TRACE_ID], "spanID": row[s.PARENT_SPAN_ID]})
    references += [{"refType": "FOLLOWS_FROM", "traceID": k["trace_id"], "spanID": k["span_id"]} for k in row[s.LINKS] or []]
    logs = []
    for e in row[s.EVENTS] or []:
        fields = ([_string_tag("event", e["name"])] if e["name"] else []) + _jaeger_tags(e["attributes"])
        logs.append({"timestamp": e["time"] // 1000, "fields": fields})
    span = {
        "traceID": row[s.TRACE_ID],
        "spanID": row[s.SPAN_ID],
        "operationName": row[s.NAME],
        "references": references,
        "startTime": row[s.START] // 1000,
        "duration": (row[s.END] - row[s.START]) // 1000,
        "tags": tags,
        "logs": logs,
        "processID": process_id,
        "warnings": None,
    }
    if row[s.FLAGS] is not None:
        span["flags"] = row[s.FLAGS]
    return span


def encode_jaeger_json(frame: pl.DataFrame) -> dict[str, Any]:
    """A span frame as Jaeger UI JSON: ``{"data": [{traceID, spans, processes}, ...]}``."""
    traces: dict[str, dict[str, Any]] = {}
    process_ids: dict[str, dict[str, str]] = {}
    for row in _rows(frame):
        trace = traces.setdefault(row[s.TRACE_ID], {"traceID": row[s.TRACE_ID], "spans": [], "processes": {}, "warnings": None})
        resource = row[s.RESOURCE_ATTRIBUTES] or []
        key = json.dumps(resource, sort_keys=True, default=str)
        ids = process_ids.setdefault(row[s.TRACE_ID], {})
        if key not in ids:
            ids[key] = f"p{len(ids) + 1}"
            trace["processes"][ids[key]] = {
                "serviceName": row[s.SERVICE_NAME],
                "tags": _jaeger_tags([a for a in resource if a["key"] != "service.name"]),
            }
        trace["spans"].append(_jaeger_span(row, ids[key]))
    return {"data": list(traces.values())}
