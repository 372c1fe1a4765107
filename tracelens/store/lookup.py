"""Trace-by-id reads: the few rows of one trace out of Parquet files sorted by trace_id.

Data files are immutable, so what a lookup learns about a file is kept in memory: its
parsed footer, the trace_id range of each row group, and an open reader. A lookup then

1. picks the candidate row groups from those ranges (in a compacted table, whose files
   are sorted by trace_id, one group per file the Delta log could not rule out),
2. reads the trace_id column of the candidates alone to see which really hold the trace,
3. decodes only those groups in full and keeps only the trace's rows *in Arrow*, so the
   conversion to polars and everything after it handle a few rows, not a row group.

Footers of these nested schemas are large (~0.35 MB per 8 MB file) and parsing them was
most of a lookup's CPU time; opening a reader (``pq.ParquetFile``) costs ~0.5 ms more.

Flush files are written in arrival order, so every row group spans nearly the whole
trace_id range and step 1 rules nothing out (10 M spans in 10 flush files: 0.45 s of CPU
per lookup, reading every trace_id). The first lookup that finds more than
HASH_INDEX_MIN_ROWS rows in candidate groups of a file reads that file's trace_id column once
and keeps, sorted, a 64-bit key per (trace_id, row group) pair it holds; later
lookups in the file binary-search it and read only the groups it names (a collision
only adds a candidate, which step 2 rules out).

The flush writes that index next to each flush file (``_<file>.tids``, a name Delta
readers skip), from the trace ids it has in memory anyway: a process's first lookup in
today's data then reads those small files and parses the footers of, and reads row groups
from, only the files that may hold the trace. Without them a one-shot ``tracelens show``
parsed every flush file's footer and hashed every trace id of the day (416 ms for 2 M
spans in 32 flush files, ~1.6 s for 10 M). Keys are the trace id's last 16 hex digits as
an integer: stable across processes and versions (they are persisted), and as well spread
as the ids (random, or 64-bit ids zero-padded on the left).
"""

from __future__ import annotations

import bisect
import os
import string
import sys
import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import polars as pl

from tracelens import schema as s

#: a store's first trace lookup reads at most this many files, holding at most this many
#: rows, without the footer index (see RowGroupIndex.read_trace)
PLAIN_LOOKUP_MAX_FILES: Final = 8
PLAIN_LOOKUP_MAX_ROWS: Final = 2_000_000
#: open readers kept (file descriptors); footers are kept for many more files
MAX_OPEN_READERS: Final = 128
#: memory for the index (footers and hash indexes), least recently used files dropped
#: past it (parsed again when needed, ~5 ms per 0.35 MB footer): an unbounded index
#: grows with the store. A parsed footer takes ~8x its serialized size (pyarrow's
#: FileMetaData; 145 MB for the 55 files of a compacted 10 M-span store).
MAX_INDEX_BYTES: Final = 256 * 1024 * 1024
FOOTER_MEMORY_FACTOR: Final = 8
#: see the module docstring: the two groups a trace may straddle in a sorted (compacted)
#: file need no index; a flush file of more than two groups (4k rows each, whose
#: statistics prune nothing) gets one
HASH_INDEX_MIN_ROWS: Final = 8192
#: low bits of a hash index key that hold the row group (so at most 65,536 groups)
GROUP_BITS: Final = 16


@dataclass(slots=True)
class _FileIndex:
    """What is known about one immutable data file."""

    metadata: Any  # pyarrow.parquet.FileMetaData
    lows: list[str | None]  # per row group: min trace_id (None: no statistics)
    highs: list[str | None]
    sizes: list[int]  # rows per row group
    lock: threading.Lock = field(default_factory=threading.Lock)  # one reader call at a time
    hash_keys: Any = None  # numpy uint64, sorted: see _hash_index

    def nbytes(self) -> int:
        """Estimated memory held (what the index budget counts)."""
        held = self.metadata.serialized_size * FOOTER_MEMORY_FACTOR
        return held + (0 if self.hash_keys is None else self.hash_keys.nbytes)

    def hashed_candidates(self, key: int) -> list[int]:
        """Row groups holding a trace whose ``trace_key`` is ``key`` (by the hash index)."""
        import numpy as np

        low = np.uint64(key >> GROUP_BITS << GROUP_BITS)
        high = low | np.uint64((1 << GROUP_BITS) - 1)
        found = self.hash_keys[np.searchsorted(self.hash_keys, low, "left") : np.searchsorted(self.hash_keys, high, "right")]
        return sorted((found & np.uint64((1 << GROUP_BITS) - 1)).astype(np.int64).tolist())

    def candidates(self, trace_id: str) -> list[int]:
        return [
            group
            for group, (low, high) in enumerate(zip(self.lows, self.highs, strict=True))
            if (low is None or low <= trace_id) and (high is None or trace_id <= high)
        ]


