"""The compiled bulk analysis and the per-trace TraceTree reference give the same answer."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings, strategies as st
from random_traces import EPOCH_NS, SERVICES, frame_from_columns, random_traces

from tracelens import schema as s
from tracelens.analysis.columnar import analyze, excluded_frame, self_time_frame
from tracelens.analysis.critical_path import critical_path_of_tree, placement_of_tree
from tracelens.analysis.path_status import PathStatus
from tracelens.analysis.self_time import self_time_of_tree
from tracelens.model import trees
from tracelens.testing import span_id_for, trace_id_for


def reference(frame: pl.DataFrame):
    sections, self_times, excluded = [], [], []
    for tree in trees(frame):
        sections += [(tree.trace_id, x.span_id, x.start, x.end) for x in critical_path_of_tree(tree)]
        self_times += [(tree.trace_id, sp, v) for sp, v in self_time_of_tree(tree).items()]
        _, status = placement_of_tree(tree)
        excluded += [(tree.trace_id, sp, st.name.lower()) for sp, st in status.items() if st >= PathStatus.OUTSIDE_PARENT]
    return sections, self_times, excluded


def bulk(frame: pl.DataFrame):
    result = analyze(frame)
    sec = result.sections.select(s.TRACE_ID, s.SPAN_ID, pl.col(s.START).dt.epoch("ns"), pl.col(s.END).dt.epoch("ns"))
    st = self_time_frame(result).with_columns(pl.col("self_time").dt.total_nanoseconds())
    return [tuple(r) for r in sec.iter_rows()], [tuple(r) for r in st.iter_rows()], [tuple(r) for r in excluded_frame(result).iter_rows()], result


def assert_same(frame: pl.DataFrame) -> None:
    ref_sections, ref_self, ref_excluded = reference(frame)
    sections, self_times, excluded, result = bulk(frame)
    assert sections == ref_sections
    assert self_times == ref_self
    assert excluded == ref_excluded
    assert_sections_tile_roots(result)


def assert_sections_tile_roots(result) -> None:
    """Each trace's sections are contiguous, latest first, and cover its root exactly."""
    per_trace = result.sections.group_by(s.TRACE_ID, maintain_order=True).agg(
        total=(pl.col(s.END) - pl.col(s.START)).sum(),
        first_end=pl.col(s.END).first(),
        last_start=pl.col(s.START).last(),
        gaps=(pl.col(s.START).shift(1) != pl.col(s.END)).sum(),
    )
    joined = result.traces.join(per_trace, on=s.TRACE_ID, how="left")
    nonzero = joined.filter(pl.col(s.DURATION) > pl.duration(nanoseconds=0))
    assert (nonzero["total"] == nonzero[s.DURATION]).all()
    assert (nonzero["gaps"] == 0).all()
    assert (nonzero["last_start"] == nonzero[s.START]).all()
    assert (nonzero["first_end"] == nonzero[s.START] + nonzero[s.DURATION]).all()
    assert joined.filter(pl.col(s.DURATION) == pl.duration(nanoseconds=0))["total"].null_count() == joined.filter(pl.col(s.DURATION) == pl.duration(nanoseconds=0)).height


def test_bulk_equals_reference_on_2000_seeded_random_traces():
    for seed in range(2):
        assert_same(random_traces(1000, seed))


KINDS = st.sampled_from(["internal", "server", "client", "producer", "consumer"])


@st.composite
def traces_strategy(draw):
    """A few traces; parents point anywhere (including nowhere, themselves, later spans)."""
    cols = {k: [] for k in ("trace", "span", "parent", "name", "kind", "service", "start", "end")}
    for t in range(draw(st.integers(1, 3))):
        n = draw(st.integers(1, 9))
        for i in range(n):
            parent = draw(st.one_of(st.none(), st.integers(-1, n - 1)))
            start = draw(st.integers(0, 30))
            length = draw(st.integers(-3, 30))
            span = draw(st.integers(0, n - 1)) if draw(st.integers(0, 19)) == 0 else i
            cols["trace"].append(trace_id_for(f"h{t}"))
            cols["span"].append(span_id_for(f"{t}-{span}"))
            cols["parent"].append(None if parent is None else span_id_for(f"{t}-{parent}" if parent >= 0 else "gone"))
            cols["name"].append("op")
            cols["kind"].append(draw(KINDS))
            cols["service"].append(SERVICES[i % len(SERVICES)])
            cols["start"].append(EPOCH_NS + start)
            cols["end"].append(EPOCH_NS + start + length)
    return frame_from_columns(cols)


@settings(max_examples=200, deadline=None)
@given(traces_strategy())
def test_bulk_equals_reference_on_hypothesis_traces(frame):
    assert_same(frame)
