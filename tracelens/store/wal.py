"""Write-ahead log: CRC-framed records in append-only segment files, group commit with fsync.

On-disk layout (``<data>/wal/``)::

    00000000000000000001.wal      segment named by the sequence number of its first record
    00000000000000000734.wal
    quarantine/                    corrupt tails cut off during recovery, kept for inspection

Record framing (little endian)::

    magic  b"TLW1"   4 bytes
    seq    uint64    8 bytes   strictly increasing across segments (never reused)
    length uint32    4 bytes   payload length
    crc    uint32    4 bytes   zlib.crc32 over seq, length and payload
    payload          length bytes

Why sequence numbers in the record: the table commit stores "everything up to seq N is in
the table" (exactly-once across crashes), so replay must be able to skip by seq regardless
of which segment a record lives in or whether older segments were already deleted.

Group commit: ``append`` enqueues its record and waits; the first waiter that finds no
commit in progress becomes the leader, writes every queued record with one ``write`` and one
``fdatasync``, and wakes the others. While the leader is in fsync the next batch queues up,
so the number of fsyncs grows with time spent, not with the number of callers.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracelens.errors import StoreError

log = logging.getLogger(__name__)

MAGIC = b"TLW1"
HEADER = struct.Struct("<4sQII")
HEADER_SIZE = HEADER.size
SEGMENT_SUFFIX = ".wal"
QUARANTINE_DIR = "quarantine"
#: a length field above this is treated as corruption, not as a request to read 4 GiB
MAX_RECORD_BYTES = 1 << 31
#: buffers per writev call (Linux IOV_MAX is 1024)
IOV_BATCH = 512


@dataclass(frozen=True, slots=True)
class WalRecord:
    seq: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class SegmentScan:
    """What reading one segment found: its intact records and where (if) it went bad."""

    path: Path
    records: list[WalRecord]
    valid_bytes: int
    total_bytes: int
    problem: str | None  # why the bytes after valid_bytes are unusable (None: clean)


@dataclass(slots=True)
class _Segment:
    path: Path
    first_seq: int
    last_seq: int  # 0 while empty
    size: int


#: a record's payload: one buffer, or several written back to back as one record (the
#: store's raw OTLP records are a tag + the request body, logged without joining them)
Payload = bytes | memoryview | tuple[bytes | memoryview, ...]


def payload_parts(payload: Payload) -> tuple[bytes | memoryview, ...]:
    return payload if isinstance(payload, tuple) else (payload,)


@dataclass(slots=True)
class _Pending:
    seq: int
    header: bytes
    parts: tuple[bytes | memoryview, ...]
    item: Any


@dataclass(slots=True)
class WalStats:
    appends: int = 0
    commits: int = 0  # write+fsync batches (group commits)
    bytes_written: int = 0
    corrupt_tails: int = 0
    corrupt_bytes: int = 0
    segments_deleted: int = 0
    problems: list[str] = field(default_factory=list)


def record_header(seq: int, payload: Payload) -> bytes:
    """The header that frames ``payload`` (its parts back to back) as record ``seq``."""
    parts = payload_parts(payload)
    length = sum(memoryview(part).nbytes for part in parts)
    crc = zlib.crc32(struct.pack("<QI", seq, length))
    for part in parts:  # the CRC of the concatenation, without concatenating
        crc = zlib.crc32(part, crc)
    return HEADER.pack(MAGIC, seq, length, crc)


def frame_record(seq: int, payload: Payload) -> bytes:
    """One framed record: header + payload."""
    return b"".join((record_header(seq, payload), *payload_parts(payload)))


def _write_all(fd: int, buffers: list[bytes | memoryview]) -> int:
    """Write ``buffers`` in order with writev (no copy into one big buffer: records are
    whole OTLP requests, often hundreds of KB); returns the bytes written."""
    total = 0
    for start in range(0, len(buffers), IOV_BATCH):
        chunk = buffers[start : start + IOV_BATCH]
        size = sum(memoryview(buffer).nbytes for buffer in chunk)
        written = os.writev(fd, chunk)
        if written < size:  # partial: finish the rest of this chunk the simple way
            rest = memoryview(b"".join(chunk))[written:]
            while rest:
                rest = rest[os.write(fd, rest) :]
        total += size
    return total


def _header_problem(magic: bytes, length: int, offset: int, end: int) -> str | None:
    """Why the record whose header is at ``offset`` is not whole before ``end``, or None."""
    if magic != MAGIC:
        return f"bad magic at byte {offset}"
    if length > MAX_RECORD_BYTES or offset + HEADER_SIZE + length > end:
        return f"short record at byte {offset} (needs {length} payload bytes)"
    return None


def parse_records(data: bytes | memoryview) -> tuple[list[WalRecord], int, str | None]:
    """Intact records from the start of ``data``, the number of bytes they span, and the
    reason parsing stopped early (None when every byte was a whole valid record)."""
    view = memoryview(data)
    records: list[WalRecord] = []
    offset = 0
    end = len(view)
    previous_seq = 0
    while offset < end:
        if end - offset < HEADER_SIZE:
            return records, offset, f"short header at byte {offset} ({end - offset} of {HEADER_SIZE} bytes)"
        magic, seq, length, crc = HEADER.unpack_from(view, offset)
        problem = _header_problem(magic, length, offset, end)
        if problem is not None:
            return records, offset, problem
        payload = view[offset + HEADER_SIZE : offset + HEADER_SIZE + length]
        if zlib.crc32(payload, zlib.crc32(struct.pack("<QI", seq, length))) != crc:
            return records, offset, f"CRC mismatch at byte {offset} (record seq {seq})"
        if seq <= previous_seq:
            return records, offset, f"sequence went backwards at byte {offset} ({seq} after {previous_seq})"
        records.append(WalRecord(seq, bytes(payload)))
        previous_seq = seq
        offset += HEADER_SIZE + length
    return records, offset, None


def segment_name(first_seq: int) -> str:
    return f"{first_seq:020d}{SEGMENT_SUFFIX}"


def list_segments(directory: Path) -> list[Path]:
    """Segment files in sequence order (names are zero-padded, so lexical order works)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix == SEGMENT_SUFFIX and p.stem.isdigit())


