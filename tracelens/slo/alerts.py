"""Multi-window multi-burn-rate alerts, evaluated now and replayed over history.

A tier fires when BOTH its long and its short window burn faster than its threshold
(B = f * P / long, e.g. 14.4 for 2 % of a 30-day budget in 1 h); the short window makes the
alert reset quickly once the burn stops. Tiers of the same severity are OR-ed into one
alert, so a fast burn notifies once.

Volume-aware mode (low traffic, where one failure is a 1000x burn): a tier fires when the
long window's bad events reach f of the period's expected budget, (1 - T) * total_P, and at
least ``min_bad_events``; the short window needs its proportional share (at least one).
``auto`` uses it at the moments one bad event alone would exceed the rate threshold.

Replay evaluates every minute boundary at once with numpy over the rollup's cumulative
sums: O(minutes), independent of span count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
import polars as pl

from tracelens import schema as s
from tracelens.slo.rollup import ONE_MINUTE, Counts, Rollup, counts_for, floor_minute
from tracelens.slo.spec import SEVERITIES, SLO, BurnTier, format_duration

EVENT_FIRE: Final = "fire"
EVENT_RESET: Final = "reset"
HISTORY_SCHEMA: Final = pl.Schema(
    {
        "slo": pl.String(),
        "severity": pl.String(),
        "event": pl.String(),
        "time": s.TIME_DTYPE,
        "tiers": pl.String(),
        "burn_long": pl.Float64(),
        "burn_short": pl.Float64(),
        "threshold": pl.Float64(),
    }
)


@dataclass(frozen=True)
class TierEvaluation:
    """One tier at many minute boundaries (arrays aligned with ``boundaries``)."""

    tier: BurnTier
    threshold: float
    firing: np.ndarray  # bool
    burn_long: np.ndarray  # float (nan without traffic)
    burn_short: np.ndarray
    bad_long: np.ndarray
    total_long: np.ndarray
    volume: np.ndarray  # bool: volume-aware rule used


@dataclass(frozen=True)
class TierState:
    severity: str
    window: str  # "1h/5m"
    threshold: float
    burn_long: float | None
    burn_short: float | None
    bad_long: float
    total_long: float
    volume_mode: bool
    firing: bool


@dataclass(frozen=True)
class AlertState:
    """One alert (one per SLO and severity) at ``at``."""

    slo: str
    severity: str
    at: datetime
    firing: bool
    since: datetime | None  # when the current firing streak started
    tiers: tuple[TierState, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "slo": self.slo,
            "severity": self.severity,
            "at": self.at.isoformat(),
            "firing": self.firing,
            "since": self.since.isoformat() if self.since else None,
            "tiers": [t.__dict__ for t in self.tiers],
        }


def _minutes(value: timedelta) -> int:
    return max(int(value // ONE_MINUTE), 1)


def _burn(bad: np.ndarray, total: np.ndarray, budget: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, bad / np.where(total > 0, total, 1.0) / budget, np.nan)


def evaluate_tier(slo: SLO, tier: BurnTier, counts: Counts, boundaries: np.ndarray) -> TierEvaluation:
    """``tier`` at every minute boundary in ``boundaries`` (indices into ``counts``)."""
    budget = slo.error_budget
    threshold = tier.threshold(slo.window)
    long_m, short_m = _minutes(tier.long), _minutes(tier.short)
    good_l, total_l = counts.window(boundaries, long_m)
    good_s, total_s = counts.window(boundaries, short_m)
    bad_l, bad_s = total_l - good_l, total_s - good_s
    burn_l, burn_s = _burn(bad_l, total_l, budget), _burn(bad_s, total_s, budget)
    by_rate = (np.nan_to_num(burn_l, nan=0.0) > threshold) & (np.nan_to_num(burn_s, nan=0.0) > threshold)
    if slo.alert_mode == "rate":
        return TierEvaluation(tier, threshold, by_rate, burn_l, burn_s, bad_l, total_l, np.zeros_like(by_rate))
    # expected events over the period: the trailing period's total, scaled up when the data
    # is younger than the period
    first = counts.first_data_index()
    period_m = _minutes(slo.window)
    _, total_p = counts.window(boundaries, period_m)
    observed = np.clip(boundaries - (first if first is not None else 0), 1, period_m)
    expected_total = total_p * (period_m / observed)
    share = tier.budget_spent(slo.window)
    long_need = np.maximum(share * budget * expected_total, slo.min_bad_events)
    short_need = np.maximum(share * budget * expected_total * (short_m / long_m), 1.0)
    by_volume = (bad_l >= long_need) & (bad_s >= short_need)
    if slo.alert_mode == "volume":
        volume = np.ones_like(by_rate)
    else:  # auto: volume rule where a single bad event would already exceed the threshold
        volume = total_l < 1.0 / (threshold * budget)
    firing = np.where(volume, by_volume, by_rate)
    return TierEvaluation(tier, threshold, firing, burn_l, burn_s, bad_l, total_l, volume)


def _span(slo: SLO, start: datetime, end: datetime, rollup: Rollup) -> Counts:
    longest = max(t.long for t in slo.tiers)
    lookback = max(longest, slo.window) if slo.alert_mode != "rate" else longest
    return counts_for(rollup, slo, start - lookback, end)


def _nan_to_none(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def alert_states(rollup: Rollup, at: datetime | None = None) -> list[AlertState]:
    """Every SLO's alerts (one per severity used by its tiers) at ``at``."""
    when = floor_minute(at) if at is not None else rollup.default_at()
    states: list[AlertState] = []
    for slo in rollup.slos:
        # enough history before `at` to find when a current streak started (bounded)
        lookback = max(t.long for t in slo.tiers) * 2
        counts = _span(slo, when - lookback, when, rollup)
        boundaries = np.arange(1, counts.minutes + 1)
        evaluations = [evaluate_tier(slo, tier, counts, boundaries) for tier in slo.tiers]
        for severity in SEVERITIES:
            mine = [e for e in evaluations if e.tier.severity == severity]
            if not mine:
                continue
            firing = np.logical_or.reduce([e.firing for e in mine])
            now = bool(firing[-1]) if firing.size else False
            since = None
            if now:
                quiet = np.flatnonzero(~firing)
                start_index = int(quiet[-1]) + 1 if quiet.size else 0
                since = counts.time_of(int(boundaries[start_index]))
            tiers = tuple(
                TierState(
                    severity,
                    e.tier.label,
                    e.threshold,
                    _nan_to_none(e.burn_long[-1]) if e.firing.size else None,
                    _nan_to_none(e.burn_short[-1]) if e.firing.size else None,
                    float(e.bad_long[-1]) if e.firing.size else 0.0,
                    float(e.total_long[-1]) if e.firing.size else 0.0,
                    bool(e.volume[-1]) if e.firing.size else False,
                    bool(e.firing[-1]) if e.firing.size else False,
                )
                for e in mine
            )
            states.append(AlertState(slo.name, severity, when, now, since, tiers))
    return states


