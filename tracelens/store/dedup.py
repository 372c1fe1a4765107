"""Exact read-time de-duplication of (trace_id, span_id), cheap when there is nothing to drop.

The table can hold the same span twice (a client re-sending an export, the same file
imported twice, a read racing a flush), and readers must never see it twice. Checking
every read with a first-occurrence mask over the (trace_id, span_id) struct costs far
more than the read itself (benchmarks/read.py: ~14 s on 10 M spans), so reads go in two
steps, both exact:

1. a pre-pass reads only the key columns of the rows the read selects, hashes each row's
   (trace_id, span_id) to one UInt64 and sorts the hashes: two equal keys have equal
   hashes, so rows whose hash occurs once cannot be duplicates. A hash collision only
   makes a row a *suspect*; it never hides a duplicate. Both ids go into the hash: span
   ids alone repeat across traces wherever a generator numbers spans per trace (the
   analysis benchmark's store: every row a suspect, 2.9 GB for the exact pass on 10 M
   spans), which the trace_id costs ~10 % more CPU to rule out.
2. only when there are suspects: their (trace_id, span_id) are compared exactly and the
   rows that are not the first occurrence of their key are dropped by row position. With
   no suspects (nearly every read) the frame is returned untouched, so projections and
   predicates still reach the Parquet scan.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from tracelens import schema as s

ROW: Final = "__tracelens_row"
#: reads expected to yield at most this many rows use the plain first-occurrence mask: it
#: costs ~0.4 us a row, while the pre-pass is a second scan of every file the read touches
#: (a 1 h window of a day partition scans the whole day's ``start`` column)
INLINE_MAX_ROWS: Final = 300_000


def key_hash() -> pl.Expr:
    """One UInt64 per row from (trace_id, span_id): equal keys, equal hashes. Hashed inside
    the scan, the id strings are never materialised (~25 % less CPU than a struct hash of
    collected columns); xor of two differently seeded hashes keeps it one pass."""
    return pl.col(s.SPAN_ID).hash().xor(pl.col(s.TRACE_ID).hash(seed=1))


def suspect_rows(key_hashes: pl.Series) -> pl.Series:
    """Positions of rows whose key hash is not unique: a superset of every row whose
    (trace_id, span_id) occurs more than once. A sort and a neighbour comparison: polars'
    hash-table ``is_duplicated`` is ~20x slower on 10 M distinct UInt64 values."""
    ordered = key_hashes.sort(multithreaded=True)
    repeated = ordered.filter(ordered == ordered.shift(1))
    if repeated.is_empty():
        return pl.Series(ROW, [], dtype=pl.get_index_type())
    return key_hashes.is_in(repeated.unique().implode()).arg_true()


def later_occurrences(keys: pl.DataFrame) -> pl.Series:
    """Of suspect rows (ROW, trace_id, span_id in read order), the positions of those
    that repeat an earlier row's exact key."""
    first = keys.select(pl.struct(s.TRACE_ID, s.SPAN_ID).is_first_distinct()).to_series()
    return keys[ROW].filter(~first)


def repeated_rows(frame: pl.LazyFrame) -> pl.Series:
    """Positions (in frame order) of the rows repeating an earlier row's (trace_id,
    span_id); empty when every key occurs once. Reads ``frame`` once, twice with suspects."""
    suspects = suspect_rows(frame.select(key_hash()).collect().to_series())
    if suspects.is_empty():
        return suspects
    keys = (
        frame.with_row_index(ROW)
        .select(ROW, s.TRACE_ID, s.SPAN_ID)
        .filter(pl.col(ROW).is_in(suspects.implode()))
        .collect()
    )
    return later_occurrences(keys)


def without_duplicates(frame: pl.LazyFrame, expected_rows: int | None = None) -> pl.LazyFrame:
    """``frame`` with only the first occurrence (in frame order) of each (trace_id, span_id).
    A small read (``expected_rows`` <= INLINE_MAX_ROWS) gets the mask in its plan; a big
    one runs the pre-pass now, and is ``frame`` itself when nothing repeats."""
    if expected_rows is not None and expected_rows <= INLINE_MAX_ROWS:
        return frame.filter(pl.struct(s.TRACE_ID, s.SPAN_ID).is_first_distinct())
    drop = repeated_rows(frame)
    if drop.is_empty():
        return frame
    return frame.with_row_index(ROW).filter(~pl.col(ROW).is_in(drop.implode())).drop(ROW)
