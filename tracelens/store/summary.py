"""Per-trace summary rows (the listing behind ``tracelens traces``), as one lazy group-by."""

from __future__ import annotations

from typing import Final

import polars as pl

from tracelens import schema as s

ROOT_SERVICE: Final = "root_service"
ROOT_NAME: Final = "root_name"
SPAN_COUNT: Final = "span_count"
ERROR_COUNT: Final = "error_count"
SUMMARY_COLUMNS: Final = (s.TRACE_ID, ROOT_SERVICE, ROOT_NAME, s.START, s.DURATION, SPAN_COUNT, ERROR_COUNT)
SORT_KEYS: Final = frozenset({s.START, s.DURATION, SPAN_COUNT, ERROR_COUNT, s.TRACE_ID})


def trace_summaries(spans: pl.LazyFrame) -> pl.LazyFrame:
    """One row per trace: the root span's service and name (a span without parent, the
    earliest if several; the earliest span when the root is missing), first start, the
    trace's wall-clock duration (last end - first start), span and error counts."""
    root_first = [pl.col(s.PARENT_SPAN_ID).is_not_null(), pl.col(s.START)]
    return (
        spans.group_by(s.TRACE_ID)
        .agg(
            pl.col(s.SERVICE_NAME).sort_by(root_first).first().alias(ROOT_SERVICE),
            pl.col(s.NAME).sort_by(root_first).first().alias(ROOT_NAME),
            pl.col(s.START).min().alias(s.START),
            pl.col(s.END).max().alias(s.END),
            pl.len().cast(pl.Int64).alias(SPAN_COUNT),
            (pl.col(s.STATUS_CODE) == "error").sum().cast(pl.Int64).alias(ERROR_COUNT),
        )
        .with_columns((pl.col(s.END) - pl.col(s.START)).alias(s.DURATION))
        .select(SUMMARY_COLUMNS)
    )
