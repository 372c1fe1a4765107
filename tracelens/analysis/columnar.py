"""Bulk trace analysis over columns: one pass of compiled kernels gives the critical
path, self time and path placement of every span of every trace in a frame.

This is the fast path behind ``critical_path``, ``self_time``, ``latency_share`` and
``what_if``; it must agree exactly with the per-trace reference on TraceTree (tests
compare them on random trees). Steps:

1. ids -> integers: 16/32-hex ids are parsed from Arrow buffers into uint64 (a trace id
   is two); if any id is not lowercase hex of the contract's width, exact dense ranks of
   the strings are used instead (slower, same answer);
2. ``group_traces``: rows grouped by trace with a hash table, in order of first appearance;
3. ``analyze_traces``: per trace, deduplicate, link parents, cut loops, pick the primary
   root, place spans in their clipped parents, walk, sweep (see _kernels.py).

Strings are never copied per span: results are scattered back to input row order and
attached to the input frame as columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa

from tracelens import schema as s
from tracelens.analysis import _kernels as k
from tracelens.analysis.path_status import STATUS_NAMES, PathStatus

TRACE_INDEX = "_trace"  # position of the span's trace in Analysis.traces
SELF_TIME = "self_time"
CRITICAL_TIME = "critical_time"
PATH_STATUS = "path_status"
TRACE_DURATION = "trace_duration"
PathStatusEnum = pl.Enum(list(STATUS_NAMES))

#: columns of the input the analysis itself needs
NEEDED = (s.TRACE_ID, s.SPAN_ID, s.PARENT_SPAN_ID, s.KIND, s.SERVICE_NAME, s.NAME, s.START, s.END)

COUNTER_COLUMNS = ("duplicates", "orphans", "cycles", "roots", "outside_parent", "non_blocking", "clipped")


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything one kernel pass found.

    ``sections``: critical path (trace_id, span_id, start, end, service_name, name),
    latest first within each trace, traces in order of first appearance.
    ``spans``: the input rows (selected columns) plus trace index, self_time,
    critical_time, path_status and the trace's duration; duplicate rows are marked
    ``duplicate`` and carry no times.
    ``traces``: one row per trace: primary root, duration, span count and data-problem
    counters (the same problems TraceTree reports as warnings).
    """

    sections: pl.DataFrame
    spans: pl.DataFrame
    traces: pl.DataFrame


def _as_frame(spans: pl.DataFrame | pl.LazyFrame, extra: Mapping[str, pl.Expr]) -> pl.DataFrame:
    lf = spans.lazy()
    names = lf.collect_schema().names()
    missing = [c for c in NEEDED if c not in names]
    if missing:
        from tracelens.errors import SchemaError

        msg = f"span frame lacks column(s) {missing} needed for trace analysis"
        raise SchemaError(msg)
    return lf.select(*NEEDED, *(expr.alias(name) for name, expr in extra.items())).collect()


def _arrow_strings(series: pl.Series) -> pa.Array:
    arr = series.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    return arr


def _hex_ids(series: pl.Series, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hi, lo, ok) uint64 halves of fixed-width hex ids; ok is False for nulls/others."""
    n = series.len()
    hi = np.zeros(n, np.uint64)
    lo = np.zeros(n, np.uint64)
    ok = np.zeros(n, np.bool_)
    if n:
        arr = _arrow_strings(series)
        _, offsets_buf, data_buf = arr.buffers()
        offsets = np.frombuffer(offsets_buf, np.int64)[arr.offset : arr.offset + n + 1]
        data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
        k.parse_hex(data, offsets, width, hi, lo, ok)
    return hi, lo, ok


def _dense_codes(series: pl.Series) -> np.ndarray:
    # order-preserving exact codes: the slow path for ids outside the contract
    return series.rank("dense").fill_null(0).cast(pl.UInt64).to_numpy()


def _id_arrays(frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(trace_hi, trace_lo, span, parent, has_parent) as integers with exact equality."""
    t_hi, t_lo, t_ok = _hex_ids(frame[s.TRACE_ID], s.TRACE_ID_HEX_LEN)
    if not t_ok.all():
        t_hi, t_lo = np.zeros(frame.height, np.uint64), _dense_codes(frame[s.TRACE_ID])
    has_parent = frame[s.PARENT_SPAN_ID].is_not_null().to_numpy()
    _, span, s_ok = _hex_ids(frame[s.SPAN_ID], s.SPAN_ID_HEX_LEN)
    _, parent, p_ok = _hex_ids(frame[s.PARENT_SPAN_ID], s.SPAN_ID_HEX_LEN)
    if not s_ok.all() or not (p_ok | ~has_parent).all():
        both = _dense_codes(pl.concat([frame[s.SPAN_ID], frame[s.PARENT_SPAN_ID]]))
        span, parent = both[: frame.height].copy(), both[frame.height :].copy()
    return t_hi, t_lo, span, parent, has_parent


def _arg(values: np.ndarray, dtype: type) -> np.ndarray:
    # one dtype and writeable C arrays: numba compiles (and caches) one signature only
    return np.require(values, dtype, ["C", "W"])


