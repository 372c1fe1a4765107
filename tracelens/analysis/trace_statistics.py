"""Jaeger's "Trace Statistics" table, for one trace or any set of traces.

Jaeger UI groups the spans of a trace by service or operation (and optionally a second
level: by operation within service, or by a tag) and shows, per group:

=================================  =======================================================
count                              spans in the group
total, avg, min, max               of span durations
self_total, self_avg, self_min,    of span self times (duration minus the union of the
self_max                           children clipped to the span: Jaeger's sweep)
percent_of_trace                   self_total / summed duration of the traces (Jaeger's
                                   "ST in duration"); over the groups it sums to 100 %
                                   when no spans run in parallel, more when some do
=================================  =======================================================

Grouping dimensions are those of latency_share: ``service``, ``operation``, a column, a
semantic-convention key or any attribute key.
"""

from __future__ import annotations

import polars as pl

from tracelens import schema as s
from tracelens.analysis.latency_share import By, group_columns
from tracelens.analysis.self_time import self_time

SELF_TIME = "self_time"
STAT_COLUMNS = ("count", "total", "avg", "min", "max", "self_total", "self_avg", "self_min", "self_max", "percent_of_trace")


def trace_statistics(spans: pl.DataFrame | pl.LazyFrame, by: By = "service", then: By | None = None) -> pl.DataFrame:
    """One row per group (and sub-group with ``then``), sorted by self_total, largest first."""
    frame = spans.lazy().collect() if isinstance(spans, pl.LazyFrame) else spans
    keys = group_columns(by) | (group_columns(then) if then is not None else {})
    selfs = self_time(frame)
    roots = frame.filter(pl.col(s.PARENT_SPAN_ID).is_null())
    # the traces' time: the roots' durations (traces without a root: their span extent)
    trace_time = (
        frame.group_by(s.TRACE_ID)
        .agg((pl.col(s.END).max() - pl.col(s.START).min()).alias("extent"))
        .join(roots.group_by(s.TRACE_ID).agg(pl.col(s.DURATION).max().alias("root")), on=s.TRACE_ID, how="left")
        .select(pl.coalesce("root", "extent").dt.total_nanoseconds().sum())
        .item()
    )
    rows = frame.join(selfs.unique([s.TRACE_ID, s.SPAN_ID]), on=[s.TRACE_ID, s.SPAN_ID], how="left").with_columns(
        **keys
    )
    table = (
        rows.group_by(list(keys))
        .agg(
            pl.len().alias("count"),
            pl.col(s.DURATION).sum().alias("total"),
            pl.col(s.DURATION).mean().alias("avg"),
            pl.col(s.DURATION).min().alias("min"),
            pl.col(s.DURATION).max().alias("max"),
            pl.col(SELF_TIME).sum().alias("self_total"),
            pl.col(SELF_TIME).mean().alias("self_avg"),
            pl.col(SELF_TIME).min().alias("self_min"),
            pl.col(SELF_TIME).max().alias("self_max"),
        )
        .with_columns((pl.col("self_total").dt.total_nanoseconds() / max(int(trace_time or 0), 1)).alias("percent_of_trace"))
        .sort(["self_total", *keys], descending=[True] + [False] * len(keys), nulls_last=True)
    )
    return table.select(*keys, *STAT_COLUMNS)