def _file_index(path: str) -> _FileIndex:
    import pyarrow.parquet as pq  # here: importing pyarrow costs a one-shot lookup ~0.4 s

    metadata = pq.read_metadata(path)
    column = next((i for i in range(metadata.num_columns) if metadata.schema.column(i).path == s.TRACE_ID), None)
    lows: list[str | None] = []
    highs: list[str | None] = []
    sizes: list[int] = []
    for group in range(metadata.num_row_groups):
        row_group = metadata.row_group(group)
        sizes.append(row_group.num_rows)
        stats = row_group.column(column).statistics if column is not None else None
        if stats is not None and stats.has_min_max:
            lows.append(stats.min)
            highs.append(stats.max)
        else:  # no statistics: always a candidate
            lows.append(None)
            highs.append(None)
    return _FileIndex(metadata, lows, highs, sizes)


def trace_key(ids: pl.Expr) -> pl.Expr:
    """The 64-bit key of each trace id (UInt64): its last 16 hex digits as an integer (0
    for a shorter id or one that is not hex, which only adds candidates)."""
    low = ids.cast(pl.String).str.slice(-16)
    # hex-decoded to 8 bytes read as one big-endian integer: half the CPU of parsing two
    # 8-digit halves (0.14 against 0.30 us per id, which the flush pays)
    as_int = low.str.decode("hex", strict=False).bin.reinterpret(dtype=pl.UInt64, endianness="big")
    return pl.when(low.str.len_bytes() == 16).then(as_int).fill_null(0).cast(pl.UInt64)


def trace_key_of(trace_id: str) -> int:
    """``trace_key`` of one trace id, in plain Python: a one-shot lookup imports neither
    numpy nor runs a polars query for it (~0.14 s in ``tracelens show``)."""
    low = trace_id[-16:]
    return int(low, 16) if len(low) == 16 and all(c in string.hexdigits for c in low) else 0


def trace_keys(ids: pl.Series) -> Any:
    """``trace_key`` of each trace id, as numpy uint64."""
    return pl.select(trace_key(pl.lit(ids))).to_series().to_numpy()


def _hash_index(row_keys: Any, sizes: list[int]) -> Any:
    """The sorted distinct keys of a file's (trace_id, row group) pairs, from the
    ``trace_key`` of every row in file order: an index key is the trace key with its low
    GROUP_BITS bits replaced by the row group. One plain sort of 64-bit integers (~30 ms
    per million rows; an argsort keeping trace keys and groups apart took ~5x that)."""
    import numpy as np

    groups = np.repeat(np.arange(len(sizes), dtype=np.uint64), sizes)
    keys = np.sort((row_keys >> np.uint64(GROUP_BITS) << np.uint64(GROUP_BITS)) | groups)
    fresh = np.ones(keys.shape[0], np.bool_)
    fresh[1:] = keys[1:] != keys[:-1]
    return keys[fresh]


#: a trace index file: this magic, the number of keys (uint64 little-endian), the keys
TRACE_INDEX_MAGIC: Final = b"TLTIDX1\0"


def trace_index_path(data_file: Path) -> Path:
    """Where the trace index of ``data_file`` lives: beside it, named so that Delta
    readers and Hive-style listings skip it (a leading underscore)."""
    return data_file.with_name(f"_{data_file.name}.tids")


def write_trace_index(data_file: Path, trace_ids: pl.Series, sizes: list[int]) -> None:
    """Write (and fsync) the index of ``data_file``, whose rows have ``trace_ids`` in
    file order in row groups of ``sizes`` rows: the sorted distinct (trace key, row
    group) keys of ``_hash_index``. Written under a temporary name and renamed, so a
    reader sees a whole index or none."""
    import numpy as np

    if len(sizes) > 1 << GROUP_BITS or sum(sizes) != trace_ids.len():
        return
    keys = _hash_index(trace_keys(trace_ids), sizes).astype("<u8", copy=False)
    target = trace_index_path(data_file)
    partial = target.with_name(target.name + ".partial")
    with open(partial, "wb") as out:
        out.write(TRACE_INDEX_MAGIC + np.uint64(keys.size).astype("<u8").tobytes())
        out.write(keys.tobytes())
        out.flush()
        os.fsync(out.fileno())
    partial.replace(target)


