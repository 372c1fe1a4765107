"""Bulk trace analysis over columns: one pass of compiled kernels gives the critical
path, self time and path placement of every span of every trace in a frame.

This is the fast path behind ``critical_path``, ``self_time``, ``latency_share`` and
``what_if``; it must agree exactly with the per-trace reference on TraceTree (tests
compare them on random trees). Steps:

1. ids -> integers: 16/32-hex ids are parsed from Arrow buffers into uint64 (a trace id
   is two), 8 characters at a time, a slice of rows at a time; if any id is not
   lowercase hex of the contract's width, exact dense ranks of the strings are used
   instead (slower, same answer);
2. ``group_traces``: rows grouped by trace with a hash table, in order of first appearance;
3. ``analyze_range``: per trace, deduplicate, link parents, cut loops, pick the primary
   root, place spans in their clipped parents, walk, sweep (see _kernels.py).

Threads: every step is a nogil kernel over disjoint rows or traces, so ``threads=N``
(default: numba's thread count for inputs of PARALLEL_MIN_SPANS spans or more) runs
them on N Python threads; the merge steps make the result bit-identical to one thread
(tests/analysis/test_parallel_kernels.py).

Strings are never copied per span: results are scattered back to input row order and
attached to the input frame as columns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

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


class Analysis:
    """Everything one kernel pass found; frames are built on first access.

    ``sections``: critical path (trace_id, span_id, start, end, service_name, name),
    latest first within each trace, traces in order of first appearance.
    ``spans``: the input rows (selected columns) plus trace index, self_time,
    critical_time, path_status and the trace's duration; duplicate rows are marked
    ``duplicate`` and carry no times.
    ``traces``: one row per trace: primary root, duration, span count and data-problem
    counters (the same problems TraceTree reports as warnings).
    """

    def __init__(self, frame: pl.DataFrame, order: np.ndarray, offsets: np.ndarray, start: np.ndarray,
                 end: np.ndarray, results: tuple, span_u64: np.ndarray | None = None, *, threads: int = 1) -> None:
        self.frame = frame
        self.threads = threads  # kernel threads used (the result does not depend on it)
        self._codes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.span_u64 = span_u64  # parsed span ids (row order), None if they were not hex
        self.trace_u64: tuple[np.ndarray, np.ndarray] | None = None  # parsed trace ids (hi, lo) if all were hex
        self.order = order
        self.offsets = offsets
        self.start_ns = start
        self.end_ns = end
        (self.status, self.parent, self.self_time_ns, self.critical_ns, self.root_pos, self.duration_ns,
         self.counts, self.sec_pos, self.sec_start, self.sec_end, self.sec_off,
         self.clipped_start, self.clipped_end) = results

    @property
    def n_traces(self) -> int:
        return int(self.offsets.shape[0] - 1)

    @cached_property
    def sections(self) -> pl.DataFrame:
        if self.sec_pos.shape[0] != int(self.sec_off[-1]):
            msg = "this analysis was run with sections=False"
            raise ValueError(msg)
        section_rows = self.order[self.sec_pos]
        rows = pl.Series(section_rows)
        # the trace id comes from the (small) per-trace column: a local, cheap gather
        trace_of_section = np.repeat(np.arange(self.n_traces, dtype=np.int64), np.diff(self.sec_off))
        if self.span_u64 is not None:  # print the parsed ids again: no string gather
            section_span = self.span_u64[section_rows]
            span_ids = _hex_strings(section_span, section_span, s.SPAN_ID_HEX_LEN)
        else:
            span_ids = self.frame[s.SPAN_ID].gather(rows)
        return pl.DataFrame({
            s.TRACE_ID: self.trace_ids.gather(pl.Series(trace_of_section)),
            s.SPAN_ID: span_ids,
            s.START: _times(self.sec_start),
            s.END: _times(self.sec_end),
            s.SERVICE_NAME: self.column_at(s.SERVICE_NAME, section_rows),
            s.NAME: self.column_at(s.NAME, section_rows),
        })

    def row_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per input row: parent row (-1 for roots, orphans, cut loops, duplicates), trace
        index, critical-path ns (0 for duplicates), duplicate flag -- one pass, on the
        analysis' threads over trace ranges."""
        n = self.order.shape[0]
        parent_row = np.empty(n, np.int64)
        trace_row = np.empty(n, np.int64)
        critical_row = np.empty(n, np.int64)
        duplicate_row = np.empty(n, np.bool_)

        def run(t0: int, t1: int) -> None:
            k.rows_of_positions(t0, t1, self.order, self.offsets, self.parent, self.status, self.critical_ns,
                                parent_row, trace_row, critical_row, duplicate_row)

        run_parallel([lambda r=r: run(*r) for r in _trace_ranges(self.offsets, self.threads)], self.threads)
        return parent_row, trace_row, critical_row, duplicate_row

    def codes(self, column: str) -> tuple[np.ndarray, pl.Series]:
        """Exact dense codes per row of a column (first-appearance order) and the distinct
        values (value c = code c); computed once per column."""
        codes, first = self.first_codes(column)
        return codes, self.frame[column].gather(pl.Series(first))

    def first_codes(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """(code per row, first row of each code) of a column, first-appearance order."""
        if column not in self._codes:
            self._codes[column] = first_codes(self.frame[column])
        return self._codes[column]

    def column_at(self, column: str, rows: np.ndarray) -> pl.Series:
        """Values of a String column at ``rows``: the few distinct values gathered by code
        (one small, cache-resident column) instead of a gather from the whole column."""
        codes, values = self.codes(column)
        return values.gather(pl.Series(codes[rows]))

    @cached_property
    def trace_ids(self) -> pl.Series:
        """trace_id of each trace, by trace index."""
        return self.frame[s.TRACE_ID].gather(pl.Series(self.order[self.offsets[:-1]]))

    @cached_property
    def spans(self) -> pl.DataFrame:
        order = self.order
        status_row = _scatter(order, self.status)
        trace_row = _scatter(order, np.repeat(np.arange(self.n_traces, dtype=np.int64), np.diff(self.offsets)))
        duplicate = pl.Series(status_row == PathStatus.DUPLICATE)
        return self.frame.with_columns(
            pl.Series(TRACE_INDEX, trace_row),
            pl.Series(SELF_TIME, _scatter(order, self.self_time_ns)).cast(s.DURATION_DTYPE),
            pl.Series(CRITICAL_TIME, _scatter(order, self.critical_ns)).cast(s.DURATION_DTYPE),
            pl.Series(PATH_STATUS, list(STATUS_NAMES), dtype=PathStatusEnum).gather(pl.Series(status_row.astype(np.uint32))),
            pl.Series(TRACE_DURATION, self.duration_ns[trace_row]).cast(s.DURATION_DTYPE),
        ).with_columns(
            pl.when(duplicate).then(None).otherwise(pl.col(SELF_TIME)).alias(SELF_TIME),
            pl.when(duplicate).then(None).otherwise(pl.col(CRITICAL_TIME)).alias(CRITICAL_TIME),
        )

    @cached_property
    def traces(self) -> pl.DataFrame:
        root_rows = pl.Series(self.order[self.root_pos])
        span_counts = np.diff(self.offsets) - self.counts[:, k.C_DUPLICATES]
        return pl.DataFrame({
            s.TRACE_ID: self.frame[s.TRACE_ID].gather(root_rows),
            "root_span_id": self.frame[s.SPAN_ID].gather(root_rows),
            "root_service": self.frame[s.SERVICE_NAME].gather(root_rows),
            "root_name": self.frame[s.NAME].gather(root_rows),
            s.START: _times(self.start_ns[self.order[self.root_pos]]),
            s.DURATION: pl.Series(self.duration_ns).cast(s.DURATION_DTYPE),
            "span_count": span_counts,
            **{name: self.counts[:, i] for i, name in enumerate(COUNTER_COLUMNS)},
        }).with_columns(incomplete=pl.col("orphans") > 0)


def _as_frame(spans: pl.DataFrame | pl.LazyFrame, extra: Mapping[str, pl.Expr]) -> pl.DataFrame:
    lf = spans.lazy()
    names = lf.collect_schema().names()
    missing = [c for c in NEEDED if c not in names]
    if missing:
        from tracelens.errors import SchemaError

        msg = f"span frame lacks column(s) {missing} needed for trace analysis"
        raise SchemaError(msg)
    return lf.select(*NEEDED, *(expr.alias(name) for name, expr in extra.items())).collect()


@dataclass(frozen=True, slots=True)
class _StringChunk:
    """One Arrow chunk of a string column as large_string buffers (rows row0..row0+len)."""

    row0: int
    offsets: np.ndarray  # int64, len + 1
    data: np.ndarray  # uint8
    words: np.ndarray  # data as uint64 when 8-byte aligned, else empty

    def __len__(self) -> int:
        return int(self.offsets.shape[0] - 1)


_NO_BYTES = np.zeros(0, np.uint8)
_NO_WORDS = np.zeros(0, np.uint64)
_NO_BYTES.flags.writeable = False  # same (read-only) array types as Arrow's buffers:
_NO_WORDS.flags.writeable = False  # numba compiles one signature


def _string_chunks(series: pl.Series) -> list[_StringChunk]:
    """The column's Arrow chunks as large_string buffers, without combining the chunks
    (a store read has one per file or row group)."""
    arr = series.to_arrow(compat_level=pl.CompatLevel.oldest())
    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    out = []
    row0 = 0
    for chunk in chunks:
        if chunk.type != pa.large_string():
            chunk = chunk.cast(pa.large_string())
        m = len(chunk)
        _, offsets_buf, data_buf = chunk.buffers()
        offsets = np.frombuffer(offsets_buf, np.int64)[chunk.offset : chunk.offset + m + 1]
        data = np.frombuffer(data_buf, np.uint8) if data_buf is not None and data_buf.size else _NO_BYTES
        words = data[: data.shape[0] // 8 * 8].view(np.uint64) if data.ctypes.data % 8 == 0 and data.shape[0] >= 8 else _NO_WORDS
        if m:
            out.append(_StringChunk(row0, offsets, data, words))
        row0 += m
    return out


#: rows converted to Arrow buffers at a time when parsing ids
_SLICE_ROWS = 1 << 18


def _hex_ids(series: pl.Series, width: int, threads: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hi, lo, ok) uint64 halves of fixed-width hex ids; ok is False for nulls/others;
    ``hi`` is a 1-element dummy for 16-wide ids."""
    n = series.len()
    hi = np.zeros(n if width > 16 else 1, np.uint64)  # span ids: lo only
    lo = np.zeros(n, np.uint64)
    ok = np.zeros(n, np.bool_)

    def parse(row0: int, stop: int) -> None:
        # Arrow buffers of one slice at a time: a few MB, reused by the allocator, where
        # the whole column's (hundreds of MB at 10M spans) would be fresh pages to fault in
        for chunk in _string_chunks(series.slice(row0, stop - row0)):
            rows = slice(row0 + chunk.row0, row0 + chunk.row0 + len(chunk))
            k.parse_hex(chunk.data, chunk.words, chunk.offsets, width, hi[rows] if width > 16 else hi, lo[rows], ok[rows])

    step = min(_SLICE_ROWS, max(-(-n // threads), 1))
    run_parallel([lambda a=a: parse(a, min(a + step, n)) for a in range(0, n, step)], threads)
    return hi, lo, ok


def run_parallel(tasks: list, threads: int) -> list:
    """Run the callables (nogil kernels) on up to ``threads`` threads; results in order."""
    if threads <= 1 or len(tasks) <= 1:
        return [task() for task in tasks]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda task: task(), tasks))


def _hex_strings(hi: np.ndarray, lo: np.ndarray, width: int) -> pl.Series:
    offsets, data = k.format_hex(hi, lo, width)
    array = pa.LargeStringArray.from_buffers(lo.shape[0], pa.py_buffer(offsets), pa.py_buffer(data))
    return pl.Series(pl.from_arrow(array))


def _dense_codes(series: pl.Series) -> np.ndarray:
    # order-preserving exact codes: the slow path for ids outside the contract
    return series.rank("dense").fill_null(0).cast(pl.UInt64).to_numpy()


def _id_arrays(frame: pl.DataFrame, threads: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """(trace_hi, trace_lo, span, parent, has_parent, span ids were hex) as integers with
    exact equality."""
    t_hi, t_lo, t_ok = _hex_ids(frame[s.TRACE_ID], s.TRACE_ID_HEX_LEN, threads)
    if not t_ok.all():
        t_hi, t_lo = np.zeros(frame.height, np.uint64), _dense_codes(frame[s.TRACE_ID])
    has_parent = frame[s.PARENT_SPAN_ID].is_not_null().to_numpy()
    _, span, s_ok = _hex_ids(frame[s.SPAN_ID], s.SPAN_ID_HEX_LEN, threads)
    _, parent, p_ok = _hex_ids(frame[s.PARENT_SPAN_ID], s.SPAN_ID_HEX_LEN, threads)
    hex_ok = bool(s_ok.all() and (p_ok | ~has_parent).all())
    if not hex_ok:
        both = _dense_codes(pl.concat([frame[s.SPAN_ID], frame[s.PARENT_SPAN_ID]]))
        span, parent = both[: frame.height].copy(), both[frame.height :].copy()
    return t_hi, t_lo, span, parent, has_parent, hex_ok


def _arg(values: np.ndarray, dtype: type) -> np.ndarray:
    """A read-only C array of ``dtype`` for a kernel input: numba compiles (and caches) one
    signature only, and polars' read-only buffers are not copied (a copy of ten million
    values costs more than the kernel reading them)."""
    out = np.require(values, dtype, ["C"])
    if out.flags.writeable:
        out = out.view()
        out.flags.writeable = False
    return out


def _ns(series: pl.Series) -> np.ndarray:
    return series.dt.epoch("ns").fill_null(0).to_numpy()


def _times(values: np.ndarray) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC")


def _scatter(order: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    out[order] = values
    return out


#: below this many spans the kernels run on one thread (threads cost more than they save)
PARALLEL_MIN_SPANS = 200_000


def default_threads(n_spans: int) -> int:
    """Threads for the kernels on ``n_spans`` spans: numba's thread count (environment
    NUMBA_NUM_THREADS, default: the CPU count) for big inputs, else one."""
    if n_spans < PARALLEL_MIN_SPANS:
        return 1
    import numba

    return max(1, min(int(numba.config.NUMBA_NUM_THREADS), os.cpu_count() or 1))


def _group_traces(t_hi: np.ndarray, t_lo: np.ndarray, threads: int) -> tuple[np.ndarray, np.ndarray]:
    """(order, offsets) of k.group_traces; with several threads, each numbers the traces
    of one range of rows, the numberings are merged (first appearance overall) and each
    thread places its rows: the same answer as one thread."""
    n = t_hi.shape[0]
    if threads <= 1 or n < 2:
        return k.group_traces(t_hi, t_lo)  # type: ignore[no-any-return]
    bounds = [n * i // threads for i in range(threads + 1)]
    parts = run_parallel([lambda a=a, b=b: k.number_traces(t_hi, t_lo, a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)],
                         threads)
    bases = np.cumsum([0] + [p[1].shape[0] for p in parts])
    offsets, start = k.merge_traces(np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts]),
                                    np.concatenate([p[3] for p in parts]))
    order = np.empty(n, np.int64)
    run_parallel([lambda p=p, base=base, a=a: k.fill_order(p[0], base, a, start, order)
                  for p, base, a in zip(parts, bases[:-1], bounds[:-1], strict=True)], threads)
    return order, offsets


def _trace_ranges(offsets: np.ndarray, parts: int) -> list[tuple[int, int]]:
    """``parts`` ranges of trace indexes with about equal span counts (fewer if there are
    fewer traces; one empty range for no traces)."""
    n = int(offsets[-1])
    cuts = np.unique(np.searchsorted(offsets, [n * i // max(parts, 1) for i in range(parts)] + [n], side="left"))
    return [(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:], strict=False) if b > a] or [(0, 0)]


def _analyze_traces(order: np.ndarray, offsets: np.ndarray, arrays: tuple, threads: int,
                    sections: bool = True, clipped: bool = True) -> tuple:
    """k.analyze_traces over trace ranges of about equal span counts, one per thread;
    each range writes its own positions and its sections at 2 * its first position, then
    the sections are packed. Traces are independent, so the answer is the same."""
    n, n_traces = order.shape[0], offsets.shape[0] - 1
    out = k.allocate_outputs(n, n_traces, sections, clipped)
    (status, parent, self_time, critical, cstart, cend, root_pos, duration, counts,
     sec_pos, sec_start, sec_end, sec_off) = out
    ranges = _trace_ranges(offsets, threads)

    def run(t0: int, t1: int) -> int:
        return int(k.analyze_range(t0, t1, 2 * int(offsets[t0]), order, offsets, *arrays, *out[:6],
                                   root_pos, duration, counts, sec_pos, sec_start, sec_end, sec_off))

    ends = run_parallel([lambda r=r: run(*r) for r in ranges], threads)
    # pack the ranges' sections in place (each moves down) and shift their offsets;
    # without sections only the offsets (the counts stay meaningful)
    packed = 0
    for (t0, t1), end in zip(ranges, ends, strict=True):
        base = 2 * int(offsets[t0]) if len(ranges) > 1 else 0
        if base != packed:
            if sections:
                for a in (sec_pos, sec_start, sec_end):
                    a[packed : packed + end - base] = a[base:end]
            sec_off[t0:t1] += packed - base
        packed += end - base
    n_sec = packed
    if sections:
        sec_pos, sec_start, sec_end = sec_pos[:n_sec], sec_start[:n_sec], sec_end[:n_sec]
    sec_off[n_traces] = n_sec
    return (status, parent, self_time, critical, root_pos, duration, counts,
            sec_pos, sec_start, sec_end, sec_off, cstart, cend)


def analyze(spans: pl.DataFrame | pl.LazyFrame, extra: Mapping[str, pl.Expr] | None = None,
            *, threads: int | None = None, sections: bool = True, clipped: bool = True) -> Analysis:
    """Run the kernels over every trace in ``spans`` (span contract).

    ``extra``: more per-span columns to carry into ``Analysis.spans`` (e.g. a grouping
    key computed from attributes). ``threads``: kernel threads (default
    :func:`default_threads`); the result does not depend on it. ``sections=False`` /
    ``clipped=False``: skip the critical-path sections / clipped times (critical time per
    span is still computed) when the caller does not read them -- hundreds of MB at 10M
    spans."""
    frame = _as_frame(spans, extra or {})
    threads = default_threads(frame.height) if threads is None else max(1, int(threads))
    t_hi, t_lo, span, parent, has_parent, hex_ok = _id_arrays(frame, threads)
    order, offsets = _group_traces(_arg(t_hi, np.uint64), _arg(t_lo, np.uint64), threads)
    kind = frame[s.KIND].to_physical().fill_null(0).to_numpy()
    start, end = _ns(frame[s.START]), _ns(frame[s.END])
    arrays = (_arg(span, np.uint64), _arg(parent, np.uint64), _arg(has_parent, np.bool_),
              _arg(start, np.int64), _arg(end, np.int64), _arg(kind, np.uint8))
    results = _analyze_traces(order, offsets, arrays, threads, sections, clipped)
    analysis = Analysis(frame, order, offsets, start, end, results, span if hex_ok else None, threads=threads)
    if hex_ok and t_hi.shape[0] == frame.height and frame.height:
        analysis.trace_u64 = (t_hi, t_lo)
    return analysis


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


def first_codes(column: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Exact dense codes (first-appearance order) of one column, and each code's first row.

    Hash-based: polars hashes the column, a kernel numbers the hashes, and one comparison
    of the column with its distinct values gathered back by code proves there was no
    64-bit collision (else: exact ranks, slower). A Categorical cast costs twice as much."""
    categorical = isinstance(column.dtype, pl.Enum | pl.Categorical)
    keys = column.to_physical().cast(pl.Int64).fill_null(-1) if categorical else column.hash()
    codes, first = k.densify(_arg(keys.to_numpy(), np.uint64))
    if not categorical and not column.eq_missing(column.gather(pl.Series(first)).gather(pl.Series(codes))).all():
        codes, first = k.densify(_arg(_dense_codes(column), np.uint64))  # a 64-bit collision
    return codes, first


