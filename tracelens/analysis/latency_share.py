"""Who owns the latency: critical-path attribution by service, operation or any attribute.

For each group (e.g. a service) in each trace:

* ``critical_time`` -- time of the trace's critical path spent in the group's spans;
* ``share`` -- critical_time / the trace's duration (its primary root's duration; the
  sections tile the root, so the shares of a trace sum to 1);
* ``self_time`` -- summed self time of the group's spans; ``total_time`` -- summed span
  durations (parallel work counts twice); ``count`` -- number of spans.

Aggregated over a set of traces (a *cohort*: every trace with a span matching a filter),
``share`` is the group's critical time over the total duration of the cohort's traces,
``mean_share`` the mean of per-trace shares, ``traces`` the number of traces where the
group appears and ``traces_on_path`` those where it is on the critical path.

The *bottleneck* of a trace is its largest critical-path contributor::

    web-frontend  [====================== 2190 ms =======================]
     auth-service  [=================== 2180 ms ====================]
      payment        [============= 2000 ms =============]
       credit-card-api  [========= 1800 ms =========]        <- 1800 / 2190 = 82 %
       fraud-check    [= 200 =]   (parallel, off the path)

Latency bands (after Uber's CRISP): the same attribution restricted to the traces whose
root latency falls in the p0-50, p50-90, p90-99 and p99-100 bands, and the difference
between two bands -- what grows in the tail. A trace belongs to band (lo, hi] of
percentiles when q(lo) < duration <= q(hi) (the first band includes q(0)); quantiles are
linear-interpolated over the traces analysed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from tracelens import schema as s
from tracelens.analysis.columnar import (
    CRITICAL_TIME,
    NEEDED,
    SELF_TIME,
    TRACE_DURATION,
    TRACE_INDEX,
    Analysis,
    analyze,
    finish_aggregate,
    group_shares,
    group_sums,
    merge_group_sums,
    share_aggregate,
    share_by_trace,
    trace_batches,
)

By = str | Sequence[str]
Where = str | pl.Expr | None

#: CRISP's bands of root latency, as (low, high] percentiles
DEFAULT_BANDS: tuple[tuple[float, float], ...] = ((0, 50), (50, 90), (90, 99), (99, 100))
TOTAL_TIME = "total_time"
SHARE = "share"


def group_columns(by: By) -> dict[str, pl.Expr]:
    """Output column name -> expression over a span frame, for each grouping dimension.

    ``"service"``, ``"operation"`` (service + name), a span-contract column name
    (``"http_route"``), a semantic-convention key with a dedicated column
    (``"http.route"``), ``"resource.<key>"``, or any other attribute key (looked up in
    span attributes, then resource attributes)."""
    names = [by] if isinstance(by, str) else list(by)
    found: dict[str, pl.Expr] = {}
    for name in names:
        if name == "service":
            found[s.SERVICE_NAME] = pl.col(s.SERVICE_NAME)
        elif name == "operation":
            found[s.SERVICE_NAME] = pl.col(s.SERVICE_NAME)
            found[s.NAME] = pl.col(s.NAME)
        elif name in s.SPAN_SCHEMA:
            found[name] = pl.col(name)
        elif name in s.ATTRIBUTE_KEY_TO_COLUMN:
            found[s.ATTRIBUTE_KEY_TO_COLUMN[name]] = pl.col(s.ATTRIBUTE_KEY_TO_COLUMN[name])
        elif name.startswith("resource."):
            found[name] = s.attribute_value(pl.col(s.RESOURCE_ATTRIBUTES), name.removeprefix("resource."))
        else:
            found[name] = pl.coalesce(
                s.attribute_value(pl.col(s.ATTRIBUTES), name), s.attribute_value(pl.col(s.RESOURCE_ATTRIBUTES), name)
            )
    return found


def cohort(spans: pl.DataFrame | pl.LazyFrame, where: Where) -> pl.LazyFrame:
    """Every span of every trace that has at least one span matching ``where`` (a
    tracelens filter expression or a polars expression); all spans if None."""
    lf = spans.lazy()
    if where is None:
        return lf
    from tracelens.filters import as_expression

    matching = lf.filter(as_expression(where)).select(s.TRACE_ID).unique()
    return lf.join(matching, on=s.TRACE_ID, how="semi", maintain_order="left")


def _analyze_by(spans: pl.DataFrame | pl.LazyFrame, by: By, where: Where) -> tuple[Analysis, list[str]]:
    columns = group_columns(by)
    extra = {name: expr for name, expr in columns.items() if name not in NEEDED}
    # shares need critical and self time per span only: skipping the sections and the
    # clipped times saves ~20 % of the kernel time and ~40 % of its fresh memory (1 M spans)
    return analyze(cohort(spans, where), extra=extra, sections=False, clipped=False), list(columns)


PER_TRACE_COLUMNS = (CRITICAL_TIME, SHARE, SELF_TIME, TOTAL_TIME, "count", TRACE_DURATION)


def latency_share(
    spans: pl.DataFrame | pl.LazyFrame,
    by: By = "service",
    *,
    where: Where = None,
    per_trace: bool = False,
    batches: int = 1,
) -> pl.DataFrame:
    """Critical-path attribution by ``by`` over every trace in ``spans`` (or the cohort
    of traces with a span matching ``where``). ``per_trace=True`` gives one row per
    (trace, group) instead of the aggregate. ``batches > 1`` reads and analyses the
    (lazy) spans in that many trace-complete batches and merges the sums -- for span
    sets larger than memory, e.g. ``latency_share(store.spans(), batches=16)``."""
    if batches > 1:
        parts = []
        keys = list(group_columns(by))
        for batch in trace_batches(batches):
            analysis, keys = _analyze_by(spans.lazy().filter(batch), by, where)
            if per_trace:
                parts.append(share_by_trace(analysis, keys).select(s.TRACE_ID, *keys, *PER_TRACE_COLUMNS))
            else:
                parts.append(group_sums(analysis, keys))
            # else the batch's spans and kernel arrays live on while the next batch is read
            # and analysed: two batches in memory at the peak instead of one
            del analysis
        if per_trace:
            return pl.concat(parts)
        return finish_aggregate(merge_group_sums(parts, keys), keys)
    analysis, keys = _analyze_by(spans, by, where)
    if per_trace:
        return share_by_trace(analysis, keys).select(s.TRACE_ID, *keys, *PER_TRACE_COLUMNS)
    return share_aggregate(analysis, keys)


def bottlenecks(spans: pl.DataFrame | pl.LazyFrame, by: By = "service", *, where: Where = None) -> pl.DataFrame:
    """Per trace, the group with the most critical-path time: (trace_id, <by columns>,
    critical_time, share, trace_duration). Ties go to the smaller group key."""
    analysis, keys = _analyze_by(spans, by, where)
    table = share_by_trace(analysis, keys)
    return (
        table.sort(TRACE_INDEX, CRITICAL_TIME, *keys, descending=[False, True, *([False] * len(keys))], nulls_last=True)
        .group_by(TRACE_INDEX, maintain_order=True)
        .first()
        .select(s.TRACE_ID, *keys, CRITICAL_TIME, SHARE, TRACE_DURATION)
    )


def band_label(low: float, high: float) -> str:
    return f"p{low:g}-{high:g}"


def band_members(durations_ns: np.ndarray, bands: Sequence[tuple[float, float]]) -> list[np.ndarray]:
    """Trace indexes in each band: q(low) < duration <= q(high); the first band also
    takes q(low) itself; a trace belongs to the first band that takes it."""
    values = durations_ns.astype(np.float64)
    taken = np.zeros(values.shape[0], np.bool_)
    found = []
    for i, (low, high) in enumerate(bands):
        lo_q, hi_q = np.quantile(values, [low / 100, high / 100])
        inside = (values <= hi_q) & ((values > lo_q) | ((values >= lo_q) if i == 0 else False)) & ~taken
        taken |= inside
        found.append(np.flatnonzero(inside))
    return found


def latency_bands(
    spans: pl.DataFrame | pl.LazyFrame,
    by: By = "service",
    *,
    where: Where = None,
    bands: Sequence[tuple[float, float]] = DEFAULT_BANDS,
) -> pl.DataFrame:
    """latency_share() computed separately for the traces of each root-latency band:
    one row per (band, group), with the band's trace count and latency range."""
    analysis, keys = _analyze_by(spans, by, where)
    if analysis.n_traces == 0:
        return pl.DataFrame()
    shares = group_shares(analysis, keys)
    parts = []
    for (low, high), members in zip(bands, band_members(analysis.duration_ns, bands), strict=True):
        if members.size == 0:
            continue
        durations = analysis.duration_ns[members]
        part = share_aggregate(analysis, keys, traces=members, shares=shares)
        parts.append(pl.concat([
            pl.DataFrame({
                "band": [band_label(low, high)] * part.height,
                "band_traces": [int(members.size)] * part.height,
                "band_min": pl.Series([int(durations.min())] * part.height, dtype=pl.Int64).cast(s.DURATION_DTYPE),
                "band_max": pl.Series([int(durations.max())] * part.height, dtype=pl.Int64).cast(s.DURATION_DTYPE),
            }),
            part,
        ], how="horizontal"))
    return pl.concat(parts) if parts else pl.DataFrame()


