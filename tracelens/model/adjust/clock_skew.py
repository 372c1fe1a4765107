"""Adjuster (opt-in): clock-skew correction, Jaeger's centring rule.

Spans from different hosts are timed by different clocks. When a child span from
another host than its parent sticks out of its (already adjusted) parent, it is shifted
so it sits centred in the parent -- network latency assumed equal both ways::

    parent (host a)   |10=================110|
    child  (host b) |0=====50|                    sticks out on the left
    delta = 10 + (100 - 50) / 2 - 0 = 35   ->    child becomes |35=====85|

* a child longer than its parent is only moved so it does not start before it;
* a child already inside its parent is not moved;
* descendants on the same host inherit the shift (their clock is the same clock);
* |delta| > max_delta: nothing is moved and a warning says why; max_delta = 0 disables
  the correction (warning only);
* a span whose parent is missing is a root and gets a warning.

Hosts are keyed by the resource's ``host.id``, else ``host.ip``, else ``host.name``; a span
without any is compared with its parent every time. The shift applied is kept in
``clock_skew_shift`` and a human sentence in ``clock_skew_warning``. Events move too.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from tracelens import schema as s
from tracelens.model.adjust import _skew_kernel as kernel
from tracelens.model.problems import TraceWarning, WarningKind

CLOCK_SKEW_SHIFT = "clock_skew_shift"
CLOCK_SKEW_WARNING = "clock_skew_warning"
DEFAULT_MAX_DELTA = timedelta(seconds=1)


def host_key() -> pl.Expr:
    """host.id -> host.ip -> host.name (resource attributes), null if none."""
    return pl.coalesce(
        s.attribute_value(pl.col(s.RESOURCE_ATTRIBUTES), "host.id"),
        s.attribute_value(pl.col(s.RESOURCE_ATTRIBUTES), "host.ip"),
        pl.col(s.HOST_NAME),
        s.attribute_value(pl.col(s.RESOURCE_ATTRIBUTES), "host.name"),
    )


def _parent_rows(frame: pl.DataFrame) -> np.ndarray:
    """Row of each span's parent within its trace; -1 for roots, -2 if missing.
    (Expects one row per (trace_id, span_id): run deduplicate first.)"""
    indexed = frame.select(s.TRACE_ID, s.SPAN_ID, s.PARENT_SPAN_ID).with_row_index("_row")
    parents = indexed.select(s.TRACE_ID, pl.col(s.SPAN_ID).alias(s.PARENT_SPAN_ID), pl.col("_row").alias("_parent_row"))
    joined = indexed.join(parents, on=[s.TRACE_ID, s.PARENT_SPAN_ID], how="left").sort("_row")
    return joined.select(
        pl.when(pl.col(s.PARENT_SPAN_ID).is_null()).then(-1)
        .when(pl.col("_parent_row").is_null()).then(-2)
        .otherwise(pl.col("_parent_row").cast(pl.Int64))
    ).to_series().to_numpy().astype(np.int64)


def _message(code: int, shift_ns: int, delta_ns: int, max_delta: timedelta, parent: str | None) -> str | None:
    if code == kernel.MISSING_PARENT:
        return f"parent {parent} is not in the trace; clock skew not adjusted below this span"
    if code == kernel.DISABLED:
        return f"clock skew of {_ms(delta_ns)} not adjusted: adjustment disabled (max delta 0)"
    if code == kernel.MAX_DELTA_EXCEEDED:
        return f"clock skew of {_ms(delta_ns)} not adjusted: larger than max delta {_ms(int(max_delta.total_seconds() * 1e9))}"
    if shift_ns:
        return f"timestamps adjusted by {_ms(shift_ns)} for clock skew"
    return None


def _ms(ns: int) -> str:
    return f"{ns / 1e6:g}ms"


def correct_clock_skew(frame: pl.LazyFrame, max_delta: timedelta = DEFAULT_MAX_DELTA) -> pl.LazyFrame:
    """Shift spans for clock skew (see module docstring); adds CLOCK_SKEW_SHIFT and
    CLOCK_SKEW_WARNING columns."""
    eager = frame.collect()
    if eager.height == 0:
        return eager.with_columns(
            pl.lit(None, s.DURATION_DTYPE).alias(CLOCK_SKEW_SHIFT), pl.lit(None, pl.String).alias(CLOCK_SKEW_WARNING)
        ).lazy()
    parent = _parent_rows(eager)
    hosts = eager.select(host_key()).to_series()
    host_codes = hosts.rank("dense").fill_null(0).cast(pl.Int64).to_numpy() - 1
    start = eager[s.START].dt.epoch("ns").to_numpy().astype(np.int64)
    duration = (eager[s.END].dt.epoch("ns") - eager[s.START].dt.epoch("ns")).to_numpy().astype(np.int64)
    max_ns = int(max_delta.total_seconds() * 1_000_000_000)
    shift, warning, delta = kernel.skew_shifts(parent, host_codes, start, duration, max_ns)
    messages = [
        _message(int(code), int(sh), int(d), max_delta, p)
        for code, sh, d, p in zip(warning, shift, delta, eager[s.PARENT_SPAN_ID].to_list(), strict=True)
    ]
    shift_col = pl.Series(CLOCK_SKEW_SHIFT, shift).cast(s.DURATION_DTYPE)
    out = eager.with_columns(
        (pl.col(s.START) + shift_col).alias(s.START),
        (pl.col(s.END) + shift_col).alias(s.END),
        shift_col,
        pl.Series(CLOCK_SKEW_WARNING, messages, dtype=pl.String),
    )
    if s.EVENTS in out.columns:
        out = _shift_events(out, np.flatnonzero(shift), shift)
    return out.lazy()


def _shift_events(frame: pl.DataFrame, moved: np.ndarray, shift: np.ndarray) -> pl.DataFrame:
    """Move the events of the shifted rows with their span (only those rows are touched)."""
    if moved.size == 0:
        return frame
    sub = pl.DataFrame({"_i": moved, "_shift": shift[moved]}).with_columns(
        frame[s.EVENTS].gather(moved).alias("_ev")
    ).filter(pl.col("_ev").list.len() > 0)
    if sub.height == 0:
        return frame
    shifted = (
        sub.explode("_ev")
        .with_columns(pl.col("_ev").struct.with_fields(pl.field("time") + pl.col("_shift").cast(s.DURATION_DTYPE)))
        .group_by("_i", maintain_order=True)
        .agg(pl.col("_ev"))
    )
    # (Series.scatter does not take list-of-struct values: join them back by row)
    shifted = shifted.with_columns(pl.col("_i").cast(pl.UInt32), pl.col("_ev").cast(frame.schema[s.EVENTS]))
    return (
        frame.with_row_index("_i")
        .join(shifted, on="_i", how="left", maintain_order="left")
        .with_columns(pl.coalesce("_ev", s.EVENTS).alias(s.EVENTS))
        .drop("_i", "_ev")
    )


def clock_skew_warnings(frame: pl.DataFrame) -> list[TraceWarning]:
    """TraceWarnings from the CLOCK_SKEW_WARNING column of an adjusted frame."""
    rows = frame.filter(pl.col(CLOCK_SKEW_WARNING).is_not_null()).select(s.TRACE_ID, s.SPAN_ID, CLOCK_SKEW_WARNING)
    return [TraceWarning(WarningKind.CLOCK_SKEW, t, sp, m) for t, sp, m in rows.iter_rows()]