def group_codes(frame: pl.DataFrame, keys: list[str], analysis: Analysis | None = None) -> tuple[np.ndarray, pl.DataFrame]:
    """Dense group code per row (first-appearance order) for the key columns, and the
    key values of each group (row g = group g). ``analysis``: reuse its per-column codes."""
    codes, first = analysis.first_codes(keys[0]) if analysis is not None else first_codes(frame[keys[0]])
    for key in keys[1:]:
        key_codes = analysis.first_codes(key)[0] if analysis is not None else first_codes(frame[key])[0]
        combined = (codes.astype(np.uint64) << np.uint64(32)) | key_codes.astype(np.uint64)
        codes, first = k.densify(combined)
    return codes, frame.select(keys)[pl.Series(first)]


@dataclass(frozen=True, slots=True)
class GroupShares:
    """Per (trace, group) sums from group_totals, plus the groups' key values."""

    trace: np.ndarray
    group: np.ndarray
    critical: np.ndarray
    self_time: np.ndarray
    total: np.ndarray
    count: np.ndarray
    duration: np.ndarray
    share: np.ndarray  # NaN where the trace has zero duration
    values: pl.DataFrame  # key columns, row g = group g


def group_shares(analysis: Analysis, keys: list[str]) -> GroupShares:
    codes, values = group_codes(analysis.frame, keys, analysis)
    trace, group, critical, own, total, count = k.group_totals(
        analysis.offsets, analysis.order, codes, values.height, analysis.status, analysis.critical_ns,
        analysis.self_time_ns, _arg(analysis.start_ns, np.int64), _arg(analysis.end_ns, np.int64))
    duration = analysis.duration_ns[trace]
    share = np.full(trace.shape[0], np.nan)
    np.divide(critical, duration, out=share, where=duration > 0)
    return GroupShares(trace, group, critical, own, total, count, duration, share, values)


