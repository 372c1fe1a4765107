"""Zipkin v2 JSON (a list of spans) -> span frame.

Mapping follows the OpenTelemetry Collector's Zipkin receiver: localEndpoint.serviceName is
the service; remoteEndpoint becomes peer.service / network.peer.address /
network.peer.port; an ``error`` tag makes the status an error (its value, unless "true" or
empty, is the message) and is consumed; annotations become events; times are microseconds.
64-bit trace ids are left-padded to 128 bits.
"""

from __future__ import annotations

from typing import Any

from tracelens.ingest._jsonvalues import as_int, as_list, as_object, as_str, fail, load_json
from tracelens.ingest._rows import Attr, SpanRows, typed
from tracelens.ingest.jaeger import padded_id
from tracelens.ingest.result import DecodeResult

_KINDS = {"SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}
_STATUS = {"UNSET": 0, "OK": 1, "ERROR": 2}
_CONSUMED = frozenset({"error", "otel.status_code", "otel.status_description", "span.kind"})


def _parent(value: Any) -> bytes:
    """An absent parent is a root; one that is present but not hex is invalid (rejected)."""
    if not value:
        return b""
    return padded_id(value, 16) or b"?"


def decode_zipkin_json(data: bytes | str) -> DecodeResult:
    """Zipkin v2 JSON list of spans -> DecodeResult; DecodeError on invalid JSON or shape."""
    return decode_zipkin_object(load_json(data))


def decode_zipkin_object(spans: Any) -> DecodeResult:
    if not isinstance(spans, list):
        raise fail("Zipkin v2 JSON", spans, "a list of spans")
    rows = SpanRows()
    resources: dict[str, list[Attr]] = {}
    for i, span in enumerate(spans):
        where = f"[{i}]"
        span = as_object(span, where)
        local = as_object(span.get("localEndpoint"), f"{where}.localEndpoint")
        service = as_str(local.get("serviceName"), f"{where}.localEndpoint.serviceName")
        if service not in resources:
            resources[service] = [typed("service.name", service)] if service else []
        tags = {str(k): v if isinstance(v, str) else str(v) for k, v in as_object(span.get("tags"), f"{where}.tags").items()}
        kind = _KINDS.get(as_str(span.get("kind"), f"{where}.kind").upper(), 0)
        if not kind:
            kind = {"server": 2, "client": 3, "producer": 4, "consumer": 5, "internal": 1}.get(tags.get("span.kind", "").lower(), 0)
        status = _STATUS.get(tags.get("otel.status_code", "").upper(), 0)
        message = tags.get("otel.status_description", "")
        if "error" in tags and status == 0:
            status = 2
            if tags["error"] not in ("", "true"):
                message = message or tags["error"]
        attrs = [typed(k, v) for k, v in tags.items() if k not in _CONSUMED]
        remote = as_object(span.get("remoteEndpoint"), f"{where}.remoteEndpoint")
        if remote.get("serviceName"):
            attrs.append(typed("peer.service", as_str(remote["serviceName"], f"{where}.remoteEndpoint.serviceName")))
        address = remote.get("ipv4") or remote.get("ipv6")
        if address:
            attrs.append(typed("network.peer.address", as_str(address, f"{where}.remoteEndpoint.ipv4")))
        if remote.get("port"):
            attrs.append(typed("network.peer.port", as_int(remote["port"], f"{where}.remoteEndpoint.port")))
        start = as_int(span.get("timestamp"), f"{where}.timestamp") * 1000
        events = [
            {"time": as_int(a.get("timestamp"), f"{where}.annotations[{j}].timestamp") * 1000,
             "name": as_str(a.get("value"), f"{where}.annotations[{j}].value"), "attributes": []}
            for j, a in enumerate(as_object(x, f"{where}.annotations[{j}]") for j, x in enumerate(as_list(span.get("annotations"), f"{where}.annotations")))
        ]
        rows.add(
            trace_id=padded_id(span.get("traceId"), 32),
            span_id=padded_id(span.get("id"), 16),
            parent_span_id=_parent(span.get("parentId")),
            name=as_str(span.get("name"), f"{where}.name"),
            kind=kind,
            start=start,
            end=start + as_int(span.get("duration"), f"{where}.duration") * 1000,
            status_code=status,
            status_message=message,
            flags=None,
            attributes=attrs,
            resource_attributes=resources[service],
            events=events,
        )
    return rows.result()
