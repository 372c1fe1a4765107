"""Trace-by-id lookups: row-group arithmetic, cached readers, and the snapshot that is only
re-listed when the Delta log changed."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
from polars.testing import assert_frame_equal

import tracelens
from tracelens import schema as s
from tracelens.store import Store
from tracelens.store.lookup import _matching_rows
from tracelens.store.table import FileFilter, SpanTable
from tracelens.testing import make_spans, trace_id_for

EPOCH = datetime(2026, 3, 10, tzinfo=UTC)


def test_matching_rows_maps_candidate_positions_to_positions_among_the_hit_groups():
    # three candidate groups read back to back; the middle one does not hold "b"
    ids = pa.array(["a", "a", "b", "b", "c", "c", "c", "c", "b", "d", "d"])
    groups, rows = _matching_rows(ids, "b", [4, 4, 3])
    assert groups == [0, 2]
    assert rows.tolist() == [2, 3, 4]  # group 2 starts at row 4 once group 1 is skipped
    groups, rows = _matching_rows(ids, "zz", [4, 4, 3])
    assert groups == [] and rows.size == 0


def spans_of(labels: list[str], per_trace: int, day: int = 0) -> pl.DataFrame:
    rows = [
        {"trace": label, "span": f"{label}-{i}", "service": f"svc{i % 3}", "start": day * 86_400_000 + i,
         "end": day * 86_400_000 + i + 5, **({} if i == 0 else {"parent": f"{label}-0"})}
        for label in labels
        for i in range(per_trace)
    ]
    return make_spans(rows, epoch=EPOCH)


def test_lookups_across_row_group_boundaries_equal_a_full_filter(tmp_path):
    table = SpanTable(tmp_path / "table", row_group_rows=4)  # traces of 7 spans straddle groups
    labels = [f"t{i}" for i in range(30)]
    table.write(spans_of(labels[:15], 7), wal_seq=1)
    table.write(spans_of(labels[15:], 7, day=1), wal_seq=2)
    table.write(spans_of(labels[::7], 7, day=2), wal_seq=3)  # some traces in two days' files
    everything = table.scan().collect()
    for label in [*labels, *labels[:3]]:  # repeats: cached readers and footers
        trace_id = trace_id_for(label)
        got = table.scan(FileFilter(trace_id=trace_id)).collect().sort(s.START, s.SPAN_ID)
        expected = everything.filter(pl.col(s.TRACE_ID) == trace_id).sort(s.START, s.SPAN_ID)
        assert got.height in (7, 14)
        assert_frame_equal(got, expected)
    assert len(table._row_groups._readers) <= table._row_groups._max_open


def test_a_reader_sees_a_commit_made_right_after_its_last_read(tmp_path):
    # the log directory's mtime has a coarse clock: a commit in the same tick as the
    # reader's last look must not be hidden by the unchanged-log shortcut
    with Store.open(tmp_path) as writer:
        writer.append(spans_of(["a"], 3))
        writer.flush()
        reader = tracelens.open(tmp_path)
        for n in range(20):
            assert reader.spans().collect().height == 3 * (n + 1)
            writer.append(spans_of([f"b{n}"], 3))
            writer.flush()
            assert reader.trace(trace_id_for(f"b{n}")).height == 3


def test_an_unchanged_log_is_not_listed_again(tmp_path, monkeypatch):
    with Store.open(tmp_path) as writer:
        writer.append(spans_of(["a"], 3))
        writer.flush()
    reader = tracelens.open(tmp_path)
    table = reader._table
    table.refresh()
    # pretend the last look was long after the log's last change
    mark, _ = table._log_seen
    table._log_seen = (mark, mark[0] + 10**10)
    updates = []
    original = type(table._table).update_incremental
    monkeypatch.setattr(type(table._table), "update_incremental", lambda self: updates.append(1) or original(self))
    assert reader.trace(trace_id_for("a")).height == 3
    assert updates == []
    with Store.open(tmp_path) as writer:  # a commit changes the log directory
        writer.append(spans_of(["c"], 2))
        writer.flush()
    assert reader.trace(trace_id_for("c")).height == 2
    assert updates


def test_the_footer_index_stays_within_its_byte_budget_and_lookups_stay_exact(tmp_path):
    table = SpanTable(tmp_path / "table", row_group_rows=4)
    labels = [f"t{i}" for i in range(12)]
    for n, label in enumerate(labels):  # one file each
        table.write(spans_of([label], 5), wal_seq=n + 1)
    one_footer = table._row_groups._max_index_bytes = 1  # room for a single file
    assert one_footer
    everything = table.scan().collect()
    for label in labels * 2:
        trace_id = trace_id_for(label)
        got = table.scan(FileFilter(trace_id=trace_id)).collect()
        assert_frame_equal(got.sort(s.SPAN_ID), everything.filter(pl.col(s.TRACE_ID) == trace_id).sort(s.SPAN_ID))
        index = table._row_groups
        assert len(index._files) <= 1 and set(index._readers) <= set(index._files)
    assert len(table._row_groups._files) == 1  # (the first lookup is a plain scan)


def test_unsorted_files_get_a_hash_index_naming_exactly_the_groups_holding_a_trace(tmp_path, monkeypatch):
    import tracelens.store.lookup as lookup

    monkeypatch.setattr(lookup, "HASH_INDEX_MIN_ROWS", 16)  # more than 4 of these 4-row groups
    table = SpanTable(tmp_path / "table", row_group_rows=4)
    labels = [f"t{i}" for i in range(24)]
    # arrival order: the spans of concurrent traces interleave, so every group spans the
    # whole trace_id range and min/max statistics prune nothing
    by_trace = spans_of(labels, 6)
    interleaved = by_trace.with_row_index("_i").sort(pl.col("_i") % 6, pl.col("_i")).drop("_i")
    table.write(interleaved, wal_seq=1, sort=False)
    table.write(spans_of(["late"], 3, day=0), wal_seq=2, sort=False)
    everything = table.scan().collect()
    index = table._row_groups
    for label in [*labels, "late", *labels[:4]]:
        trace_id = trace_id_for(label)
        got = table.scan(FileFilter(trace_id=trace_id)).collect()
        expected = everything.filter(pl.col(s.TRACE_ID) == trace_id)
        assert_frame_equal(got.sort(s.SPAN_ID), expected.sort(s.SPAN_ID))
    hashed = [entry for entry in index._files.values() if entry.hash_keys is not None]
    assert len(hashed) == 1  # the interleaved file; the 3-span file has one group
    entry = hashed[0]
    from tracelens.store.lookup import trace_keys

    positions = everything.filter(pl.col(s.TRACE_ID).is_in([trace_id_for(x) for x in labels])).height
    assert positions == 24 * 6
    for label in labels:
        key = int(trace_keys(pl.Series([trace_id_for(label)]))[0])
        assert len(entry.hashed_candidates(key)) == 6  # one span per group: 6 groups, no more
    assert table.scan(FileFilter(trace_id=trace_id_for("absent"))).collect().height == 0


def test_a_first_lookup_in_files_holding_many_rows_uses_the_index(tmp_path, monkeypatch):
    import tracelens.store.lookup as lookup

    table = SpanTable(tmp_path / "table", row_group_rows=4)
    table.write(spans_of([f"t{i}" for i in range(10)], 4), wal_seq=1)
    for written in (tmp_path / "table").rglob("_*.tids"):
        written.unlink()  # a file flushed before trace index files were written
    monkeypatch.setattr(lookup, "PLAIN_LOOKUP_MAX_ROWS", 39)  # the file holds 40
    assert table.scan(FileFilter(trace_id=trace_id_for("t3"))).collect().height == 4
    assert len(table._row_groups._files) == 1  # indexed, not a plain scan

    small = SpanTable(tmp_path / "small", row_group_rows=4)
    small.write(spans_of([f"t{i}" for i in range(10)], 4), wal_seq=1)
    monkeypatch.setattr(lookup, "PLAIN_LOOKUP_MAX_ROWS", 40)
    assert small.scan(FileFilter(trace_id=trace_id_for("t3"))).collect().height == 4
    assert small._row_groups._files == {}  # a plain scan


def test_flush_files_carry_a_trace_index_that_a_first_lookup_reads_instead_of_every_footer(tmp_path):
    """A one-shot lookup in today's data parsed every flush file's footer and keyed every
    trace id of the day (416 ms for 2 M spans in 32 files); the flush now writes each
    file's index beside it, and a first lookup opens only the file that holds the trace."""
    import numpy as np

    from tracelens.store.lookup import _hash_index, read_trace_index, trace_keys, trace_index_path

    path = tmp_path / "table"
    table = SpanTable(path, row_group_rows=4)
    labels = [[f"f{file}-{i}" for i in range(6)] for file in range(3)]
    for file, names in enumerate(labels):  # arrival order: every group spans the id range
        frame = spans_of(names, 4).with_row_index("_i").sort(pl.col("_i") % 4, pl.col("_i")).drop("_i")
        table.write(frame, wal_seq=file + 1, sort=False)
    data_files = sorted(path.rglob("part-*.parquet"))
    assert len(data_files) == 3
    for data_file in data_files:  # the index is the one a lookup would build from the file
        import pyarrow.parquet as pq

        metadata = pq.read_metadata(data_file)
        sizes = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
        ids = pl.read_parquet(data_file, columns=[s.TRACE_ID])[s.TRACE_ID]
        assert np.array_equal(read_trace_index(data_file), _hash_index(trace_keys(ids), sizes))
        assert len(sizes) == 6

    fresh = SpanTable(path, row_group_rows=4)  # a new process: nothing known yet
    scanned: list[list[str]] = []
    index = fresh._row_groups
    real_scan = index._scan
    index._scan = lambda paths: scanned.append(list(paths)) or real_scan(paths)
    got = fresh.scan(FileFilter(trace_id=trace_id_for("f1-2"))).collect()
    assert got.height == 4 and set(got[s.TRACE_ID]) == {trace_id_for("f1-2")}
    holding = [f for f in data_files if trace_id_for("f1-2") in pl.read_parquet(f, columns=[s.TRACE_ID])[s.TRACE_ID]]
    assert [[str(p) for p in holding]] == [[str(Path(p).resolve()) for p in paths] for paths in scanned]
    assert index._files == {}  # no footer parsed
    assert fresh.scan(FileFilter(trace_id=trace_id_for("absent"))).collect().height == 0
    # a damaged index is not trusted: the file is indexed from its data, lookups stay exact
    damaged = trace_index_path(holding[0])
    damaged.write_bytes(damaged.read_bytes()[:-8])
    assert read_trace_index(holding[0]) is None
    again = SpanTable(path, row_group_rows=4)
    for names in labels:
        for name in names[::2]:
            assert again.scan(FileFilter(trace_id=trace_id_for(name))).collect().height == 4