def read_trace_index(data_file: Path) -> array | None:
    """The keys ``write_trace_index`` wrote for ``data_file`` (sorted, an ``array`` of
    unsigned 64-bit integers: no numpy needed), or None if there is no whole index (files
    flushed before indexes were written, or a damaged one): the lookup then builds it
    from the file."""
    try:
        raw = trace_index_path(data_file).read_bytes()
    except OSError:
        return None
    head = len(TRACE_INDEX_MAGIC) + 8
    if len(raw) < head or raw[: len(TRACE_INDEX_MAGIC)] != TRACE_INDEX_MAGIC:
        return None
    count = int.from_bytes(raw[len(TRACE_INDEX_MAGIC) : head], "little")
    if len(raw) != head + 8 * count:
        return None
    keys = array("Q", raw[head:])
    if sys.byteorder != "little":
        keys.byteswap()
    return keys


def keys_hold(keys: Any, key: int) -> bool:
    """Whether sorted index ``keys`` name any row group for trace key ``key``."""
    at = bisect.bisect_left(keys, key >> GROUP_BITS << GROUP_BITS)
    return at < len(keys) and keys[at] >> GROUP_BITS == key >> GROUP_BITS


def _matching_rows(ids: Any, trace_id: str, sizes: list[int]) -> tuple[list[int], Any]:
    """Of candidate row groups read back to back (their trace_id column ``ids``, group
    sizes ``sizes``): the positions (within ``sizes``) of the groups holding ``trace_id``,
    and the trace's row positions within those groups read back to back."""
    import numpy as np
    import pyarrow.compute as pc

    rows = pc.indices_nonzero(pc.equal(ids, trace_id)).to_numpy().astype(np.int64)
    if rows.size == 0:
        return [], rows
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    group_of_row = np.searchsorted(starts, rows, side="right") - 1
    hit_groups = np.unique(group_of_row)
    # shift each row from its offset among the candidates to its offset among the hits
    hit_starts = np.concatenate([[0], np.cumsum(np.asarray(sizes)[hit_groups])[:-1]])
    shift = starts[hit_groups] - hit_starts
    local = rows - shift[np.searchsorted(hit_groups, group_of_row)]
    return hit_groups.tolist(), local