def _ns(series: pl.Series) -> np.ndarray:
    return series.dt.epoch("ns").fill_null(0).to_numpy()


def _times(values: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")


def _scatter(order: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    out[order] = values
    return out


def analyze(spans: pl.DataFrame | pl.LazyFrame, extra: Mapping[str, pl.Expr] | None = None) -> Analysis:
    """Run the kernels over every trace in ``spans`` (span contract).

    ``extra``: more per-span columns to carry into ``Analysis.spans`` (e.g. a grouping
    key computed from attributes)."""
    frame = _as_frame(spans, extra or {})
    t_hi, t_lo, span, parent, has_parent = _id_arrays(frame)
    order, offsets = k.group_traces(_arg(t_hi, np.uint64), _arg(t_lo, np.uint64))
    kind = frame[s.KIND].to_physical().fill_null(0).to_numpy()
    start, end = _ns(frame[s.START]), _ns(frame[s.END])
    (status, _parent, self_time, critical, root_pos, duration, counts,
     sec_pos, sec_start, sec_end, _sec_off) = k.analyze_traces(
        order, offsets, _arg(span, np.uint64), _arg(parent, np.uint64), _arg(has_parent, np.bool_),
        _arg(start, np.int64), _arg(end, np.int64), _arg(kind, np.uint8))
    n_traces = offsets.shape[0] - 1
    trace_of_pos = np.repeat(np.arange(n_traces, dtype=np.int64), np.diff(offsets))

    sec_rows = pl.Series(order[sec_pos])
    sections = pl.DataFrame({
        s.TRACE_ID: frame[s.TRACE_ID].gather(sec_rows),
        s.SPAN_ID: frame[s.SPAN_ID].gather(sec_rows),
        s.START: _times(sec_start),
        s.END: _times(sec_end),
        s.SERVICE_NAME: frame[s.SERVICE_NAME].gather(sec_rows),
        s.NAME: frame[s.NAME].gather(sec_rows),
    })

    status_row = _scatter(order, status)
    duplicate = status_row == PathStatus.DUPLICATE
    trace_row = _scatter(order, trace_of_pos)
    per_span = frame.with_columns(
        pl.Series(TRACE_INDEX, trace_row),
        pl.Series(SELF_TIME, _scatter(order, self_time)).cast(s.DURATION_DTYPE),
        pl.Series(CRITICAL_TIME, _scatter(order, critical)).cast(s.DURATION_DTYPE),
        pl.Series(PATH_STATUS, status_row).cast(pl.UInt32).replace_strict(
            list(range(len(STATUS_NAMES))), list(STATUS_NAMES), return_dtype=PathStatusEnum),
        pl.Series(TRACE_DURATION, duration[trace_row]).cast(s.DURATION_DTYPE),
    )
    if duplicate.any():
        dup = pl.Series(duplicate)
        per_span = per_span.with_columns(
            pl.when(dup).then(None).otherwise(pl.col(SELF_TIME)).alias(SELF_TIME),
            pl.when(dup).then(None).otherwise(pl.col(CRITICAL_TIME)).alias(CRITICAL_TIME),
        )

    root_rows = pl.Series(order[root_pos])
    span_counts = np.diff(offsets) - counts[:, k.C_DUPLICATES]
    traces = pl.DataFrame({
        s.TRACE_ID: frame[s.TRACE_ID].gather(root_rows),
        "root_span_id": frame[s.SPAN_ID].gather(root_rows),
        "root_service": frame[s.SERVICE_NAME].gather(root_rows),
        "root_name": frame[s.NAME].gather(root_rows),
        s.START: _times(start[order[root_pos]]),
        s.DURATION: pl.Series(duration).cast(s.DURATION_DTYPE),
        "span_count": span_counts,
        **{name: counts[:, i] for i, name in enumerate(COUNTER_COLUMNS)},
    }).with_columns(incomplete=pl.col("orphans") > 0)
    return Analysis(sections=sections, spans=per_span, traces=traces)


def self_time_frame(analysis: Analysis) -> pl.DataFrame:
    """(trace_id, span_id, self_time) of every non-duplicate span, grouped by trace."""
    return (
        analysis.spans.with_row_index("_row")
        .filter(pl.col(PATH_STATUS) != "duplicate")
        .sort(TRACE_INDEX, "_row")
        .select(s.TRACE_ID, s.SPAN_ID, SELF_TIME)
    )


def excluded_frame(analysis: Analysis) -> pl.DataFrame:
    """(trace_id, span_id, reason) of spans the critical-path walk cannot visit."""
    off_path = [name for name in STATUS_NAMES if PathStatus[name.upper()] >= PathStatus.OUTSIDE_PARENT and name != "duplicate"]
    return (
        analysis.spans.with_row_index("_row")
        .filter(pl.col(PATH_STATUS).is_in(off_path))
        .sort(TRACE_INDEX, "_row")
        .select(s.TRACE_ID, s.SPAN_ID, pl.col(PATH_STATUS).cast(pl.String).alias("reason"))
    )
