"""The span store: a write-ahead log in front of a Delta Lake table, read as one LazyFrame.

Data dir layout::

    <data>/LOCK       held (flock) by the one writer process; readers never take it
    <data>/wal/       write-ahead log segments (tracelens.store.wal)
    <data>/table/     Delta Lake table, partitioned by day (tracelens.store.table)

Write path: ``append`` encodes the frame as Arrow IPC, appends it to the WAL and returns
once it is fsync'd (group commit); the committed frame is also kept in memory, queued for
the flusher. ``append_otlp`` (the receiver's protobuf path) logs the raw request instead,
tagged, and replay decodes it again. The flusher moves queued frames into the table in batches, each commit
carrying the WAL sequence number it covers; then the covered WAL segments are deleted.

Read path: ``spans`` = table files pruned by the Delta log + unflushed WAL frames,
filtered, deduplicated on (trace_id, span_id). The WAL side is captured *before* the table
snapshot, so a flush racing with a read can only make a span visible twice (removed by the
dedup), never zero times.
"""

from __future__ import annotations

import fcntl
import io
import itertools
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import polars as pl

from tracelens import schema as s
from tracelens.config import DATA_DIR_ENV, DEFAULT_DATA_DIR, StoreConfig
from tracelens.errors import SchemaError, StoreError, TraceNotFoundError
from tracelens.store import wal as walmod
from tracelens.store.dedup import without_duplicates
from tracelens.store.summary import SORT_KEYS, trace_summaries
from tracelens.store.table import FileFilter, SpanTable, Staged, day_string, merged_staged, staged_files, warm_up_writer
from tracelens.store.table import row_filter as table_row_filter
from tracelens.store.timerange import TimeLike, parse_duration, parse_time, to_ns

log = logging.getLogger(__name__)

WAL_DIR: Final = "wal"
TABLE_DIR: Final = "table"
LOCK_FILE: Final = "LOCK"
#: test hook: set to "after-table-commit" to SIGKILL the process between a flush's table
#: commit and its WAL cleanup (the exactly-once crash test uses it from a subprocess)
CRASH_POINT_ENV: Final = "TRACELENS_STORE_CRASH_POINT"
IPC_COMPRESSION: Final = "uncompressed"  # benchmarks/store.py: lz4 costs more CPU than it saves I/O
#: leading bytes of a WAL payload that is a raw OTLP protobuf request (IPC frames start
#: with b"ARROW1", so the two record types cannot be confused)
OTLP_PROTOBUF_TAG: Final = b"TLOTLPB1"
SPAN_COLUMNS: Final = list(s.SPAN_SCHEMA)
#: memory of a decoded frame per byte of its OTLP request (benchmarks/workload.py requests:
#: 62.4 MB of frames from 28.3 MB of protobuf): sizes the flush queue without walking
#: every frame's buffers (``DataFrame.estimated_size`` cost ~0.3 ms per 512-span request)
DECODED_BYTES_PER_REQUEST_BYTE: Final = 2.2


def encode_frame(frame: pl.DataFrame) -> bytes:
    """A contract frame as Arrow IPC bytes (enums travel as dictionaries, dtypes exact)."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression=IPC_COMPRESSION)
    return buffer.getvalue()


def encode_otlp_record(body: bytes) -> tuple[bytes, bytes]:
    """A WAL payload holding a raw (decompressed) OTLP ExportTraceServiceRequest: tag + body,
    as two parts the WAL writes back to back (no copy of the body: a request is hundreds
    of KB, and a join copied it with the GIL held). An Arrow IPC frame would cost an
    encode and ~4x the bytes."""
    return (OTLP_PROTOBUF_TAG, body)


def decode_otlp_record(body: bytes | memoryview) -> pl.DataFrame:
    """The spans of a raw OTLP record: the receiver's decoder is deterministic, so decoding
    again gives exactly the spans it accepted (rejected ones are rejected again)."""
    from tracelens.ingest import decode_otlp_protobuf  # only replay and readers need it

    return decode_otlp_protobuf(bytes(body)).spans


def queued_bytes(payload: bytes | memoryview) -> int:
    """What a WAL record's frame counts for in the flush queue (batch size, overload
    threshold): an IPC frame is about its own size; a raw OTLP record's frame is estimated
    from the request's size, as appending does."""
    if payload[: len(OTLP_PROTOBUF_TAG)] == OTLP_PROTOBUF_TAG:
        return otlp_queued_bytes(len(payload))
    return len(payload)


def otlp_queued_bytes(record_bytes: int) -> int:
    """``queued_bytes`` of a raw OTLP record of ``record_bytes`` (tag included)."""
    return int(record_bytes * DECODED_BYTES_PER_REQUEST_BYTE)


def decode_frame(payload: bytes) -> pl.DataFrame:
    """Inverse of encode_frame / encode_otlp_record (by the payload's leading tag); frames
    written by an older contract are conformed."""
    if payload[: len(OTLP_PROTOBUF_TAG)] == OTLP_PROTOBUF_TAG:
        frame = decode_otlp_record(memoryview(payload)[len(OTLP_PROTOBUF_TAG) :])
    else:
        frame = pl.read_ipc(io.BytesIO(payload))
    if frame.schema != s.SPAN_SCHEMA:
        frame = s.conform(frame).collect()
    return frame


