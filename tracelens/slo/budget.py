"""Error budgets from the per-minute rollups: SLI, good/bad/total, budget in events (and in
time for availability), remaining (negative when overspent, None = "no data"), burn
rates per window, time to exhaustion, and the per-day/per-week accounting of the seed's
restaurant table.

Formulas (../shared/slo-and-canary.md; T = objective, P = period):
  budget events = (1 - T) * total_P          consumed = bad_P / budget events
  remaining     = 1 - consumed               budget time = (1 - T) * P
  burn rate b_w = (bad_w / total_w) / (1 - T)
  time to exhaustion = remaining * P / b_1h  (at the last hour's rate; P / b for a full budget)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import polars as pl

from tracelens.slo.rollup import ONE_MINUTE, Counts, Rollup, counts_for, floor_minute
from tracelens.slo.spec import SLO, format_duration

BURN_WINDOWS: Final = tuple(
    timedelta(**kw)
    for kw in ({"minutes": 5}, {"minutes": 30}, {"hours": 1}, {"hours": 2}, {"hours": 6}, {"hours": 24}, {"days": 3})
)
EXHAUSTION_WINDOW: Final = timedelta(hours=1)

STATE_OK: Final = "ok"
STATE_BREACHED: Final = "breached"
STATE_NO_DATA: Final = "no data"


@dataclass(frozen=True)
class SLOStatus:
    """One SLO evaluated at ``at`` over [window_start, at)."""

    slo: SLO
    at: datetime
    window_start: datetime
    good: float
    total: float
    data_since: datetime | None  # first minute with events in the window
    burn_rates: Mapping[str, float | None]  # window label -> burn rate (None: no traffic)

    @property
    def bad(self) -> float:
        return self.total - self.good

    @property
    def sli(self) -> float | None:
        return self.good / self.total if self.total else None

    @property
    def budget_events(self) -> float:
        return self.slo.error_budget * self.total

    @property
    def consumed(self) -> float | None:
        """Share of the budget spent (1.0 = all of it); None without traffic."""
        if not self.total:
            return None
        return self.bad / self.budget_events

    @property
    def remaining(self) -> float | None:
        consumed = self.consumed
        return None if consumed is None else 1.0 - consumed

    @property
    def budget_minutes(self) -> float | None:
        """The time view of the budget, (1 - T) * P, for availability and time slices."""
        if self.slo.sli.kind != "availability" and self.slo.budgeting == "occurrences":
            return None
        return self.slo.budget_time / ONE_MINUTE

    @property
    def remaining_minutes(self) -> float | None:
        minutes, remaining = self.budget_minutes, self.remaining
        return None if minutes is None or remaining is None else minutes * remaining

    @property
    def state(self) -> str:
        remaining = self.remaining
        if remaining is None:
            return STATE_NO_DATA
        return STATE_BREACHED if remaining < 0 else STATE_OK

    @property
    def time_to_exhaustion(self) -> timedelta | None:
        """How long the remaining budget lasts at the last hour's burn rate (None: not
        burning or no data; zero: already spent)."""
        remaining = self.remaining
        if remaining is None:
            return None
        if remaining <= 0:
            return timedelta(0)
        burn = self.burn_rates.get(format_duration(EXHAUSTION_WINDOW))
        if not burn:
            return None
        return self.slo.window * (remaining / burn)

    @property
    def covers_window(self) -> bool:
        """Whether the data reaches back to the window's start (else figures are partial)."""
        return self.data_since is not None and self.data_since <= self.window_start

    def as_dict(self) -> dict[str, Any]:
        tte = self.time_to_exhaustion
        return {
            "slo": self.slo.name,
            "service": self.slo.service,
            "objective_percent": round(self.slo.objective * 100, 6),
            "window": format_duration(self.slo.window),
            "at": self.at.isoformat(),
            "window_start": self.window_start.isoformat(),
            "data_since": self.data_since.isoformat() if self.data_since else None,
            "state": self.state,
            "good": self.good,
            "bad": self.bad,
            "total": self.total,
            "sli_percent": None if self.sli is None else self.sli * 100,
            "budget_events": self.budget_events,
            "budget_minutes": self.budget_minutes,
            "consumed_percent": None if self.consumed is None else self.consumed * 100,
            "remaining_percent": None if self.remaining is None else self.remaining * 100,
            "remaining_minutes": self.remaining_minutes,
            "burn_rates": dict(self.burn_rates),
            "time_to_exhaustion_hours": None if tte is None else tte / timedelta(hours=1),
        }


