"""The simulated shop: which services exist, how each request flows, how long each step takes.

Pure simulation, no OpenTelemetry here: :func:`simulate_request` turns one arriving request
into a tree of :class:`Call` records (service instance, name, kind, explicit start/end in
nanoseconds, semantic-convention attributes, error) that :mod:`tracelens.demo.emit` replays
through the real OpenTelemetry SDK. Keeping the model pure makes it cheap to test and lets
the emitter be the only place that talks to the SDK.

Topology (as in the seed's checkout example)::

    web-frontend ─► auth-service                       (gRPC, every request)
                 ─► inventory-service ─► postgresql inventory   (a CLIENT span, no server)
                                       ─► redis cache            (fallback in a partition)
                 ─► payment-service   ─┬► credit-card-api   (parallel)
                    (circuit breaker)  └► fraud-check-api
                 ─► rabbitmq order-confirmations ─► email-service ─► mail relay

Latencies are log-normal bodies with a Pareto tail; errors, retries (on connection errors),
timeouts and the circuit breaker follow from the chaos conditions of the moment.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Final

from tracelens.demo.breaker import CircuitBreaker
from tracelens.demo.timeline import NS_PER_S, Conditions

# OTLP SpanKind numbers (the SDK's SpanKind enum has the same names)
INTERNAL: Final = 1
SERVER: Final = 2
CLIENT: Final = 3
PRODUCER: Final = 4
CONSUMER: Final = 5

MS: Final = 1_000_000  # ns

ENVIRONMENT: Final = "production"


@dataclass(frozen=True, slots=True)
class Instance:
    """One pod: its resource attributes become the TracerProvider's Resource."""

    service: str
    version: str
    host: str

    def resource_attributes(self) -> dict[str, str]:
        return {
            "service.name": self.service,
            "service.version": self.version,
            "service.namespace": "shop",
            "deployment.environment.name": ENVIRONMENT,
            "host.name": self.host,
            # set explicitly: the SDK would otherwise add a random UUID, breaking reproducibility
            "service.instance.id": self.host,
        }


def _pods(service: str, version: str, count: int, template: str) -> tuple[Instance, ...]:
    return tuple(Instance(service, version, f"{service}-{template}-{i}") for i in range(count))


# pod-template hashes are arbitrary but fixed, like a Deployment's ReplicaSet hash
FRONTEND: Final = _pods("web-frontend", "1.4.2", 3, "6c8f9d")
AUTH: Final = _pods("auth-service", "2.1.0", 2, "58bd7c")
INVENTORY: Final = _pods("inventory-service", "3.0.1", 2, "7f4b2a")
PAYMENT_V1: Final = _pods("payment-service", "1.0.0", 4, "5d9c81")
PAYMENT_V2: Final = _pods("payment-service", "2.0.0", 2, "84e6f3")
CREDIT_CARD: Final = _pods("credit-card-api", "5.2.0", 2, "9a1e07")
FRAUD: Final = _pods("fraud-check-api", "1.8.3", 2, "3b7d55")
EMAIL: Final = _pods("email-service", "1.1.0", 2, "c2a9e4")

INSTANCES: Final[tuple[Instance, ...]] = (
    FRONTEND + AUTH + INVENTORY + PAYMENT_V1 + PAYMENT_V2 + CREDIT_CARD + FRAUD + EMAIL
)
SERVICES: Final = tuple(dict.fromkeys(i.service for i in INSTANCES))

# --- the model's knobs (why each value: see the comment next to it) ----------------------
BASELINE_ERROR_RATE: Final = 0.00005  # per service call: a calm shop stays well inside a 99.9 % SLO
DB_TIMEOUT_S: Final = 1.5  # inventory's connect/query timeout when the database is unreachable
CREDIT_CARD_TIMEOUT_S: Final = 2.0  # payment-service's client timeout to credit-card-api
RETRY_BACKOFF_S: Final = 0.05  # web-frontend waits this long before retrying another pod
MAX_ATTEMPTS: Final = 2  # first try + one retry, only on connection errors
CANARY_ERROR_RATE: Final = 0.025  # the seed's regression: 2.5 % errors in v2.0 ...
CANARY_EXTRA_MEDIAN_MS: Final = 390.0  # ... and a p95 of about 800 ms (v1: about 200 ms), measured
ROUTE_MIX: Final = (("product", 0.5), ("login", 0.15), ("checkout", 0.35))