def test_a_trace_key_is_the_same_computed_one_by_one_or_by_polars():
    from tracelens.store.lookup import trace_keys, trace_key_of

    ids = ["4bf92f3577b34da6a3ce929d0e0e4736", "0000000000000000a3ce929d0e0e4736", "A3CE929D0E0E4736",
           "ffffffffffffffffffffffffffffffff", "abc", "", "+bf92f3577b34da6", "0x92f3577b34da6a", "zz92f3577b34da6a3"]
    assert [trace_key_of(i) for i in ids] == [int(k) for k in trace_keys(pl.Series(ids))]
    assert trace_key_of(ids[0]) == 0xA3CE929D0E0E4736 == trace_key_of(ids[1])  # the last 64 bits
    assert trace_key_of("abc") == trace_key_of("0x92f3577b34da6a") == 0  # not 16 hex digits: a candidate everywhere


def test_trace_index_files_go_with_their_data_files(tmp_path):
    from tracelens.store.table import remove_orphan_trace_indexes

    path = tmp_path / "table"
    table = SpanTable(path, row_group_rows=4)
    staged = table.stage(spans_of(["a", "b"], 3))
    (written,) = path.rglob("_*.tids")
    table.discard([staged])  # staged but never committed
    assert not written.exists() and list(path.rglob("*.parquet")) == []
    table.write(spans_of(["c"], 3, day=0), wal_seq=1)
    table.write(spans_of(["d"], 3, day=1), wal_seq=2)
    assert len(list(path.rglob("_*.tids"))) == 2
    crashed = next(path.rglob("_*.tids")).with_suffix(".tids.partial")
    crashed.write_bytes(b"half")  # a crash between writing an index and renaming it
    assert table.delete_days_before(sorted(table.days())[-1]) == 1  # vacuums the older day's file
    assert len(list(path.rglob("_*.tids"))) == 1 and not crashed.exists()
    assert remove_orphan_trace_indexes(path) == 0