def _crash_point(name: str) -> None:
    if os.environ.get(CRASH_POINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _normalise_trace_id(trace_id: str | None) -> str | None:
    # ids are lowercase hex in the contract; users paste them from anywhere
    return None if trace_id is None else trace_id.strip().lower()


#: ``_Queued.decoder``: nobody yet; the pre-decoder (the flusher waits for it); the flusher
#: (the pre-decoder leaves it alone: the flusher took it, or the pre-decoder gave up on it)
FREE, PREDECODER, FLUSHER = 0, 1, 2
#: how often a flusher waiting for the pre-decoder checks that it is still alive
PREDECODE_WAIT_SECONDS: Final = 0.5


@dataclass(slots=True)
class _Queued:
    """A durable WAL record waiting for the flusher: a frame, or a raw OTLP request the
    receiver validated without building its frame. Those are decoded when flushed, many
    together (``_queued_frames``), or when read (and then kept)."""

    seq: int
    frame: pl.DataFrame | None
    nbytes: int
    spans: int
    body: bytes | None = None
    #: the pre-decoder's frame that ``frame`` is a slice of (see _queued_frames)
    batch: pl.DataFrame | None = None
    #: who decodes ``body`` for the flusher: FREE, PREDECODER or FLUSHER (see Store._claim)
    decoder: int = FREE

    def decoded(self) -> pl.DataFrame:
        if self.frame is None:
            assert self.body is not None
            self.frame = decode_otlp_record(self.body)  # racing readers decode the same frame
        return self.frame


def _queued_frames(items: list[_Queued]) -> list[pl.DataFrame]:
    """The frames of queued records, in order; runs of raw OTLP requests are decoded
    together, which spreads the fixed cost of building a frame over many requests."""
    from tracelens.ingest import decode_otlp_protobuf_batch

    frames: list[pl.DataFrame] = []
    for raw, run in itertools.groupby(items, key=lambda item: item.frame is None and item.body is not None):
        if raw:
            frames.append(decode_otlp_protobuf_batch([item.body for item in run]))
        else:
            frames.extend(_whole_batches(list(run)))
    return frames


def _whole_batches(items: list[_Queued]) -> Iterator[pl.DataFrame]:
    """The frames of decoded items, a pre-decoded batch as one frame wherever all of its
    slices are here in order: the flush file is then written from the batch's few big
    chunks, where the per-request slices made one small chunk each and a rechunk copy."""
    i = 0
    while i < len(items):
        batch = items[i].batch
        if batch is not None:
            end, rows = i, 0
            while end < len(items) and items[end].batch is batch and rows < batch.height:
                rows += items[end].spans
                end += 1
            if end > i and rows == batch.height:
                yield batch
                i = end
                continue
        yield items[i].decoded()
        i += 1


#: threads that write a flush round, one file each, committed together: a round takes up
#: to this many flush batches (``flush_batch_bytes`` each) and shares them out equally
FLUSH_WRITERS: Final = 2


#: a flush round shares its records between the writers only if each gets this share of
#: ``flush_batch_bytes`` at least: a light load's flushes stay one file each
MIN_SHARED_BATCH_FRACTION: Final = 8


def _flush_batches(queue: Iterable[_Queued], batch_bytes: int, count: int) -> list[list[_Queued]]:
    """One flush round: the records at the front of ``queue``, up to ``count`` batches of
    ``batch_bytes``, in up to ``count`` consecutive batches of about equal size, one per
    writer. Equal shares keep both writers busy when a burst's last round is under two full
    batches (one writer wrote it alone while the other core idled)."""
    taken: list[_Queued] = []
    total = 0
    for item in queue:
        if taken and total + item.nbytes > batch_bytes * count:
            break
        taken.append(item)
        total += item.nbytes
    parts = max(1, min(count, len(taken), total // max(1, batch_bytes // MIN_SHARED_BATCH_FRACTION)))
    share = total / parts
    batches: list[list[_Queued]] = []
    batch: list[_Queued] = []
    size = 0
    for item in taken:
        if batch and size + item.nbytes / 2 > share and len(batches) < parts - 1:  # nearer with it than without
            batches.append(batch)
            batch, size = [], 0
        batch.append(item)
        size += item.nbytes
    return [*batches, batch] if batch else batches


def _batch_frame(batch: list[_Queued]) -> pl.DataFrame:
    frames = _queued_frames(batch)
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical", rechunk=False)


#: after a burst, how long the backlog must stop growing before its tail is flushed
DRAIN_PAUSE_SECONDS: Final = 0.05

#: raw requests the pre-decoder turns into frames at a time (~8k spans: the decoder's fixed
#: cost is spread, and the flusher rarely waits for a long decode to finish)
PREDECODE_REQUESTS: Final = 16


#: how far ahead of the flusher the pre-decoder decodes, in flush batches from the front of
#: the queue: one flush round. Decoding the whole backlog of a burst held every decoded frame
#: in memory at once, and each fresh page costs a page fault (~3 us here); within a bounded
#: window the memory the last flush freed is reused, and the writer threads decode the rest
#: themselves (benchmarks/ingest.py --requests 720 --repeat 3, medians gRPC/HTTP: whole
#: backlog 17.2/15.4 us of server CPU per span, ~235k page faults, peak RSS 1.1-1.3 GiB;
#: one round 15.3/14.5 us, ~175k faults, ~1.0 GiB; two rounds were no better than the whole)
PREDECODE_AHEAD_BATCHES: Final = FLUSH_WRITERS


def _predecode_run(queue: Iterable[_Queued], ahead_bytes: int) -> list[_Queued]:
    """The pre-decoder's next run: up to PREDECODE_REQUESTS raw requests that nobody
    decodes yet, among the records in the first ``ahead_bytes`` of the queue."""
    run: list[_Queued] = []
    size = 0
    for item in queue:
        if size and size + item.nbytes > ahead_bytes:
            break
        size += item.nbytes
        if item.decoder == FREE and item.frame is None and item.body is not None:
            run.append(item)
            if len(run) == PREDECODE_REQUESTS:
                break
    return run


def _predecode(items: list[_Queued]) -> None:
    """Decode the raw OTLP requests of ``items`` together and give each its rows (zero-copy
    slices of the one frame, by the span counts validation gave). If the counts disagree
    with the frame, nothing is kept: the flusher decodes those items itself."""
    from tracelens.ingest import decode_otlp_protobuf_batch

    frame = decode_otlp_protobuf_batch([item.body for item in items if item.body is not None])
    expected = sum(item.spans for item in items)
    if frame.height != expected:
        log.warning("pre-decoded %d spans where validation counted %d; the flusher decodes them", frame.height, expected)
        return
    offset = 0
    for item in items:
        if item.frame is None:  # a reader or the flusher may have decoded it meanwhile
            item.frame, item.batch = frame.slice(offset, item.spans), frame
        offset += item.spans


@dataclass(frozen=True, slots=True)
class _Window:
    since: datetime | None
    until: datetime | None
    service: str | None
    trace_id: str | None

    def file_filter(self) -> FileFilter:
        return FileFilter(
            first_day=day_string(self.since.date()) if self.since else None,
            last_day=day_string(self.until.date()) if self.until else None,
            start_from_ns=to_ns(self.since) if self.since else None,
            start_before_ns=to_ns(self.until) if self.until else None,
            trace_id=self.trace_id,
            service=self.service,
        )

    def row_filter(self) -> pl.Expr:
        """The window on contract frames (the unflushed WAL part): the table's row filter."""
        return table_row_filter(self.file_filter(), start=pl.col(s.START).dt.epoch("ns"))



def closed_days_to_compact(files_per_day: dict[str, int], today: str) -> list[str]:
    """Days before ``today`` (UTC, "YYYY-MM-DD") that are more than one file: flushes
    write a file per batch, and reads of a day are fastest as one file sorted by trace_id.
    A day of one file is a single flush (no duplicates inside, a flush de-duplicates) or
    already compacted. Today is left alone: it still grows, and rewriting it all day long
    would cost more than the reads it speeds up."""
    return sorted(day for day, files in files_per_day.items() if day < today and files > 1)

class Store:
    """Durable span store over a data directory. ``Store.open(path)`` to write (one writer
    process per directory), ``Store.open(path, read_only=True)`` / ``tracelens.open(path)``
    to read, also while a server writes."""

    def __init__(self, path: Path, config: StoreConfig, *, read_only: bool) -> None:
        self.path = Path(path)
        self.config = config
        self.read_only = read_only
        self._table = SpanTable(self.path / TABLE_DIR)
        self._wal: walmod.WriteAheadLog | None = None
        self._lock_fd: int | None = None
        self._state = threading.Lock()
        self._flush_lock = threading.Lock()
        self._retrying = False  # the previous flush attempt raised
        self._queue: deque[_Queued] = deque()
        self._backlog_bytes = 0
        self._flushed_seq = 0
        self._wakeup = threading.Event()
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._predecoder: threading.Thread | None = None
        self._writers: ThreadPoolExecutor | None = None  # see _stage_batches
        self._processes: ProcessPoolExecutor | None = None  # see _stage_in_workers
        self._predecode_wakeup = threading.Event()
        self._predecoded = threading.Condition(self._state)  # a pre-decoder run ended (see _claim)
        self._closed = False
        self._counters = {
            "flushes": 0,
            "spans_flushed": 0,
            "spans_loaded": 0,  # written by load() (imports), not through the WAL
            "flush_errors": 0,
            "compactions": 0,
            "undecodable_records": 0,
            "replayed_records": 0,
            "replayed_spans": 0,
        }
        self._last_flush: datetime | None = None
        self._last_retention: float | None = None  # monotonic time of the last run
        self._last_compaction: float | None = None  # monotonic time of the last check
        self._decoded: dict[int, tuple[bytes, pl.DataFrame]] = {}  # read-only: WAL seq -> frame

    # --- opening ----------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | os.PathLike[str], config: StoreConfig | None = None, *, read_only: bool = False) -> Store:
        """Open (creating it when writable) the store in ``path``. A writable open replays
        the WAL: records not yet in the table are queued again; a corrupt tail is reported
        in a warning and ``stats()['wal_corrupt_tails']`` and cut off."""
        store = cls(Path(path), config or StoreConfig(path=Path(path)), read_only=read_only)
        if read_only:
            if not store.path.is_dir():
                msg = f"no span store at {store.path}"
                raise StoreError(msg)
            return store
        try:
            store._open_for_writing()
        except BaseException:
            store._release_lock()
            raise
        return store

    def _open_for_writing(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        self._flushed_seq = self._table.flushed_seq()
        wal = walmod.WriteAheadLog(
            self.path / WAL_DIR,
            fsync=self.config.fsync,
            max_segment_bytes=self.config.max_wal_segment_bytes,
            group_commit_seconds=self.config.group_commit_seconds,
            on_commit=self._queue_committed,
        )
        records = wal.recover(after_seq=self._flushed_seq)
        for record in records:
            frame = self._decode_or_count(record)
            if frame is not None:
                nbytes = queued_bytes(record.payload)
                self._queue.append(_Queued(record.seq, frame, nbytes, frame.height))
                self._backlog_bytes += nbytes
                self._counters["replayed_spans"] += frame.height
        self._counters["replayed_records"] = len(records)
        wal.delete_through(self._flushed_seq)
        self._wal = wal
        if records:
            log.info(
                "replayed %d WAL record(s) (%d spans) not yet in the table", len(records), self._counters["replayed_spans"]
            )

    def _decode_or_count(self, record: walmod.WalRecord) -> pl.DataFrame | None:
        try:
            return decode_frame(record.payload)
        except Exception as exc:  # a CRC-valid record we cannot read: keep going, say so
            self._counters["undecodable_records"] += 1
            log.warning("WAL record seq %d passed its CRC but is not a readable frame: %s", record.seq, exc)
            return None

    def _acquire_lock(self) -> None:
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            msg = f"span store {self.path} is already open for writing by another process (pid {holder or '?'})"
            raise StoreError(msg) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    # --- writing ----------------------------------------------------------------------
    def _writable_wal(self) -> walmod.WriteAheadLog:
        """The WAL, or StoreError if this store cannot be written (read-only or closed)."""
        if self.read_only or self._wal is None:
            msg = f"span store {self.path} is open read-only"
            raise StoreError(msg)
        if self._closed:
            msg = f"span store {self.path} is closed"
            raise StoreError(msg)
        return self._wal

    def _check_writable(self) -> None:
        """StoreError unless this store can be written (for writers that skip the WAL)."""
        self._writable_wal()

    def append(self, frame: pl.DataFrame) -> None:
        """Make ``frame`` (span contract) durable; returns once it is fsync'd in the WAL.
        Thread-safe: concurrent callers share fsyncs (group commit)."""
        wal = self._writable_wal()
        if frame.schema != s.SPAN_SCHEMA:
            msg = "append() needs a span-contract frame:\n  - " + "\n  - ".join(s.problems(frame))
            raise SchemaError(msg)
        if frame.height == 0:
            return
        wal.announce()
        try:
            payload = encode_frame(frame)
        except BaseException:
            wal.retract()
            raise
        wal.append(payload, (frame, len(payload), frame.height, None), announced=True)

    def load(self, frame: pl.DataFrame) -> int:
        """Write ``frame`` (span contract) straight into the table in one commit, bypassing
        the WAL; returns the rows written. For bulk loads whose source stays on disk
        (``tracelens import``): the WAL exists so that an acknowledged request survives a
        crash, and a file being imported is its own durable copy. A crash before the commit
        leaves nothing of this frame (import again); spans loaded twice are deduplicated on
        read and removed by compaction. Thread-safe: concurrent loads encode their files in
        parallel; commits are serialised with the flusher's (and compaction's).

        Costs a Parquet encode and a commit, where ``append`` also encodes an Arrow IPC
        record, writes and fsyncs it, and later flushes it (benchmarks/import_analysis.py)."""
        self._check_writable()
        if frame.schema != s.SPAN_SCHEMA:
            msg = "load() needs a span-contract frame:\n  - " + "\n  - ".join(s.problems(frame))
            raise SchemaError(msg)
        if frame.height == 0:
            return 0
        staged = self._table.stage(frame)  # the Parquet encode: concurrent loads overlap here
        with self._flush_lock:  # never inside a flush or a compaction's rewrite of a day
            self._table.commit(staged, wal_seq=None)
        with self._state:
            self._counters["spans_loaded"] += staged.rows
        return staged.rows

    def append_otlp(self, body: bytes, spans: pl.DataFrame | int) -> None:
        """Like ``append(spans)``, for spans the caller got from
        ``tracelens.ingest.decode_otlp_protobuf(body)``: the WAL keeps ``body`` itself (a copy
        instead of an Arrow IPC encode, ~4x fewer bytes to fsync); replay after a crash and
        read-only readers decode ``body`` again, which yields the same spans.

        ``spans`` is the decoded frame (it goes to the flusher as it is), or just the number
        of spans ``tracelens.ingest.validate_otlp_protobuf(body)`` accepted: the flusher then
        decodes the request, together with its neighbours in the queue (the receiver's path:
        the acknowledgement waits for the validation and the fsync, not for a frame)."""
        wal = self._writable_wal()
        if isinstance(spans, int):
            frame, count = None, spans
        else:
            # the decoder builds contract frames by construction; comparing full dtypes (enum
            # categories included) costs ~0.3 ms per request with the GIL held, names ~3 us
            if spans.columns != SPAN_COLUMNS:
                msg = "append_otlp() needs a span-contract frame:\n  - " + "\n  - ".join(s.problems(spans))
                raise SchemaError(msg)
            frame, count = spans, spans.height
        if count == 0:
            return
        body = bytes(body)  # kept in the queue until flushed: it must not change under us
        # the queue is sized by the decoded frame (what the flusher holds in memory and
        # writes), so flush batches and the overload threshold mean what they did for IPC
        nbytes = otlp_queued_bytes(len(OTLP_PROTOBUF_TAG) + len(body))
        wal.append(encode_otlp_record(body), (frame, nbytes, count, None if frame is not None else body))

    def _queue_committed(self, batch: list[tuple[int, Any]]) -> None:
        """WAL commit callback (in seq order): hand durable frames to the flusher."""
        with self._state:
            for seq, (frame, nbytes, spans, body) in batch:
                self._queue.append(_Queued(seq, frame, nbytes, spans, body))
                self._backlog_bytes += nbytes
            full = self._backlog_bytes >= self.config.flush_batch_bytes
        self._predecode_wakeup.set()
        if full:
            self._wakeup.set()

    def backlog_bytes(self) -> int:
        """WAL bytes not yet flushed into the table (the receiver's overload signal)."""
        if self.read_only:
            return sum(len(r.payload) for r in self._unflushed_records_on_disk()[0])
        with self._state:
            return self._backlog_bytes

    def flush(self) -> int:
        """Move every span queued at call time into the table; returns spans written."""
        self._check_writable()
        with self._state:
            target = self._queue[-1].seq if self._queue else 0
        written = 0
        while True:
            with self._state:
                if not self._queue or self._queue[0].seq > target:
                    return written
            written += self._flush_batch()

    def _flush_batch(self) -> int:
        """One table commit of queued frames up to ``flush_batch_bytes``."""
        with self._flush_lock:
            if self._retrying:
                # the failed attempt may have committed before its error (e.g. an fsync of
                # the log failing): what the table's mark covers is done, never rewritten
                self._mark_flushed(self._table.flushed_seq())
            with self._state:
                batches = _flush_batches(self._queue, self.config.flush_batch_bytes, FLUSH_WRITERS)
            if not batches:
                self._retrying = False
                return 0
            self._claim([item for batch in batches for item in batch])
            self._retrying = True
            staged = self._stage_batches(batches)
            self._table.commit(staged, wal_seq=batches[-1][-1].seq)
            self._retrying = False
            _crash_point("after-table-commit")
            self._mark_flushed(batches[-1][-1].seq)
            return staged.rows

    def _claim(self, items: list[_Queued]) -> None:
        """Make the flusher the decoder of the raw requests in ``items`` that are not decoded
        yet, after waiting for those the pre-decoder is decoding. Each request is then
        decoded once: before, the flusher decoded whatever was not ready while the
        pre-decoder decoded the same requests (and later decoded even those the flusher had
        already written): 39 of 720 requests decoded twice in benchmarks/ingest.py, 133
        with two writers. The rest are claimed before the wait, so the pre-decoder starts
        no new run among them: it took run after run of the round while the flusher waited,
        which decoded a round on one thread before two wrote it."""
        with self._state:
            for item in items:
                if item.decoder == FREE and item.frame is None:
                    item.decoder = FLUSHER
        with self._predecoded:
            while any(item.decoder == PREDECODER and item.frame is None for item in items):
                if self._predecoder is None or not self._predecoder.is_alive():
                    break  # stopped mid-run (close): nobody else will decode them
                self._predecoded.wait(PREDECODE_WAIT_SECONDS)
            for item in items:
                if item.frame is None:
                    item.decoder = FLUSHER

    def _stage_batches(self, batches: list[list[_Queued]]) -> Staged:
        """The data files of each batch, written at once by a thread each (the first by
        this one). Decoding what the pre-decoder has not, and the Parquet encode, run
        mostly without the GIL, so a backlog drains on every core: with one writer a
        draining server used 0.8-1.3 of 2 cores (benchmarks/ingest.py --timeline)."""
        if self._processes is not None and all(item.body is not None for batch in batches for item in batch):
            return self._stage_in_workers(batches)
        if len(batches) == 1:
            return self._table.stage(_batch_frame(batches[0]))
        if self._writers is None:
            self._writers = ThreadPoolExecutor(FLUSH_WRITERS - 1, thread_name_prefix="tracelens-writer")
        futures = [self._writers.submit(lambda b=b: self._table.stage(_batch_frame(b))) for b in batches[1:]]
        try:
            first: Staged | BaseException = self._table.stage(_batch_frame(batches[0]))
        except Exception as exc:  # wait for the other writers first: none may outlive the flush
            first = exc
        return self._all_staged([first, *(f.exception() or f.result() for f in futures)])

    def _all_staged(self, outcomes: list[Staged | BaseException]) -> Staged:
        """The writers' files together, or, if any writer failed, its error, after deleting
        the others' files (written but never to be committed: the retry rewrites them)."""
        parts = [outcome for outcome in outcomes if isinstance(outcome, Staged)]
        failed = next((outcome for outcome in outcomes if not isinstance(outcome, Staged)), None)
        if failed is not None:
            self._table.discard(parts)
            raise failed
        return merged_staged(parts)

    def _stage_in_workers(self, batches: list[list[_Queued]]) -> Staged:
        """``_stage_batches`` by the worker processes (tracelens.store.flush_worker), a batch
        each: they get the raw requests, this process gets the files back to commit."""
        from concurrent.futures.process import BrokenProcessPool

        from tracelens.store.flush_worker import stage_raw_requests, start_workers

        assert self._processes is not None
        table_path, rows_per_group = str(self._table.path), self._table.row_group_rows
        futures = [
            self._processes.submit(stage_raw_requests, table_path, [item.body for item in batch], rows_per_group)
            for batch in batches
        ]
        outcomes = [f.exception() or staged_files(*f.result()) for f in futures]
        if any(isinstance(outcome, BrokenProcessPool) for outcome in outcomes):  # a worker died:
            self._processes.shutdown(wait=False)  # new ones for the retry
            self._processes = start_workers(self.config.flush_processes)
        return self._all_staged(outcomes)

    def _mark_flushed(self, last_seq: int) -> None:
        """Forget queued records up to ``last_seq`` (now in the table), delete their WAL."""
        with self._state:
            spans = 0
            while self._queue and self._queue[0].seq <= last_seq:  # only flushes pop: the front
                item = self._queue.popleft()
                self._backlog_bytes -= item.nbytes
                spans += item.spans
            if spans:
                self._predecode_wakeup.set()  # its window (PREDECODE_AHEAD_BATCHES) moved on
                self._flushed_seq = last_seq
                self._last_flush = datetime.now(UTC)
                self._counters["flushes"] += 1
                self._counters["spans_flushed"] += spans
        assert self._wal is not None
        self._wal.delete_through(last_seq)

    def start_flusher(self) -> None:
        """Start the background flusher thread (idempotent)."""
        self._check_writable()
        if self._flusher is not None:
            return
        warm_up_writer()
        if self.config.flush_processes > 0:  # they decode: no pre-decoder, whose GIL they spare
            from tracelens.store.flush_worker import start_workers

            self._processes = start_workers(self.config.flush_processes)
        self._flusher = threading.Thread(target=self._flusher_loop, name="tracelens-flusher", daemon=True)
        self._flusher.start()
        if self._processes is None:
            self._predecoder = threading.Thread(target=self._predecoder_loop, name="tracelens-predecoder", daemon=True)
            self._predecoder.start()

    def _predecoder_loop(self) -> None:
        """Decode queued raw OTLP requests ahead of the flusher, in a thread of its own, so
        a flush mostly writes: decoding the next batch overlaps writing this one (pyarrow's
        Parquet encoding runs without the GIL), where one thread did both one after the
        other and left a core idle once the receivers were done. Only fills caches: the
        flusher waits for a run in progress and decodes whatever no run took (``_claim``),
        so nothing here can lose or reorder spans."""
        while not self._stop.is_set():
            self._predecode_wakeup.wait(timeout=self.config.flush_interval_seconds)
            self._predecode_wakeup.clear()
            while not self._stop.is_set():
                with self._state:
                    run = _predecode_run(self._queue, PREDECODE_AHEAD_BATCHES * self.config.flush_batch_bytes)
                    for item in run:
                        item.decoder = PREDECODER
                if not run:
                    break
                try:
                    _predecode(run)
                except Exception as exc:  # the flusher decodes them and reports what fails
                    log.warning("pre-decoding %d queued request(s) failed: %s", len(run), exc)
                    break
                finally:
                    with self._predecoded:
                        for item in run:
                            if item.frame is None:  # given up: the flusher's to decode
                                item.decoder = FLUSHER
                        self._predecoded.notify_all()

    def _flusher_loop(self) -> None:
        interval = self.config.flush_interval_seconds
        while not self._stop.is_set():
            self._wakeup.wait(timeout=interval)
            self._wakeup.clear()
            if self._stop.is_set():
                return  # close() does the final flush
            try:
                self._flush_available()
                self._maybe_apply_retention()
                self._maybe_compact()
            except Exception as exc:  # data stays in the WAL; retry on the next round
                with self._state:
                    self._counters["flush_errors"] += 1
                log.error("flush failed (data kept in the WAL, will retry): %s", exc)
                self._stop.wait(min(interval, 1.0))

    def _flush_available(self) -> None:
        """Flush full rounds back to back, then whatever is left (one interval's worth).
        What a burst leaves behind (less than a batch) is flushed as soon as nothing more
        arrives for DRAIN_PAUSE_SECONDS, not at the next interval: the flusher idled for up
        to the interval (2 s by default) after each burst, with the tail unflushed."""
        burst = False
        while not self._stop.is_set():
            if self.config.flush_delay_seconds > 0:
                self._stop.wait(self.config.flush_delay_seconds)
            with self._state:
                burst = burst or self._backlog_bytes >= self.config.flush_batch_bytes
            if self._flush_batch() == 0:
                return
            with self._state:
                left = self._backlog_bytes
            if left >= self.config.flush_batch_bytes:
                continue
            if not burst or left == 0:
                return
            self._stop.wait(DRAIN_PAUSE_SECONDS)
            with self._state:
                if self._backlog_bytes > left:
                    return  # still arriving: a full batch or the interval decides
            burst = False  # the burst is over: one more round flushes its tail

    def _maybe_apply_retention(self) -> None:
        retention = self.config.retention_seconds
        if retention is None:
            return
        last = self._last_retention
        if last is not None and time.monotonic() - last < self.config.retention_check_seconds:
            return
        self._last_retention = time.monotonic()
        self.apply_retention(retention)

    def _maybe_compact(self) -> None:
        """Compact the closed days that need it, at most once per compact_check_seconds.
        Runs on the flusher thread, so flushing pauses meanwhile; receivers keep appending
        to the WAL (and acknowledging) until the backlog reaches the overload bound."""
        interval = self.config.compact_check_seconds
        if interval is None:
            return
        now = time.monotonic()
        if self._last_compaction is None:  # the first check one interval after start
            self._last_compaction = now
        if now - self._last_compaction < interval:
            return
        self._last_compaction = now
        days = closed_days_to_compact(self._table.files_per_day(), day_string(datetime.now(UTC).date()))
        if not days:
            return
        started = time.monotonic()
        try:
            report = self.compact(days)
        except Exception as exc:  # e.g. a conflicting commit: the table is unchanged, retry later
            log.error("compaction of %s..%s failed (will retry in %.0f s): %s", days[0], days[-1], interval, exc)
            return
        with self._state:
            self._counters["compactions"] += 1
        log.info(
            "compacted %d closed day(s) %s..%s in %.1f s (%d duplicate row(s) removed)",
            len(days), days[0], days[-1], time.monotonic() - started, report["duplicates_removed"],
        )

    # --- maintenance ------------------------------------------------------------------
    def compact(self, days: Collection[str] | None = None) -> dict[str, Any]:
        """Rewrite the table for fast reads: z-order (sort) each multi-file day partition by
        trace_id, and physically remove duplicate (trace_id, span_id) rows. ``days``
        (``"YYYY-MM-DD"`` strings) limits it to those partitions; a running store does
        this by itself for closed days (``StoreConfig.compact_check_seconds``)."""
        self._check_writable()
        with self._flush_lock:
            return self._table.compact(days)

    def apply_retention(self, older_than_seconds: float | timedelta | str) -> dict[str, Any]:
        """Delete day partitions entirely older than now - ``older_than_seconds`` (also
        accepts a timedelta or text like "7d"), then vacuum their files from disk."""
        self._check_writable()
        if isinstance(older_than_seconds, str):
            older = parse_duration(older_than_seconds)
        elif isinstance(older_than_seconds, timedelta):
            older = older_than_seconds
        else:
            older = timedelta(seconds=older_than_seconds)
        cutoff_day = day_string((datetime.now(UTC) - older).date())
        with self._flush_lock:
            removed = self._table.delete_days_before(cutoff_day)
        if removed:
            log.info("retention: removed %d file(s) of days before %s", removed, cutoff_day)
        return {"kept_from_day": cutoff_day, "files_removed": removed}

    def close(self) -> None:
        """Stop the flusher, flush everything, release the directory (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self.read_only:
            return
        self._stop.set()
        self._wakeup.set()
        self._predecode_wakeup.set()
        if self._flusher is not None:
            self._flusher.join()
        if self._predecoder is not None:
            self._predecoder.join()
        assert self._wal is not None
        self._wal.close()
        try:
            while True:
                with self._state:
                    if not self._queue:
                        break
                self._flush_batch()
        finally:
            if self._writers is not None:
                self._writers.shutdown()
            if self._processes is not None:
                self._processes.shutdown()
            self._release_lock()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # --- reading ----------------------------------------------------------------------
    def _unflushed_records_on_disk(self) -> tuple[list[walmod.WalRecord], int]:
        """Read-only view of the WAL: records newer than the table's flushed mark. The WAL
        is read before the table snapshot (see the module docstring)."""
        records = list(walmod.read_records(self.path / WAL_DIR))
        if not records:  # the common case for readers: skip the table's mark (a log read)
            return [], 0
        flushed = self._table.flushed_seq()
        return [r for r in records if r.seq > flushed], flushed

    def _unflushed_frames(self) -> list[pl.DataFrame]:
        if not self.read_only:
            with self._state:
                items = list(self._queue)
            return [item.decoded() for item in items]  # decoding outside the lock
        # a reader calls this on every spans(): records are immutable once written, so each
        # is decoded once (a raw OTLP record costs a protobuf decode) and kept while unflushed
        frames, decoded = [], {}
        for record in self._unflushed_records_on_disk()[0]:
            cached = self._decoded.get(record.seq)
            if cached is not None and cached[0] == record.payload:
                frame: pl.DataFrame | None = cached[1]
            else:
                frame = self._decode_or_count(record)
            if frame is not None:
                frames.append(frame)
                decoded[record.seq] = (record.payload, frame)
        self._decoded = decoded
        return frames

    def spans(
        self,
        since: TimeLike = None,
        until: TimeLike = None,
        service: str | None = None,
        trace_id: str | None = None,
    ) -> pl.LazyFrame:
        """Spans (contract LazyFrame) starting in [since, until), of ``service`` and/or one
        trace, flushed and unflushed alike, each (trace_id, span_id) once."""
        now = datetime.now(UTC)
        window = _Window(parse_time(since, now), parse_time(until, now), service, _normalise_trace_id(trace_id))
        pending = self._unflushed_frames()  # before the table snapshot: never miss a span
        table = self._table.scan_checked(window.file_filter())
        if table.unique and not pending:  # files checked duplicate-free by compaction: no dedup
            return table.frame
        parts = [table.frame]
        if pending:
            parts.append(pl.concat(pending, how="vertical", rechunk=False).lazy().filter(window.row_filter()))
        combined = pl.concat(parts, how="vertical") if len(parts) > 1 else parts[0]
        # exact either way: a mask in the plan for small reads, else a pre-pass that leaves
        # the plan untouched when nothing repeats (tracelens.store.dedup)
        return without_duplicates(combined, table.expected_rows + sum(frame.height for frame in pending))

    def trace(self, trace_id: str) -> pl.DataFrame:
        """Every span of one trace, ordered by start; TraceNotFoundError if none."""
        frame = self.spans(trace_id=trace_id).sort(s.START, s.SPAN_ID).collect()
        if frame.is_empty():
            msg = f"no spans for trace {trace_id!r} in {self.path}"
            raise TraceNotFoundError(msg)
        return frame

    def traces(
        self,
        since: TimeLike = None,
        until: TimeLike = None,
        service: str | None = None,
        *,
        limit: int | None = None,
        sort: str = s.START,
        descending: bool = True,
    ) -> pl.DataFrame:
        """One row per trace with a span starting in [since, until) (and, with ``service``,
        a span of that service): trace_id, root_service, root_name, start, duration,
        span_count, error_count; sorted by ``sort`` (newest first by default)."""
        if sort not in SORT_KEYS:
            msg = f"cannot sort traces by {sort!r}; choose one of {sorted(SORT_KEYS)}"
            raise StoreError(msg)
        spans = self.spans(since, until)
        if service is not None:
            wanted = spans.filter(pl.col(s.SERVICE_NAME) == service).select(s.TRACE_ID).unique()
            spans = spans.join(wanted, on=s.TRACE_ID, how="semi")
        summary = trace_summaries(spans).sort(sort, s.TRACE_ID, descending=[descending, False])
        if limit is not None:
            summary = summary.head(limit)
        return summary.collect()

    def stats(self) -> dict[str, Any]:
        """Sizes and health: table files/bytes/rows, WAL backlog, corrupt tails, flushes."""
        quarantine = self.path / WAL_DIR / walmod.QUARANTINE_DIR
        result: dict[str, Any] = {"path": str(self.path), "read_only": self.read_only}
        if self.read_only:
            # record headers only: reading every unflushed payload cost a full WAL read
            # (hundreds of MB under load) per call
            sizes = list(walmod.record_sizes(self.path / WAL_DIR))
            flushed = self._table.flushed_seq()
            unflushed = [length for seq, length in sizes if seq > flushed]
            segments = walmod.list_segments(self.path / WAL_DIR)
            result |= {
                "wal_backlog_bytes": sum(unflushed),
                "wal_backlog_records": len(unflushed),
                "wal_segments": len(segments),
                "flushed_seq": flushed,
            }
        else:
            assert self._wal is not None
            with self._state:
                result |= {
                    "wal_backlog_bytes": self._backlog_bytes,
                    "wal_backlog_records": len(self._queue),
                    "wal_backlog_spans": sum(item.spans for item in self._queue),
                    "wal_segments": self._wal.segment_count(),
                    "flushed_seq": self._flushed_seq,
                    "last_flush_time": self._last_flush,
                    **self._counters,
                }
            result |= {
                "wal_appends": self._wal.stats.appends,
                "wal_commits": self._wal.stats.commits,
                "wal_corrupt_bytes_this_run": self._wal.stats.corrupt_bytes,
            }
        # quarantined tails persist across restarts, so any process can report them
        result["wal_corrupt_tails"] = len(list(quarantine.glob("*.bad"))) if quarantine.is_dir() else 0
        result |= self._table.stats()
        return result

    def __repr__(self) -> str:
        mode = "read-only" if self.read_only else "writable"
        return f"<tracelens Store {str(self.path)!r} {mode}>"


def default_path() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR)


def open_store(path: str | os.PathLike[str] | None = None) -> Store:
    """``tracelens.open(path)``: a read-only Store, usable while a server writes to ``path``
    (default ``$TRACELENS_DATA`` or ./tracelens-data)."""
    return Store.open(default_path() if path is None else Path(path), read_only=True)