@dataclass(slots=True)
class Call:
    """One span to emit: times are absolute nanoseconds since the epoch."""

    instance: Instance
    name: str
    kind: int
    start: int
    end: int
    attributes: dict[str, Any]
    error: str | None = None
    children: list[Call] = field(default_factory=list)
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    link_to_parent: bool = False  # a CONSUMER points back at its PRODUCER with a span link

    def count(self) -> int:
        """Spans in this subtree (iterative: trees are small but this is on a hot path)."""
        total = 0
        stack = [self]
        while stack:
            node = stack.pop()
            total += 1
            stack.extend(node.children)
        return total


@dataclass(slots=True)
class ShopState:
    """State that outlives a request: the payment client's circuit breaker."""

    breaker: CircuitBreaker = field(default_factory=CircuitBreaker)


def latency_ns(rng: random.Random, median_ms: float, sigma: float = 0.35, tail: float = 0.01) -> int:
    """A log-normal body around ``median_ms`` with, in ``tail`` of cases, a Pareto(1.5)
    multiplier (GC pauses, cold caches, noisy neighbours), capped at 20x."""
    value = rng.lognormvariate(0.0, sigma) * median_ms
    if rng.random() < tail:
        value *= min(20.0, rng.paretovariate(1.5))
    return max(1_000, int(value * MS))


def _pick(rng: random.Random, pods: tuple[Instance, ...]) -> Instance:
    return pods[rng.randrange(len(pods))]


def _http_client(method: str, route: str, peer: str, status: int | None, attempt: int = 0) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "http.request.method": method,
        "url.template": route,
        "server.address": peer,
        "server.port": 8080,
        "peer.service": peer,
    }
    if status is not None:
        attrs["http.response.status_code"] = status
    if attempt:
        attrs["http.request.resend_count"] = attempt
    return attrs


def _http_server(method: str, route: str, status: int) -> dict[str, Any]:
    return {
        "http.request.method": method,
        "http.route": route,
        "url.scheme": "http",
        "http.response.status_code": status,
    }


def _rpc(service: str, method: str, code: int, peer: str | None = None) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "rpc.system": "grpc",
        "rpc.service": service,
        "rpc.method": method,
        "rpc.grpc.status_code": code,
    }
    if peer is not None:
        attrs["server.address"] = peer
        attrs["server.port"] = 50051
        attrs["peer.service"] = peer
    return attrs


def _network_ns(rng: random.Random) -> int:
    """One-way network + serialisation time between pods."""
    return latency_ns(rng, 0.4, sigma=0.3, tail=0.0)


# --- services ---------------------------------------------------------------------------


