"""Runs the shop over simulated time: Poisson arrivals, chaos timeline, SDK emission.

``simulate`` yields Call trees (pure, no SDK); ``run`` replays them through a
:class:`~tracelens.demo.emit.Pipeline` with backpressure, so the batch processor's queue never
overflows (it would drop spans silently) and every span the SDK ends reaches the receiver.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Final

from tracelens.demo.breaker import Transition
from tracelens.demo.emit import Pipeline, emit
from tracelens.demo.shop import Call, ShopState, simulate_request
from tracelens.demo.timeline import NS_PER_S, ScenarioWindow, conditions_at

DEFAULT_DURATION: Final = "4h"
DEFAULT_RPS: Final = 0.3
DEFAULT_SEED: Final = 7
PROGRESS_EVERY: Final = 64  # requests between progress callbacks and backpressure checks


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    duration_seconds: float
    start: datetime  # wall-clock time of offset 0 (UTC)
    rps: float = DEFAULT_RPS
    seed: int = DEFAULT_SEED
    scenarios: tuple[ScenarioWindow, ...] = ()

    @property
    def start_ns(self) -> int:
        return int(self.start.timestamp()) * NS_PER_S + self.start.microsecond * 1000

    def at(self, offset_seconds: float) -> datetime:
        """The wall-clock instant ``offset_seconds`` into the run."""
        return self.start + timedelta(seconds=offset_seconds)


def default_start(duration_seconds: float, now: datetime | None = None) -> datetime:
    """Runs end "now" (to the minute), so `--since 1h` style queries find the data."""
    now = now or datetime.now(timezone.utc)
    return (now - timedelta(seconds=duration_seconds)).replace(second=0, microsecond=0)


@dataclass
class SimulationResult:
    requests: int = 0
    spans: int = 0  # spans in the simulated trees
    failed_requests: int = 0
    routes: Counter[str] = field(default_factory=Counter)
    breaker_transitions: list[Transition] = field(default_factory=list)
    spans_ended: int = 0  # counted by the SDK
    spans_exported: int = 0  # acknowledged by the receiver
    spans_failed: int = 0  # export failures
    export_requests: int = 0
    slowest_export_seconds: float = 0.0
    wall_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Part:
    """A contiguous slice of the timeline, simulated on its own (by its own process):
    its own seeded randomness and ids, its own circuit breaker (which therefore starts
    closed at the slice's start). ``Part()`` is the whole run."""

    index: int = 0
    count: int = 1

    def bounds(self, duration_seconds: float) -> tuple[float, float]:
        return duration_seconds * self.index / self.count, duration_seconds * (self.index + 1) / self.count

    def seed(self, seed: int) -> int | str:
        """The run's seed for a whole run; a derived (string) seed for a slice."""
        return seed if self.count == 1 else f"{seed}/{self.index}/{self.count}"


WHOLE: Final = Part()


def parts_of(count: int) -> tuple[Part, ...]:
    return tuple(Part(i, count) for i in range(count))


def simulate(config: SimulationConfig, state: ShopState | None = None, part: Part = WHOLE) -> Iterator[tuple[float, Call]]:
    """(offset seconds, trace) for every request of the run (or of one part), in arrival order."""
    rng = random.Random(part.seed(config.seed))
    state = state or ShopState()
    start_ns = config.start_ns
    lo, hi = part.bounds(config.duration_seconds)
    t = lo + rng.expovariate(config.rps)
    while t < hi:
        cond = conditions_at(config.scenarios, t)
        yield t, simulate_request(rng, start_ns + int(t * NS_PER_S), cond, state)
        t += rng.expovariate(config.rps)


def run(
    config: SimulationConfig,
    pipeline: Pipeline,
    progress: Callable[[float, SimulationResult], None] | None = None,
    *,
    part: Part = WHOLE,
    max_in_flight: int = 8192,
) -> SimulationResult:
    """Simulate and emit every request (of ``part``); flush and shut the pipeline down at
    the end. ``progress`` gets the fraction of the part's time done."""
    result = SimulationResult()
    state = ShopState()
    began = time.perf_counter()
    lo, hi = part.bounds(config.duration_seconds)
    try:
        for offset, root in simulate(config, state, part):
            emit(pipeline, root)
            result.requests += 1
            result.spans += root.count()
            result.routes[root.name] += 1
            if root.error is not None:
                result.failed_requests += 1
            if result.requests % PROGRESS_EVERY == 0:
                _wait_for_exporter(pipeline, max_in_flight)
                if progress is not None:
                    progress((offset - lo) / (hi - lo), result)
    finally:
        pipeline.shutdown()
    result.breaker_transitions = list(state.breaker.transitions)
    result.spans_ended = pipeline.counter.ended
    if pipeline.exporter is not None:
        result.spans_exported = pipeline.exporter.exported
        result.spans_failed = pipeline.exporter.failed
        result.export_requests = pipeline.exporter.requests
        result.slowest_export_seconds = pipeline.exporter.slowest_seconds
    result.wall_seconds = time.perf_counter() - began
    if progress is not None:
        progress(1.0, result)
    return result


def merge_results(results: list[SimulationResult]) -> SimulationResult:
    """One result for a run simulated in parts."""
    merged = SimulationResult()
    for r in results:
        merged.requests += r.requests
        merged.spans += r.spans
        merged.failed_requests += r.failed_requests
        merged.routes.update(r.routes)
        merged.breaker_transitions.extend(r.breaker_transitions)
        merged.spans_ended += r.spans_ended
        merged.spans_exported += r.spans_exported
        merged.spans_failed += r.spans_failed
        merged.export_requests += r.export_requests
        merged.slowest_export_seconds = max(merged.slowest_export_seconds, r.slowest_export_seconds)
        merged.wall_seconds = max(merged.wall_seconds, r.wall_seconds)  # parts run side by side
    merged.breaker_transitions.sort(key=lambda tr: tr.at)
    return merged


def _wait_for_exporter(pipeline: Pipeline, max_in_flight: int) -> None:
    """Backpressure: let the exporter thread catch up before the queue can overflow."""
    deadline = time.monotonic() + 60.0
    while pipeline.in_flight() > max_in_flight and time.monotonic() < deadline:
        time.sleep(0.002)