def scan_segment(path: Path) -> SegmentScan | None:
    """Read one segment; None if it vanished meanwhile (deleted after a flush)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    records, valid, problem = parse_records(data)
    return SegmentScan(path, records, valid, len(data), problem)


def read_records(directory: Path, after_seq: int = 0) -> Iterator[WalRecord]:
    """Read-only scan of every segment (records with seq > after_seq). Tolerates a torn tail
    being written right now by another process: it is simply not returned. Never modifies."""
    for path in list_segments(directory):
        scan = scan_segment(path)
        if scan is None:
            continue
        for record in scan.records:
            if record.seq > after_seq:
                yield record


def record_sizes(directory: Path, after_seq: int = 0) -> Iterator[tuple[int, int]]:
    """(seq, payload bytes) of the records with seq > ``after_seq``, from their headers
    alone: what a status report counts, without reading (or checking) hundreds of MB of
    payloads. A segment's walk stops where a header does not parse or a payload is cut
    short (a torn tail, or one being written right now)."""
    for path in list_segments(directory):
        try:
            handle = path.open("rb")
        except FileNotFoundError:  # deleted after a flush meanwhile
            continue
        with handle:
            size = os.fstat(handle.fileno()).st_size
            offset = 0
            while offset + HEADER_SIZE <= size:
                handle.seek(offset)
                header = handle.read(HEADER_SIZE)
                if len(header) < HEADER_SIZE:
                    break
                magic, seq, length, _ = HEADER.unpack(header)
                if _header_problem(magic, length, offset, size) is not None:
                    break
                if seq > after_seq:
                    yield seq, length
                offset += HEADER_SIZE + length


def _fsync_directory(directory: Path) -> None:
    """Make a created/removed directory entry durable (a new segment must survive a crash)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sync(fd: int) -> None:
    # fdatasync skips the inode timestamp update: what we need is the data and the size.
    if hasattr(os, "fdatasync"):
        os.fdatasync(fd)
    else:  # pragma: no cover - macOS
        os.fsync(fd)


