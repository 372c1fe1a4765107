"""Synthetic entry-span traffic, generated vectorised (no per-span Python), for alert
scenarios, tests and benchmarks: N requests per minute with an exact number of errors
(and slow requests) per minute, so burn rates are known in advance.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from tracelens import schema as s

_MINUTE_NS = 60_000_000_000


def _ids(prefix: str, n: int, width: int) -> pl.Series:
    """``n`` distinct hex ids: a prefix and a zero-padded decimal counter (decimal digits
    are hex digits), vectorised."""
    digits = width - len(prefix)
    return pl.select(pl.lit(prefix) + pl.int_range(n, dtype=pl.Int64).cast(pl.String).str.pad_start(digits, "0")).to_series()


def entry_spans(
    *,
    service: str,
    start: datetime,
    requests_per_minute: np.ndarray | int,
    errors_per_minute: np.ndarray | int = 0,
    slow_per_minute: np.ndarray | int = 0,
    minutes: int | None = None,
    name: str = "GET /",
    kind: str = "server",
    duration: timedelta = timedelta(milliseconds=50),
    slow_duration: timedelta = timedelta(seconds=2),
    seed: int = 0,
) -> pl.DataFrame:
    """Root SERVER spans of ``service`` ending evenly spread within each minute from
    ``start``; ids are distinct per ``seed``; in minute i the first ``errors_per_minute[i]`` spans have status error and
    the next ``slow_per_minute[i]`` take ``slow_duration``."""
    if minutes is None:
        arrays = [a for a in (requests_per_minute, errors_per_minute, slow_per_minute) if isinstance(a, np.ndarray)]
        if not arrays:
            msg = "give minutes= when every per-minute count is a scalar"
            raise ValueError(msg)
        minutes = len(arrays[0])
    requests = np.broadcast_to(np.asarray(requests_per_minute, dtype=np.int64), (minutes,))
    errors = np.minimum(np.broadcast_to(np.asarray(errors_per_minute, dtype=np.int64), (minutes,)), requests)
    slow = np.minimum(np.broadcast_to(np.asarray(slow_per_minute, dtype=np.int64), (minutes,)), requests - errors)
    n = int(requests.sum())
    minute = np.repeat(np.arange(minutes, dtype=np.int64), requests)
    first_of_minute = np.repeat(np.cumsum(requests) - requests, requests)
    position = np.arange(n, dtype=np.int64) - first_of_minute
    per_minute = np.repeat(requests, requests)
    base_ns = int(start.timestamp() * 1e9)
    end_ns = base_ns + minute * _MINUTE_NS + (position * _MINUTE_NS) // np.maximum(per_minute, 1)
    is_error = position < np.repeat(errors, requests)
    is_slow = (~is_error) & (position < np.repeat(errors + slow, requests))
    duration_ns = np.where(is_slow, int(slow_duration.total_seconds() * 1e9), int(duration.total_seconds() * 1e9))
    frame = pl.DataFrame(
        {
            s.TRACE_ID: _ids(f"a{seed % 10**7:07d}", n, s.TRACE_ID_HEX_LEN),
            s.SPAN_ID: _ids("b", n, s.SPAN_ID_HEX_LEN),
            s.END: end_ns,
            s.START: end_ns - duration_ns,
            "_error": is_error,
        }
    ).with_columns(
        pl.when(pl.col("_error")).then(pl.lit("error")).otherwise(pl.lit("unset")).alias(s.STATUS_CODE),
        pl.col(s.START).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"),
        pl.col(s.END).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"),
        pl.lit(None, dtype=pl.String).alias(s.PARENT_SPAN_ID),
        pl.lit(name).alias(s.NAME),
        pl.lit(kind).alias(s.KIND),
        pl.lit(service).alias(s.SERVICE_NAME),
        pl.lit("").alias(s.STATUS_MESSAGE),
    )
    return s.conform(frame).collect()
