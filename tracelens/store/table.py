"""The span table: a Delta Lake table of Parquet files at ``<data>/table/``, partitioned by day.

The boundary between the span contract and Delta is here and only here:

* Delta has no enums and only microsecond timestamps, so ``kind``/``status_code`` and the
  attribute ``type`` fields are stored as strings and every time/duration as Int64
  nanoseconds; ``schema.conform`` restores the exact contract dtypes on read.
* ``day`` (``YYYY-MM-DD`` of ``start`` in UTC) is the partition column: added on write,
  dropped on read.
* Each flush batch is deduplicated on (trace_id, span_id) and written in arrival order:
  sorting it by trace_id cost more than the whole rest of the Parquet encoding (the row
  gather of the nested columns, and a slower encode of rows from unrelated requests), so
  compaction sorts instead. Row groups stay small and keep trace_id min/max statistics, so
  a lookup in a flush file reads the trace_id column of its groups and decodes only the
  group holding the trace (a request's spans arrive together).
* Exactly-once: each flush commits, atomically with its data, the WAL sequence number it
  covers as a Delta *application transaction* (``txn`` action, the protocol's mechanism for
  idempotent writers) and as commit metadata for humans. On open the store reads it back
  and skips WAL records already in the table.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final, NamedTuple

import polars as pl
from deltalake import CommitProperties, DeltaTable, Transaction, WriterProperties, write_deltalake
from deltalake.transaction import AddAction

from tracelens import schema as s
from tracelens.store.dedup import repeated_rows
from tracelens.store.lookup import RowGroupIndex, trace_index_path, write_trace_index

log = logging.getLogger(__name__)

DAY: Final = "day"
APP_ID: Final = "tracelens-wal"
WAL_SEQ_METADATA: Final = "tracelens.wal_seq"
#: Row groups are the unit Parquet readers skip by min/max statistics; in a file sorted by
#: trace_id a lookup decodes exactly one row group, so small groups make lookups cheap
#: (benchmarks/store.py: 8192 -> 4096 rows halves the lookup time on 10 M spans). A flush
#: file is not sorted, but a request's spans arrive together, so a trace also lives in one
#: group there, which the lookup's hash index finds: on 1 M uncompacted realistic spans
#: (today's data, until compaction), 16k -> 4k rows per group took later lookups from a
#: median of ~150 ms to ~35 ms and first ones from ~300 to ~80 ms, for ~5 % more encode.
FLUSH_ROW_GROUP_ROWS: Final = 4 * 1024
COMPACT_ROW_GROUP_ROWS: Final = 4 * 1024
#: compacted files per day partition cover narrow trace_id ranges, so the Delta log's
#: per-file min/max already picks the one file a trace lives in
COMPACT_TARGET_FILE_BYTES: Final = 8 * 1024 * 1024
COMMIT_RETRIES: Final = 5
#: see _log_unchanged
LOG_MTIME_SLACK_NS: Final = 1_000_000_000
#: the data files (paths relative to the table) checked to hold, together, no duplicate
#: (trace_id, span_id); written by compact(). Any subset of them is duplicate-free too, so
#: it stays true across deletes; a file written later is simply not in it. Delta ignores
#: (and vacuum keeps) files whose name starts with "_".
UNIQUE_FILES: Final = "_tracelens_unique_files.json"
#: flush files: lz4 costs next to nothing over no compression and shrinks them ~10x
#: (68 -> 7 MB per 64k realistic spans); compaction rewrites with zstd (delta-rs)
FLUSH_COMPRESSION: Final = "lz4"
#: flush files carry Parquet row-group statistics only for what readers prune row groups
#: on (the trace lookup's trace_id ranges, scan predicates on service and start): min/max
#: of every nested attribute leaf cost ~1.3 us per span and served nobody
FLUSH_STATISTICS_COLUMNS: Final = (s.TRACE_ID, s.SERVICE_NAME, s.START)
#: sort each flush batch by trace_id (see the module docstring for why not by default)
FLUSH_SORTED: Final = False
#: columns whose min/max/null counts go into the Delta log (file pruning uses them)
STATS_COLUMNS: Final = (s.TRACE_ID, s.SPAN_ID, s.SERVICE_NAME, s.NAME, s.START, s.END, s.DURATION, s.STATUS_CODE)


def plain_dtype(dtype: pl.DataType) -> pl.DataType:
    """The Delta-storable dtype for a contract dtype (enums -> String, times -> Int64 ns)."""
    if isinstance(dtype, pl.Enum | pl.Categorical):
        return pl.String()
    if isinstance(dtype, pl.Datetime | pl.Duration):
        return pl.Int64()
    if isinstance(dtype, pl.List):
        return pl.List(plain_dtype(dtype.inner))
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: plain_dtype(f.dtype) for f in dtype.fields})
    return dtype


#: the columns of the Parquet files (without the partition column, which lives in paths)
FILE_SCHEMA: Final = pl.Schema({name: plain_dtype(dtype) for name, dtype in s.SPAN_SCHEMA.items()})


def day_of(expr: pl.Expr) -> pl.Expr:
    """``YYYY-MM-DD`` (UTC) of a Datetime(ns, UTC) expression: the partition value."""
    return expr.dt.date().cast(pl.String)


def day_string(value: date) -> str:
    return value.isoformat()


def drop_duplicate_spans(frame: pl.DataFrame) -> pl.DataFrame:
    """First row of each (trace_id, span_id). Checking is cheap, the row gather is not, so
    frames without duplicates (nearly all) are returned as they are."""
    first = frame.select(pl.struct(s.TRACE_ID, s.SPAN_ID).is_first_distinct()).to_series()
    return frame if first.all() else frame.filter(first)


def to_table_frame(frame: pl.DataFrame, *, sort: bool = True) -> pl.DataFrame:
    """Contract frame -> what is written: deduplicated, (sorted by trace_id), plain dtypes,
    plus the ``day`` partition column."""
    rows = drop_duplicate_spans(frame).with_columns(day_of(pl.col(s.START)).alias(DAY))
    if sort:
        # (day, trace_id): each day is then a contiguous slice, so splitting into partition
        # files costs nothing more than this one sort (the row gather is the expensive part)
        single_day = rows[DAY].n_unique() <= 1
        rows = rows.sort(s.TRACE_ID if single_day else [DAY, s.TRACE_ID])
    return rows.cast(dict(FILE_SCHEMA))  # type: ignore[arg-type]


def day_slices(rows: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    """(day, rows of that day) for each partition in ``rows``: zero-copy slices when rows
    are grouped by day (to_table_frame's order), a partition_by otherwise."""
    runs = rows.select(pl.col(DAY).rle()).unnest(DAY)
    if runs.height == rows[DAY].n_unique():
        out, offset = [], 0
        for length, day in runs.iter_rows():
            out.append((str(day), rows.slice(offset, length)))
            offset += length
        return out
    return [(str(day), part) for (day,), part in rows.partition_by(DAY, as_dict=True).items()]


def delta_stats(rows: pl.DataFrame) -> str:
    """The Delta ``stats`` JSON of one file: record count and min/max/null counts of the
    columns reads prune on."""
    columns = [c for c in STATS_COLUMNS if c in rows.columns]
    # as stored: contract frames (flushes) have enums and Datetimes, table rows do not
    plain = [pl.col(c).cast(FILE_SCHEMA[c]) for c in columns]
    values = rows.select(
        *[p.min().alias(f"min\0{c}") for p, c in zip(plain, columns, strict=True)],
        *[p.max().alias(f"max\0{c}") for p, c in zip(plain, columns, strict=True)],
        *[pl.col(c).null_count().alias(f"null\0{c}") for c in columns],
    ).row(0)
    n = len(columns)
    return json.dumps(
        {
            "numRecords": rows.height,
            "minValues": dict(zip(columns, values[:n], strict=True)),
            "maxValues": dict(zip(columns, values[n : 2 * n], strict=True)),
            "nullCount": dict(zip(columns, values[2 * n :], strict=True)),
        }
    )


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@functools.cache  # 1.7 ms to build, once per flush commit before; Arrow schemas are immutable
def _arrow_table_schema() -> Any:
    return pl.DataFrame(schema={**FILE_SCHEMA, DAY: pl.String()}).to_arrow().schema


def day_parts(frame: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    """(day, rows of that day) for each partition ``frame`` (contract dtypes, no ``day``
    column) touches. A batch within one day, nearly every flush, costs a min and a max."""
    if frame.height == 0:
        return []
    first, last = frame.select(pl.col(s.START).min().alias("first"), pl.col(s.START).max().alias("last")).row(0)
    if first is not None and last is not None and first.date() == last.date():
        return [(day_string(first.date()), frame)]
    days = frame.select(day_of(pl.col(s.START)).alias(DAY)).to_series()
    return [(str(day), frame.filter(days == day)) for day in days.unique().sort()]


@functools.cache
def _stored_arrow_type(source: Any, stored: Any) -> Any:
    """The Arrow type ``source`` (a column of a contract or table frame) is written as:
    the table's type, except that dictionary (enum) columns stay dictionaries (of Arrow
    strings), and string views stay views. Parquet stores both as plain strings, i.e. the
    same String column for every reader: the dictionaries without first materialising a
    string per value, the views without first copying every string into one buffer."""
    import pyarrow as pa

    if pa.types.is_dictionary(source):
        return pa.dictionary(source.index_type, pa.large_string(), source.ordered)
    if pa.types.is_string_view(source):
        return source
    if pa.types.is_large_list(source) or pa.types.is_list(source):
        inner = _stored_arrow_type(source.value_type, stored.value_type)
        return pa.large_list(pa.field(stored.value_field.name, inner))
    if pa.types.is_struct(source):
        return pa.struct([pa.field(f.name, _stored_arrow_type(f.type, stored.field(f.name).type)) for f in source])
    return stored


@functools.cache  # per distinct source schema (one for decoder frames): ~1 ms to build
def _stored_arrow_schema(source: Any) -> Any:
    import pyarrow as pa

    stored = pl.DataFrame(schema=FILE_SCHEMA).to_arrow().schema
    return pa.schema([f.with_type(_stored_arrow_type(f.type, stored.field(f.name).type)) for f in source])


@functools.cache
def _parquet_writes_string_views() -> bool:
    """Whether this pyarrow's Parquet writer takes string views (it does from about
    pyarrow 21 on; older ones get every column converted to Arrow strings)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pq.write_table(pa.table({"probe": pa.array(["x"], pa.string_view())}), io.BytesIO())
    except (pa.ArrowNotImplementedError, pa.ArrowTypeError, pa.ArrowInvalid):
        return False
    return True


def _arrow_to_write(rows: pl.DataFrame) -> Any:
    """``rows`` as the Arrow table pyarrow's Parquet writer takes at least cost: top-level
    strings as string views, zero-copy from polars (which holds them so), nested columns
    converted to Arrow strings, a copy of each. pyarrow writes top-level views but cannot
    write views inside lists ("Slicing not implemented for StringView", pyarrow 26), and
    converting every column copied each string once more than needed (64k realistic spans,
    medians of 9: 1.1-1.3 -> 0.84 us/span to convert, and the views encode faster)."""
    import pyarrow as pa

    if not _parquet_writes_string_views():
        return rows.to_arrow()
    nested = [name for name, dtype in rows.schema.items() if isinstance(dtype, pl.List | pl.Struct)]
    flat = rows.drop(nested).to_arrow(compat_level=pl.CompatLevel.newest())
    copied = rows.select(nested).to_arrow()
    columns = {name: flat.column(name) for name in flat.column_names} | {name: copied.column(name) for name in nested}
    return pa.table([columns[name] for name in rows.columns], names=rows.columns)


def _dictionary_leaves(arrow_type: Any, path: str) -> list[str]:
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        return [path]
    if pa.types.is_large_list(arrow_type) or pa.types.is_list(arrow_type):
        return _dictionary_leaves(arrow_type.value_type, f"{path}.list.element")  # Parquet's 3-level list names
    if pa.types.is_struct(arrow_type):
        return [leaf for f in arrow_type for leaf in _dictionary_leaves(f.type, f"{path}.{f.name}")]
    return []


@functools.cache
def _dictionary_columns(schema: Any) -> list[str]:
    """Parquet paths of the enum (Arrow dictionary) leaves of ``schema``, e.g.
    ``attributes.list.element.type``: written as dictionary pages, their indices go to
    the file as they are, where plain pages first materialise a string per value (~5 %
    of the flush file's encode, and 10 % of its size, on realistic spans)."""
    return [leaf for f in schema for leaf in _dictionary_leaves(f.type, f.name)]


#: a flush batch whose chunks average fewer rows is rechunked before it is written
MIN_FLUSH_CHUNK_ROWS: Final = 1024


def _fewer_chunks(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` in one chunk if its chunks are small: frames appended one request at a
    time (~500 spans each) cost ~1.5 us/span more to convert (string views -> Arrow
    strings) and encode chunk by chunk. The pre-decoder's chunks (thousands of spans)
    are written as they are: rechunking them only copied every value once more (64k
    realistic spans, medians of 6 interleaved writes: 8k-span chunks 5.9 -> 5.1 us/span,
    4k-span chunks 7.9 -> 6.2)."""
    chunks = rows.n_chunks()
    return rows.rechunk() if chunks > 1 and rows.height < chunks * MIN_FLUSH_CHUNK_ROWS else rows


def write_flush_file(rows: pl.DataFrame, target: Path | BinaryIO, row_group_rows: int) -> list[int]:
    """Write one Parquet data file of ``rows`` (contract or table dtypes, no ``day``) with
    pyarrow, tuned for the flush path (benchmarks/ingest.py, 64k realistic spans, 2 cores):
    no dictionary pages for ids and attribute values (hashing high-cardinality strings
    bought ~20 % size for ~0.5 us/span), enums as dictionary pages straight from their
    Arrow dictionaries, row-group statistics only where reads prune, times cast to Int64
    in Arrow (zero-copy), no Arrow schema in the footer (the file's columns are plain
    Parquet strings and ints, as Delta and every reader expect). Polars' writer, cast to
    those plain types first, was no faster (64k realistic spans, 2026-11-26: 4.5-4.9 vs
    4.9-5.1 us/span); without the cast its enum columns do not match the readers' schema.
    Returns the rows of each row group written."""
    import pyarrow.parquet as pq

    table = _arrow_to_write(_fewer_chunks(rows))
    table = table.cast(_stored_arrow_schema(table.schema))
    pq.write_table(
        table,
        target,
        row_group_size=row_group_rows,
        compression=FLUSH_COMPRESSION,
        use_dictionary=_dictionary_columns(table.schema),
        write_statistics=[c for c in FLUSH_STATISTICS_COLUMNS if c in rows.columns],
        store_schema=False,
        metadata_collector=(written := []),
    )
    return [written[0].row_group(group).num_rows for group in range(written[0].num_row_groups)]


def warm_up_writer() -> None:
    """Import and run the flush file writer once: pyarrow and the compute and Parquet
    modules it loads on first use cost ~0.4 CPU-s, which a server should pay at start,
    not in its first flush under load (py-spy: 12 % of the GIL's samples in a loaded
    server's first seconds went to pyarrow.compute's import-time function wrappers)."""
    write_flush_file(pl.DataFrame(schema=s.SPAN_SCHEMA), io.BytesIO(), FLUSH_ROW_GROUP_ROWS)
    _arrow_table_schema()


def from_table_frame(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Table rows -> the span contract (drops ``day``, restores enums and times)."""
    return s.conform(frame)


@dataclass(frozen=True, slots=True)
class FileFilter:
    """What a read needs; used to prune files by partition value and column statistics.
    Times are Int64 nanoseconds since the epoch, days ``YYYY-MM-DD`` strings (inclusive)."""

    first_day: str | None = None
    last_day: str | None = None
    start_from_ns: int | None = None
    start_before_ns: int | None = None
    trace_id: str | None = None
    service: str | None = None


def prune_files(actions: pl.DataFrame, wanted: FileFilter) -> pl.DataFrame:
    """Rows of the add-action frame whose partition and min/max statistics may hold rows
    matching ``wanted`` (missing statistics never prune)."""
    keep = pl.lit(True)
    day = pl.col(f"partition.{DAY}")
    if wanted.first_day is not None:
        keep &= day >= wanted.first_day
    if wanted.last_day is not None:
        keep &= day <= wanted.last_day
    for column, value in ((s.TRACE_ID, wanted.trace_id), (s.SERVICE_NAME, wanted.service)):
        if value is not None and f"min.{column}" in actions.columns:
            low, high = pl.col(f"min.{column}"), pl.col(f"max.{column}")
            keep &= (low.is_null() | (low <= value)) & (high.is_null() | (high >= value))
    if "min.start" in actions.columns:
        low, high = pl.col("min.start"), pl.col("max.start")
        if wanted.start_before_ns is not None:
            keep &= low.is_null() | (low < wanted.start_before_ns)
        if wanted.start_from_ns is not None:
            keep &= high.is_null() | (high >= wanted.start_from_ns)
    return actions.filter(keep)


def row_filter(wanted: FileFilter, start: pl.Expr | None = None) -> pl.Expr:
    """The same filter on rows (pushed into the Parquet scan). ``start`` is the span start
    as ns since the epoch: the file schema's column by default; contract frames (Datetime)
    pass ``pl.col(START).dt.epoch("ns")``."""
    start = pl.col(s.START) if start is None else start
    keep = pl.lit(True)
    if wanted.trace_id is not None:
        keep &= pl.col(s.TRACE_ID) == wanted.trace_id
    if wanted.service is not None:
        keep &= pl.col(s.SERVICE_NAME) == wanted.service
    if wanted.start_from_ns is not None:
        keep &= start >= wanted.start_from_ns
    if wanted.start_before_ns is not None:
        keep &= start < wanted.start_before_ns
    return keep


class Scan(NamedTuple):
    frame: pl.LazyFrame
    unique: bool  # the files read hold no (trace_id, span_id) twice between them
    expected_rows: int  # an estimate, for choosing how to read


def expected_rows(chosen: pl.DataFrame, wanted: FileFilter) -> int:
    """Rows the ``chosen`` files should yield for ``wanted``'s time range: each file's row
    count times the share of its [min, max] start range the range covers (spans spread
    evenly); the service filter is ignored (an overestimate)."""
    rows = pl.col("num_records").cast(pl.Float64)
    if "min.start" not in chosen.columns or (wanted.start_from_ns is None and wanted.start_before_ns is None):
        return int(chosen.select(rows.sum()).item() or 0)
    low, high = pl.col("min.start"), pl.col("max.start")
    start = pl.max_horizontal(low, pl.lit(wanted.start_from_ns)) if wanted.start_from_ns is not None else low
    stop = pl.min_horizontal(high, pl.lit(wanted.start_before_ns)) if wanted.start_before_ns is not None else high
    # nanosecond ranges taken inclusively, so a file whose spans all start at once counts
    share = ((stop - start + 1).cast(pl.Float64) / (high - low + 1).cast(pl.Float64)).clip(0.0, 1.0).fill_null(1.0)
    return int(chosen.select((rows * share).sum()).item() or 0)


def _scan_files(paths: list[str]) -> pl.LazyFrame:
    return pl.scan_parquet(
        paths,
        schema=FILE_SCHEMA,
        hive_partitioning=False,
        missing_columns="insert",  # files written before a contract column was added
        extra_columns="ignore",
    )


def _log_mark(table_path: Path) -> tuple[int, int] | None:
    """(mtime ns, inode) of the Delta log directory: every commit, checkpoint or log
    cleanup adds, renames or removes an entry in it, which updates its mtime."""
    try:
        stat = os.stat(table_path / "_delta_log")
    except FileNotFoundError:
        return None
    return stat.st_mtime_ns, stat.st_ino


def _log_unchanged(mark: tuple[int, int] | None, seen: tuple[tuple[int, int], int] | None) -> bool:
    """Whether the log is as it was at the last look: same mark, and that mark older than
    the look by more than LOG_MTIME_SLACK_NS (timestamps come from a coarse clock, so a
    commit in the same tick as the look could leave the mtime unchanged)."""
    if mark is None or seen is None:
        return False
    seen_mark, looked_at = seen
    return mark == seen_mark and mark[0] < looked_at - LOG_MTIME_SLACK_NS


class WrittenFile(NamedTuple):
    """A data file written but not committed: plain values (``add_action`` makes the Delta
    action), so that a worker process can return it."""

    relative: str
    size: int
    day: str
    stats: str


def write_files(table_path: Path, parts: list[tuple[str, pl.DataFrame]], row_group_rows: int) -> list[WrittenFile]:
    """One fsync'd data file per (day, rows without the ``day`` column)."""
    files = []
    for day, data in parts:
        relative = f"{DAY}={day}/part-{uuid.uuid4().hex}.{FLUSH_COMPRESSION}.parquet"
        target = table_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        groups = write_flush_file(data, target, row_group_rows)
        _fsync_path(target)
        write_trace_index(target, data[s.TRACE_ID], groups)
        _fsync_path(target.parent)
        files.append(WrittenFile(relative, target.stat().st_size, str(day), delta_stats(data)))
    return files


def stage_files(table_path: Path, frame: pl.DataFrame, row_group_rows: int, *, sort: bool = FLUSH_SORTED) -> tuple[list[WrittenFile], int]:
    """The data files of ``frame`` (deduplicated within itself, one per day), not committed;
    and the number of rows they hold."""
    rows = drop_duplicate_spans(frame)
    if sort:
        rows = rows.sort(s.TRACE_ID)
    return write_files(table_path, day_parts(rows), row_group_rows), rows.height


def remove_orphan_trace_indexes(table_path: Path) -> int:
    """Delete the trace index files whose data file is gone (vacuumed), and any left half
    written by a crash (call between flushes); returns how many. Delta's vacuum keeps
    files whose name starts with an underscore."""
    removed = 0
    for index in table_path.glob(f"{DAY}=*/_*.tids*"):
        if index.name.endswith(".partial") or not index.with_name(index.name[1 : -len(".tids")]).exists():
            index.unlink(missing_ok=True)
            removed += 1
    return removed


def add_action(file: WrittenFile) -> AddAction:
    return AddAction(file.relative, file.size, {DAY: file.day}, int(time.time() * 1000), True, file.stats)


class Staged(NamedTuple):
    """Data files written by ``SpanTable.stage``, not yet committed."""

    actions: list[AddAction]
    rows: int


def staged_files(files: list[WrittenFile], rows: int) -> Staged:
    """``stage_files``' (or a flush worker's) result as Delta add actions to commit."""
    return Staged([add_action(file) for file in files], rows)


def merged_staged(parts: list[Staged]) -> Staged:
    """Staged files of several ``stage`` calls, to be committed together."""
    return Staged([action for part in parts for action in part.actions], sum(part.rows for part in parts))


class SpanTable:
    """Delta table of spans. Safe for one writer process plus any number of readers; within
    a process, methods are serialised by a lock (delta-rs table objects are not shared)."""

    def __init__(self, path: Path, *, row_group_rows: int = FLUSH_ROW_GROUP_ROWS) -> None:
        self.path = path
        self._lock = threading.RLock()
        self._table: DeltaTable | None = None
        self._log_seen: tuple[tuple[int, int], int] | None = None  # (log mark, when looked at)
        self._actions: tuple[int, pl.DataFrame] | None = None
        self.row_group_rows = row_group_rows
        self._row_groups = RowGroupIndex(_scan_files, FILE_SCHEMA)
        self._unique_files: tuple[tuple[int, int, int], frozenset[str]] | None = None
        # long-lived layout written by delta-rs (compaction): zstd, small row groups
        self.writer_properties = WriterProperties(
            max_row_group_size=COMPACT_ROW_GROUP_ROWS, compression="ZSTD", compression_level=1
        )

    # --- snapshot ---------------------------------------------------------------------
    def exists(self) -> bool:
        return DeltaTable.is_deltatable(str(self.path))

    def refresh(self) -> DeltaTable | None:
        """The latest snapshot (loaded once, then advanced incrementally); None if no table.
        A log directory provably unchanged since the last look is not listed again (a
        ``stat`` instead of ~2.5 ms of log listing on every read of a quiet table)."""
        with self._lock:
            looked_at = time.time_ns()
            mark = _log_mark(self.path)
            if self._table is None:
                if not self.exists():
                    return None
                self._table = DeltaTable(str(self.path))
            elif _log_unchanged(mark, self._log_seen):
                return self._table
            else:
                self._table.update_incremental()
            self._log_seen = None if mark is None else (mark, looked_at)
            return self._table

    def flushed_seq(self) -> int:
        """The last WAL sequence number the table holds (0 for a new table)."""
        with self._lock:
            table = self.refresh()
            if table is None:
                return 0
            return int(table.transaction_version(APP_ID) or 0)

    def add_actions(self) -> pl.DataFrame:
        """One row per live data file: path, size, rows, partition, min/max statistics."""
        with self._lock:
            table = self.refresh()
            if table is None:
                return pl.DataFrame()
            version = table.version()
            if self._actions is None or self._actions[0] != version:
                self._actions = (version, pl.DataFrame(table.get_add_actions(flatten=True)))
                # files compaction or retention removed: close their cached readers, whose
                # open descriptors would keep vacuumed files' disk space
                root = self.path.resolve()
                paths = self._actions[1]["path"].to_list() if not self._actions[1].is_empty() else []
                self._row_groups.retain({str(root / p) for p in paths})
            return self._actions[1]

    # --- writing ----------------------------------------------------------------------
    def write(self, frame: pl.DataFrame, wal_seq: int | None, *, sort: bool = FLUSH_SORTED) -> int:
        """Append a contract frame (deduplicated within itself) in one Delta commit that also
        records ``wal_seq`` (None: a bulk load that did not come through the WAL, e.g.
        ``tracelens import``; the table's WAL mark stays as it is). Returns the number of
        rows written.

        Files are written by pyarrow (``write_flush_file``) straight from the contract
        frame and fsync'd, then committed with their statistics as Delta add actions; the
        commit file is fsync'd too, because the caller deletes WAL data next."""
        staged = self.stage(frame, sort=sort)
        self.commit(staged, wal_seq)
        return staged.rows

    def stage(self, frame: pl.DataFrame, *, sort: bool = FLUSH_SORTED) -> Staged:
        """Write the data files of ``frame`` (deduplicated within itself) without adding them
        to the table: no lock is held, so several threads can encode at once, and
        ``commit`` makes them visible. Until then no reader lists them, and retention
        leaves them alone (its vacuum is not ``full``: it deletes only files the log removed)."""
        return staged_files(*stage_files(self.path, frame, self.row_group_rows, sort=sort))

    def discard(self, staged: list[Staged]) -> None:
        """Delete staged files that will not be committed (best effort: a file left behind
        is never listed by the log, so it is only wasted space)."""
        for part in staged:
            for action in part.actions:
                (self.path / action.path).unlink(missing_ok=True)
                trace_index_path(self.path / action.path).unlink(missing_ok=True)

    def commit(self, staged: Staged, wal_seq: int | None) -> None:
        with self._lock:
            self._commit(staged.actions, wal_seq)

    def _commit(self, actions: list[AddAction], wal_seq: int | None) -> None:
        """One Delta append commit of written files (+ the WAL mark), made durable."""
        if wal_seq is None:
            properties = CommitProperties(max_commit_retries=COMMIT_RETRIES)
        else:
            properties = CommitProperties(
                custom_metadata={WAL_SEQ_METADATA: str(wal_seq)},
                app_transactions=[Transaction(app_id=APP_ID, version=wal_seq)],
                max_commit_retries=COMMIT_RETRIES,
            )
        table = self._table_for_append()
        table.create_write_transaction(
            actions, mode="append", schema=_arrow_table_schema(), partition_by=[DAY], commit_properties=properties
        )
        table.update_incremental()
        self._sync_log(table.version())

    def _table_for_append(self) -> DeltaTable:
        # The writer process is the table's only writer and refreshes after each of its own
        # commits, so a loaded snapshot is current: skipping the log listing saves ~12 ms
        # per flush on a long log (an append would survive a stale snapshot anyway: delta-rs
        # retries appends on a newer version, they never conflict).
        table = self._table if self._table is not None else self.refresh()
        if table is None:
            table = DeltaTable.create(str(self.path), schema=_arrow_table_schema(), partition_by=[DAY], mode="ignore")
            self._table = table
        return table

    def _sync_log(self, version: int) -> None:
        log_dir = self.path / "_delta_log"
        commit = log_dir / f"{version:020d}.json"
        if commit.exists():
            _fsync_path(commit)
            _fsync_path(log_dir)

    def write_rows(self, rows: pl.DataFrame) -> None:
        """Append already-prepared table rows (``to_table_frame`` output) without a WAL mark:
        for bulk loads (benchmarks) that bypass the WAL entirely."""
        with self._lock:
            parts = [(day, part.drop(DAY)) for day, part in day_slices(rows)]
            self._commit(staged_files(write_files(self.path, parts, self.row_group_rows), rows.height).actions, None)

    # --- reading ----------------------------------------------------------------------
    def scan(self, wanted: FileFilter = FileFilter()) -> pl.LazyFrame:
        """Rows matching ``wanted`` as a contract LazyFrame. Files are chosen from the Delta
        log (partition values + statistics), rows by a predicate Polars pushes into the
        Parquet row groups."""
        return self.scan_checked(wanted)[0]

    def scan_checked(self, wanted: FileFilter = FileFilter()) -> Scan:
        """``scan(wanted)``, whether the files it reads are known to hold no duplicate
        (trace_id, span_id) between them (all listed in UNIQUE_FILES), and how many rows
        it should yield (from the Delta log's statistics, before reading anything)."""
        actions = self.add_actions()
        if actions.is_empty():
            return Scan(from_table_frame(pl.LazyFrame(schema=FILE_SCHEMA)), True, 0)
        chosen = prune_files(actions, wanted)
        if chosen.is_empty():
            return Scan(from_table_frame(pl.LazyFrame(schema=FILE_SCHEMA)), True, 0)
        relative = chosen["path"].to_list()
        unique = set(relative) <= self.unique_files()
        root = self.path.resolve()
        paths = [str(root / p) for p in relative]
        if wanted.trace_id is not None:
            rows = self._row_groups.read_trace(paths, wanted.trace_id, int(chosen["num_records"].sum()))
            return Scan(from_table_frame(rows.lazy().filter(row_filter(wanted))), unique, rows.height)
        frame = from_table_frame(_scan_files(paths).filter(row_filter(wanted)))
        return Scan(frame, unique, expected_rows(chosen, wanted))

    def unique_files(self) -> frozenset[str]:
        """The files listed in UNIQUE_FILES (empty if none): re-read only when it changes."""
        target = self.path / UNIQUE_FILES
        try:
            stat = target.stat()
        except FileNotFoundError:
            return frozenset()
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        cached = self._unique_files
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            files = frozenset(json.loads(target.read_text())["files"])
        except (OSError, ValueError, KeyError, TypeError) as exc:  # unreadable: trust nothing
            log.warning("ignoring %s: %s", target, exc)
            files = frozenset()
        self._unique_files = (key, files)
        return files

    def certify_unique(self) -> bool:
        """Check exactly that the live files hold no (trace_id, span_id) twice and, if so,
        list them in UNIQUE_FILES (atomically), so reads of them skip de-duplication.
        Holds the table lock: no file can be added between the check and the record."""
        with self._lock:
            actions = self.add_actions()
            relative = [] if actions.is_empty() else actions["path"].to_list()
            root = self.path.resolve()
            keys = _scan_files([str(root / p) for p in relative]).select(s.TRACE_ID, s.SPAN_ID) if relative else None
            if keys is not None and not repeated_rows(keys).is_empty():
                return False
            target = self.path / UNIQUE_FILES
            scratch = target.with_name(f"{UNIQUE_FILES}.{uuid.uuid4().hex}.tmp")
            scratch.write_text(json.dumps({"files": sorted(relative)}))
            _fsync_path(scratch)
            os.replace(scratch, target)
            _fsync_path(self.path)
            return True

    def days(self) -> list[str]:
        actions = self.add_actions()
        if actions.is_empty():
            return []
        return sorted(actions[f"partition.{DAY}"].unique().to_list())

    # --- maintenance ------------------------------------------------------------------
    def duplicate_count(self, day: str) -> int:
        """Rows in partition ``day`` beyond the first of each (trace_id, span_id)."""
        keys = self.scan(FileFilter(first_day=day, last_day=day)).select(s.TRACE_ID, s.SPAN_ID)
        counts = keys.select(pl.len().alias("rows"), pl.struct(s.TRACE_ID, s.SPAN_ID).n_unique().alias("unique")).collect()
        return int(counts["rows"][0] - counts["unique"][0])

    def files_per_day(self) -> dict[str, int]:
        """Live data files per day partition."""
        actions = self.add_actions()
        if actions.is_empty():
            return {}
        per_day = actions.group_by(f"partition.{DAY}").agg(pl.len().alias("files")).sort(f"partition.{DAY}")
        return dict(per_day.iter_rows())

    def compact(self, days: Collection[str] | None = None) -> dict[str, Any]:
        """Per day partition (all, or those in ``days``): a partition with duplicates is
        rewritten deduplicated and sorted by trace_id (one overwrite commit scoped to that
        day); a partition of several files is z-ordered by trace_id (delta-rs optimize),
        which also bins small files together."""
        report: dict[str, Any] = {"rewritten_days": [], "zordered_days": [], "duplicates_removed": 0}
        per_day = self.files_per_day()
        if not per_day:
            return report
        for day, files in per_day.items():
            if days is not None and day not in days:
                continue
            duplicates = self.duplicate_count(day)
            if duplicates:
                self._rewrite_day(day)
                report["rewritten_days"].append(day)
                report["duplicates_removed"] += duplicates
            elif files > 1:
                with self._lock:
                    table = self.refresh()
                    assert table is not None
                    table.optimize.z_order(
                        [s.TRACE_ID],
                        partition_filters=[(DAY, "=", day)],
                        target_size=COMPACT_TARGET_FILE_BYTES,
                        writer_properties=self.writer_properties,
                    )
                report["zordered_days"].append(day)
        with self._lock:
            self.refresh()
            self.certify_unique()  # cross-day repeats (same span, another day) keep it unlisted
        return report

    def _rewrite_day(self, day: str) -> None:
        frame = self.scan(FileFilter(first_day=day, last_day=day)).collect()
        rows = to_table_frame(frame)
        with self._lock:
            table = self.refresh()
            assert table is not None
            write_deltalake(
                table,
                rows.to_arrow(),
                partition_by=[DAY],
                mode="overwrite",
                predicate=f"{DAY} = '{day}'",
                writer_properties=self.writer_properties,
                commit_properties=CommitProperties(custom_metadata={"tracelens.operation": "dedup-rewrite"}),
            )
            self.refresh()

    def delete_days_before(self, day: str) -> int:
        """Delete every partition strictly older than ``day``, then vacuum the files away.
        Returns the number of data files removed."""
        with self._lock:
            table = self.refresh()
            if table is None:
                return 0
            old = [d for d in self.days() if d < day]
            if not old:
                return 0
            metrics = table.delete(predicate=f"{DAY} < '{day}'")
            # retention 0: the point is that old data is really gone from disk. A reader
            # holding a snapshot from before the delete may then miss files; it re-reads.
            table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
            self.refresh()
            remove_orphan_trace_indexes(self.path)
            return int(metrics.get("num_removed_files", 0))

    def stats(self) -> dict[str, Any]:
        actions = self.add_actions()
        if actions.is_empty():
            return {
                "table_last_commit_time": None,
                "table_files": 0,
                "table_bytes": 0,
                "table_rows": 0,
                "table_version": None,
                "table_days": 0,
            }
        table = self.refresh()
        last_commit = None
        if table is not None:
            history = table.history(1)
            if history and "timestamp" in history[0]:
                last_commit = datetime.fromtimestamp(history[0]["timestamp"] / 1000, UTC)
        return {
            "table_last_commit_time": last_commit,
            "table_files": actions.height,
            "table_bytes": int(actions["size_bytes"].sum()),
            "table_rows": int(actions["num_records"].sum()),  # before read-time dedup
            "table_version": table.version() if table is not None else None,
            "table_days": actions[f"partition.{DAY}"].n_unique(),
        }