def auth_verify(rng: random.Random, caller: Instance, start: int, cond: Conditions, method: str) -> tuple[Call, bool]:
    """web-frontend -> auth-service gRPC call (Verify or Login)."""
    pod = _pick(rng, AUTH)
    net = _network_ns(rng)
    work = latency_ns(rng, 8.0 if method == "Verify" else 35.0, sigma=0.4)
    failed = rng.random() < BASELINE_ERROR_RATE + cond.auth_error_rate
    s_start = start + net
    s_end = s_start + work
    server = Call(pod, f"auth.AuthService/{method}", SERVER, s_start, s_end, _rpc("auth.AuthService", method, 13 if failed else 0))
    if failed:
        server.error = "internal: session store returned an error"
        server.events.append((s_end - MS // 10, "exception", {"exception.type": "SessionStoreError", "exception.message": "session store returned an error"}))
    client = Call(
        caller, f"auth.AuthService/{method}", CLIENT, start, s_end + net,
        _rpc("auth.AuthService", method, 13 if failed else 0, peer="auth-service"),
        error="INTERNAL" if failed else None, children=[server],
    )
    return client, not failed


def _db_query(rng: random.Random, pod: Instance, start: int, cond: Conditions, statement: str, table: str) -> tuple[Call, bool]:
    """A CLIENT span to postgresql: the database itself is not instrumented (no server span)."""
    attrs: dict[str, Any] = {
        "db.system.name": "postgresql",
        "db.namespace": "inventory",
        "db.operation.name": statement,
        "db.collection.name": table,
        "db.query.summary": f"{statement} {table}",
        "server.address": "inventory-db.shop.svc",
        "server.port": 5432,
    }
    name = f"{statement} inventory.{table}"
    if cond.db_partitioned:
        attrs["error.type"] = "timeout"
        call = Call(pod, name, CLIENT, start, start + int(DB_TIMEOUT_S * NS_PER_S), attrs, error="connection to inventory-db timed out")
        return call, False
    duration = latency_ns(rng, 3.0, sigma=0.5, tail=0.02) + int(cond.db_extra_seconds * NS_PER_S)
    failed = rng.random() < BASELINE_ERROR_RATE
    if failed:
        attrs["error.type"] = "40001"
        attrs["db.response.status_code"] = "40001"
    return Call(pod, name, CLIENT, start, start + duration, attrs, error="serialization failure" if failed else None), not failed


def _cache_get(rng: random.Random, pod: Instance, start: int, key: str) -> Call:
    attrs = {
        "db.system.name": "redis",
        "db.namespace": "0",
        "db.operation.name": "GET",
        "db.query.summary": "GET stock",
        "server.address": "inventory-cache.shop.svc",
        "server.port": 6379,
    }
    return Call(pod, "GET", CLIENT, start, start + latency_ns(rng, 0.6, sigma=0.3), attrs | {"db.query.text": f"GET {key}"})


def inventory(rng: random.Random, caller: Instance, start: int, cond: Conditions, reserve: bool) -> tuple[Call, bool]:
    """web-frontend -> inventory-service: look up (and for checkout reserve) stock."""
    pod = _pick(rng, INVENTORY)
    method, route = ("POST", "/stock/reserve") if reserve else ("GET", "/stock/{sku}")
    net = _network_ns(rng)
    t = start + net + latency_ns(rng, 1.5)
    children: list[Call] = []
    ok = True
    query, query_ok = _db_query(rng, pod, t, cond, "SELECT", "stock")
    children.append(query)
    t = query.end
    if not query_ok and cond.db_partitioned and cond.db_cache_fallback:
        cached = _cache_get(rng, pod, t + MS // 5, "stock:sku")
        children.append(cached)
        t = cached.end  # served stale stock from the cache: slower, but no error
    elif not query_ok:
        ok = False
    if ok and reserve:
        update, ok = _db_query(rng, pod, t + MS // 5, cond, "UPDATE", "stock")
        children.append(update)
        t = update.end
    s_end = t + latency_ns(rng, 1.0)
    status = 200 if ok else 503
    server = Call(pod, f"{method} {route}", SERVER, start + net, s_end, _http_server(method, route, status), children=children)
    if not ok:
        server.error = "inventory database unavailable"
    client = Call(
        caller, f"{method} {route}", CLIENT, start, s_end + net,
        _http_client(method, route, "inventory-service", status),
        error=None if ok else "503 Service Unavailable", children=[server],
    )
    return client, ok


def _payment_pod(rng: random.Random, cond: Conditions) -> tuple[Instance, bool]:
    """The pod a payment request lands on, and whether that pod is alive."""
    if cond.canary_share and rng.random() < cond.canary_share:
        return _pick(rng, PAYMENT_V2), True
    index = rng.randrange(len(PAYMENT_V1))
    dead = index < round(cond.dead_pod_share * len(PAYMENT_V1))
    return PAYMENT_V1[index], not dead


def payment_server(rng: random.Random, pod: Instance, start: int, cond: Conditions) -> tuple[Call, bool]:
    """payment-service POST /charge: credit-card-api and fraud-check-api in parallel."""
    canary = pod.version.startswith("2.")
    regressed = canary and cond.canary_regressed
    t = start + latency_ns(rng, 2.0)
    if canary:
        # v2.0's regression: a new synchronous risk model on every charge, which only
        # hurts under load (drawn for every v2.0 request so the random stream, and with it
        # the rest of the simulation, does not depend on the rollout step)
        extra = latency_ns(rng, CANARY_EXTRA_MEDIAN_MS, sigma=0.35, tail=0.0)
        t += extra if regressed else 0
    card, card_ok = _credit_card(rng, pod, t, cond)
    fraud, fraud_ok = _fraud_check(rng, pod, t + MS // 10)
    t = max(card.end, fraud.end)
    failed_here = rng.random() < BASELINE_ERROR_RATE + (CANARY_ERROR_RATE if regressed else 0.0)
    ok = card_ok and fraud_ok and not failed_here
    s_end = t + latency_ns(rng, 1.5)
    status = 200 if ok else (500 if failed_here else 502)
    server = Call(pod, "POST /charge", SERVER, start, s_end, _http_server("POST", "/charge", status), children=[card, fraud])
    if not ok:
        server.error = "charge failed: " + ("NullPointerException in RiskScorer" if failed_here else "upstream error")
        if failed_here:
            server.events.append((s_end - MS // 10, "exception", {"exception.type": "java.lang.NullPointerException", "exception.message": "RiskScorer.score"}))
    return server, ok


def _credit_card(rng: random.Random, caller: Instance, start: int, cond: Conditions) -> tuple[Call, bool]:
    net = _network_ns(rng)
    if cond.credit_card_down:
        attrs = _http_client("POST", "/v1/charges", "credit-card-api", None) | {"error.type": "timeout"}
        return Call(caller, "POST /v1/charges", CLIENT, start, start + int(CREDIT_CARD_TIMEOUT_S * NS_PER_S), attrs, error="timeout after 2s"), False
    pod = _pick(rng, CREDIT_CARD)
    work = latency_ns(rng, 110.0, sigma=0.33, tail=0.01)
    failed = rng.random() < BASELINE_ERROR_RATE
    status = 502 if failed else 200
    server = Call(pod, "POST /v1/charges", SERVER, start + net, start + net + work, _http_server("POST", "/v1/charges", status), error="card network error" if failed else None)
    client = Call(
        caller, "POST /v1/charges", CLIENT, start, server.end + net,
        _http_client("POST", "/v1/charges", "credit-card-api", status),
        error="502 Bad Gateway" if failed else None, children=[server],
    )
    return client, not failed


def _fraud_check(rng: random.Random, caller: Instance, start: int) -> tuple[Call, bool]:
    net = _network_ns(rng)
    pod = _pick(rng, FRAUD)
    work = latency_ns(rng, 35.0, sigma=0.4)
    server = Call(pod, "fraud.FraudCheck/Score", SERVER, start + net, start + net + work, _rpc("fraud.FraudCheck", "Score", 0))
    client = Call(caller, "fraud.FraudCheck/Score", CLIENT, start, server.end + net, _rpc("fraud.FraudCheck", "Score", 0, peer="fraud-check-api"), children=[server])
    return client, True


def payment(rng: random.Random, caller: Instance, start: int, cond: Conditions, state: ShopState) -> tuple[list[Call], bool, int]:
    """web-frontend's payment client: circuit breaker, then up to MAX_ATTEMPTS tries
    (retrying on connection errors only). Returns the client spans, success, end time."""
    breaker = state.breaker
    now_s = start / NS_PER_S
    allowed, seen = breaker.allow(now_s)
    base = _http_client("POST", "/charge", "payment-service", None) | {"circuit_breaker.state": seen}
    if not allowed:
        # fail fast: no network call at all, the span lasts microseconds
        attrs = base | {"error.type": "circuit_breaker_open"}
        call = Call(caller, "POST /charge", CLIENT, start, start + 40_000, attrs, error="circuit breaker open: payment-service calls rejected")
        call.events.append((start + 10_000, "circuit_breaker.rejected", {"circuit_breaker.state": seen}))
        return [call], False, call.end
    calls: list[Call] = []
    t = start
    ok = False
    for attempt in range(MAX_ATTEMPTS):
        pod, alive = _payment_pod(rng, cond)
        net = _network_ns(rng)
        if not alive:
            attrs = base | {"error.type": "connection_refused", "network.peer.address": pod.host}
            if attempt:
                attrs["http.request.resend_count"] = attempt
            calls.append(Call(caller, "POST /charge", CLIENT, t, t + net * 2 + MS, attrs, error=f"connect: connection refused ({pod.host})"))
            t = calls[-1].end + int(RETRY_BACKOFF_S * NS_PER_S)
            continue
        server, ok = payment_server(rng, pod, t + net, cond)
        status = server.attributes["http.response.status_code"]
        attrs = base | {"http.response.status_code": status, "network.peer.address": pod.host}
        if attempt:
            attrs["http.request.resend_count"] = attempt
        calls.append(Call(caller, "POST /charge", CLIENT, t, server.end + net, attrs, error=None if ok else f"{status} from payment-service", children=[server]))
        t = calls[-1].end
        break
    breaker.record(t / NS_PER_S, not ok, seen)
    return calls, ok, t


def email(rng: random.Random, producer: Call) -> Call:
    """The order-confirmation consumer in email-service: runs after a queue delay, as a
    child of the PRODUCER span and linked to it (async, non-blocking for the user)."""
    pod = _pick(rng, EMAIL)
    start = producer.end + latency_ns(rng, 150.0, sigma=0.9, tail=0.02)
    t = start + latency_ns(rng, 2.0)
    relay = Call(
        pod, "POST /v3/mail/send", CLIENT, t, t + latency_ns(rng, 80.0, sigma=0.5),
        _http_client("POST", "/v3/mail/send", "mail-relay", 202) | {"server.address": "smtp.mail.example.com"},
    )
    attrs = {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": "order-confirmations",
        "messaging.operation.type": "process",
        "messaging.operation.name": "consume",
    }
    return Call(pod, "process order-confirmations", CONSUMER, start, relay.end + latency_ns(rng, 1.0), attrs, children=[relay], link_to_parent=True)


def _produce(rng: random.Random, pod: Instance, start: int) -> Call:
    attrs = {
        "messaging.system": "rabbitmq",
        "messaging.destination.name": "order-confirmations",
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "server.address": "rabbitmq.shop.svc",
        "peer.service": "rabbitmq",
    }
    return Call(pod, "send order-confirmations", PRODUCER, start, start + latency_ns(rng, 0.8, sigma=0.3), attrs)


def choose_route(rng: random.Random) -> str:
    r = rng.random()
    for route, share in ROUTE_MIX:
        if r < share:
            return route
        r -= share
    return ROUTE_MIX[-1][0]


def simulate_request(rng: random.Random, start: int, cond: Conditions, state: ShopState) -> Call:
    """One user request arriving at ``start`` (ns): its whole trace as a Call tree."""
    route = choose_route(rng)
    pod = _pick(rng, FRONTEND)
    t = start + latency_ns(rng, 1.0)
    children: list[Call] = []
    status = 200
    error: str | None = None
    auth, ok = auth_verify(rng, pod, t, cond, "Login" if route == "login" else "Verify")
    children.append(auth)
    t = auth.end
    if not ok:
        status, error = 500, "authentication failed"
    elif route == "product":
        stock, ok = inventory(rng, pod, t + MS // 5, cond, reserve=False)
        children.append(stock)
        t = stock.end
        if not ok:
            status, error = 503, "inventory unavailable"
    elif route == "checkout":
        stock, ok = inventory(rng, pod, t + MS // 5, cond, reserve=True)
        children.append(stock)
        t = stock.end
        if not ok:
            status, error = 503, "inventory unavailable"
        else:
            calls, ok, t = payment(rng, pod, t + MS // 5, cond, state)
            children.extend(calls)
            if not ok:
                status, error = 502, "payment failed"
            else:
                producer = _produce(rng, pod, t + MS // 10)
                producer.children.append(email(rng, producer))
                children.append(producer)
                t = producer.end
    end = t + latency_ns(rng, 3.0 if route == "product" else 1.5)
    method, http_route = {"product": ("GET", "/products/{id}"), "login": ("POST", "/login"), "checkout": ("POST", "/checkout")}[route]
    attrs = _http_server(method, http_route, status) | {
        "server.address": "shop.example.com",
        "user_agent.original": "Mozilla/5.0 (shop-simulator)",
    }
    return Call(pod, f"{method} {http_route}", SERVER, start, end, attrs, error=error, children=children)
