"""Polars frames as rich tables: durations in ms, rates and shares as percentages.

A view renders what it is given; the column formats are chosen by dtype and by a small
map of column-name suffixes, so analyses can add columns without touching the view.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import polars as pl
from rich.table import Table

PERCENT_COLUMNS = ("error_rate", "share", "pct", "percent", "percent_of_trace")
#: friendlier headers for the column names analyses use
HEADERS = {
    "service_name": "service", "name": "operation", "self_total": "self total", "self_avg": "self avg",
    "self_min": "self min", "self_max": "self max", "percent_of_trace": "% of trace", "error_rate": "error %",
    "rate_per_s": "rate/s", "critical_time": "critical path", "span_count": "spans", "error_count": "errors",
    "self_time": "self time", "total_time": "total time", "traces_on_path": "on path",
    "mean_critical_time_low": "low band: mean", "share_low": "low: share", "mean_critical_time_high": "tail: mean",
    "share_high": "tail: share", "mean_critical_time_delta": "growth", "share_delta": "share growth",
}


def format_value(column: str, value: object) -> str:
    """One cell as text: durations in ms, fractions named like rates as percentages."""
    if value is None:
        return "-"
    if isinstance(value, timedelta):
        ms = value.total_seconds() * 1000
        return f"{ms:,.0f} ms" if abs(ms) >= 10 else f"{ms:,.1f} ms"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        if any(token in column for token in PERCENT_COLUMNS):
            return f"{value * 100:.1f}%"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.2f}" if abs(value) >= 1 or value == 0 else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def frame_table(
    frame: pl.DataFrame,
    *,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    columns: Sequence[str] | None = None,
    caption: str | None = None,
) -> Table:
    """A rich Table of ``frame`` (numbers right-aligned)."""
    names = list(columns or frame.columns)
    table = Table(title=title, caption=caption, show_edge=False, header_style="bold")
    for name in names:
        dtype = frame.schema[name]
        numeric = dtype.is_numeric() or isinstance(dtype, pl.Duration)
        table.add_column((headers or HEADERS).get(name, HEADERS.get(name, name)), justify="right" if numeric else "left", no_wrap=not numeric and name.endswith("id"))
    for row in frame.select(names).iter_rows():
        table.add_row(*(format_value(name, value) for name, value in zip(names, row, strict=True)))
    return table
