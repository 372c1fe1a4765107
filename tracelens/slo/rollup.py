"""Per-minute rollups: good and total events per SLO per minute, computed in ONE pass over
the spans (a single vectorised group_by with two sums per SLO).

Every budget, burn rate and alert is computed from these rollups, never by rescanning
spans per window: 30 days are 43,200 minutes, so any window sum is a difference of two
cumulative sums.

An event belongs to the minute its span *ended* in (the moment the request was answered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl

from tracelens import schema as s
from tracelens.slo.selection import good_expr, total_expr
from tracelens.slo.spec import SLO

SLO_COL = "slo"
MINUTE = "minute"
GOOD = "good"
TOTAL = "total"
ROLLUP_SCHEMA = pl.Schema({SLO_COL: pl.String(), MINUTE: s.TIME_DTYPE, GOOD: pl.Int64(), TOTAL: pl.Int64()})
ONE_MINUTE = timedelta(minutes=1)
_MINUTE_NS = 60_000_000_000


@dataclass(frozen=True)
class Rollup:
    """Good/total per SLO per minute (only minutes with events are stored)."""

    frame: pl.DataFrame  # ROLLUP_SCHEMA, sorted by (slo, minute)
    slos: tuple[SLO, ...]

    def first_minute(self) -> datetime | None:
        value = self.frame[MINUTE].min() if self.frame.height else None
        return value  # type: ignore[return-value]

    def last_minute(self) -> datetime | None:
        value = self.frame[MINUTE].max() if self.frame.height else None
        return value  # type: ignore[return-value]

    def default_at(self) -> datetime:
        """End of the newest minute with data (``now`` for an empty rollup)."""
        last = self.last_minute()
        return floor_minute(datetime.now(timezone.utc)) if last is None else last + ONE_MINUTE


def floor_minute(value: datetime) -> datetime:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return value.replace(second=0, microsecond=0)


def columns_for(slos: Sequence[SLO]) -> list[str]:
    """The span columns the SLOs' rollups read. Select these before collecting a big
    LazyFrame: the nested attribute/event columns are most of a span's bytes."""
    exprs = [e for slo in slos for e in (total_expr(slo), good_expr(slo))]
    return sorted({s.END, s.SERVICE_NAME}.union(*(e.meta.root_names() for e in exprs)))


