"""RED metrics (rate, errors, duration) per service and per operation.

The dimensions and names follow the OpenTelemetry Collector's spanmetrics connector:
its default dimensions are ``service.name``, ``span.name``, ``span.kind`` and
``status.code``; it counts ``calls`` and records a ``duration`` histogram. We report the
same, computed exactly from the spans rather than from histogram buckets:

=================  =============================================================
column             meaning
=================  =============================================================
calls              number of spans in the group
errors             spans with status error
error_rate         errors / calls (0..1)
rate_per_s         calls / the time range covered (seconds)
p50, p95, p99      duration percentiles (Duration; an observed value, no interpolation)
impact             p95 x rate: where shaving latency helps the most requests
=================  =============================================================

By default only *entry* spans count (SERVER and CONSUMER spans, and roots): that is what a
service's callers experience. ``entry_only=False`` counts every span.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from tracelens import schema as s

SERVICE_DIMENSIONS = (s.SERVICE_NAME,)
OPERATION_DIMENSIONS = (s.SERVICE_NAME, s.NAME, s.KIND)
RED_COLUMNS = ("calls", "errors", "error_rate", "rate_per_s", "p50", "p95", "p99", "impact")


def entry_spans(spans: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """SERVER and CONSUMER spans, and roots: the requests a service receives."""
    return spans.lazy().filter(
        pl.col(s.KIND).is_in(["server", "consumer"]) | pl.col(s.PARENT_SPAN_ID).is_null()
    )


def red(
    spans: pl.LazyFrame | pl.DataFrame,
    *,
    by: tuple[str, ...] | str = SERVICE_DIMENSIONS,
    entry_only: bool = True,
    window: tuple[datetime, datetime] | None = None,
) -> pl.DataFrame:
    """RED metrics grouped by ``by`` (column names), sorted by impact, highest first.

    ``window`` is the (start, end) of the time range the rate is computed over; by default
    the span of start times present in the data.
    """
    group = (by,) if isinstance(by, str) else tuple(by)
    lf = entry_spans(spans) if entry_only else spans.lazy()
    if window is not None:
        seconds = pl.lit(max((window[1] - window[0]).total_seconds(), 1e-9))
    else:
        # an aggregate inside with_columns broadcasts over the whole frame
        seconds = ((pl.col(s.START).max() - pl.col(s.START).min()).dt.total_nanoseconds() / 1e9).clip(
            lower_bound=1.0
        )
    aggregated = (
        lf.with_columns(seconds.alias("_seconds"))
        .group_by(list(group))
        .agg(
            pl.len().alias("calls"),
            (pl.col(s.STATUS_CODE) == "error").sum().alias("errors"),
            pl.col(s.DURATION).quantile(0.50, "nearest").alias("p50"),
            pl.col(s.DURATION).quantile(0.95, "nearest").alias("p95"),
            pl.col(s.DURATION).quantile(0.99, "nearest").alias("p99"),
            pl.col("_seconds").first().alias("_seconds"),
        )
        .with_columns(
            (pl.col("errors") / pl.col("calls")).alias("error_rate"),
            (pl.col("calls") / pl.col("_seconds")).alias("rate_per_s"),
        )
        .with_columns((pl.col("p95").dt.total_nanoseconds() / 1e9 * pl.col("rate_per_s")).alias("impact"))
        .select(*group, *RED_COLUMNS)
        .sort(["impact", *group], descending=[True] + [False] * len(group))
    )
    return aggregated.collect()
