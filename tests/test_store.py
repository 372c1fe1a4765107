"""The span store on real Delta tables in tmp_path: flush, reads, dedup, filters, maintenance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable
from polars.testing import assert_frame_equal

import tracelens
from tracelens import schema as s
from tracelens.config import StoreConfig
from tracelens.errors import SchemaError, StoreError, TraceNotFoundError
from tracelens.store import Store
from tracelens.store.table import DAY
from tracelens.testing import make_spans, trace_id_for

EPOCH = datetime(2026, 3, 10, 12, tzinfo=UTC)


def traces_frame(labels: list[str], *, epoch: datetime = EPOCH, service: str = "web") -> pl.DataFrame:
    """Three spans per trace: web root, a db client call that errors, an internal child."""
    rows = []
    for n, label in enumerate(labels):
        base = n * 5
        rows += [
            {"trace": label, "span": f"{label}/root", "service": service, "name": "GET /", "kind": "server",
             "start": base, "end": base + 100, "attrs": {"http.route": "/", "http.response.status_code": 200}},
            {"trace": label, "span": f"{label}/db", "parent": f"{label}/root", "service": "db", "name": "SELECT",
             "kind": "client", "start": base + 10, "end": base + 60, "status": "error",
             "events": [(base + 20, "exception", {"exception.type": "Timeout"})]},
            {"trace": label, "span": f"{label}/work", "parent": f"{label}/root", "service": service, "name": "work",
             "start": base + 61, "end": base + 90, "links": [("other", "x", {"why": "batch"})]},
        ]
    return make_spans(rows, epoch=epoch)


def canonical(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(s.TRACE_ID, s.SPAN_ID)


def physical_rows(path: Path) -> pl.DataFrame:
    """What is really in the Delta table (no read-time dedup)."""
    return pl.DataFrame(DeltaTable(str(path / "table")).to_pyarrow_table())


def test_flush_then_read_gives_back_exactly_what_was_appended(tmp_path):
    frame = traces_frame(["a", "b", "c"])
    with Store.open(tmp_path) as store:
        store.append(frame)
        assert store.flush() == frame.height
        read = store.spans().collect()
    assert read.schema == s.SPAN_SCHEMA
    assert_frame_equal(canonical(read), canonical(frame))
    assert s.problems(read) == []


def test_flush_files_write_enums_as_dictionary_pages_and_ids_plain(tmp_path):
    import pyarrow.parquet as pq

    frame = traces_frame(["a", "b"])
    with Store.open(tmp_path) as store:
        store.append(frame)
        store.flush()
    (data_file,) = (tmp_path / "table").rglob("*.parquet")
    columns = pq.ParquetFile(data_file).metadata.row_group(0)
    encodings = {columns.column(i).path_in_schema: columns.column(i).encodings for i in range(columns.num_columns)}
    for enum_leaf in ("kind", "status_code", "attributes.list.element.type", "events.list.element.attributes.list.element.type"):
        assert "RLE_DICTIONARY" in encodings[enum_leaf], enum_leaf
    for plain_leaf in ("trace_id", "span_id", "attributes.list.element.str"):
        assert "RLE_DICTIONARY" not in encodings[plain_leaf], plain_leaf
    # other Delta readers see plain strings
    assert sorted(set(physical_rows(tmp_path)[s.KIND].to_list())) == ["client", "internal", "server"]


def test_flush_files_read_back_the_same_whether_written_from_string_views_or_not(tmp_path, monkeypatch):
    """Flush files are written from polars' string views where the installed pyarrow can
    write them to Parquet, and from Arrow strings where it cannot (older pyarrow)."""
    import pyarrow.parquet as pq

    from tracelens.store import table as table_module

    frame = traces_frame(["a", "b", "c"])
    table_module.write_flush_file(frame, tmp_path / "views.parquet", 4)
    monkeypatch.setattr(table_module, "_parquet_writes_string_views", lambda: False)
    table_module.write_flush_file(frame, tmp_path / "strings.parquet", 4)
    views, strings = pq.read_table(tmp_path / "views.parquet"), pq.read_table(tmp_path / "strings.parquet")
    assert views.equals(strings) and views.num_rows == frame.height
    assert pq.read_schema(tmp_path / "views.parquet").equals(pq.read_schema(tmp_path / "strings.parquet"))


def test_unflushed_spans_are_readable_and_survive_a_reopen(tmp_path):
    frame = traces_frame(["a", "b"])
    store = Store.open(tmp_path)
    store.append(frame)
    assert_frame_equal(canonical(store.spans().collect()), canonical(frame))
    assert store.backlog_bytes() > 0
    # simulate a crash: no close(), the lock is dropped with the process in real life
    store._release_lock()
    again = Store.open(tmp_path)
    assert again.stats()["replayed_spans"] == frame.height
    assert_frame_equal(canonical(again.spans().collect()), canonical(frame))
    again.close()
    assert_frame_equal(canonical(tracelens.open(tmp_path).spans().collect()), canonical(frame))


def test_reads_mix_flushed_and_unflushed_spans(tmp_path):
    first, second = traces_frame(["a"]), traces_frame(["b"])
    with Store.open(tmp_path) as store:
        store.append(first)
        store.flush()
        store.append(second)
        stats = store.stats()
        assert stats["table_rows"] == first.height and stats["wal_backlog_spans"] == second.height
        both = pl.concat([first, second])
        assert_frame_equal(canonical(store.spans().collect()), canonical(both))
        reader = tracelens.open(tmp_path)  # another reader sees the WAL part from disk
        assert_frame_equal(canonical(reader.spans().collect()), canonical(both))


def test_the_same_spans_twice_are_visible_and_stored_once(tmp_path):
    frame = traces_frame(["a", "b"])
    with Store.open(tmp_path) as store:
        store.append(frame)
        store.append(frame)  # a client retry of the same request (R1)
        assert store.spans().collect().height == frame.height  # dedup before any flush
        store.flush()  # both copies in one flush batch
        assert physical_rows(tmp_path).height == frame.height
        store.append(frame.head(2))  # a retry arriving after the first copy was flushed
        store.flush()
        assert physical_rows(tmp_path).height == frame.height + 2
        assert_frame_equal(canonical(store.spans().collect()), canonical(frame))
        report = store.compact()
        assert report["duplicates_removed"] == 2
        assert physical_rows(tmp_path).height == frame.height
        assert_frame_equal(canonical(store.spans().collect()), canonical(frame))


def test_load_writes_straight_into_the_table_without_the_wal(tmp_path):
    frame = traces_frame(["a", "b"])
    with Store.open(tmp_path) as store:
        assert store.load(frame) == frame.height
        stats = store.stats()
        assert (stats["wal_appends"], stats["wal_backlog_spans"], stats["spans_loaded"]) == (0, 0, frame.height)
        assert physical_rows(tmp_path).height == frame.height  # committed before load returned
        assert store.load(frame.head(0)) == 0
    assert not any(p.stat().st_size for p in (tmp_path / "wal").glob("*") if p.is_file())
    reader = tracelens.open(tmp_path)
    assert_frame_equal(canonical(reader.spans().collect()), canonical(frame))
    with Store.open(tmp_path) as store:  # loading again (an import run twice): stored once
        store.load(frame)
        assert store.stats()["flushed_seq"] == 0  # loads leave the WAL mark alone
        assert_frame_equal(canonical(store.spans().collect()), canonical(frame))
        assert store.compact()["duplicates_removed"] == frame.height
    assert physical_rows(tmp_path).height == frame.height


def test_load_mixes_with_appended_spans_and_keeps_the_wal_mark(tmp_path):
    first, second = traces_frame(["a"]), traces_frame(["b"])
    with Store.open(tmp_path) as store:
        store.append(first)
        store.flush()
        mark = store.stats()["flushed_seq"]
        store.load(second)
        assert store.stats()["flushed_seq"] == mark
    with Store.open(tmp_path) as store:  # a reopen replays nothing: the mark still covers `first`
        assert store.stats()["replayed_records"] == 0
        assert_frame_equal(canonical(store.spans().collect()), canonical(pl.concat([first, second])))


def test_load_refuses_frames_outside_the_contract_and_read_only_stores(tmp_path):
    frame = traces_frame(["a"])
    with Store.open(tmp_path) as store:
        with pytest.raises(SchemaError, match="load"):
            store.load(frame.drop(s.NAME))
    with pytest.raises(StoreError, match="read-only"):
        tracelens.open(tmp_path).load(frame)


def test_trace_lookup_and_not_found(tmp_path):
    frame = traces_frame(["a", "b", "c"])
    with Store.open(tmp_path) as store:
        store.append(frame.filter(pl.col(s.TRACE_ID) != trace_id_for("c")))
        store.flush()
        store.append(frame.filter(pl.col(s.TRACE_ID) == trace_id_for("c")))
        trace_b = store.trace(trace_id_for("b").upper())  # pasted ids may be upper case
        assert trace_b[s.TRACE_ID].unique().to_list() == [trace_id_for("b")]
        assert trace_b.height == 3 and trace_b[s.START].is_sorted()
        assert store.trace(trace_id_for("c")).height == 3  # not yet flushed
        with pytest.raises(TraceNotFoundError):
            store.trace(trace_id_for("nope"))


def test_time_service_and_trace_filters(tmp_path):
    now = datetime.now(UTC).replace(microsecond=0)
    old = traces_frame(["old"], epoch=now - timedelta(days=3))
    recent = traces_frame(["recent"], epoch=now - timedelta(minutes=10))
    other = traces_frame(["other"], epoch=now - timedelta(minutes=5), service="api")
    with Store.open(tmp_path) as store:
        store.append(old)
        store.append(recent)
        store.flush()
        store.append(other)  # unflushed: filters apply to the WAL side too
        ids = lambda lf: set(lf.collect()[s.TRACE_ID].unique().to_list())  # noqa: E731
        assert ids(store.spans(since="1h")) == {trace_id_for("recent"), trace_id_for("other")}
        assert ids(store.spans(until="1d")) == {trace_id_for("old")}
        assert ids(store.spans(since=now - timedelta(days=4), until=now - timedelta(minutes=7))) == {
            trace_id_for("old"), trace_id_for("recent")}
        assert store.spans(service="db").collect()[s.SERVICE_NAME].unique().to_list() == ["db"]
        assert store.spans(service="db").collect().height == 3
        assert ids(store.spans(service="api")) == {trace_id_for("other")}
        assert ids(store.spans(trace_id=trace_id_for("old"))) == {trace_id_for("old")}
        assert store.spans(since="1h", service="web").collect().height == 2
        days = physical_rows(tmp_path)[DAY].unique().sort().to_list()
        assert len(days) == 2  # partitioned by day


def test_traces_summary_filters_sort_and_limit(tmp_path):
    frame = traces_frame(["a", "b", "c"])
    api = traces_frame(["d"], service="api", epoch=EPOCH + timedelta(hours=1))
    with Store.open(tmp_path) as store:
        store.append(frame)
        store.flush()
        store.append(api)
        summary = store.traces()
        assert summary.columns == ["trace_id", "root_service", "root_name", "start", "duration", "span_count", "error_count"]
        assert summary[s.TRACE_ID].to_list()[0] == trace_id_for("d")  # newest first
        row = summary.filter(pl.col(s.TRACE_ID) == trace_id_for("a")).row(0, named=True)
        assert row["root_service"] == "web" and row["root_name"] == "GET /"
        assert row["span_count"] == 3 and row["error_count"] == 1
        assert row["duration"] == timedelta(milliseconds=100)
        assert store.traces(service="api")[s.TRACE_ID].to_list() == [trace_id_for("d")]
        assert store.traces(service="db").height == 4  # every trace touches db
        assert store.traces(limit=2, sort="start", descending=False)[s.TRACE_ID].to_list() == [
            trace_id_for("a"), trace_id_for("b")]
        with pytest.raises(StoreError, match="cannot sort"):
            store.traces(sort="bogus")


def test_retention_deletes_old_days_from_disk(tmp_path):
    now = datetime.now(UTC)
    with Store.open(tmp_path) as store:
        store.append(traces_frame(["ancient"], epoch=now - timedelta(days=10)))
        store.append(traces_frame(["fresh"], epoch=now - timedelta(minutes=1)))
        store.flush()
        files_before = list((tmp_path / "table").rglob("*.parquet"))
        report = store.apply_retention("7d")
        assert report["files_removed"] == 1
        assert set(store.spans().collect()[s.TRACE_ID].unique().to_list()) == {trace_id_for("fresh")}
        files_after = list((tmp_path / "table").rglob("*.parquet"))
        assert len(files_after) == len(files_before) - 1  # vacuumed, not just unlinked in the log
        assert store.apply_retention(timedelta(days=7))["files_removed"] == 0


def test_files_staged_by_a_load_survive_retention_until_committed(tmp_path):
    now = datetime.now(UTC)
    loaded = traces_frame(["loaded"], epoch=now - timedelta(minutes=1))
    with Store.open(tmp_path) as store:
        store.append(traces_frame(["ancient"], epoch=now - timedelta(days=10)))
        store.flush()
        staged = store._table.stage(loaded)  # a load between its encode and its commit
        assert store.apply_retention("7d")["files_removed"] == 1  # the vacuum runs meanwhile
        store._table.commit(staged, wal_seq=None)
        assert_frame_equal(canonical(store.spans().collect()), canonical(loaded))


def test_retention_runs_from_the_flusher_when_configured(tmp_path):
    now = datetime.now(UTC)
    config = StoreConfig(path=tmp_path, retention_seconds=86400 * 2, flush_interval_seconds=0.05)
    with Store.open(tmp_path, config) as store:
        store.append(traces_frame(["ancient"], epoch=now - timedelta(days=5)))
        store.append(traces_frame(["fresh"], epoch=now))
        store.flush()
        store.start_flusher()
        for _ in range(400):
            if store.stats()["table_days"] == 1:
                break
            store._stop.wait(0.05)
        assert set(store.spans().collect()[s.TRACE_ID].unique().to_list()) == {trace_id_for("fresh")}


def test_compaction_sorts_and_merges_small_files(tmp_path):
    labels = [f"t{i}" for i in range(30)]
    with Store.open(tmp_path) as store:
        for chunk in range(3):
            store.append(traces_frame(labels[chunk * 10 : (chunk + 1) * 10]))
            store.flush()
        before = store.spans().collect()
        assert store.stats()["table_files"] == 3
        report = store.compact()
        assert report["zordered_days"] == [EPOCH.date().isoformat()]
        assert store.stats()["table_files"] == 1
        assert_frame_equal(canonical(store.spans().collect()), canonical(before))
        physical = physical_rows(tmp_path)
        assert physical[s.TRACE_ID].is_sorted()
        assert store.compact() == {"rewritten_days": [], "zordered_days": [], "duplicates_removed": 0}


def test_flusher_thread_moves_data_and_deletes_wal_segments(tmp_path):
    config = StoreConfig(path=tmp_path, flush_interval_seconds=0.05, max_wal_segment_bytes=1)
    with Store.open(tmp_path, config) as store:
        store.start_flusher()
        for label in ("a", "b", "c"):
            store.append(traces_frame([label]))
        for _ in range(400):  # segments are deleted just after the backlog drops to 0
            if store.backlog_bytes() == 0 and not list((tmp_path / "wal").glob("*.wal")):
                break
            store._stop.wait(0.05)
        stats = store.stats()
        assert stats["wal_backlog_bytes"] == 0 and stats["table_rows"] == 9
        assert stats["spans_flushed"] == 9 and stats["last_flush_time"] is not None
        assert list((tmp_path / "wal").glob("*.wal")) == []


def test_flush_delay_throttles_the_flusher(tmp_path):
    config = StoreConfig(path=tmp_path, flush_interval_seconds=0.01, flush_delay_seconds=30)
    store = Store.open(tmp_path, config)
    store.start_flusher()
    store.append(traces_frame(["a"]))
    store._stop.wait(0.3)
    assert store.backlog_bytes() > 0 and store.stats()["table_rows"] == 0
    store.close()  # the final flush does not wait for the throttle
    assert tracelens.open(tmp_path).stats()["table_rows"] == 3


def test_one_writer_per_directory_and_read_only_refuses_writes(tmp_path):
    with Store.open(tmp_path):
        with pytest.raises(StoreError, match="already open for writing"):
            Store.open(tmp_path)
        reader = tracelens.open(tmp_path)
        with pytest.raises(StoreError, match="read-only"):
            reader.append(traces_frame(["a"]))
    Store.open(tmp_path).close()  # released on close
    with pytest.raises(StoreError, match="no span store"):
        tracelens.open(tmp_path / "missing")


def test_append_rejects_frames_outside_the_contract(tmp_path):
    with Store.open(tmp_path) as store:
        with pytest.raises(SchemaError, match="missing column"):
            store.append(traces_frame(["a"]).drop(s.LINKS))
        store.append(s.empty_frame())  # nothing to do, not an error
        assert store.stats()["wal_appends"] == 0


def test_close_is_idempotent_and_flushes(tmp_path):
    store = Store.open(tmp_path)
    store.append(traces_frame(["a"]))
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.append(traces_frame(["b"]))
    reader = tracelens.open(tmp_path)
    stats = reader.stats()
    assert stats["table_rows"] == 3 and stats["wal_backlog_records"] == 0
    assert abs(stats["table_last_commit_time"] - datetime.now(UTC)) < timedelta(minutes=5)


def test_flush_batches_spanning_days_become_one_sorted_file_per_day(tmp_path):
    from tracelens.store.table import day_slices, to_table_frame

    frame = pl.concat([traces_frame([f"d{d}-{i}" for i in range(4)], epoch=EPOCH + timedelta(days=d)) for d in (2, 0, 1)])
    rows = to_table_frame(frame)
    slices = day_slices(rows)
    assert [day for day, _ in slices] == [(EPOCH + timedelta(days=d)).date().isoformat() for d in (0, 1, 2)]
    assert all(part[s.TRACE_ID].is_sorted() and part.height == 12 for _, part in slices)
    shuffled = rows.sample(fraction=1.0, shuffle=True, seed=1)  # not grouped: partition_by path
    assert sorted((d, p.height) for d, p in day_slices(shuffled)) == [(d, p.height) for d, p in slices]
    with Store.open(tmp_path) as store:
        store.append(frame)
        store.flush()
        assert store.stats()["table_files"] == 3
        assert_frame_equal(canonical(store.spans().collect()), canonical(frame))


def test_a_flush_that_fails_after_its_commit_is_not_written_twice(tmp_path, monkeypatch):
    from tracelens.store import table as table_module

    frame = traces_frame(["a"])
    with Store.open(tmp_path) as store:
        store.append(frame)
        real_sync = table_module.SpanTable._sync_log
        calls = []

        def failing_sync(self, version):
            calls.append(version)
            if len(calls) == 1:
                raise OSError(5, "Input/output error")
            real_sync(self, version)

        monkeypatch.setattr(table_module.SpanTable, "_sync_log", failing_sync)
        with pytest.raises(OSError):
            store.flush()
        assert store.backlog_bytes() > 0  # still queued: the flush did not complete
        later = traces_frame(["b"])
        store.append(later)  # the retry's batch is bigger than the failed one
        store.flush()
        assert physical_rows(tmp_path).height == frame.height + later.height  # nothing twice
        assert store.backlog_bytes() == 0 and store.stats()["spans_flushed"] == 6


def test_trace_lookup_reads_only_row_groups_holding_the_trace(tmp_path):
    from tracelens.store.table import FileFilter, SpanTable

    table = SpanTable(tmp_path / "table", row_group_rows=8)  # many row groups per file
    labels = [f"t{i}" for i in range(40)]
    first, second = traces_frame(labels[:20]), traces_frame(labels[20:], epoch=EPOCH + timedelta(days=1))
    table.write(first, wal_seq=1)
    table.write(second, wal_seq=2)
    everything = table.scan().collect()
    assert everything.height == 120
    for label in labels:
        got = table.scan(FileFilter(trace_id=trace_id_for(label))).collect()
        expected = everything.filter(pl.col(s.TRACE_ID) == trace_id_for(label))
        assert got.schema == s.SPAN_SCHEMA
        assert_frame_equal(canonical(got), canonical(expected))
    assert table.scan(FileFilter(trace_id=trace_id_for("absent"))).collect().height == 0
    index = table._row_groups
    assert all(len(entry.sizes) > 1 for entry in index._files.values())


def test_closed_days_to_compact_leaves_today_and_single_files_alone():
    from tracelens.store.store import closed_days_to_compact

    files = {"2026-03-09": 4, "2026-03-10": 1, "2026-03-11": 7, "2026-03-12": 9}
    assert closed_days_to_compact(files, "2026-03-12") == ["2026-03-09", "2026-03-11"]
    assert closed_days_to_compact(files, "2026-03-09") == []
    assert closed_days_to_compact({}, "2026-03-12") == []


def test_running_store_compacts_closed_days_by_itself(tmp_path):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    config = StoreConfig(path=tmp_path, flush_interval_seconds=0.05, compact_check_seconds=0.2)
    with Store.open(tmp_path, config) as store:
        for chunk in range(3):  # three flush files for yesterday, two for today
            store.append(traces_frame([f"old{chunk}", f"old{chunk}b"], epoch=yesterday + timedelta(hours=1)))
            store.flush()
        for chunk in range(2):
            store.append(traces_frame([f"new{chunk}"], epoch=today + timedelta(minutes=1)))
            store.flush()
        store.append(traces_frame(["old0"], epoch=yesterday + timedelta(hours=1)))  # a late duplicate
        before = canonical(store.spans().collect())
        files = store._table.files_per_day
        assert files() == {yesterday.date().isoformat(): 3, today.date().isoformat(): 2}
        store.start_flusher()
        for _ in range(400):
            if store.stats()["compactions"] >= 1 and files()[yesterday.date().isoformat()] == 1:
                break
            store._stop.wait(0.05)
        assert files() == {yesterday.date().isoformat(): 1, today.date().isoformat(): 2}  # today untouched
        assert_frame_equal(canonical(store.spans().collect()), before)
        yesterday_rows = physical_rows(tmp_path).filter(pl.col(DAY) == yesterday.date().isoformat())
        assert yesterday_rows.height == 18  # 6 traces x 3 spans: the late duplicate is gone physically
        assert yesterday_rows[s.TRACE_ID].is_sorted()
        checks = store.stats()["compactions"]
        store._stop.wait(0.5)  # later checks find nothing to do
        assert store.stats()["compactions"] == checks


def test_a_flush_round_shares_the_front_of_the_queue_between_the_writers():
    from tracelens.store.store import _flush_batches, _Queued

    def seqs(sizes: list[int], batch_bytes: int, count: int) -> list[list[int]]:
        queue = [_Queued(seq, None, nbytes, 1) for seq, nbytes in enumerate(sizes, start=1)]
        return [[item.seq for item in batch] for batch in _flush_batches(queue, batch_bytes, count)]

    # at most count * batch_bytes, in consecutive batches of about equal size
    assert seqs([40, 40, 40, 100, 10, 10], 90, 2) == [[1, 2], [3]]
    assert seqs([10] * 20, 80, 2) == [[1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15, 16]]
    # a burst's last round under two full batches still goes to both writers
    assert seqs([10] * 10, 80, 2) == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]
    # a light load's round stays one batch (each share would be under batch_bytes / 8)
    assert seqs([5, 5], 80, 2) == [[1, 2]]
    # a record bigger than everything is a round of its own
    assert seqs([500, 10], 80, 2) == [[1]]
    assert seqs([], 80, 2) == []


def test_a_backlog_of_several_batches_is_written_by_parallel_writers_in_one_commit(tmp_path, monkeypatch):
    from tracelens.store import table as table_module

    from tracelens.store.store import encode_frame

    frames = [traces_frame([f"{label}{n}" for n in range(20)]) for label in "abc"]
    record_bytes = max(len(encode_frame(frame)) for frame in frames)
    config = StoreConfig(path=tmp_path, flush_interval_seconds=3600, flush_batch_bytes=record_bytes)  # a record per batch
    writers: set[str] = set()
    real_stage = table_module.SpanTable.stage

    def stage(self, frame, **kwargs):
        import threading

        writers.add(threading.current_thread().name)
        return real_stage(self, frame, **kwargs)

    monkeypatch.setattr(table_module.SpanTable, "stage", stage)
    with Store.open(tmp_path, config) as store:
        for frame in frames:
            store.append(frame)
        version = DeltaTable(str(tmp_path / "table")).version() if (tmp_path / "table" / "_delta_log").exists() else -1
        assert store.flush() == sum(f.height for f in frames)
        table = DeltaTable(str(tmp_path / "table"))
        # FLUSH_WRITERS (2) batches per commit: two commits for three batches, one file per batch
        assert table.version() - version == 2 + (version < 0)
        assert len(table.file_uris()) == 3
        assert len(writers) == 2 and any(name.startswith("tracelens-writer") for name in writers)
        assert store.stats()["wal_backlog_bytes"] == 0
        read = store.spans().collect()
    assert_frame_equal(canonical(read), canonical(pl.concat(frames)))
    assert physical_rows(tmp_path).height == sum(f.height for f in frames)


@pytest.mark.parametrize("failing", ["tracelens-writer", "MainThread"])
def test_a_failing_parallel_writer_commits_nothing_and_the_retry_loses_nothing(tmp_path, monkeypatch, failing):
    from tracelens.store import table as table_module

    from tracelens.store.store import encode_frame

    frames = [traces_frame([f"{label}{n}" for n in range(5)]) for label in "ab"]
    config = StoreConfig(path=tmp_path, flush_interval_seconds=3600, flush_batch_bytes=max(len(encode_frame(f)) for f in frames))
    real_stage = table_module.SpanTable.stage
    failures = []

    def stage(self, frame, **kwargs):
        import threading

        if threading.current_thread().name.startswith(failing) and not failures:
            failures.append(frame.height)
            raise OSError(28, "No space left on device")
        return real_stage(self, frame, **kwargs)

    monkeypatch.setattr(table_module.SpanTable, "stage", stage)
    with Store.open(tmp_path, config) as store:
        for frame in frames:
            store.append(frame)
        with pytest.raises(OSError):
            store.flush()
        assert failures and store.stats()["table_rows"] == 0 and store.backlog_bytes() > 0
        assert list((tmp_path / "table").rglob("*.parquet")) == []  # the other writer's file is gone
        assert store.flush() == sum(f.height for f in frames)
        assert store.backlog_bytes() == 0
    assert physical_rows(tmp_path).height == sum(f.height for f in frames)


def test_the_tail_of_a_burst_is_flushed_without_waiting_for_the_interval(tmp_path):
    from tracelens.store.store import encode_frame

    frames = [traces_frame([f"{label}{n}" for n in range(20)]) for label in "abcde"]
    record_bytes = max(len(encode_frame(frame)) for frame in frames)
    config = StoreConfig(path=tmp_path, flush_interval_seconds=3600, flush_batch_bytes=2 * record_bytes)
    with Store.open(tmp_path, config) as store:
        for frame in frames:  # a burst: two full batches and half of one
            store.append(frame)
        store.start_flusher()
        for _ in range(200):
            if store.stats()["table_rows"] == sum(f.height for f in frames):
                break
            store._stop.wait(0.05)  # noqa: SLF001
        assert store.stats()["table_rows"] == sum(f.height for f in frames)  # not an hour later
        store.append(traces_frame(["light"]))  # a light load's spans wait for the interval
        store._stop.wait(0.3)  # noqa: SLF001
        assert store.stats()["table_rows"] == sum(f.height for f in frames)


def test_a_readers_stats_count_the_unflushed_wal_records(tmp_path):
    from tracelens.store import wal as walmod
    from tracelens.store.store import encode_frame

    frames = [traces_frame([label]) for label in "abc"]
    config = StoreConfig(path=tmp_path, flush_interval_seconds=3600, flush_batch_bytes=max(len(encode_frame(f)) for f in frames))
    with Store.open(tmp_path, config) as writer:
        for frame in frames:
            writer.append(frame)
        writer._flush_batch()  # noqa: SLF001 - one round: two of the three records, their segment stays
        stats = tracelens.open(tmp_path).stats()  # another reader, while the writer holds the rest
        flushed = stats["flushed_seq"]
        records = list(walmod.read_records(tmp_path / "wal"))
        unflushed = [r for r in records if r.seq > flushed]
        assert len(records) == 3 and len(unflushed) == 1  # flushed records are still in the WAL
        assert stats["wal_backlog_records"] == 1
        assert stats["wal_backlog_bytes"] == len(unflushed[0].payload)
        assert stats["table_rows"] == 6