def burn_rate(bad: float, total: float, objective: float) -> float | None:
    """b = (bad / total) / (1 - T); None without traffic."""
    if not total:
        return None
    return (bad / total) / round(1.0 - objective, 12)


def _minutes(value: timedelta) -> int:
    return max(int(value // ONE_MINUTE), 1)


def status_from_counts(slo: SLO, counts: Counts, at: datetime) -> SLOStatus:
    end = counts.index_of(at)
    good, total = counts.window(end, _minutes(slo.window))
    window_start = at - slo.window
    begin = max(end - _minutes(slo.window), 0)
    window_total = counts.total[begin:end]
    nonzero = np.flatnonzero(window_total)
    data_since = counts.time_of(begin + int(nonzero[0])) if nonzero.size else None
    rates: dict[str, float | None] = {}
    for w in sorted(set(BURN_WINDOWS) | {t.long for t in slo.tiers} | {t.short for t in slo.tiers}):
        g, t = counts.window(end, _minutes(w))
        rates[format_duration(w)] = burn_rate(float(t - g), float(t), slo.objective)
    return SLOStatus(slo, at, window_start, float(good), float(total), data_since, rates)


def _at(rollup: Rollup, at: datetime | None) -> datetime:
    return floor_minute(at) if at is not None else rollup.default_at()


def evaluate_rollup(rollup: Rollup, at: datetime | None = None) -> list[SLOStatus]:
    """Every SLO of the rollup evaluated at ``at`` (default: end of the newest data minute)."""
    when = _at(rollup, at)
    statuses = []
    for slo in rollup.slos:
        longest = max([slo.window, *BURN_WINDOWS, *(t.long for t in slo.tiers)])
        counts = counts_for(rollup, slo, when - longest, when)
        statuses.append(status_from_counts(slo, counts, when))
    return statuses


def consumption(rollup: Rollup, slo: SLO, at: datetime | None = None, every: str = "1d") -> pl.DataFrame:
    """Budget used per period (``every``: polars duration such as 1d or 1w) inside the SLO
    window ending at ``at`` (periods counted from the window's start: day 1, day 2...), as a
    share of the whole window's budget (the seed's restaurant
    table: 10 late of 30 allowed = 33 %). Columns: period, good, total, bad, consumed,
    consumed_cumulative (fractions)."""
    when = _at(rollup, at)
    counts = counts_for(rollup, slo, when - slo.window, when)
    minutes = pl.datetime_range(counts.start, counts.start + (counts.minutes - 1) * ONE_MINUTE, "1m", eager=True,
                                time_zone="UTC", time_unit="ns") if counts.minutes else pl.Series([], dtype=pl.Datetime("ns", "UTC"))
    per_minute = pl.DataFrame({"minute": minutes, "good": counts.good, "total": counts.total})
    budget = slo.error_budget * float(counts.total.sum())
    frame = (
        per_minute.group_by_dynamic("minute", every=every, start_by="datapoint")
        .agg(pl.col("good").sum(), pl.col("total").sum())
        .rename({"minute": "period"})
        .with_columns(bad=pl.col("total") - pl.col("good"))
    )
    if budget > 0:
        frame = frame.with_columns(consumed=pl.col("bad") / budget)
    else:
        frame = frame.with_columns(consumed=pl.lit(None, dtype=pl.Float64))
    return frame.with_columns(consumed_cumulative=pl.col("consumed").cum_sum())


def statuses_frame(statuses: Sequence[SLOStatus]) -> pl.DataFrame:
    """One row per SLO status (burn rates as burn_<window> columns)."""
    rows = []
    for status in statuses:
        row = status.as_dict()
        rates = row.pop("burn_rates")
        row.update({f"burn_{k}": v for k, v in rates.items()})
        rows.append(row)
    return pl.DataFrame(rows) if rows else pl.DataFrame()