def share_by_trace(analysis: Analysis, keys: list[str]) -> pl.DataFrame:
    """One row per (trace, group): critical_time, share of the trace's duration,
    self_time, total_time, count; groups in order of appearance within each trace."""
    g = group_shares(analysis, keys)
    return pl.concat(
        [
            pl.DataFrame({TRACE_INDEX: g.trace, s.TRACE_ID: analysis.trace_ids.gather(pl.Series(g.trace))}),
            g.values[g.group],
            pl.DataFrame({
                CRITICAL_TIME: pl.Series(g.critical).cast(s.DURATION_DTYPE),
                "share": pl.Series(g.share).fill_nan(None),
                SELF_TIME: pl.Series(g.self_time).cast(s.DURATION_DTYPE),
                "total_time": pl.Series(g.total).cast(s.DURATION_DTYPE),
                "count": g.count,
                TRACE_DURATION: pl.Series(g.duration).cast(s.DURATION_DTYPE),
            }),
        ],
        how="horizontal",
    )


SUM_COLUMNS = (CRITICAL_TIME, SELF_TIME, "total_time", "count", "traces", "traces_on_path", "_share_sum")


@dataclass(frozen=True, slots=True)
class GroupSums:
    """Mergeable partial result: per-group sums over some traces (merge by adding)."""

    table: pl.DataFrame  # key columns + SUM_COLUMNS
    n_traces: int
    total_duration_ns: int


