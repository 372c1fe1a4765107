"""A synthetic canary rollout as span frames, generated vectorised (numpy + polars).

The seed's story: payment-service v1.4 serves everyone; v2.0 gets 5 % of the traffic at
10:00, 25 % at 10:30, 50 % at 11:00. From the 50 % step on (``regression_from_step=2``)
v2.0 fails 2.5 % of payments and its p95 is 800 ms instead of 200 ms. With
``regression=False`` both versions draw from the same distributions (the no-false-alarm
case). Each request is one trace::

    frontend  GET /checkout            (server, root)
    └─ checkout  POST /checkout        (server)
       └─ payment-service  POST /pay   (server, service.version 1.4 | 2.0)
          └─ payment-service  charge   (internal; error when the payment fails)
             └─ credit-card-api  POST /authorize (server)

For tests and benchmarks; the demo (tracelens.demo) produces a similar scenario through
the real OpenTelemetry SDK and OTLP path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import polars as pl

from tracelens import schema as s

SEED_START = datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)
_Z95 = 1.6448536269514722


@dataclass(frozen=True, slots=True)
class LatencyModel:
    """Log-normal request latency given its median and p95 (ms)."""

    median_ms: float
    p95_ms: float

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        sigma = math.log(self.p95_ms / self.median_ms) / _Z95
        return rng.lognormal(math.log(self.median_ms), sigma, n)


@dataclass(frozen=True, slots=True)
class CanaryScenario:
    start: datetime = SEED_START
    requests_per_second: float = 5.0
    steps: tuple[tuple[float, float], ...] = ((5.0, 1800.0), (25.0, 1800.0), (50.0, 1800.0))
    baseline_version: str = "1.4"
    canary_version: str = "2.0"
    baseline_error_rate: float = 0.001
    baseline_latency: LatencyModel = LatencyModel(120.0, 200.0)
    regression: bool = True
    regression_from_step: int = 2
    regressed_error_rate: float = 0.025
    regressed_latency: LatencyModel = LatencyModel(330.0, 800.0)
    seed: int = 0


def _hex_ids(rng: np.random.Generator, n: int, width: int) -> pl.Series:
    """n random lowercase hex ids of ``width`` digits (never all zero)."""
    raw = rng.bytes(n * width // 2).hex()
    ids = np.frombuffer(raw.encode("ascii"), dtype=f"S{width}").astype(str)
    return pl.Series(ids)


def generate_canary_spans(scenario: CanaryScenario = CanaryScenario()) -> pl.DataFrame:
    """Spans (span contract) for the whole rollout of ``scenario``."""
    rng = np.random.default_rng(scenario.seed)
    starts, canary, step_index = [], [], []
    offset = 0.0
    for i, (weight, window) in enumerate(scenario.steps):
        n = rng.poisson(scenario.requests_per_second * window)
        starts.append(offset + np.sort(rng.uniform(0.0, window, n)))
        canary.append(rng.random(n) < weight / 100.0)
        step_index.append(np.full(n, i))
        offset += window
    t = np.concatenate(starts)
    is_canary = np.concatenate(canary)
    step = np.concatenate(step_index)
    n = t.size
    regressed = is_canary & scenario.regression & (step >= scenario.regression_from_step)
    pay_ms = scenario.baseline_latency.sample(rng, n)
    pay_ms[regressed] = scenario.regressed_latency.sample(rng, int(regressed.sum()))
    error_rate = np.where(regressed, scenario.regressed_error_rate, scenario.baseline_error_rate)
    failed = rng.random(n) < error_rate
    base_ns = int(scenario.start.timestamp()) * 1_000_000_000
    t0 = base_ns + (t * 1e9).astype(np.int64)
    pay_ns = (pay_ms * 1e6).astype(np.int64)

    trace_id = _hex_ids(rng, n, s.TRACE_ID_HEX_LEN)
    span_ids = [_hex_ids(rng, n, s.SPAN_ID_HEX_LEN) for _ in range(5)]
    version = np.where(is_canary, scenario.canary_version, scenario.baseline_version)
    ms = 1_000_000
    # (service, name, kind, parent index, start offset ns, duration ns, error, version)
    layout = [
        ("frontend", "GET /checkout", "server", None, np.zeros(n, np.int64), pay_ns + 40 * ms, failed, None),
        ("checkout", "POST /checkout", "server", 0, np.full(n, 10 * ms), pay_ns + 20 * ms, failed, None),
        ("payment-service", "POST /pay", "server", 1, np.full(n, 20 * ms), pay_ns, failed, version),
        ("payment-service", "charge", "internal", 2, np.full(n, 20 * ms) + pay_ns // 10, pay_ns * 8 // 10, failed, version),
        ("credit-card-api", "POST /authorize", "server", 3, np.full(n, 20 * ms) + pay_ns // 5, pay_ns * 6 // 10, np.zeros(n, bool), None),
    ]
    frames = []
    for i, (service, name, kind, parent, start_off, duration, error, ver) in enumerate(layout):
        start = t0 + start_off
        frames.append(
            pl.DataFrame(
                {
                    s.TRACE_ID: trace_id,
                    s.SPAN_ID: span_ids[i],
                    s.PARENT_SPAN_ID: span_ids[parent] if parent is not None else pl.Series([None] * n, dtype=pl.String),
                    s.NAME: pl.Series([name]).extend_constant(name, n - 1) if n else pl.Series([], dtype=pl.String),
                    s.KIND: pl.Series([kind] * n, dtype=s.KindEnum),
                    s.SERVICE_NAME: pl.Series([service] * n, dtype=pl.String),
                    s.START: pl.Series(start).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"),
                    s.END: pl.Series(start + duration).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"),
                    s.STATUS_CODE: pl.Series(np.where(error, "error", "unset")).cast(s.StatusEnum),
                    s.SERVICE_VERSION: pl.Series(ver if ver is not None else [None] * n, dtype=pl.String),
                }
            )
        )
    return s.conform(pl.concat(frames)).collect()
