"""Write-ahead log: framing, torn/corrupt tails, replay, group commit, rotation."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from tracelens.errors import StoreError
from tracelens.store import wal as w


def _open(directory: Path, after: int = 0, **kwargs) -> tuple[w.WriteAheadLog, list[w.WalRecord]]:
    log = w.WriteAheadLog(directory, **kwargs)
    return log, log.recover(after_seq=after)


def test_frame_round_trip_and_header_fields():
    data = w.frame_record(7, b"hello") + w.frame_record(8, b"")
    records, valid, problem = w.parse_records(data)
    assert [(r.seq, r.payload) for r in records] == [(7, b"hello"), (8, b"")]
    assert valid == len(data) and problem is None


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: d[:-3], "short record"),
        (lambda d: d[: len(d) - 5 - w.HEADER_SIZE + 4], "short header"),
        (lambda d: d[:-1] + bytes([d[-1] ^ 0x01]), "CRC mismatch"),
        (lambda d: d + b"garbage-after-the-last-record", "bad magic"),
    ],
)
def test_parse_stops_at_the_first_bad_byte(damage, reason):
    good = w.frame_record(1, b"one") + w.frame_record(2, b"two")
    data = damage(good + w.frame_record(3, b"three"))
    records, valid, problem = w.parse_records(data)
    assert problem is not None and reason in problem
    assert [r.payload for r in records][:2] == [b"one", b"two"]
    assert valid >= len(good)


def test_a_payload_in_parts_is_one_record_of_their_concatenation(tmp_path):
    # the store logs raw OTLP records as (tag, request body) without joining them
    assert w.frame_record(3, (b"TAG", memoryview(b"body"))) == w.frame_record(3, b"TAGbody")
    log, _ = _open(tmp_path)
    log.append((b"TAG", b"first body"))
    log.append(b"plain")
    log.close()
    _, records = _open(tmp_path)
    assert [(r.seq, r.payload) for r in records] == [(1, b"TAGfirst body"), (2, b"plain")]


def test_append_then_replay_in_order(tmp_path):
    log, replay = _open(tmp_path, fsync=True)
    assert replay == []
    seqs = [log.append(f"record {i}".encode()) for i in range(5)]
    log.close()
    assert seqs == [1, 2, 3, 4, 5]
    again, replay = _open(tmp_path)
    assert [(r.seq, r.payload) for r in replay] == [(i + 1, f"record {i}".encode()) for i in range(5)]
    assert again.append(b"next") == 6  # numbering continues
    again.close()


def test_replay_skips_records_already_flushed_and_numbering_continues_after_the_mark(tmp_path):
    log, _ = _open(tmp_path)
    for i in range(4):
        log.append(bytes([i]))
    log.close()
    again, replay = _open(tmp_path, after=3)
    assert [r.seq for r in replay] == [4]
    again.close()
    # WAL fully deleted after a flush: the table's mark still decides the next number
    for segment in w.list_segments(tmp_path):
        segment.unlink()
    fresh, replay = _open(tmp_path, after=10)
    assert replay == [] and fresh.append(b"x") == 11
    fresh.close()


def test_torn_tail_is_reported_kept_apart_and_cut_off(tmp_path, caplog):
    log, _ = _open(tmp_path)
    for i in range(3):
        log.append(f"payload-{i}".encode() * 10)
    log.close()
    [segment] = w.list_segments(tmp_path)
    intact_size = segment.stat().st_size
    with segment.open("ab") as fh:  # a record whose write was interrupted half-way
        fh.write(w.frame_record(4, b"x" * 100)[:50])
    with caplog.at_level(logging.WARNING):
        again, replay = _open(tmp_path)
    assert [r.seq for r in replay] == [1, 2, 3]
    assert again.stats.corrupt_tails == 1 and again.stats.corrupt_bytes == 50
    assert any("short record" in m and "kept 3 intact" in m for m in caplog.messages)
    assert segment.stat().st_size == intact_size  # truncated: later appends start clean
    quarantined = list((tmp_path / w.QUARANTINE_DIR).iterdir())
    assert len(quarantined) == 1 and quarantined[0].stat().st_size == 50
    assert again.append(b"after recovery") == 4
    again.close()
    final, replay = _open(tmp_path)
    assert [r.payload for r in replay][-1] == b"after recovery"
    assert final.stats.corrupt_tails == 0
    final.close()


def test_bit_flip_in_a_middle_record_keeps_the_records_before_it(tmp_path):
    log, _ = _open(tmp_path)
    for i in range(5):
        log.append(f"record-{i}".encode())
    log.close()
    [segment] = w.list_segments(tmp_path)
    data = bytearray(segment.read_bytes())
    record_size = w.HEADER_SIZE + len(b"record-0")
    data[2 * record_size + w.HEADER_SIZE + 1] ^= 0xFF  # payload byte of record 3
    segment.write_bytes(bytes(data))
    again, replay = _open(tmp_path)
    assert [r.payload for r in replay] == [b"record-0", b"record-1"]
    assert "CRC mismatch" in again.stats.problems[0]
    again.close()


def test_read_only_scan_tolerates_a_torn_tail_without_touching_it(tmp_path):
    log, _ = _open(tmp_path)
    log.append(b"a")
    log.append(b"b")
    log.close()
    [segment] = w.list_segments(tmp_path)
    with segment.open("ab") as fh:
        fh.write(w.frame_record(3, b"being written")[:10])
    size = segment.stat().st_size
    assert [r.payload for r in w.read_records(tmp_path)] == [b"a", b"b"]
    assert [r.seq for r in w.read_records(tmp_path, after_seq=1)] == [2]
    assert segment.stat().st_size == size


def test_record_sizes_walk_headers_across_segments_and_stop_at_a_torn_tail(tmp_path):
    log, _ = _open(tmp_path, max_segment_bytes=60)  # a few records per segment
    payloads = [bytes([n]) * (5 + 7 * n) for n in range(9)]
    for payload in payloads:
        log.append(payload)
    log.close()
    segments = w.list_segments(tmp_path)
    assert len(segments) > 2
    with segments[-1].open("ab") as fh:  # a record being written right now
        fh.write(w.frame_record(99, b"being written")[:25])
    expected = [(r.seq, len(r.payload)) for r in w.read_records(tmp_path)]
    assert expected == [(n + 1, len(p)) for n, p in enumerate(payloads)]
    assert list(w.record_sizes(tmp_path)) == expected
    assert list(w.record_sizes(tmp_path, after_seq=4)) == expected[4:]


def test_group_commit_many_threads_all_durable_with_fewer_fsyncs(tmp_path):
    committed: list[int] = []
    log, _ = _open(tmp_path, group_commit_seconds=0.002, on_commit=lambda b: committed.extend(s for s, _ in b))
    threads_n, per_thread = 16, 40
    barrier = threading.Barrier(threads_n)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        barrier.wait()
        try:
            for i in range(per_thread):
                log.announce()
                log.append(f"{t}:{i}".encode(), announced=True)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    total = threads_n * per_thread
    assert log.stats.appends == total
    assert log.stats.commits < total / 2, log.stats  # batched: one fsync served many appends
    assert committed == list(range(1, total + 1))  # the callback sees every record, in order
    log.close()
    _, replay = _open(tmp_path)
    payloads = {r.payload.decode() for r in replay}
    assert payloads == {f"{t}:{i}" for t in range(threads_n) for i in range(per_thread)}


def test_segments_rotate_by_size_and_flushed_ones_are_deleted(tmp_path):
    log, _ = _open(tmp_path, max_segment_bytes=200)
    for i in range(10):
        log.append(bytes(100))
    assert log.segment_count() == 5  # two 120-byte records per 200-byte segment
    assert log.delete_through(4) == 2
    assert [p.name for p in w.list_segments(tmp_path)][0] == w.segment_name(5)
    assert log.delete_through(10) == 3  # includes the active one, closed first
    assert w.list_segments(tmp_path) == []
    assert log.append(b"more") == 11
    log.close()
    _, replay = _open(tmp_path, after=10)
    assert [r.payload for r in replay] == [b"more"]


def test_append_after_close_is_an_error(tmp_path):
    log, _ = _open(tmp_path)
    log.close()
    with pytest.raises(StoreError):
        log.append(b"late")


def test_a_failed_write_is_reported_to_the_appender_and_cut_off(tmp_path, monkeypatch):
    log, _ = _open(tmp_path)
    log.append(b"first")

    def broken_sync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(w, "_sync", broken_sync)
    with pytest.raises(StoreError, match="No space left"):
        log.append(b"second")
    monkeypatch.undo()
    assert log.append(b"third") == 3
    log.close()
    _, replay = _open(tmp_path)
    assert [r.payload for r in replay] == [b"first", b"third"]