def group_sums(
    analysis: Analysis, keys: list[str], traces: np.ndarray | None = None, shares: GroupShares | None = None
) -> GroupSums:
    g = shares if shares is not None else group_shares(analysis, keys)
    durations = analysis.duration_ns
    if traces is not None:
        keep = np.isin(g.trace, traces)
        g = GroupShares(g.trace[keep], g.group[keep], g.critical[keep], g.self_time[keep], g.total[keep],
                        g.count[keep], g.duration[keep], g.share[keep], g.values)
        durations = durations[traces]
    critical, own, total, count, present, on_path, share_sum = k.aggregate_groups(
        g.group, g.critical, g.self_time, g.total, g.count, g.share, g.values.height)
    table = pl.concat(
        [
            g.values,
            pl.DataFrame({
                CRITICAL_TIME: pl.Series(critical).cast(s.DURATION_DTYPE),
                SELF_TIME: pl.Series(own).cast(s.DURATION_DTYPE),
                "total_time": pl.Series(total).cast(s.DURATION_DTYPE),
                "count": count,
                "traces": present,
                "traces_on_path": on_path,
                "_share_sum": share_sum,
            }),
        ],
        how="horizontal",
    ).filter(pl.Series(present > 0))
    return GroupSums(table, int(durations.shape[0]), int(durations.sum()))


