"""Small, reviewable OTLP/JSON fixtures cut from the simulated shop (``fixtures/demo/``).

Each chaos scenario runs alone for a few simulated minutes; one representative trace is
picked by a predicate over its SDK spans (e.g. for db-slowdown: a checkout with a database
query slower than 2 s) and written as OTLP/JSON exactly as the SDK's exporter encodes it
(its protobuf message in the OTLP/JSON mapping: hex ids, integer enums). A multi-hour,
root-spans-only dataset serves SLO tests. ``manifest.json`` lists every file with facts
computed from its spans, so a reviewer sees what each fixture is meant to show.

Everything is seeded and the start time fixed: regenerating gives identical bytes.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tracelens.demo.emit import build_pipeline
from tracelens.demo.simulate import SimulationConfig, run
from tracelens.demo.timeline import parse_scenarios

FIXTURE_START: Final = datetime(2026, 1, 5, 14, 0, tzinfo=timezone.utc)  # a Monday, 2 pm: chaos in business hours
SEED: Final = 2026
SCENARIO_RUN_SECONDS: Final = 6 * 60.0
SCENARIO_WINDOW: Final = "@1m+4m"
SCENARIO_RPS: Final = 0.5
SLO_DATASET: Final = "slo_3h_sustained_errors.json"
SLO_RUN: Final = ("3h", 0.08, "sustained-errors@1h+1h")

Trace = list[ReadableSpan]


# --- OTLP/JSON from the SDK's own protobuf encoding ------------------------------------------------

_ID_FIELDS: Final = ("traceId", "spanId", "parentSpanId")


def _hex(value: str) -> str:
    return base64.b64decode(value).hex()


def otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """The OTLP/JSON document of ``spans``: the exporter's protobuf message through the
    protobuf JSON mapping, then ids as hex (OTLP/JSON's one deviation from that mapping)."""
    document = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in document.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in _ID_FIELDS:
                    if key in span:
                        span[key] = _hex(span[key])
                for link in span.get("links", []):
                    for key in ("traceId", "spanId"):
                        if key in link:
                            link[key] = _hex(link[key])
    return document


def dump(document: dict[str, Any], *, compact: bool = False) -> str:
    """Indented for one-trace fixtures (read in review); compact for the dataset (size)."""
    if compact:
        return json.dumps(document, separators=(",", ":")) + "\n"
    return json.dumps(document, indent=1) + "\n"


# --- picking representative traces --------------------------------------------------------------


def _attr(span: ReadableSpan, key: str) -> Any:
    return (span.attributes or {}).get(key)


def _root(trace: Trace) -> ReadableSpan:
    return next(s for s in trace if s.parent is None)


def _failed(span: ReadableSpan) -> bool:
    return span.status.status_code is StatusCode.ERROR


def slow_database(trace: Trace) -> bool:
    return any(_attr(s, "db.system.name") == "postgresql" and (s.end_time - s.start_time) > 2e9 for s in trace)  # type: ignore[operator]


def refused_then_failed(trace: Trace) -> bool:
    return _failed(_root(trace)) and any(_attr(s, "error.type") == "connection_refused" for s in trace)


def partition_error(trace: Trace) -> bool:
    return _failed(_root(trace)) and any(_attr(s, "error.type") == "timeout" and _attr(s, "db.system.name") for s in trace)


def served_from_cache(trace: Trace) -> bool:
    return not _failed(_root(trace)) and any(_attr(s, "db.system.name") == "redis" for s in trace)


def auth_failure(trace: Trace) -> bool:
    return _failed(_root(trace)) and any(s.resource.attributes.get("service.name") == "auth-service" and _failed(s) for s in trace)


def canary_checkout(trace: Trace) -> bool:
    """Served by v2.0 once its regression shows (the 50 % step): the charge takes > 300 ms."""
    return any(
        s.kind is SpanKind.SERVER and s.resource.attributes.get("service.version") == "2.0.0"
        and (s.end_time - s.start_time) > 300e6  # type: ignore[operator]
        for s in trace
    ) and any(s.kind is SpanKind.CONSUMER for s in trace)


def breaker_fail_fast(trace: Trace) -> bool:
    return any(_attr(s, "error.type") == "circuit_breaker_open" for s in trace)


def calm_checkout(trace: Trace) -> bool:
    return _root(trace).name == "POST /checkout" and not _failed(_root(trace)) and any(s.kind is SpanKind.CONSUMER for s in trace)


@dataclass(frozen=True)
class FixtureSpec:
    file: str
    scenario: str
    shows: str
    pick: Callable[[Trace], bool]
    rps: float = SCENARIO_RPS  # rare failures need more traffic to find one


SCENARIO_FIXTURES: Final = (
    FixtureSpec("calm_checkout.json", "none", "a healthy checkout: 7 services, parallel payment calls, async email via a queue", calm_checkout),
    FixtureSpec("db_slowdown.json", "db-slowdown", "checkout whose critical path is dominated by two +2 s database queries", slow_database),
    FixtureSpec("kill_pod.json", "kill-pod", "checkout failing on connection-refused payment pods despite one retry", refused_then_failed),
    FixtureSpec("network_partition.json", "network-partition", "request failing with a 1.5 s database timeout, no fallback", partition_error),
    FixtureSpec("network_partition_cached.json", "network-partition-cached", "read whose database timeout is answered from the redis cache: slow but successful", served_from_cache),
    FixtureSpec("error_spike.json", "error-spike", "request failed by auth-service during a 5 % error spike", auth_failure),
    FixtureSpec("sustained_errors.json", "sustained-errors", "request failed by auth-service during sustained 2 % errors", auth_failure, 3.0),
    FixtureSpec("slow_degradation.json", "slow-degradation", "request failed by auth-service while errors creep 0.5 % -> 0.8 %", auth_failure, 5.0),
    FixtureSpec("canary.json", "canary", "checkout served by payment-service v2.0 at the 50 % step, where its regression shows: slower risk scoring", canary_checkout),
    FixtureSpec("payment_outage.json", "payment-outage", "checkout rejected at once by the open circuit breaker (fail-fast client span)", breaker_fail_fast),
)


def simulate_sdk_spans(config: SimulationConfig) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    run(config, build_pipeline(config.seed, None, extra_processors=[SimpleSpanProcessor(memory)]))
    return list(memory.get_finished_spans())


def by_trace(spans: Sequence[ReadableSpan]) -> dict[int, Trace]:
    """Traces in the order their first span ended (stable for a seeded run)."""
    found: dict[int, Trace] = defaultdict(list)
    for span in spans:
        assert span.context is not None
        found[span.context.trace_id].append(span)
    return dict(found)


def pick_trace(spec: FixtureSpec, seed: int) -> Trace:
    """The first trace of the scenario's run that starts in its window and matches.
    (Each fixture has its own seed: the same seed would replay the same requests, ids
    included, and fixtures loaded together must not share trace ids.)"""
    scenario = "none" if spec.scenario == "none" else spec.scenario + SCENARIO_WINDOW
    config = SimulationConfig(
        SCENARIO_RUN_SECONDS, FIXTURE_START, rps=spec.rps, seed=seed, scenarios=parse_scenarios(scenario, SCENARIO_RUN_SECONDS)
    )
    window_start = config.start_ns + 60 * 10**9
    traces = sorted(by_trace(simulate_sdk_spans(config)).values(), key=lambda t: _root(t).start_time or 0)
    for trace in traces:
        if (_root(trace).start_time or 0) >= window_start and spec.pick(trace):
            return sorted(trace, key=lambda s: (s.start_time or 0, s.context.span_id if s.context else 0))
    msg = f"no trace of scenario {spec.scenario!r} matches {spec.pick.__name__}"
    raise LookupError(msg)


def facts(trace: Trace) -> dict[str, Any]:
    """What a reviewer checks a fixture against (all computed from its spans)."""
    root = _root(trace)
    assert root.context is not None and root.end_time is not None and root.start_time is not None
    return {
        "trace_id": f"{root.context.trace_id:032x}",
        "root": root.name,
        "duration_ns": root.end_time - root.start_time,
        "root_status": "error" if _failed(root) else "unset",
        "spans": len(trace),
        "services": sorted({str(s.resource.attributes.get("service.name")) for s in trace}),
        "errors": sum(_failed(s) for s in trace),
    }


def slo_dataset() -> tuple[list[ReadableSpan], dict[str, Any]]:
    """A multi-hour dataset of web-frontend root spans only (what availability and latency
    SLOs read), small enough to commit."""
    from tracelens.demo.timeline import parse_duration

    duration, rps, scenario = SLO_RUN
    seconds = parse_duration(duration)
    config = SimulationConfig(seconds, FIXTURE_START, rps=rps, seed=SEED - 1, scenarios=parse_scenarios(scenario, seconds))
    roots = sorted((s for s in simulate_sdk_spans(config) if s.parent is None), key=lambda s: s.start_time or 0)
    window = config.scenarios[0]
    return roots, {
        "file": SLO_DATASET,
        "scenario": window.label(),
        "shows": f"{duration} of root spans at {rps} rps, auth-service failing 2 % of requests from "
        f"{config.at(window.start):%H:%M} to {config.at(window.end):%H:%M} UTC",
        "spans": len(roots),
        "errors": sum(_failed(s) for s in roots),
        "start": config.start.isoformat(),
        "end": config.at(seconds).isoformat(),
    }


def write_fixtures(directory: Path) -> list[dict[str, Any]]:
    """Write every demo fixture and manifest.json into ``directory``; returns the manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest: list[dict[str, Any]] = []
    for index, spec in enumerate(SCENARIO_FIXTURES):
        trace = pick_trace(spec, SEED + index)
        (directory / spec.file).write_text(dump(otlp_json(trace)))
        manifest.append({"file": spec.file, "scenario": spec.scenario, "shows": spec.shows, **facts(trace)})
    roots, entry = slo_dataset()
    (directory / SLO_DATASET).write_text(dump(otlp_json(roots), compact=True))
    manifest.append(entry)
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