def band_difference(bands_table: pl.DataFrame, low: str = "p0-50", high: str = "p99-100", by: By = "service") -> pl.DataFrame:
    """What grows in the tail: per group, mean critical-path time per trace and share in
    band ``low`` and band ``high`` (from latency_bands()), and their differences, largest
    growth first."""
    keys = list(group_columns(by))

    def band(label: str, suffix: str) -> pl.DataFrame:
        part = bands_table.filter(pl.col("band") == label)
        return part.select(
            *keys,
            (pl.col(CRITICAL_TIME) / pl.col("band_traces")).alias(f"mean_critical_time_{suffix}"),
            pl.col(SHARE).alias(f"share_{suffix}"),
        )

    zero = pl.duration(nanoseconds=0)
    return (
        band(low, "low")
        .join(band(high, "high"), on=keys, how="full", coalesce=True, nulls_equal=True)
        .with_columns(
            pl.col("mean_critical_time_low").fill_null(zero),
            pl.col("mean_critical_time_high").fill_null(zero),
            pl.col("share_low").fill_null(0.0),
            pl.col("share_high").fill_null(0.0),
        )
        .with_columns(
            (pl.col("mean_critical_time_high") - pl.col("mean_critical_time_low")).alias("mean_critical_time_delta"),
            (pl.col("share_high") - pl.col("share_low")).alias("share_delta"),
        )
        .sort("mean_critical_time_delta", descending=True)
    )