def merge_group_sums(parts: list[GroupSums], keys: list[str]) -> GroupSums:
    """Add partial results (e.g. of trace-complete batches)."""
    if len(parts) == 1:
        return parts[0]
    table = pl.concat([p.table for p in parts]).group_by(keys, maintain_order=True).agg(pl.col(c).sum() for c in SUM_COLUMNS)
    return GroupSums(table, sum(p.n_traces for p in parts), sum(p.total_duration_ns for p in parts))


def finish_aggregate(sums: GroupSums, keys: list[str]) -> pl.DataFrame:
    """share = critical time / total duration of the traces; mean_share = mean of
    per-trace shares; largest critical time first."""
    share = (
        pl.col(CRITICAL_TIME).dt.total_nanoseconds() / sums.total_duration_ns
        if sums.total_duration_ns else pl.lit(None, pl.Float64)
    )
    mean_share = pl.col("_share_sum") / sums.n_traces if sums.n_traces else pl.lit(None, pl.Float64)
    return (
        sums.table.with_columns(share.alias("share"), mean_share.alias("mean_share"))
        .select(*keys, CRITICAL_TIME, "share", "mean_share", SELF_TIME, "total_time", "count", "traces", "traces_on_path")
        .sort(CRITICAL_TIME, *keys, descending=[True, *([False] * len(keys))], nulls_last=True)
    )


def share_aggregate(
    analysis: Analysis, keys: list[str], traces: np.ndarray | None = None, shares: GroupShares | None = None
) -> pl.DataFrame:
    """Per group over all traces (or the trace indexes in ``traces``): critical_time,
    share (of the traces' total duration), mean_share (mean of per-trace shares),
    self_time, total_time, count, traces (present), traces_on_path. Largest first."""
    return finish_aggregate(group_sums(analysis, keys, traces, shares), keys)


def trace_batches(n: int) -> list[pl.Expr]:
    """``n`` filters that split spans into trace-complete batches by trace-id range
    (lexical ranges of the first two hex digits: parquet statistics can skip files and
    row groups, and every trace falls in exactly one batch)."""
    bounds = [f"{(b * 256) // n:02x}" for b in range(1, n)]
    filters = []
    for b in range(n):
        expr = pl.lit(True)
        if b > 0:
            expr = expr & (pl.col(s.TRACE_ID) >= bounds[b - 1])
        if b < n - 1:
            expr = expr & (pl.col(s.TRACE_ID) < bounds[b])
        filters.append(expr)
    return filters