def alert_history(
    rollup: Rollup, since: datetime | None = None, until: datetime | None = None
) -> pl.DataFrame:
    """The timeline of fire/reset events of every SLO's alerts, replayed at every minute
    boundary over [since, until] (default: the rollup's data range). An alert still firing
    at ``until`` has no reset row."""
    first, last = rollup.first_minute(), rollup.last_minute()
    if first is None or last is None:
        return pl.DataFrame(schema=HISTORY_SCHEMA)
    start = floor_minute(since) if since is not None else first
    end = floor_minute(until) if until is not None else last + ONE_MINUTE
    frames = []
    for slo in rollup.slos:
        counts = _span(slo, start, end, rollup)
        first_boundary = counts.index_of(start) + 1
        boundaries = np.arange(max(first_boundary, 1), counts.minutes + 1)
        if boundaries.size == 0:
            continue
        evaluations = [evaluate_tier(slo, tier, counts, boundaries) for tier in slo.tiers]
        for severity in SEVERITIES:
            mine = [e for e in evaluations if e.tier.severity == severity]
            if mine:
                frames.append(_transitions(slo, severity, mine, counts, boundaries))
    if not frames:
        return pl.DataFrame(schema=HISTORY_SCHEMA)
    return pl.concat(frames).sort("time", "slo", "severity")


def _transitions(
    slo: SLO, severity: str, evaluations: list[TierEvaluation], counts: Counts, boundaries: np.ndarray
) -> pl.DataFrame:
    firing = np.logical_or.reduce([e.firing for e in evaluations])
    previous = np.concatenate(([False], firing[:-1]))
    changes = np.flatnonzero(firing != previous)
    rows: dict[str, list[Any]] = {name: [] for name in HISTORY_SCHEMA.names()}
    for i in changes:
        fire = bool(firing[i])
        # on fire: the tiers that fired; on reset: the tiers that were firing a minute ago
        index = i if fire else i - 1
        active = [e for e in evaluations if e.firing[index]]
        lead = active[0] if active else evaluations[0]
        rows["slo"].append(slo.name)
        rows["severity"].append(severity)
        rows["event"].append(EVENT_FIRE if fire else EVENT_RESET)
        rows["time"].append(counts.time_of(int(boundaries[i])))
        rows["tiers"].append(",".join(e.tier.label for e in active))
        rows["burn_long"].append(_nan_to_none(lead.burn_long[i]))
        rows["burn_short"].append(_nan_to_none(lead.burn_short[i]))
        rows["threshold"].append(lead.threshold)
    return pl.DataFrame(rows, schema=HISTORY_SCHEMA)


def burn_timeline(rollup: Rollup, slo_name: str, since: datetime | None = None, until: datetime | None = None) -> pl.DataFrame:
    """Per minute boundary, each tier's long/short burn rate and firing flag (for plots
    and for tuning thresholds)."""
    slo = next((x for x in rollup.slos if x.name == slo_name), None)
    if slo is None:
        msg = f"no SLO named {slo_name!r}"
        raise KeyError(msg)
    first, last = rollup.first_minute(), rollup.last_minute()
    if first is None or last is None:
        return pl.DataFrame()
    start = floor_minute(since) if since is not None else first
    end = floor_minute(until) if until is not None else last + ONE_MINUTE
    counts = _span(slo, start, end, rollup)
    boundaries = np.arange(max(counts.index_of(start) + 1, 1), counts.minutes + 1)
    start_ns = int(counts.start.timestamp()) * 1_000_000_000
    times = pl.Series("time", start_ns + boundaries.astype(np.int64) * 60_000_000_000)
    columns: dict[str, Any] = {"time": times.cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")}
    for tier in slo.tiers:
        e = evaluate_tier(slo, tier, counts, boundaries)
        label = format_duration(tier.long) + "_" + format_duration(tier.short)
        columns[f"burn_{format_duration(tier.long)}"] = e.burn_long
        columns[f"burn_{format_duration(tier.short)}"] = e.burn_short
        columns[f"firing_{label}"] = e.firing
    return pl.DataFrame(columns)


def firing_pages(states: Sequence[AlertState]) -> list[AlertState]:
    return [a for a in states if a.firing and a.severity == "page"]
