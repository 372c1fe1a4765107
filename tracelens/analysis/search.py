"""Trace search: which traces match, summarised one row each (the `tracelens traces` listing).

Conditions come in two kinds, as in Jaeger's search:

* **span conditions** -- service, operation (span name), a filter expression, a minimum
  span duration, "has an error" -- must all hold on *one* span of the trace;
* **trace conditions** -- minimum / maximum duration of the trace's root span.

The search runs in two passes so that a store of millions of spans is cheap to query:
the first reads only the columns the span conditions need and yields the matching trace
ids; the second summarises only those traces.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

import polars as pl

from tracelens import schema as s

ROOT_SERVICE: Final = "root_service"
ROOT_NAME: Final = "root_name"
ROOT_DURATION: Final = "root_duration"
SPAN_COUNT: Final = "span_count"
ERROR_COUNT: Final = "error_count"
SUMMARY_COLUMNS: Final = (s.TRACE_ID, ROOT_SERVICE, ROOT_NAME, s.START, s.DURATION, ROOT_DURATION, SPAN_COUNT, ERROR_COUNT)
#: user-facing sort names -> summary columns
SORT_COLUMNS: Final = {
    "start": s.START,
    "duration": s.DURATION,
    "spans": SPAN_COUNT,
    "errors": ERROR_COUNT,
    "span_count": SPAN_COUNT,
    "error_count": ERROR_COUNT,
}


@dataclass(frozen=True, slots=True)
class TraceQuery:
    """What to look for; every field is optional (None = no condition)."""

    service: str | None = None
    operation: str | None = None
    where: str | pl.Expr | None = None
    min_span_duration: timedelta | None = None
    error: bool = False
    min_duration: timedelta | None = None  # of the root span
    max_duration: timedelta | None = None

    def span_condition(self) -> pl.Expr | None:
        """The conditions that must hold together on one span, as one expression."""
        parts: list[pl.Expr] = []
        if self.service is not None:
            parts.append(pl.col(s.SERVICE_NAME) == self.service)
        if self.operation is not None:
            parts.append(pl.col(s.NAME) == self.operation)
        if self.min_span_duration is not None:
            parts.append(pl.col(s.DURATION) >= self.min_span_duration)
        if self.error:
            parts.append(pl.col(s.STATUS_CODE) == "error")
        if self.where is not None:
            from tracelens.filters import as_expression

            parts.append(as_expression(self.where))
        return pl.all_horizontal(parts) if parts else None


def trace_summaries(spans: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """One row per trace: the root span's service, name and duration (a span without
    parent, the earliest if several; the earliest span when the root is missing), first
    start, wall-clock duration (last end - first start), span and error counts."""
    root_first = [pl.col(s.PARENT_SPAN_ID).is_not_null(), pl.col(s.START)]
    return (
        spans.lazy()
        .group_by(s.TRACE_ID)
        .agg(
            pl.col(s.SERVICE_NAME).sort_by(root_first).first().alias(ROOT_SERVICE),
            pl.col(s.NAME).sort_by(root_first).first().alias(ROOT_NAME),
            pl.col(s.DURATION).sort_by(root_first).first().alias(ROOT_DURATION),
            pl.col(s.START).min().alias(s.START),
            pl.col(s.END).max().alias(s.END),
            pl.len().cast(pl.Int64).alias(SPAN_COUNT),
            (pl.col(s.STATUS_CODE) == "error").sum().cast(pl.Int64).alias(ERROR_COUNT),
        )
        .with_columns((pl.col(s.END) - pl.col(s.START)).alias(s.DURATION))
        .select(SUMMARY_COLUMNS)
    )


def search_traces(
    spans: pl.LazyFrame | pl.DataFrame,
    query: TraceQuery = TraceQuery(),
    *,
    sort: str = "start",
    descending: bool = True,
    limit: int | None = None,
) -> tuple[pl.DataFrame, int]:
    """The matching traces' summaries, sorted (newest / largest first) and cut to
    ``limit``; and the total number of matching traces before the cut."""
    if sort not in SORT_COLUMNS:
        msg = f"cannot sort traces by {sort!r}; choose one of {sorted(set(SORT_COLUMNS))}"
        raise ValueError(msg)
    lf = spans.lazy()
    condition = query.span_condition()
    if condition is not None:
        matching = lf.filter(condition).select(s.TRACE_ID).unique()
        lf = lf.join(matching, on=s.TRACE_ID, how="semi")
    summary = trace_summaries(lf)
    if query.min_duration is not None:
        summary = summary.filter(pl.col(ROOT_DURATION) >= query.min_duration)
    if query.max_duration is not None:
        summary = summary.filter(pl.col(ROOT_DURATION) <= query.max_duration)
    table = summary.sort(SORT_COLUMNS[sort], s.TRACE_ID, descending=[descending, False]).collect()
    return (table.head(limit) if limit is not None else table), table.height
