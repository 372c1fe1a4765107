"""Realistic pre-serialised OTLP trace requests, shared by the decode and ingest benchmarks.

Each request: one resource (~5 attributes: service.name, service.version,
deployment.environment.name, host.name, telemetry.sdk.language), one scope, ``spans_per_request``
spans in traces of ~8 spans (root SERVER span, CLIENT/INTERNAL children), ~10 attributes per
span (HTTP / RPC / DB semantic conventions, strings, ints, a double, a bool), 2 events on
10 % of spans (an exception event on error spans), 5 % error statuses, links on 2 %.

    from benchmarks.workload import realistic_requests
    payloads = realistic_requests(100)          # list[bytes], 512 spans each
"""

from __future__ import annotations

import random

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

SERVICES = ("frontend", "checkout", "payments", "cart", "inventory", "shipping", "email", "ads")
ROUTES = ("/api/cart", "/api/checkout", "/api/products/{id}", "/api/orders", "/health", "/api/pay")
METHODS = ("GET", "POST", "PUT", "DELETE")
TRACE_SPANS = 8
BASE_TIME_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def _kv(key: str, value: object) -> KeyValue:
    kv = KeyValue(key=key)
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    elif isinstance(value, float):
        kv.value.double_value = value
    else:
        kv.value.string_value = str(value)
    return kv


def _span_attributes(rng: random.Random, kind: int, service: str) -> list[KeyValue]:
    route = rng.choice(ROUTES)
    attrs: dict[str, object]
    if kind == Span.SPAN_KIND_SERVER:
        attrs = {
            "http.request.method": rng.choice(METHODS),
            "http.route": route,
            "url.path": route.replace("{id}", str(rng.randint(1, 99999))),
            "url.scheme": "https",
            "http.response.status_code": rng.choice((200, 200, 200, 201, 404, 500)),
            "server.address": f"{service}.shop.internal",
            "server.port": 8080,
            "user_agent.original": "Mozilla/5.0 (X11; Linux x86_64) tracelens-bench/1.0",
            "network.protocol.version": "1.1",
            "client.address": f"10.0.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
        }
    elif rng.random() < 0.5:
        attrs = {
            "db.system.name": "postgresql",
            "db.namespace": "shop",
            "db.operation.name": rng.choice(("SELECT", "INSERT", "UPDATE")),
            "db.collection.name": rng.choice(("orders", "carts", "users")),
            "db.query.text": "SELECT * FROM orders WHERE id = $1 AND tenant = $2",
            "server.address": "db.shop.internal",
            "server.port": 5432,
            "db.response.returned_rows": rng.randint(0, 500),
            "peer.service": "postgres",
            "db.client.connection.pool.name": "main",
        }
    else:
        attrs = {
            "rpc.system": "grpc",
            "rpc.service": f"shop.{rng.choice(SERVICES).title()}Service",
            "rpc.method": rng.choice(("Get", "List", "Create", "Charge")),
            "rpc.grpc.status_code": 0,
            "server.address": f"{rng.choice(SERVICES)}.shop.internal",
            "server.port": 50051,
            "network.peer.address": f"10.1.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
            "retry.count": rng.randint(0, 3),
            "sampling.ratio": 0.25,
            "cache.hit": rng.random() < 0.3,
        }
    return [_kv(k, v) for k, v in attrs.items()]


def _fill_span(rng: random.Random, span: Span, trace_id: bytes, parent: bytes, kind: int, service: str, start: int) -> None:
    span.trace_id = trace_id
    span.span_id = rng.randbytes(8)
    if parent:
        span.parent_span_id = parent
    span.name = f"{'GET' if kind == Span.SPAN_KIND_SERVER else 'call'} {rng.choice(ROUTES)}"
    span.kind = kind  # type: ignore[assignment]
    span.flags = 0x101
    span.start_time_unix_nano = start
    span.end_time_unix_nano = start + rng.randint(50_000, 80_000_000)
    span.attributes.extend(_span_attributes(rng, kind, service))
    error = rng.random() < 0.05
    if error:
        span.status.code = Status.STATUS_CODE_ERROR
        span.status.message = "upstream returned 503"
    if error or rng.random() < 0.1:
        for i in range(2):
            event = span.events.add()
            event.time_unix_nano = start + 1000 * (i + 1)
            event.name = "exception" if error and i == 0 else "log"
            event.attributes.extend(
                [_kv("exception.type", "TimeoutError"), _kv("exception.message", "deadline exceeded after 2s")]
                if error and i == 0
                else [_kv("message", "cache miss, falling back to database"), _kv("level", "info")]
            )
    if rng.random() < 0.02:
        link = span.links.add()
        link.trace_id = rng.randbytes(16)
        link.span_id = rng.randbytes(8)
        link.attributes.append(_kv("messaging.operation", "process"))


def realistic_request(rng: random.Random, spans_per_request: int = 512) -> ExportTraceServiceRequest:
    """One request from a single service (as one SDK's BatchSpanProcessor would send)."""
    service = rng.choice(SERVICES)
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.extend(
        [
            _kv("service.name", service),
            _kv("service.version", f"1.{rng.randint(0, 9)}.{rng.randint(0, 20)}"),
            _kv("deployment.environment.name", "production"),
            _kv("host.name", f"{service}-{rng.randint(1, 9)}.prod.internal"),
            _kv("telemetry.sdk.language", "python"),
        ]
    )
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.flask"
    ss.scope.version = "0.66b2"
    made = 0
    while made < spans_per_request:
        trace_id = rng.randbytes(16)
        start = BASE_TIME_NS + rng.randint(0, 3_600_000_000_000)
        root = ss.spans.add()
        _fill_span(rng, root, trace_id, b"", Span.SPAN_KIND_SERVER, service, start)
        made += 1
        for _ in range(min(TRACE_SPANS - 1, spans_per_request - made)):
            kind = rng.choice((Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_INTERNAL))
            _fill_span(rng, ss.spans.add(), trace_id, root.span_id, kind, service, start + rng.randint(10_000, 40_000_000))
            made += 1
    return request


def realistic_requests(n_requests: int, spans_per_request: int = 512, seed: int = 0) -> list[bytes]:
    """``n_requests`` serialised ExportTraceServiceRequests of ``spans_per_request`` spans."""
    rng = random.Random(seed)
    return [realistic_request(rng, spans_per_request).SerializeToString() for _ in range(n_requests)]
