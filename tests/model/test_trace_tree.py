"""TraceTree: assembly, queries, and data problems as typed warnings."""

from __future__ import annotations

import networkx as nx

from tracelens.model import TraceTree, WarningKind, trees
from tracelens.testing import make_spans, make_trace, span_id_for as sid


def kinds(tree):
    return sorted(w.kind for w in tree.warnings)


def test_tree_structure_and_queries():
    tree = TraceTree(make_trace([
        {"span": "root", "start": 0, "end": 100},
        {"span": "b", "parent": "root", "start": 50, "end": 90},
        {"span": "a", "parent": "root", "start": 10, "end": 40, "links": [("other", "x", {"k": 1})]},
        {"span": "a1", "parent": "a", "start": 12, "end": 20},
    ]))
    assert isinstance(tree.graph, nx.DiGraph)
    assert tree.root == sid("root") and tree.roots == (sid("root"),)
    assert tree.children(sid("root")) == [sid("a"), sid("b")]  # start order
    assert tree.ancestors(sid("a1")) == [sid("a"), sid("root")]
    assert tree.depth(sid("a1")) == 2 and tree.depth(sid("root")) == 0
    assert tree.subtree(sid("a")) == [sid("a"), sid("a1")]
    assert [n for n, _ in tree.walk()] == [sid("root"), sid("a"), sid("a1"), sid("b")]
    assert tree.graph.nodes[sid("b")]["service_name"] == "svc"
    assert nx.is_arborescence(tree.graph)
    [link] = tree.links
    assert link.span_id == sid("a") and link.linked_span_id == sid("x") and link.attributes == {"k": 1}
    assert not tree.incomplete and tree.warnings == ()


def test_missing_parent_makes_orphan_root_and_incomplete_trace():
    tree = TraceTree(make_trace([
        {"span": "root", "start": 0, "end": 100},
        {"span": "lost", "parent": "gone", "start": 10, "end": 20},
    ]))
    assert tree.incomplete
    assert tree.roots == (sid("root"), sid("lost"))  # genuine root first
    assert kinds(tree) == [WarningKind.MISSING_PARENT, WarningKind.SEVERAL_ROOTS]


def test_orphan_earlier_than_root_is_still_not_primary():
    tree = TraceTree(make_trace([
        {"span": "lost", "parent": "gone", "start": 0, "end": 20},
        {"span": "root", "start": 5, "end": 100},
    ]))
    assert tree.root == sid("root")


def test_duplicate_span_ids_keep_the_first_row():
    tree = TraceTree(make_trace([
        {"span": "root", "start": 0, "end": 100, "name": "first"},
        {"span": "root", "start": 0, "end": 50, "name": "second"},
    ]))
    assert len(tree) == 1 and tree.span(sid("root"))["name"] == "first"
    assert kinds(tree) == [WarningKind.DUPLICATE_SPAN_ID]


def test_cycle_is_cut_at_its_earliest_member():
    tree = TraceTree(make_trace([
        {"span": "root", "start": 0, "end": 100},
        {"span": "x", "parent": "z", "start": 10, "end": 20},
        {"span": "y", "parent": "x", "start": 5, "end": 30},
        {"span": "z", "parent": "y", "start": 12, "end": 14},
        {"span": "hang", "parent": "z", "start": 12, "end": 13},
        {"span": "self", "parent": "self", "start": 1, "end": 2},
    ]))
    assert set(tree.roots) == {sid("root"), sid("y"), sid("self")}
    assert tree.root == sid("root")
    assert tree.parent(sid("x")) == sid("z") and tree.parent(sid("y")) is None
    assert kinds(tree).count(WarningKind.CYCLE) == 2
    assert nx.is_forest(tree.graph)


def test_zero_and_negative_durations_are_warnings():
    tree = TraceTree(make_trace([
        {"span": "root", "start": 0, "end": 100},
        {"span": "z", "parent": "root", "start": 10, "end": 10},
        {"span": "n", "parent": "root", "start": 30, "end": 20},
    ]))
    assert kinds(tree) == [WarningKind.NEGATIVE_DURATION, WarningKind.ZERO_DURATION]
    assert tree.end_ns(sid("n")) == tree.start_ns(sid("n"))


def test_trees_splits_by_trace_in_order_of_appearance():
    frame = make_spans([
        {"trace": "t2", "span": "a", "start": 0, "end": 1},
        {"trace": "t1", "span": "b", "start": 0, "end": 1},
        {"trace": "t2", "span": "c", "parent": "a", "start": 0, "end": 1},
    ])
    found = trees(frame.lazy())
    assert [len(t) for t in found] == [2, 1]
    assert trees(frame.clear()) == []

# 50,000-deep chains and fan-outs through TraceTree: tests/analysis/test_large_traces.py
