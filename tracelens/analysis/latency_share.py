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

import polars as pl

from tracelens import schema as s
from tracelens.analysis.columnar import CRITICAL_TIME, PATH_STATUS, SELF_TIME, TRACE_DURATION, TRACE_INDEX, Analysis, analyze

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
    if isinstance(where, str):
        from tracelens.filters import parse_filter

        where = parse_filter(where)
    matching = lf.filter(where).select(s.TRACE_ID).unique()
    return lf.join(matching, on=s.TRACE_ID, how="semi", maintain_order="left")


def _analyze_by(spans: pl.DataFrame | pl.LazyFrame, by: By, where: Where) -> tuple[Analysis, list[str]]:
    columns = group_columns(by)
    extra = {name: expr for name, expr in columns.items() if name not in (s.SERVICE_NAME, s.NAME)}
    return analyze(cohort(spans, where), extra=extra), list(columns)


def _per_trace(analysis: Analysis, keys: list[str]) -> pl.DataFrame:
    length = (pl.col(s.END).dt.epoch("ns") - pl.col(s.START).dt.epoch("ns")).clip(lower_bound=0)
    ids = analysis.traces.select(s.TRACE_ID).with_row_index(TRACE_INDEX).with_columns(pl.col(TRACE_INDEX).cast(pl.Int64))
    return (
        analysis.spans.lazy()
        .filter(pl.col(PATH_STATUS) != "duplicate")
        .group_by(TRACE_INDEX, *keys)
        .agg(
            pl.col(CRITICAL_TIME).sum(),
            pl.col(SELF_TIME).sum(),
            length.sum().cast(s.DURATION_DTYPE).alias(TOTAL_TIME),
            pl.len().alias("count"),
            pl.col(TRACE_DURATION).first(),
        )
        .with_columns(
            (pl.col(CRITICAL_TIME).dt.total_nanoseconds() / pl.col(TRACE_DURATION).dt.total_nanoseconds())
            .fill_nan(None)
            .alias(SHARE)
        )
        .join(ids.lazy(), on=TRACE_INDEX)
        .sort(TRACE_INDEX, CRITICAL_TIME, *keys, descending=[False, True, *([False] * len(keys))], nulls_last=True)
        .collect()
    )


def _aggregate(per_trace: pl.DataFrame, keys: list[str], n_traces: int, total_duration_ns: int) -> pl.DataFrame:
    return (
        per_trace.group_by(keys)
        .agg(
            pl.col(CRITICAL_TIME).sum(),
            pl.col(SELF_TIME).sum(),
            pl.col(TOTAL_TIME).sum(),
            pl.col("count").sum(),
            pl.len().alias("traces"),
            (pl.col(CRITICAL_TIME) > pl.duration(nanoseconds=0)).sum().alias("traces_on_path"),
            pl.col(SHARE).fill_null(0).sum().alias("_share_sum"),
        )
        .with_columns(
            (pl.col(CRITICAL_TIME).dt.total_nanoseconds() / total_duration_ns if total_duration_ns else pl.lit(None, pl.Float64)).alias(SHARE),
            (pl.col("_share_sum") / n_traces if n_traces else pl.lit(None, pl.Float64)).alias("mean_share"),
        )
        .drop("_share_sum")
        .sort(CRITICAL_TIME, *keys, descending=[True, *([False] * len(keys))], nulls_last=True)
    )


def latency_share(
    spans: pl.DataFrame | pl.LazyFrame, by: By = "service", *, where: Where = None, per_trace: bool = False
) -> pl.DataFrame:
    """Critical-path attribution by ``by`` over every trace in ``spans`` (or the cohort
    of traces with a span matching ``where``). ``per_trace=True`` gives one row per
    (trace, group) instead of the aggregate."""
    analysis, keys = _analyze_by(spans, by, where)
    table = _per_trace(analysis, keys)
    if per_trace:
        return table.select(s.TRACE_ID, *keys, CRITICAL_TIME, SHARE, SELF_TIME, TOTAL_TIME, "count", TRACE_DURATION)
    total = analysis.traces[s.DURATION].dt.total_nanoseconds().sum() or 0
    return _aggregate(table, keys, analysis.traces.height, int(total))


def bottlenecks(spans: pl.DataFrame | pl.LazyFrame, by: By = "service", *, where: Where = None) -> pl.DataFrame:
    """Per trace, the group with the most critical-path time: (trace_id, <by columns>,
    critical_time, share, trace_duration). Ties go to the smaller group key."""
    table = latency_share(spans, by, where=where, per_trace=True)
    keys = list(group_columns(by))
    return table.group_by(s.TRACE_ID, maintain_order=True).first().select(s.TRACE_ID, *keys, CRITICAL_TIME, SHARE, TRACE_DURATION)


def band_label(low: float, high: float) -> str:
    return f"p{low:g}-{high:g}"


def _band_of_traces(durations: pl.Series, bands: Sequence[tuple[float, float]]) -> pl.Series:
    ns = durations.dt.total_nanoseconds().cast(pl.Float64)
    band = pl.Series("band", [None] * len(ns), dtype=pl.String)
    for i, (low, high) in enumerate(bands):
        lo_q = ns.quantile(low / 100, interpolation="linear")
        hi_q = ns.quantile(high / 100, interpolation="linear")
        inside = (ns <= hi_q) & ((ns > lo_q) | (pl.Series([i == 0] * len(ns)) & (ns >= lo_q)))
        band = pl.select(pl.when(inside & band.is_null()).then(pl.lit(band_label(low, high))).otherwise(band)).to_series()
    return band.alias("band")


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
    table = _per_trace(analysis, keys)
    if analysis.traces.height == 0:
        return pl.DataFrame()
    band_of = _band_of_traces(analysis.traces[s.DURATION], bands)
    traces = analysis.traces.select(s.TRACE_ID, s.DURATION).with_columns(band_of)
    table = table.join(traces.select(s.TRACE_ID, "band"), on=s.TRACE_ID)
    parts = []
    for low, high in bands:
        label = band_label(low, high)
        members = traces.filter(pl.col("band") == label)
        if members.height == 0:
            continue
        total = int(members[s.DURATION].dt.total_nanoseconds().sum())
        part = _aggregate(table.filter(pl.col("band") == label), keys, members.height, total)
        parts.append(part.with_columns(
            pl.lit(label).alias("band"),
            pl.lit(members.height).alias("band_traces"),
            pl.lit(members[s.DURATION].min()).alias("band_min"),
            pl.lit(members[s.DURATION].max()).alias("band_max"),
        ))
    if not parts:
        return pl.DataFrame()
    result = pl.concat(parts)
    return result.select("band", "band_traces", "band_min", "band_max", *keys, *[c for c in result.columns if c not in ("band", "band_traces", "band_min", "band_max", *keys)])


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
