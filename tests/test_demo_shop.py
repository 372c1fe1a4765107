"""The shop model (pure Call trees) and its replay through the real OpenTelemetry SDK."""

from __future__ import annotations

from datetime import datetime, timezone

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tracelens.demo.emit import build_pipeline
from tracelens.demo.shop import CLIENT, CONSUMER, PRODUCER, SERVER, Call
from tracelens.demo.simulate import SimulationConfig, run, simulate
from tracelens.demo.timeline import parse_scenarios

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
HOUR = 3600.0


def _config(duration=600.0, rps=2.0, seed=1, scenarios="none"):
    return SimulationConfig(duration, START, rps=rps, seed=seed, scenarios=parse_scenarios(scenarios, duration))


def _walk(call: Call, parent: Call | None = None):
    yield parent, call
    for child in call.children:
        yield from _walk(child, call)


def _spans(trees):
    return [pair for tree in trees for pair in _walk(tree)]


def test_checkout_has_the_seed_topology():
    trees = [root for _, root in simulate(_config())]
    checkout = next(t for t in trees if t.name == "POST /checkout" and t.error is None)
    services = {c.instance.service for _, c in _walk(checkout)}
    assert services == {
        "web-frontend", "auth-service", "inventory-service", "payment-service",
        "credit-card-api", "fraud-check-api", "email-service",
    }
    pay_server = next(c for _, c in _walk(checkout) if c.kind == SERVER and c.instance.service == "payment-service")
    card, fraud = pay_server.children
    assert card.start < fraud.end and fraud.start < card.end  # called in parallel
    consumer = next(c for p, c in _walk(checkout) if c.kind == CONSUMER)
    producer = next(p for p, c in _walk(checkout) if c is consumer)
    assert producer.kind == PRODUCER and consumer.link_to_parent
    assert consumer.start >= producer.end  # async: picked up after the queue delay


def test_database_is_a_client_span_without_server_child():
    trees = [root for _, root in simulate(_config())]
    db = [c for _, c in _spans(trees) if "db.system.name" in c.attributes]
    assert db and all(c.kind == CLIENT and not c.children for c in db)
    assert {c.attributes["db.namespace"] for c in db} == {"inventory"}


def test_children_start_inside_parents_and_times_are_ordered():
    for parent, call in _spans(root for _, root in simulate(_config())):
        assert call.start < call.end
        if parent is not None and call.kind != CONSUMER:
            assert parent.start <= call.start and call.end <= parent.end, (parent.name, call.name)


def test_seeded_runs_are_identical_and_seeds_differ():
    def shape(seed):
        return [(c.name, c.start, c.end, c.error) for _, c in _spans(r for _, r in simulate(_config(seed=seed)))]

    assert shape(3) == shape(3)
    assert shape(3) != shape(4)


def test_db_slowdown_adds_two_seconds_to_queries():
    cfg = _config(duration=HOUR / 3, scenarios="db-slowdown@5m+10m")
    slow, normal = [], []
    for offset, root in simulate(cfg):
        for _, c in _walk(root):
            if c.attributes.get("db.system.name") == "postgresql":
                (slow if 300 <= offset < 900 else normal).append((c.end - c.start) / 1e9)
    assert min(slow) > 2.0 and max(normal) < 1.0


def test_kill_pod_refuses_connections_and_retries():
    cfg = _config(duration=HOUR / 3, rps=2, scenarios="kill-pod@0s+20m")
    calls = [c for _, c in _spans(r for _, r in simulate(cfg)) if c.name == "POST /charge" and c.kind == CLIENT]
    refused = [c for c in calls if c.attributes.get("error.type") == "connection_refused"]
    retries = [c for c in calls if c.attributes.get("http.request.resend_count") == 1]
    assert refused and retries and all(not c.children for c in refused)


def test_partition_errors_without_cache_and_recovers_with_it():
    def outcome(name):
        trees = [r for _, r in simulate(_config(duration=HOUR / 3, scenarios=f"{name}@0s+20m"))]
        product = [t for t in trees if t.name == "GET /products/{id}"]
        checkout = [t for t in trees if t.name == "POST /checkout" and t.error != "authentication failed"]
        cache = [c for _, c in _spans(trees) if c.attributes.get("db.system.name") == "redis"]
        failed = sum(t.error is not None for t in product) / len(product)
        return failed, sum(t.error is not None for t in checkout) / len(checkout), len(cache)

    plain_reads, plain_writes, plain_cache = outcome("network-partition")
    cached_reads, cached_writes, cached_cache = outcome("network-partition-cached")
    assert plain_reads > 0.9 and plain_writes > 0.9 and plain_cache == 0
    # the cache answers reads; a stock reservation is a write and still fails
    assert cached_reads < 0.05 and cached_writes > 0.9 and cached_cache > 0


