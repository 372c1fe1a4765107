"""Spec linter: settings that are impossible (errors) or suspicious (warnings).

Without data: burn thresholds that can never fire (B > 1 / (1 - T): even 100 % errors
burn slower), alert windows longer than the SLO window, windows finer than the one-minute
rollups. With data: unknown services (with the nearest known name), selections that match
nothing, data shorter than the SLO window, too few events for the objective.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import polars as pl

from tracelens import schema as s
from tracelens.slo.rollup import ONE_MINUTE, Rollup
from tracelens.slo.spec import SLO, format_duration

ERROR: Final = "error"
WARNING: Final = "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    slo: str
    level: str  # error | warning
    field: str
    message: str
    source: str = ""

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        return f"{where}{self.level}: {self.slo}: {self.field}: {self.message}"


def lint_spec(slo: SLO) -> list[Finding]:
    """Problems visible from the spec alone."""
    found: list[Finding] = []

    def add(level: str, field: str, message: str) -> None:
        found.append(Finding(slo.name, level, field, message, slo.source))

    max_burn = 1.0 / slo.error_budget
    for i, tier in enumerate(slo.tiers):
        field = f"alerting.tiers[{i}] ({tier.severity} {tier.label})"
        threshold = tier.threshold(slo.window)
        if slo.alert_mode == "rate" and threshold >= max_burn:
            add(ERROR, field,
                f"burn-rate threshold {threshold:.4g} can never fire: at {slo.objective * 100:.6g} % even 100 % errors "
                f"burn at {max_burn:.4g}x (lower the budget share, lengthen the window or use mode: volume)")
        if tier.long > slo.window:
            add(WARNING, field, f"long window {format_duration(tier.long)} is longer than the SLO window "
                                f"{format_duration(slo.window)}")
        if tier.short < ONE_MINUTE:
            add(WARNING, field, f"short window {format_duration(tier.short)} is finer than the 1-minute rollups; "
                                "it is evaluated as 1m")
        if tier.short * 4 > tier.long:
            add(WARNING, field, f"short window {format_duration(tier.short)} is more than a quarter of the long window "
                                f"{format_duration(tier.long)}: the alert will reset slowly (≈ long/12 is usual)")
    if slo.sli.threshold is not None and slo.sli.threshold < timedelta(microseconds=1):
        add(WARNING, "sli.threshold", "a latency threshold below 1 µs makes every request bad")
    if slo.objective >= 0.99999:
        add(WARNING, "objective", f"{slo.objective * 100:.6g} % leaves {format_duration(slo.budget_time)} of budget per "
                                  f"{format_duration(slo.window)}: below what alerting can react to")
    if slo.budgeting == "timeslices" and slo.time_slice_window > slo.window / 10:
        add(WARNING, "time_slice.window", "time slices are coarse relative to the SLO window")
    return found


def lint_data(slo: SLO, services: pl.DataFrame, rollup: Rollup | None) -> list[Finding]:
    """Problems visible against the data: ``services`` has service_name and span count;
    ``rollup`` gives the events each SLO selects."""
    found: list[Finding] = []

    def add(level: str, field: str, message: str) -> None:
        found.append(Finding(slo.name, level, field, message, slo.source))

    known = services[s.SERVICE_NAME].to_list() if services.height else []
    if slo.service is not None and slo.service not in known:
        close = difflib.get_close_matches(slo.service, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else (f" (known: {', '.join(sorted(known)[:8])})" if known else "")
        add(ERROR, "service", f"unknown service {slo.service!r}: no spans in the data{hint}")
        return found
    if rollup is None:
        return found
    mine = rollup.frame.filter(pl.col("slo") == slo.name)
    if mine.height == 0:
        what = f"operation {slo.operation!r}" if slo.operation else "the selection"
        add(WARNING, "operation" if slo.operation else "filter", f"{what} matches no spans: the SLO has no events")
        return found
    first, last = mine["minute"].min(), mine["minute"].max()
    span = last - first + ONE_MINUTE  # type: ignore[operator]
    if span < slo.window:
        add(WARNING, "window", f"the data covers {format_duration(_round(span))} of the {format_duration(slo.window)} "
                               "window: budget figures cover only that part")
    total = float(mine["total"].sum())
    if total * slo.error_budget < 1:
        add(WARNING, "objective", f"{int(total)} events in the data: at {slo.objective * 100:.6g} % a single failure "
                                  "spends the whole budget (consider alerting mode: volume or auto)")
    return found


def _round(value: timedelta) -> timedelta:
    return timedelta(minutes=round(value / ONE_MINUTE))


def service_counts(spans: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    return spans.lazy().group_by(s.SERVICE_NAME).agg(pl.len().alias("spans")).collect()


def lint(
    slos: Sequence[SLO],
    spans: pl.DataFrame | pl.LazyFrame | None = None,
    rollup: Rollup | None = None,
) -> list[Finding]:
    """Every finding for ``slos`` (errors first), checked against ``spans`` when given."""
    found = [f for slo in slos for f in lint_spec(slo)]
    if spans is not None:
        services = service_counts(spans)
        found += [f for slo in slos for f in lint_data(slo, services, rollup)]
    return sorted(found, key=lambda f: (f.level != ERROR,))