def test_concurrent_lookups_with_evictions_stay_exact(tmp_path, monkeypatch):
    import threading

    import tracelens.store.lookup as lookup

    monkeypatch.setattr(lookup, "HASH_INDEX_MIN_ROWS", 16)

    table = SpanTable(tmp_path / "table", row_group_rows=4)
    labels = [f"t{i}" for i in range(16)]
    for n in range(4):  # four files, interleaved spans (hash indexes) in two of them
        frame = spans_of(labels[n * 4 : n * 4 + 4], 6)
        if n % 2:
            frame = frame.with_row_index("_i").sort(pl.col("_i") % 6, pl.col("_i")).drop("_i")
        table.write(frame, wal_seq=n + 1, sort=False)
    everything = table.scan().collect()
    expected = {label: everything.filter(pl.col(s.TRACE_ID) == trace_id_for(label)).sort(s.SPAN_ID) for label in labels}
    table.scan(FileFilter(trace_id=trace_id_for("t0"))).collect()  # past the plain first lookup
    table._row_groups._max_index_bytes = 1  # one file at a time: constant eviction
    failures: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for label in labels[offset:] + labels[:offset]:
                got = table.scan(FileFilter(trace_id=trace_id_for(label))).collect().sort(s.SPAN_ID)
                assert_frame_equal(got, expected[label])
        except BaseException as exc:  # noqa: BLE001  (reported by the main thread)
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i * 3,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures, failures[0]