class RowGroupIndex:
    """Per data file, a ``_FileIndex`` (LRU, at most ``max_index_bytes`` in memory)
    and an open reader (LRU, ``max_open``). ``scan`` is the plain Parquet scan used for a store's first lookup,
    ``schema`` the file schema (the shape of an empty answer)."""

    def __init__(
        self,
        scan: Callable[[list[str]], pl.LazyFrame],
        schema: pl.Schema,
        *,
        max_index_bytes: int = MAX_INDEX_BYTES,
        max_open: int = MAX_OPEN_READERS,
    ) -> None:
        self._scan = scan
        self._schema = schema
        self._max_index_bytes = max_index_bytes
        self._index_bytes = 0
        self._max_open = max_open
        self._files: OrderedDict[str, _FileIndex] = OrderedDict()
        #: path -> (the entry whose lock guards the reader, the reader)
        self._readers: OrderedDict[str, tuple[_FileIndex, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._lookups = 0
        #: path -> the keys of its trace index file, or None where it has none
        self._written_indexes: dict[str, Any] = {}

    def _entry(self, path: str) -> _FileIndex:
        with self._lock:
            entry = self._files.get(path)
            if entry is not None:
                self._files.move_to_end(path)
                return entry
        entry = _file_index(path)
        with self._lock:
            if path in self._files:  # another thread indexed it meanwhile
                return self._files[path]
            self._files[path] = entry
            self._index_bytes += entry.nbytes()
            self._evict()
        return entry

    def retain(self, live: set[str]) -> None:
        """Forget every file not in ``live`` (the table's current data files)."""
        with self._lock:
            for path in [p for p in self._files if p not in live]:
                self._index_bytes -= self._files.pop(path).nbytes()
            for path in [p for p in self._readers if p not in live]:
                del self._readers[path]
            for path in [p for p in self._written_indexes if p not in live]:
                del self._written_indexes[path]

    def _written_index(self, path: str) -> Any:
        """The keys of ``path``'s trace index file (read once), or None."""
        with self._lock:
            if path in self._written_indexes:
                return self._written_indexes[path]
        keys = read_trace_index(Path(path))
        with self._lock:
            self._written_indexes[path] = keys
        return keys

    def _evict(self) -> None:
        """Drop least recently used files past the budget (call under ``self._lock``)."""
        while self._index_bytes > self._max_index_bytes and len(self._files) > 1:
            evicted, old = self._files.popitem(last=False)
            self._index_bytes -= old.nbytes()
            self._readers.pop(evicted, None)  # a reader holds its footer too

    def _add_hash_index(self, path: str, entry: _FileIndex) -> None:
        """Build ``entry``'s hash index (call under ``entry.lock``), from the file's trace
        index file if it has one, and count its bytes."""
        import numpy as np

        written = self._written_index(path)
        keys = None if written is None else np.frombuffer(written, np.uint64)
        if keys is not None and keys.size and int((keys & np.uint64((1 << GROUP_BITS) - 1)).max()) >= len(entry.sizes):
            keys = None  # not the file the footer describes: built from the file below
        if keys is None:
            # keyed inside a polars scan, where reading the strings into Arrow first took
            # ~5x as long
            column = self._scan([path]).select(trace_key(pl.col(s.TRACE_ID))).collect().to_series()
            if column.len() != sum(entry.sizes) or len(entry.sizes) > 1 << GROUP_BITS:
                return  # not the file the footer describes, or too many groups: no index
            keys = _hash_index(column.to_numpy(), entry.sizes)
        with self._lock:
            indexed = self._files.get(path) is entry
            if indexed:
                self._index_bytes -= entry.nbytes()
            entry.hash_keys = keys
            if indexed:
                self._index_bytes += entry.nbytes()
                self._evict()

    def _reader(self, path: str, entry: _FileIndex) -> Any:
        """An open ``pq.ParquetFile`` on ``path`` (call under ``entry.lock``), only ever
        used under that lock: a reader is not thread-safe ("ReadRangeCache did not find
        matching cache entry"), and once ``entry`` is evicted and the file indexed again,
        the new entry has a lock of its own, so it gets a reader of its own too."""
        with self._lock:
            cached = self._readers.get(path)
            if cached is not None and cached[0] is entry:
                self._readers.move_to_end(path)
                return cached[1]
        import pyarrow.parquet as pq

        reader = pq.ParquetFile(path, metadata=entry.metadata)
        with self._lock:
            self._readers[path] = (entry, reader)
            while len(self._readers) > self._max_open:
                # an evicted reader may be in use by another thread: its file closes when
                # the last reference goes, not here
                self._readers.popitem(last=False)
        return reader

    def read_trace(self, paths: list[str], trace_id: str, rows: int | None = None) -> pl.DataFrame:
        """Rows of ``trace_id`` from ``paths`` (file schema; columns a file lacks are left
        out, the caller conforms). A first lookup in few files (a compacted table) is a
        plain Parquet scan pruned by row-group statistics: the footer index only pays off
        from the second lookup on, and building it needs pyarrow, whose import alone is
        half of a one-shot ``tracelens show``. In many files the plain scan decodes every
        candidate row group in full (13 s for 300 flush files against 1.3 s with the
        index), and so it does in big unsorted files (2.3 s of CPU in 5 flush files of 1 M
        spans each): a first lookup where the files hold more than PLAIN_LOOKUP_MAX_ROWS
        (``rows``, from the Delta log) uses the index too."""
        with self._lock:
            self._lookups += 1
            first = self._lookups == 1
        key = trace_key_of(trace_id)
        written = {path: self._written_index(path) for path in paths}
        paths = [path for path in paths if written[path] is None or keys_hold(written[path], key)]
        # a first lookup scans few files plainly: those the index files left (nearly always
        # the one holding the trace), or few and small ones (a compacted table)
        narrowed = all(written[path] is not None for path in paths)
        if first and len(paths) <= PLAIN_LOOKUP_MAX_FILES and (narrowed or rows is None or rows <= PLAIN_LOOKUP_MAX_ROWS):
            return self._scan(paths).filter(pl.col(s.TRACE_ID) == trace_id).collect()
        tables = []
        for path in paths:
            entry = self._entry(path)
            candidates = entry.candidates(trace_id)
            if not candidates:
                continue
            with entry.lock:
                if sum(entry.sizes[g] for g in candidates) > HASH_INDEX_MIN_ROWS:  # statistics prune little
                    if entry.hash_keys is None:
                        self._add_hash_index(path, entry)
                    if entry.hash_keys is not None:
                        allowed = set(candidates)
                        candidates = [g for g in entry.hashed_candidates(key) if g in allowed]
                        if not candidates:
                            continue
                # opened only for files that may hold the trace: a flush file's statistics
                # rule nothing out, and opening a reader for each of them (past
                # MAX_OPEN_READERS, again at every lookup) took ~50 ms a file
                reader = self._reader(path, entry)
                ids = reader.read_row_groups(candidates, columns=[s.TRACE_ID], use_threads=False).column(0)
                hits, rows = _matching_rows(ids, trace_id, [entry.sizes[g] for g in candidates])
                if hits:
                    table = reader.read_row_groups([candidates[i] for i in hits])
                    tables.append(table.take(rows))
        frames = [pl.from_arrow(table) for table in tables]
        frames = [f for f in frames if isinstance(f, pl.DataFrame)]
        if not frames:
            return pl.DataFrame(schema=self._schema)
        return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")