def compute_rollup(
    spans: pl.DataFrame | pl.LazyFrame,
    slos: Sequence[SLO],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Rollup:
    """The per-minute rollup of ``slos`` over ``spans`` (optionally only spans ending in
    [since, until))."""
    slos = tuple(slos)
    if not slos:
        return Rollup(pl.DataFrame(schema=ROLLUP_SCHEMA), slos)
    lf = spans.lazy()
    if since is not None:
        lf = lf.filter(pl.col(s.END) >= since)
    if until is not None:
        lf = lf.filter(pl.col(s.END) < until)
    totals = [total_expr(slo) for slo in slos]
    goods = [good_expr(slo) for slo in slos]
    lf = lf.select(columns_for(slos))
    any_total = totals[0]
    for expr in totals[1:]:
        any_total = any_total | expr
    aggs: list[pl.Expr] = []
    for i, (total, good) in enumerate(zip(totals, goods, strict=True)):
        aggs.append(total.fill_null(False).sum().cast(pl.Int64).alias(f"t{i}"))
        aggs.append((total & good).fill_null(False).sum().cast(pl.Int64).alias(f"g{i}"))
    wide = (
        lf.filter(any_total.fill_null(False))
        # integer minute keys: dt.truncate on a tz-aware column is several times slower
        .group_by((pl.col(s.END).dt.epoch("ns") // _MINUTE_NS).alias(MINUTE))
        .agg(aggs)
        .collect()
        .with_columns((pl.col(MINUTE) * _MINUTE_NS).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"))
    )
    parts = [
        wide.select(
            pl.lit(slo.name, dtype=pl.String).alias(SLO_COL),
            pl.col(MINUTE).cast(s.TIME_DTYPE),
            pl.col(f"g{i}").alias(GOOD),
            pl.col(f"t{i}").alias(TOTAL),
        ).filter(pl.col(TOTAL) > 0)
        for i, slo in enumerate(slos)
    ]
    frame = pl.concat(parts).sort(SLO_COL, MINUTE) if parts else pl.DataFrame(schema=ROLLUP_SCHEMA)
    return Rollup(frame, slos)


@dataclass(frozen=True)
class Counts:
    """Dense per-minute event counts of one SLO from ``start`` (a minute boundary), with
    cumulative sums so any window is two lookups. ``good`` may be fractional (ratio
    timeslices)."""

    start: datetime
    good: np.ndarray  # float64 per minute
    total: np.ndarray
    cum_good: np.ndarray = field(init=False, repr=False)
    cum_total: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cum_good", np.concatenate(([0.0], np.cumsum(self.good))))
        object.__setattr__(self, "cum_total", np.concatenate(([0.0], np.cumsum(self.total))))

    @property
    def minutes(self) -> int:
        return len(self.total)

    def index_of(self, when: datetime) -> int:
        """Minute boundary index of ``when`` (floored), may be outside [0, minutes]."""
        return int((floor_minute(when) - self.start) // ONE_MINUTE)

    def time_of(self, index: int) -> datetime:
        return self.start + index * ONE_MINUTE

    def window(self, end: np.ndarray | int, minutes: int) -> tuple[np.ndarray, np.ndarray]:
        """(good, total) over the ``minutes`` before each boundary in ``end``."""
        end_arr = np.clip(np.asarray(end), 0, self.minutes)
        begin = np.clip(end_arr - minutes, 0, self.minutes)
        return self.cum_good[end_arr] - self.cum_good[begin], self.cum_total[end_arr] - self.cum_total[begin]

    def first_data_index(self) -> int | None:
        nonzero = np.flatnonzero(self.total)
        return int(nonzero[0]) if nonzero.size else None


def counts_for(rollup: Rollup, slo: SLO, start: datetime, end: datetime) -> Counts:
    """Dense counts of ``slo`` for the minutes in [start, end), with its time-slice
    budgeting applied (a slice becomes one event at its last minute)."""
    start = floor_minute(start)
    end = floor_minute(end)
    minutes = max(int((end - start) // ONE_MINUTE), 0)
    rows = rollup.frame.filter((pl.col(SLO_COL) == slo.name) & (pl.col(MINUTE) >= start) & (pl.col(MINUTE) < end))
    start_ns = int(start.timestamp()) * 1_000_000_000
    index = ((rows[MINUTE].dt.epoch("ns").to_numpy() - start_ns) // _MINUTE_NS).astype(np.int64)
    good = np.zeros(minutes, dtype=np.float64)
    total = np.zeros(minutes, dtype=np.float64)
    good[index] = rows[GOOD].to_numpy()
    total[index] = rows[TOTAL].to_numpy()
    if slo.budgeting != "occurrences":
        good, total = _time_slices(slo, start, good, total)
    return Counts(start, good, total)


def _time_slices(slo: SLO, start: datetime, good: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Timeslices: a slice with traffic is one event, good when its ratio meets the slice
    target; ratio timeslices: one event whose goodness is the slice's ratio. Slices are
    aligned to the epoch and their event lands on the slice's last minute; slices without
    traffic are not counted."""
    width = int(slo.time_slice_window // ONE_MINUTE)
    if width <= 0 or len(total) == 0:
        return good, total
    offset = int((start - datetime(1970, 1, 1, tzinfo=timezone.utc)) // ONE_MINUTE) % width
    slice_id = (np.arange(len(total)) + offset) // width
    n_slices = int(slice_id[-1]) + 1
    slice_good = np.bincount(slice_id, weights=good, minlength=n_slices)
    slice_total = np.bincount(slice_id, weights=total, minlength=n_slices)
    last_minute = np.minimum((np.arange(n_slices) + 1) * width - 1 - offset, len(total) - 1)
    has_data = slice_total > 0
    ratio = np.divide(slice_good, slice_total, out=np.zeros_like(slice_good), where=has_data)
    if slo.budgeting == "timeslices":
        assert slo.time_slice_target is not None
        slice_value = (ratio >= slo.time_slice_target - 1e-12).astype(np.float64)
    else:
        slice_value = ratio
    new_good = np.zeros_like(good)
    new_total = np.zeros_like(total)
    np.add.at(new_good, last_minute[has_data], slice_value[has_data])
    np.add.at(new_total, last_minute[has_data], 1.0)
    return new_good, new_total