def test_sorted_files_keep_the_statistics_path_and_flush_sized_groups_get_the_hash_index(tmp_path):
    sorted_table = SpanTable(tmp_path / "sorted", row_group_rows=4)
    sorted_table.write(spans_of([f"t{i}" for i in range(40)], 4), wal_seq=1, sort=True)
    for label in ["t1", "t2", "t30"]:
        assert sorted_table.scan(FileFilter(trace_id=trace_id_for(label))).collect().height == 4
    assert all(e.hash_keys is None for e in sorted_table._row_groups._files.values())

    big_groups = SpanTable(tmp_path / "big", row_group_rows=10_000)  # one group > HASH_INDEX_MIN_ROWS
    frame = spans_of([f"u{i}" for i in range(1_100)], 9)
    big_groups.write(frame, wal_seq=1, sort=True)
    for label in ["u1", "u2", "u1000"]:
        assert big_groups.scan(FileFilter(trace_id=trace_id_for(label))).collect().height == 9
    assert all(e.hash_keys is not None for e in big_groups._row_groups._files.values())


def test_a_lookup_opens_readers_only_on_files_that_may_hold_the_trace(tmp_path):
    # unsorted flush files: statistics rule none of them out, the hash index does; opening
    # a reader for each (and, past the open-reader limit, again at every lookup) made
    # lookups in 160 flush files ~6x slower
    table = SpanTable(tmp_path / "table", row_group_rows=10_000)  # one group > HASH_INDEX_MIN_ROWS
    for file in range(3):  # one file per write, trace ids in arrival order
        table.write(spans_of([f"d{file}-{i}" for i in range(920)], 9), wal_seq=file + 1, sort=False)
    index = table._row_groups
    for label in ["d0-1", "d1-2", "d2-3"]:  # builds each file's hash index
        assert table.scan(FileFilter(trace_id=trace_id_for(label))).collect().height == 9
    assert all(e.hash_keys is not None for e in index._files.values())
    for label in ["d0-500", "d1-600", "d2-700"]:
        index._readers.clear()
        assert table.scan(FileFilter(trace_id=trace_id_for(label))).collect().height == 9
        assert len(index._readers) == 1


def test_files_removed_from_the_table_leave_the_lookup_index(tmp_path):
    with Store.open(tmp_path) as writer:
        for n in range(3):
            writer.append(spans_of([f"t{n}"], 3))
            writer.flush()
        reader = tracelens.open(tmp_path)
        for n in [0, 1, 2, 0]:
            assert reader.trace(trace_id_for(f"t{n}")).height == 3
        index = reader._table._row_groups
        assert len(index._readers) == 3
        writer.compact()  # three files become one
        assert reader.trace(trace_id_for("t1")).height == 3
        live = {str((tmp_path / "table").resolve() / p) for p in reader._table.add_actions()["path"].to_list()}
        assert set(index._readers) <= live and set(index._files) <= live
