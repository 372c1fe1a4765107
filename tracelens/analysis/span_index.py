"""Row-level links between spans of whole traces: parent rows and owning ancestors.

A polars join on (trace_id, parent_span_id) = (trace_id, span_id) costs seconds per ten
million spans on two cores (string keys, then a hash build over both columns). Here the
ids are turned into integers once (trace_id -> dense rank, span ids -> their 64-bit value)
and a numba open-addressing table resolves every parent in one pass; benchmarks/deps.py
measures both.

Every function takes and returns numpy arrays indexed by row; -1 means "no row".
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import numpy.typing as npt
import polars as pl

from tracelens import schema as s

_NONE = np.int64(-1)


@dataclass(frozen=True, slots=True)
class SpanKeys:
    """Integer keys of a span frame: ``trace`` (dense rank of trace_id, >= 1), ``span`` and
    ``parent`` (the 64-bit value of the hex id; 0 = absent or not a valid id)."""

    trace: npt.NDArray[np.uint64]
    span: npt.NDArray[np.uint64]
    parent: npt.NDArray[np.uint64]


def hex_to_u64(column: pl.Expr) -> pl.Expr:
    """A 16-hex-digit id as its 64-bit value; null/invalid ids become 0 (never a valid id)."""
    return column.str.to_integer(base=16, dtype=pl.UInt64, strict=False).fill_null(0)


def span_keys(frame: pl.DataFrame, *, extra_trace_ids: pl.Series | None = None) -> tuple[SpanKeys, npt.NDArray[np.uint64]]:
    """Integer keys for ``frame``; also the dense trace keys of ``extra_trace_ids`` (ranked
    together with the frame's, so equal ids get equal keys), or an empty array."""
    ids = frame[s.TRACE_ID]
    if extra_trace_ids is not None and extra_trace_ids.len():
        ranked = pl.concat([ids, extra_trace_ids.cast(pl.String)]).rank("dense").cast(pl.UInt64).to_numpy()
        trace, extra = ranked[: frame.height], ranked[frame.height :]
    else:
        trace = ids.rank("dense").cast(pl.UInt64).to_numpy()
        extra = np.empty(0, dtype=np.uint64)
    ints = frame.select(
        hex_to_u64(pl.col(s.SPAN_ID)).alias("span"), hex_to_u64(pl.col(s.PARENT_SPAN_ID)).alias("parent")
    )
    keys = SpanKeys(
        trace=np.ascontiguousarray(trace, dtype=np.uint64),
        span=ints["span"].to_numpy().astype(np.uint64, copy=False),
        parent=ints["parent"].to_numpy().astype(np.uint64, copy=False),
    )
    return keys, np.ascontiguousarray(extra, dtype=np.uint64)


@numba.njit(cache=True, inline="always")
def _mix(trace: np.uint64, span: np.uint64) -> np.uint64:
    # splitmix64 finaliser over both keys: spreads sequential ids over the table
    x = span ^ (trace * np.uint64(0x9E3779B97F4A7C15))
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@numba.njit(cache=True)
def _build_table(trace, span):  # type: ignore[no-untyped-def]
    n = trace.shape[0]
    capacity = 16
    while capacity < 2 * n:
        capacity *= 2
    mask = np.uint64(capacity - 1)
    slots = np.full(capacity, -1, dtype=np.int64)
    duplicates = 0
    for i in range(n):
        if span[i] == 0:
            continue
        h = _mix(trace[i], span[i]) & mask
        while True:
            j = slots[h]
            if j < 0:
                slots[h] = i
                break
            if trace[j] == trace[i] and span[j] == span[i]:
                duplicates += 1  # first occurrence wins
                break
            h = (h + np.uint64(1)) & mask
    return slots, duplicates


@numba.njit(cache=True)
def _lookup(slots, trace, span, want_trace, want_span):  # type: ignore[no-untyped-def]
    mask = np.uint64(slots.shape[0] - 1)
    out = np.full(want_trace.shape[0], -1, dtype=np.int64)
    for i in range(want_trace.shape[0]):
        if want_span[i] == 0:
            continue
        h = _mix(want_trace[i], want_span[i]) & mask
        while True:
            j = slots[h]
            if j < 0:
                break
            if trace[j] == want_trace[i] and span[j] == want_span[i]:
                out[i] = j
                break
            h = (h + np.uint64(1)) & mask
    return out


@dataclass(frozen=True, slots=True)
class SpanIndex:
    """Find rows by (trace key, span key). ``duplicates`` counts repeated (trace, span) ids."""

    keys: SpanKeys
    slots: npt.NDArray[np.int64]
    duplicates: int

    def rows(self, trace: npt.NDArray[np.uint64], span: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """Row of each (trace, span) pair, -1 where absent."""
        return _lookup(self.slots, self.keys.trace, self.keys.span, trace, span)  # type: ignore[no-any-return]

    def parent_rows(self) -> npt.NDArray[np.int64]:
        """Row of each span's parent, -1 for roots and for orphans (parent not present)."""
        return self.rows(self.keys.trace, self.keys.parent)


def span_index(keys: SpanKeys) -> SpanIndex:
    slots, duplicates = _build_table(keys.trace, keys.span)
    return SpanIndex(keys=keys, slots=slots, duplicates=int(duplicates))


@numba.njit(cache=True)
def _owners(parent_row, is_entry):  # type: ignore[no-untyped-def]
    n = parent_row.shape[0]
    unknown, visiting = -2, -3
    owner = np.full(n, unknown, dtype=np.int64)
    path = np.empty(n, dtype=np.int64)
    for i in range(n):
        if owner[i] != unknown:
            continue
        depth = 0
        j = i
        result = -1
        while True:
            state = owner[j]
            if state >= -1:
                result = state
                break
            if state == visiting:  # a parent cycle (bad data): treat as ownerless
                result = -1
                break
            if is_entry[j]:
                owner[j] = j
                result = j
                break
            owner[j] = visiting
            path[depth] = j
            depth += 1
            p = parent_row[j]
            if p < 0:
                result = -1
                break
            j = p
        for k in range(depth):
            owner[path[k]] = result
    return owner


def owning_entries(parent_row: npt.NDArray[np.int64], is_entry: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """For every row, the nearest row at or above it (following parents) with ``is_entry``
    set, or -1. Iterative with memoisation: O(rows), no recursion, parent cycles tolerated."""
    return _owners(np.ascontiguousarray(parent_row, dtype=np.int64), np.ascontiguousarray(is_entry, dtype=np.bool_))  # type: ignore[no-any-return]
