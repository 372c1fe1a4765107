"""50,000-deep chains and 50,000-wide fan-outs: no recursion, exact answers."""

from __future__ import annotations

import polars as pl
from random_traces import EPOCH_NS, frame_from_columns

from tracelens import schema as s
from tracelens.analysis.columnar import analyze
from tracelens.analysis.critical_path import critical_path_of_tree
from tracelens.model import TraceTree

N = 50_000
TRACE = "ab" * 16


def span(i: int) -> str:
    return f"{i + 1:016x}"


def frame(parents: list[int | None], starts: list[int], ends: list[int]) -> pl.DataFrame:
    n = len(parents)
    return frame_from_columns({
        "trace": [TRACE] * n, "span": [span(i) for i in range(n)],
        "parent": [None if p is None else span(p) for p in parents],
        "name": ["op"] * n, "kind": ["internal"] * n, "service": ["svc"] * n,
        "start": [EPOCH_NS + x for x in starts], "end": [EPOCH_NS + x for x in ends],
    })


def chain() -> pl.DataFrame:
    return frame([None, *range(N - 1)], list(range(N)), [2 * N - i for i in range(N)])


def fan_out() -> pl.DataFrame:
    # children touch end to end: with `<=` every one of them is on the path
    return frame([None] + [0] * (N - 1), [0] + list(range(1, N)), [N + 1] + list(range(2, N + 1)))


def test_deep_chain_bulk_and_reference():
    spans = chain()
    result = analyze(spans)
    sections = result.sections
    assert sections.height == 2 * N - 1  # down one side, back up the other
    total = (sections[s.END].dt.epoch("ns") - sections[s.START].dt.epoch("ns")).sum()
    assert total == 2 * N
    assert result.spans["self_time"].dt.total_nanoseconds().to_list()[:3] == [2, 2, 2]
    tree = TraceTree(spans)
    assert tree.depth(span(N - 1)) == N - 1
    reference = critical_path_of_tree(tree)
    assert [(x.span_id, x.start - EPOCH_NS, x.end - EPOCH_NS) for x in reference] == [
        (r[0], r[1], r[2]) for r in sections.select(
            s.SPAN_ID, pl.col(s.START).dt.epoch("ns") - EPOCH_NS, pl.col(s.END).dt.epoch("ns") - EPOCH_NS).iter_rows()
    ]


def test_wide_fan_out_bulk_and_reference():
    spans = fan_out()
    result = analyze(spans)
    sections = result.sections
    assert sections.height == (N - 1) + 2  # every child, and the root before and after
    assert sections[s.SPAN_ID][0] == span(0) and sections[s.SPAN_ID][1] == span(N - 1)
    root_self = result.spans.filter(pl.col(s.SPAN_ID) == span(0))["self_time"].dt.total_nanoseconds()[0]
    assert root_self == 2
    reference = critical_path_of_tree(TraceTree(spans))
    assert len(reference) == sections.height