class WriteAheadLog:
    """The write side of the log. One instance per data dir (the store holds a lock file).

    ``on_commit(batch)`` is called by the committing thread, after fsync and in sequence
    order, with ``[(seq, item), ...]``: the store uses it to queue records for the flusher
    in exactly the order they became durable (a gap would break the flushed-up-to mark).
    """

    def __init__(
        self,
        directory: Path,
        *,
        fsync: bool = True,
        max_segment_bytes: int = 64 * 1024 * 1024,
        group_commit_seconds: float = 0.0,
        on_commit: Callable[[list[tuple[int, Any]]], None] | None = None,
    ) -> None:
        self.directory = directory
        self._fsync = fsync
        self._max_segment_bytes = max_segment_bytes
        self._group_commit_seconds = group_commit_seconds
        self._on_commit = on_commit
        self._cond = threading.Condition(threading.Lock())
        self._pending: list[_Pending] = []
        self._committing = False
        self._durable_seq = 0
        self._next_seq = 1
        self._failed: dict[int, BaseException] = {}
        self._encoding = 0  # appenders between entering append() and enqueuing
        self._segments: list[_Segment] = []
        self._fd: int | None = None
        self._closed = False
        self.stats = WalStats()

    # --- recovery ---------------------------------------------------------------------
    def recover(self, after_seq: int = 0) -> list[WalRecord]:
        """Replay on open: every intact record with seq > after_seq, in order. A corrupt or
        torn tail is logged, counted, moved to quarantine/ and cut off, so that what follows
        in the log is valid again. Sequence numbering continues after max(seen, after_seq)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        replay: list[WalRecord] = []
        last_seq = after_seq
        previous_last = 0
        for path in list_segments(self.directory):
            scan = scan_segment(path)
            if scan is None:
                continue
            if scan.problem is not None:
                self._quarantine_tail(scan)
            if not scan.records:
                path.unlink()
                continue
            first, last = scan.records[0].seq, scan.records[-1].seq
            if first <= previous_last:
                # overlapping numbering would mean two writers; refuse rather than guess
                msg = f"WAL segment {path.name} overlaps earlier records (seq {first} <= {previous_last})"
                raise StoreError(msg)
            previous_last = last
            self._segments.append(_Segment(path, first, last, scan.valid_bytes))
            replay.extend(r for r in scan.records if r.seq > after_seq)
            last_seq = max(last_seq, last)
        self._next_seq = last_seq + 1
        self._durable_seq = last_seq
        return replay

    def _quarantine_tail(self, scan: SegmentScan) -> None:
        bad = scan.total_bytes - scan.valid_bytes
        self.stats.corrupt_tails += 1
        self.stats.corrupt_bytes += bad
        message = (
            f"WAL segment {scan.path.name}: {scan.problem}; kept {len(scan.records)} intact record(s), "
            f"moved {bad} byte(s) to {QUARANTINE_DIR}/"
        )
        self.stats.problems.append(message)
        log.warning(message)
        quarantine = self.directory / QUARANTINE_DIR
        quarantine.mkdir(exist_ok=True)
        with scan.path.open("r+b") as fh:
            fh.seek(scan.valid_bytes)
            tail = fh.read()
            (quarantine / f"{scan.path.name}.{scan.valid_bytes}.bad").write_bytes(tail)
            fh.truncate(scan.valid_bytes)
            fh.flush()
            os.fsync(fh.fileno())

    # --- appending --------------------------------------------------------------------
    def append(self, payload: Payload, item: Any = None, *, announced: bool = False) -> int:
        """Append one record; return its seq once it is durable (written and fsync'd).
        Thread-safe; concurrent callers share one write+fsync (group commit)."""
        return self.append_many([payload], [item], announced=announced)[-1]

    def append_many(
        self, payloads: Sequence[Payload], items: Sequence[Any] | None = None, *, announced: bool = False
    ) -> list[int]:
        """Append several records with consecutive seqs; return them once durable.
        ``announced``: the caller called ``announce()`` before encoding (see there)."""
        items = items if items is not None else [None] * len(payloads)
        with self._cond:
            if announced:
                self._encoding -= 1
                if self._encoding == 0 and self._committing:
                    self._cond.notify_all()  # a leader waiting for us can go now
            if self._closed:
                msg = "write-ahead log is closed"
                raise StoreError(msg)
            seqs = []
            for payload, item in zip(payloads, items, strict=True):
                seq = self._next_seq
                self._next_seq += 1
                self._pending.append(_Pending(seq, record_header(seq, payload), payload_parts(payload), item))
                seqs.append(seq)
            self.stats.appends += len(seqs)
            mine = seqs[-1]
            while self._durable_seq < mine and mine not in self._failed:
                if self._committing:
                    self._cond.wait()
                    continue
                self._lead_commit()
            error = self._failed.pop(mine, None)
            for seq in seqs[:-1]:
                self._failed.pop(seq, None)
        if error is not None:
            msg = f"WAL append failed: {error}"
            raise StoreError(msg) from error
        return seqs

    def _lead_commit(self) -> None:
        """Called with the lock held: take the queue, write it outside the lock, publish."""
        self._committing = True
        if self._group_commit_seconds > 0 and self._encoding > 0:
            # other appenders are about to enqueue: give them a moment to share this fsync
            self._cond.wait(self._group_commit_seconds)
        batch, self._pending = self._pending, []
        self._cond.release()
        error: BaseException | None = None
        try:
            self._write_batch(batch)
            if self._on_commit is not None:
                self._on_commit([(p.seq, p.item) for p in batch])
        except BaseException as exc:  # reported to every appender of the batch
            error = exc
            log.error("WAL commit of %d record(s) failed: %s", len(batch), exc)
        finally:
            self._cond.acquire()
            self._committing = False
            if error is None:
                self._durable_seq = batch[-1].seq
            else:
                for p in batch:
                    self._failed[p.seq] = error
            self._cond.notify_all()

    def _write_batch(self, batch: list[_Pending]) -> None:
        buffers = [part for p in batch for part in (p.header, *p.parts)]
        segment = self._writable_segment(batch[0].seq)
        assert self._fd is not None
        try:
            written = _write_all(self._fd, buffers)
            if self._fsync:
                _sync(self._fd)
        except OSError:
            # cut the partial write off so the next record starts on a clean boundary
            os.ftruncate(self._fd, segment.size)
            raise
        segment.size += written
        segment.last_seq = batch[-1].seq
        self.stats.commits += 1
        self.stats.bytes_written += written

    def _writable_segment(self, first_seq: int) -> _Segment:
        active = self._segments[-1] if self._segments and self._fd is not None else None
        if active is not None and active.size < self._max_segment_bytes:
            return active
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        path = self.directory / segment_name(first_seq)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if self._fsync:
            _fsync_directory(self.directory)
        segment = _Segment(path, first_seq, 0, 0)
        self._segments.append(segment)
        return segment

    def announce(self) -> None:
        """An appender is about to encode a record and then call append(announced=True):
        a leader waits up to ``group_commit_seconds`` for announced appenders, so callers
        that arrive together share one fsync instead of paying one each."""
        with self._cond:
            self._encoding += 1

    def retract(self) -> None:
        """Undo ``announce()`` when encoding failed and nothing will be appended."""
        with self._cond:
            self._encoding -= 1
            self._cond.notify_all()

    # --- cleanup ----------------------------------------------------------------------
    def delete_through(self, seq: int) -> int:
        """Delete segments whose every record has seq <= ``seq`` (they are in the table).
        The active segment is closed first when it is entirely flushed, so a quiet server
        does not keep old data on disk. Returns the number of segments deleted."""
        doomed: list[Path] = []
        with self._cond:
            while self._committing:
                self._cond.wait()
            keep: list[_Segment] = []
            for index, segment in enumerate(self._segments):
                is_active = index == len(self._segments) - 1 and self._fd is not None
                if segment.last_seq and segment.last_seq <= seq:
                    if is_active:
                        assert self._fd is not None
                        os.close(self._fd)
                        self._fd = None
                    doomed.append(segment.path)
                else:
                    keep.append(segment)
            self._segments = keep
            self.stats.segments_deleted += len(doomed)
        # unlinking a segment of many MB takes milliseconds (extents freed, journal): done
        # outside the lock so appenders are not kept waiting. The files are no longer
        # ours (new segments get new, higher names) and replay skips their records anyway.
        for path in doomed:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        deleted = len(doomed)
        if deleted and self._fsync:
            _fsync_directory(self.directory)
        return deleted

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def segment_count(self) -> int:
        return len(self._segments)

    def disk_bytes(self) -> int:
        return sum(s.size for s in self._segments)

    def close(self) -> None:
        """Stop accepting appends and close the active segment (idempotent)."""
        with self._cond:
            self._closed = True
            while self._committing:
                self._cond.wait()
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
