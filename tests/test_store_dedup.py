"""Read-time de-duplication: exact (never drops a distinct span, never shows one twice),
whatever put the copies there: a client re-send, a replay, a read racing a flush."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import tracelens
from tracelens import schema as s
from tracelens.store import Store
from tracelens.store import dedup
from tracelens.store.dedup import suspect_rows, without_duplicates
from tracelens.store.table import UNIQUE_FILES, FileFilter, expected_rows, to_table_frame
from tracelens.testing import make_spans, span_id_for, trace_id_for

EPOCH = datetime(2026, 3, 10, 12, tzinfo=UTC)


@pytest.fixture(autouse=True, params=["mask in the plan", "pre-pass"])
def read_mode(request, monkeypatch):
    """Every test runs with both ways a store read de-duplicates (chosen by expected size)."""
    monkeypatch.setattr(dedup, "INLINE_MAX_ROWS", 10**12 if request.param == "mask in the plan" else -1)
    return request.param


def spans(keys: list[tuple[str, str]], *, name: str = "op", start: int = 0) -> pl.DataFrame:
    """One span per (trace label, span label), in this order, starting ``start`` ms after EPOCH."""
    return make_spans(
        [{"trace": t, "span": sp, "service": "web", "name": name, "start": start + i, "end": start + i + 5}
         for i, (t, sp) in enumerate(keys)],
        epoch=EPOCH,
    )


def first_occurrences(frame: pl.DataFrame) -> pl.DataFrame:
    """The straightforward definition the fast path must match exactly (rows and order)."""
    return frame.filter(pl.struct(s.TRACE_ID, s.SPAN_ID).is_first_distinct())


def test_suspects_cover_every_repeated_key_and_nothing_when_all_differ():
    ids = pl.Series([span_id_for(x) for x in ["a", "b", "a", "c", "b", "a"]])
    assert suspect_rows(ids.hash()).to_list() == [0, 1, 2, 4, 5]
    assert suspect_rows(pl.Series([span_id_for(x) for x in "abcdef"]).hash()).is_empty()
    assert suspect_rows(pl.Series([], dtype=pl.String).hash()).is_empty()
    # a hash collision between distinct span ids only makes both rows suspects
    assert suspect_rows(pl.Series([7, 3, 7, 9], dtype=pl.UInt64)).to_list() == [0, 2]


def test_span_ids_repeated_across_traces_are_not_suspects():
    # generators that number spans per trace reuse span ids in every trace: hashing the
    # span id alone made every row a suspect (2.9 GB for the exact pass on 10 M spans)
    frame = spans([(f"t{t}", f"s{i}") for t in range(50) for i in range(4)])
    assert suspect_rows(frame.select(dedup.key_hash()).to_series()).is_empty()
    doubled = pl.concat([frame, frame.head(3)])
    assert suspect_rows(doubled.select(dedup.key_hash()).to_series()).to_list() == [0, 1, 2, 200, 201, 202]


def test_no_duplicates_returns_the_frame_itself_so_the_scan_keeps_its_pushdowns():
    frame = spans([("t1", "a"), ("t1", "b"), ("t2", "c")]).lazy()
    assert without_duplicates(frame) is frame


def test_the_same_span_id_in_two_traces_is_two_spans():
    frame = spans([("t1", "a"), ("t2", "a"), ("t1", "b")])
    assert_frame_equal(without_duplicates(frame.lazy()).collect(), frame)


def test_the_first_copy_wins_and_order_is_kept():
    first = spans([("t1", "a"), ("t1", "b"), ("t2", "a")], name="first")
    again = spans([("t1", "b"), ("t1", "c"), ("t1", "a")], name="again")
    frame = pl.concat([first, again])
    out = without_duplicates(frame.lazy()).collect()
    assert_frame_equal(out, first_occurrences(frame))
    assert out[s.SPAN_ID].to_list() == [span_id_for(x) for x in ["a", "b", "a", "c"]]
    assert out[s.NAME].to_list() == ["first", "first", "first", "again"]


def test_suspects_that_are_not_duplicates_are_all_kept(monkeypatch):
    # as if every span_id hash collided: the exact phase alone decides, and keeps distinct keys
    monkeypatch.setattr(dedup, "suspect_rows", lambda hashes: pl.arange(hashes.len(), eager=True).cast(pl.get_index_type()))
    frame = spans([("t1", "a"), ("t2", "a"), ("t1", "b"), ("t1", "a"), ("t3", "c")])
    out = without_duplicates(frame.lazy()).collect()
    assert_frame_equal(out, first_occurrences(frame))
    assert out.height == 4


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5)), max_size=40))
def test_matches_the_first_occurrence_definition(pairs):
    frame = spans([(f"t{t}", f"s{sp}") for t, sp in pairs])
    assert_frame_equal(without_duplicates(frame.lazy()).collect(), first_occurrences(frame))


def test_a_resend_after_a_flush_is_never_visible_twice_in_any_projection_or_window(tmp_path):
    frame = spans([(f"t{i // 3}", f"s{i}") for i in range(30)])
    with Store.open(tmp_path) as store:
        store.append(frame)
        store.flush()
        store.append(frame.slice(5, 10))  # a client re-send of part of the export
        store.flush()
        store.append(frame.slice(8, 4))  # ... and again, still in the WAL
        assert store.stats()["table_rows"] == frame.height + 10
        for view in (store, tracelens.open(tmp_path)):  # the writer, and a reader of the disk WAL
            assert view.spans().select(s.SERVICE_NAME).collect().height == frame.height
            assert view.spans().select(pl.len()).collect().item() == frame.height
            assert_frame_equal(view.spans().collect().sort(s.START), frame)
            window = view.spans(since=EPOCH + timedelta(milliseconds=6), until=EPOCH + timedelta(milliseconds=11))
            in_window = window.select(s.SPAN_ID).collect().to_series().to_list()
            assert sorted(in_window) == sorted(span_id_for(f"s{i}") for i in range(6, 11))
            trace = view.trace(trace_id_for("t3"))
            assert trace[s.SPAN_ID].to_list() == [span_id_for(f"s{i}") for i in (9, 10, 11)]
            listing = view.traces()
            assert listing.height == 10 and listing["span_count"].to_list() == [3] * 10


def test_copies_from_a_replay_without_a_table_mark_are_not_visible_twice(tmp_path):
    # a table written outside the WAL's exactly-once mark (e.g. a bulk load, or a table
    # restored from a backup) while the WAL still holds the same spans: replay queues them
    frame = spans([(f"t{i // 2}", f"s{i}") for i in range(12)])
    store = Store.open(tmp_path)
    store.append(frame)
    store._release_lock()  # a crash: nothing flushed, the WAL keeps the frame
    Store.open(tmp_path, read_only=True)._table.write_rows(to_table_frame(frame.head(7)))
    again = Store.open(tmp_path)
    assert again.stats()["replayed_spans"] == frame.height
    assert_frame_equal(again.spans().collect().sort(s.START), frame)
    assert_frame_equal(tracelens.open(tmp_path).spans().collect().sort(s.START), frame)
    again.flush()
    assert again.stats()["table_rows"] == frame.height + 7
    assert_frame_equal(again.spans().collect().sort(s.START), frame)
    assert np.array_equal(again.spans().select(s.SPAN_ID).collect().to_series().sort().to_numpy(),
                          frame[s.SPAN_ID].sort().to_numpy())
    again.close()


def test_compaction_certifies_its_files_and_later_copies_are_still_caught(tmp_path, monkeypatch):
    import tracelens.store.store as store_module

    frame = spans([(f"t{i // 3}", f"s{i}") for i in range(24)])
    with Store.open(tmp_path) as store:
        store.append(frame)
        store.flush()
        store.append(frame.slice(0, 5))  # a re-send
        store.flush()
        assert not store._table.scan_checked()[1]
        store.compact()
        assert (tmp_path / "table" / UNIQUE_FILES).exists()
        assert store._table.scan_checked()[1]
        store._table.refresh().vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
        assert store._table.scan_checked()[1]  # vacuum keeps the list
        with monkeypatch.context() as patch:  # certified files, empty WAL: no pre-pass at all
            patch.setattr(store_module, "without_duplicates", lambda frame: pytest.fail("pre-pass ran"))
            assert_frame_equal(store.spans().collect().sort(s.START), frame)
            assert store.trace(trace_id_for("t2")).height == 3
        store.append(frame.slice(3, 4))  # a late re-send: a new, unlisted file
        assert_frame_equal(store.spans().collect().sort(s.START), frame)  # in the WAL
        store.flush()
        assert not store._table.scan_checked()[1]
        assert_frame_equal(store.spans().collect().sort(s.START), frame)
        assert_frame_equal(tracelens.open(tmp_path).spans().collect().sort(s.START), frame)


def test_the_same_span_on_two_days_is_not_certified_away(tmp_path):
    keys = [(f"t{i // 2}", f"s{i}") for i in range(8)]
    first = spans(keys)
    moved = make_spans(  # re-sent with another start day: another partition, same keys
        [{"trace": t, "span": sp, "service": "web", "name": "op", "start": i, "end": i + 5}
         for i, (t, sp) in enumerate(keys[:3])],
        epoch=EPOCH + timedelta(days=1),
    )
    with Store.open(tmp_path) as store:
        store.append(first)
        store.flush()
        store.append(moved)
        store.flush()
        store.compact()
        assert not store._table.scan_checked()[1]
        assert store.spans().collect().height == first.height
        assert store.spans(since=EPOCH + timedelta(hours=12)).collect().height == 3  # the window's own copies


def test_an_unreadable_list_certifies_nothing(tmp_path):
    frame = spans([("t1", "a"), ("t1", "b")])
    with Store.open(tmp_path) as store:
        store.append(frame)
        store.flush()
        store.compact()
        assert store._table.scan_checked()[1]
        (tmp_path / "table" / UNIQUE_FILES).write_text("{not json")
        assert not store._table.scan_checked()[1]
        assert store.spans().collect().height == 2


def test_expected_rows_scale_each_file_by_the_share_of_its_time_range_in_the_window():
    second = 1_000_000_000
    chosen = pl.DataFrame({"num_records": [100, 50], "min.start": [0, 100 * second], "max.start": [100 * second, 100 * second]})
    assert expected_rows(chosen, FileFilter()) == 150
    assert expected_rows(chosen, FileFilter(start_from_ns=50 * second)) == 100  # half the first, all the second
    assert expected_rows(chosen, FileFilter(start_from_ns=0, start_before_ns=10 * second)) == 10
    assert expected_rows(chosen.drop("min.start", "max.start"), FileFilter(start_from_ns=5)) == 150

