"""The bulk kernels give bit-identical results on one thread and on several, and the
fast id parser agrees with the exact slow path on awkward ids."""

from __future__ import annotations

import numpy as np
import polars as pl
from random_traces import random_traces

from tracelens import schema as s
from tracelens.analysis.columnar import _hex_ids, analyze, share_by_trace


def _arrays(result) -> list[np.ndarray]:
    return [result.order, result.offsets, result.status, result.parent, result.self_time_ns, result.critical_ns,
            result.root_pos, result.duration_ns, result.counts, result.sec_pos, result.sec_start, result.sec_end,
            result.sec_off]


def test_threads_do_not_change_any_result():
    frame = pl.concat([random_traces(700, seed) for seed in (11, 12)])
    one = analyze(frame, threads=1)
    assert one.threads == 1
    for threads in (2, 3, 8):
        many = analyze(frame, threads=threads)
        assert many.threads == threads
        for a, b in zip(_arrays(one), _arrays(many), strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b)
        placed = np.isin(one.status, (0, 1))  # clipped times are defined for placed spans
        assert np.array_equal(one.clipped_start[placed], many.clipped_start[placed])
        assert np.array_equal(one.clipped_end[placed], many.clipped_end[placed])
        assert one.sections.equals(many.sections)
        assert share_by_trace(one, [s.SERVICE_NAME]).equals(share_by_trace(many, [s.SERVICE_NAME]))


def test_more_threads_than_traces():
    frame = random_traces(2, 5)
    assert analyze(frame, threads=8).sections.equals(analyze(frame, threads=1).sections)
    empty = frame.head(0)
    assert analyze(empty, threads=4).sections.height == 0


def _slow_hex(values: list[str | None], width: int) -> list[tuple[int, bool]]:
    out = []
    for v in values:
        good = v is not None and len(v) == width and all(c in "0123456789abcdef" for c in v)
        out.append((int(v[-16:], 16) if good else None, good))
    return out


def test_hex_parser_word_and_byte_paths_agree_with_python():
    rng = np.random.default_rng(3)
    ids = [f"{int(x):016x}" for x in rng.integers(0, 2**63, 300)]
    awkward = ["0123456789abcdef", "0123456789ABCDEF", "0123456789abcdeg", "0123456789abcde/", "0123456789abcde:",
               "`123456789abcdef", "0123456789abcdé", "0123456789abcd\x80f", "abc", "", None, "0" * 17, "f" * 16]
    # a short string first shifts every later id off the 8-byte grid (the byte path)
    for values in (ids + awkward, ["x"] + ids + awkward, awkward + ids):
        series = pl.Series(values, dtype=pl.String)
        for threads in (1, 3):
            _, lo, ok = _hex_ids(series, 16, threads)
            want = _slow_hex(values, 16)
            assert [bool(x) for x in ok] == [g for _, g in want]
            assert [int(v) for v, g in zip(lo, ok, strict=True) if g] == [v for v, g in want if g]


def test_hex_parser_32_wide_halves():
    values = ["0123456789abcdef" "fedcba9876543210", "f" * 32, "0" * 31 + "1", "0" * 31 + "G"]
    for series in (pl.Series(values), pl.Series(["y", *values])):
        hi, lo, ok = _hex_ids(series, 32)
        got = [(int(h) << 64 | int(low)) if o else None for h, low, o in zip(hi, lo, ok, strict=True)]
        want = [int(v, 16) if all(c in "0123456789abcdef" for c in v) else None for v in series.to_list()]
        assert got == [w if w is not None and len(v) == 32 else None for v, w in zip(series.to_list(), want, strict=True)]


def test_hex_formatter_is_the_inverse_of_the_parser():
    from tracelens.analysis.columnar import _hex_strings

    rng = np.random.default_rng(9)
    lo = np.concatenate([rng.integers(0, 2**63, 200).astype(np.uint64) * np.uint64(2) + np.uint64(1),
                         np.array([0, 2**64 - 1, 0x0123456789ABCDEF], np.uint64)])
    hi = lo[::-1].copy()
    assert _hex_strings(lo, lo, 16).to_list() == [f"{int(v):016x}" for v in lo]
    assert _hex_strings(hi, lo, 32).to_list() == [f"{int(h):016x}{int(v):016x}" for h, v in zip(hi, lo, strict=True)]
    back_hi, back_lo, ok = _hex_ids(_hex_strings(hi, lo, 32), 32)
    assert ok.all() and np.array_equal(back_hi, hi) and np.array_equal(back_lo, lo)


def test_row_arrays_do_not_depend_on_threads():
    frame = random_traces(500, 21)
    one = analyze(frame, threads=1).row_arrays()
    many = analyze(frame, threads=3).row_arrays()
    for a, b in zip(one, many, strict=True):
        assert np.array_equal(a, b)
    parent, trace, critical, duplicate = one
    assert (critical[duplicate] == 0).all() and (parent[duplicate] == -1).all()


def test_service_graph_is_the_same_on_several_threads(monkeypatch):
    from tracelens.analysis import columnar
    from tracelens.analysis.service_graph import service_graph
    from tracelens.demo.topology import synthetic_topology

    spans = synthetic_topology(300, seed=4)
    one = service_graph(spans)
    monkeypatch.setattr(columnar, "PARALLEL_MIN_SPANS", 0)
    monkeypatch.setattr(columnar, "default_threads", lambda n: 2)
    many = service_graph(spans)
    assert one.edges.equals(many.edges) and one.nodes.equals(many.nodes) and one.calls.equals(many.calls)
    assert one.accuracy == many.accuracy


def test_trace_grouping_when_the_hash_table_grows():
    """Mostly one-span traces: far more traces than the table's first size (it grows)."""
    from tracelens.analysis import _kernels as k
    from tracelens.analysis.columnar import _group_traces

    rng = np.random.default_rng(5)
    n = 20_000
    trace = rng.integers(0, 15_000, n).astype(np.uint64)  # ~11,000 distinct, interleaved
    hi, lo = trace * np.uint64(7), trace ^ np.uint64(0xABCDEF)
    first: dict[int, int] = {}
    rows: dict[int, list[int]] = {}
    for i, t in enumerate(trace.tolist()):
        first.setdefault(t, len(first))
        rows.setdefault(t, []).append(i)
    want_order = np.array([r for t in sorted(first, key=first.get) for r in rows[t]])
    want_offsets = np.cumsum([0] + [len(rows[t]) for t in sorted(first, key=first.get)])
    for threads in (1, 2, 3):
        order, offsets = _group_traces(hi, lo, threads) if threads > 1 else k.group_traces(hi, lo)
        assert np.array_equal(order, want_order) and np.array_equal(offsets, want_offsets)


def test_skipping_sections_and_clipped_times_changes_nothing_else():
    import pytest

    frame = pl.concat([random_traces(400, seed) for seed in (31, 32)])
    full = analyze(frame, threads=1)
    for threads in (1, 3):
        lean = analyze(frame, threads=threads, sections=False, clipped=False)
        for name in ("order", "offsets", "status", "parent", "self_time_ns", "critical_ns", "root_pos",
                     "duration_ns", "counts", "sec_off"):
            assert np.array_equal(getattr(full, name), getattr(lean, name)), name
        assert lean.clipped_start.size == 0 and lean.sec_pos.size == 0
        with pytest.raises(ValueError, match="sections=False"):
            _ = lean.sections
        assert lean.row_arrays()[2].sum() == full.critical_ns.sum()