def test_payment_outage_opens_the_breaker_with_fail_fast_spans():
    cfg = _config(duration=HOUR / 3, rps=2, scenarios="payment-outage@5m+10m")
    calls = [c for _, c in _spans(r for _, r in simulate(cfg)) if c.name == "POST /charge" and c.kind == CLIENT]
    fast = [c for c in calls if c.attributes.get("error.type") == "circuit_breaker_open"]
    assert fast and all((c.end - c.start) < 1_000_000 and not c.children for c in fast)
    states = {c.attributes["circuit_breaker.state"] for c in calls}
    assert {"closed", "open", "half_open"} <= states


def test_sdk_spans_match_the_simulation():
    memory = InMemorySpanExporter()
    pipeline = build_pipeline(5, None, extra_processors=[SimpleSpanProcessor(memory)])
    result = run(_config(duration=300, rps=2, seed=5), pipeline)
    spans = memory.get_finished_spans()
    assert len(spans) == result.spans == result.spans_ended > 0
    by_id = {s.context.span_id: s for s in spans}
    for span in spans:
        resource = span.resource.attributes
        assert {"service.name", "service.version", "deployment.environment.name", "host.name"} <= set(resource)
        if span.parent is not None:
            parent = by_id[span.parent.span_id]
            assert parent.context.trace_id == span.context.trace_id
            if span.kind is SpanKind.CONSUMER:
                assert parent.kind is SpanKind.PRODUCER
                assert [link.context.span_id for link in span.links] == [parent.context.span_id]
            if span.kind is SpanKind.SERVER:
                assert parent.kind is SpanKind.CLIENT
                assert parent.resource.attributes["service.name"] != resource["service.name"]
    errors = [s for s in spans if s.status.status_code is StatusCode.ERROR]
    assert all(s.status.description for s in errors)


def test_sdk_ids_are_seeded():
    def ids(seed):
        memory = InMemorySpanExporter()
        run(_config(duration=120, rps=1, seed=seed), build_pipeline(seed, None, extra_processors=[SimpleSpanProcessor(memory)]))
        return [(s.context.trace_id, s.context.span_id, s.start_time, s.end_time) for s in memory.get_finished_spans()]

    assert ids(9) == ids(9)
    assert ids(9) != ids(10)


def test_canary_regression_matches_the_seed():
    """Seed: v1 p95 about 200 ms; v2.0 2.5 % errors and p95 about 800 ms."""
    import numpy as np

    cfg = _config(duration=2 * HOUR, rps=2, seed=8, scenarios="canary@0s+2h")
    v1, v2, errors = [], [], 0
    for _, root in simulate(cfg):
        for _, c in _walk(root):
            if c.kind == SERVER and c.instance.service == "payment-service":
                canary = c.instance.version == "2.0.0"
                (v2 if canary else v1).append((c.end - c.start) / 1e6)
                errors += canary and c.error is not None
    assert 170 < np.percentile(v1, 95) < 240
    assert 680 < np.percentile(v2, 95) < 950
    assert 0.01 < errors / len(v2) < 0.045


def test_parts_tile_the_timeline_with_their_own_seeds():
    from tracelens.demo.simulate import merge_results, parts_of

    cfg = _config(duration=600, rps=1, seed=2)
    first, second = parts_of(2)
    a = [offset for offset, _ in simulate(cfg, part=first)]
    b = [offset for offset, _ in simulate(cfg, part=second)]
    assert a and b and max(a) < 300 <= min(b) and max(b) < 600
    assert first.seed(2) != second.seed(2) and parts_of(1)[0].seed(2) == 2
    assert [offset for offset, _ in simulate(cfg, part=first)] == a  # each part is seeded
    results = []
    for part in (first, second):
        memory = InMemorySpanExporter()
        results.append(run(cfg, build_pipeline(part.seed(2), None, extra_processors=[SimpleSpanProcessor(memory)]), part=part))
    merged = merge_results(results)
    assert merged.requests == len(a) + len(b) and merged.spans_ended == sum(r.spans_ended for r in results)
