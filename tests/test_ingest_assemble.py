"""The shared assembly helpers behind both fast decoders (tracelens/ingest/_assemble.py)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tracelens.ingest import _assemble as a
from tracelens.ingest import _wire as w


def test_hex_ids_become_views_over_their_digits() -> None:
    buf = np.frombuffer(bytes(range(48)), np.uint8)
    chars, views = w.span_columns(buf, _span_table([0, 16], [32, 40]), np.zeros((2, 1, 16), np.uint8))[:2]
    assert a.digit_views(chars, views).to_pylist() == [bytes(range(16)).hex(), bytes(range(16, 32)).hex()]


def test_digit_views_cut_the_digits_into_the_chunks_the_views_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(a, "VIEW_CHUNK_BITS", 5)  # 32-byte chunks: each 32-digit id in its own
    ids = [f"{i:032x}" for i in range(3)]
    chars = np.frombuffer("".join(ids).encode(), np.uint8).copy()
    views = np.zeros((3, 16), np.uint8)
    for i in range(3):
        views[i, 0] = 32
        views[i, 4:8] = chars[32 * i : 32 * i + 4]
        views[i, 8] = i  # buffer index, offset 0 within it
    assert a.digit_views(chars, views).to_pylist() == ids


def test_take_rows_repeats_views_and_nulls() -> None:
    arr = pa.array(["a-service-name-longer-than-12", None, "short"], pa.string_view())
    rows = np.array([2, 0, 1, 0, 2])
    assert a.take_rows(arr, rows).to_pylist() == ["short", "a-service-name-longer-than-12", None,
                                                  "a-service-name-longer-than-12", "short"]
    assert a.take_rows(pa.array([7, None], pa.int64()), np.array([1, 0, 0])).to_pylist() == [None, 7, 7]


def test_null_arrays_share_zeros_and_grow() -> None:
    small = a.null_array(3, pa.string_view())
    big = a.null_array(100_000, pa.int64())  # beyond the initial shared buffer
    assert small.to_pylist() == [None] * 3 and small.null_count == 3
    assert big.null_count == 100_000 and big.type == pa.int64()
    assert a.empty_strings(2, []).to_pylist() == ["", ""]


def test_take_views_gathers_whole_views() -> None:
    views = np.arange(48, dtype=np.uint8).reshape(3, 16)
    assert np.array_equal(a.take_views(views, np.array([2, 2, 0])), views[[2, 2, 0]])


def test_nonzero_rows_of_a_strided_column() -> None:
    table = np.zeros((5, 3), np.int64)
    assert len(a.nonzero_rows(table[:, 1])) == 0
    table[3, 1] = 1
    assert a.nonzero_rows(table[:, 1]).tolist() == [3]


def _span_table(tid_offsets: list[int], sid_offsets: list[int]) -> np.ndarray:
    si = np.zeros((len(tid_offsets), w.S_COLS), np.int64)
    si[:, w.S_TID_OFF] = tid_offsets
    si[:, w.S_SID_OFF] = sid_offsets
    return si
