"""Critical path: which span is the trace waiting on, at every instant of its root.

The walk is Jaeger UI's "last finishing child" walk. Start at the primary root with a
bound equal to its end. Repeatedly:

* among the current span's walkable children not visited yet, take the one that ends
  last at or before the bound (``<=``: a child ending exactly when the next one starts
  stays on the path); the current span owns ``[child.end, bound)``, then descend into
  the child with bound = child.end;
* if there is none, the current span owns ``[span.start, bound)``; go back up to the
  parent with bound = this span's start (stop at the root).

Example (times in ms)::

    root  |0==========================================100|
    A        |10=========50|                                  A, B children of root
    B                      |50=================90|            C child of B
    C                          |55====70|

    sections, latest first:  root [90,100)  B [70,90)  C [55,70)  B [50,55)
                             A [10,50)  root [0,10)          -> they tile [0,100)

Before walking, each span is placed against its parent, top down (the parent already
clipped):

* inside its parent: walkable as is;
* overflowing on one or both sides: clipped to the parent (Jaeger's sanitiser);
* entirely outside (starts at/after the parent's end, or ends at/before its start):
  dropped from the walk with its subtree, and reported (PathStatus.OUTSIDE_PARENT);
* a CONSUMER child of a PRODUCER, and its subtree, is non-blocking: the producer does
  not wait for it (PathStatus.NON_BLOCKING). Span links are never edges at all.

Fixes over Jaeger UI: the walk is a loop (a 50,000-deep chain is fine), time 0 is a time
(no truthiness on the bound), ``<=`` for touching siblings, and a per-span cursor over
its sorted children so zero-length children cannot loop. Children are ordered by
(clipped end descending, clipped start ascending, span id). A span ending before it
starts is treated as zero length at its start. With several roots, only the primary
root's tree is walked (see tracelens.model.tree); other roots' spans are reported as
PathStatus.OTHER_ROOT. Sections of zero length are not emitted, so the sections of a
trace always sum exactly to its primary root's duration.

Two implementations give the same answer: ``critical_path_of_tree`` (short, on a
TraceTree, obviously correct) and ``critical_path`` (compiled kernels over columns, for
millions of spans; tracelens.analysis.columnar). Tests compare them on random trees.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tracelens import schema as s
from tracelens.analysis.path_status import CONSUMER, PRODUCER, STATUS_NAMES, PathStatus
from tracelens.model.tree import TraceTree


@dataclass(frozen=True, slots=True)
class Section:
    """``span_id`` is what the trace waits on during [start, end) (ns since the epoch)."""

    span_id: str
    start: int
    end: int


def is_non_blocking(tree: TraceTree, parent: str, child: str) -> bool:
    """A CONSUMER under a PRODUCER: the message is handled asynchronously."""
    return tree.kind(parent) == PRODUCER and tree.kind(child) == CONSUMER


def place_in_parent(child: tuple[int, int], parent: tuple[int, int]) -> tuple[int, int] | None:
    """The child's interval as the walk sees it, or None if entirely outside the parent.

    The order of the tests follows Jaeger's sanitiser: a zero-length child at either
    edge of its parent is inside."""
    (cs, ce), (ps, pe) = child, parent
    if ps <= cs and ce <= pe:
        return child
    if cs >= pe or ce <= ps:
        return None
    return (max(cs, ps), min(ce, pe))


def placement_of_tree(tree: TraceTree) -> tuple[dict[str, tuple[int, int]], dict[str, PathStatus]]:
    """Clipped intervals of walkable spans and the PathStatus of every span."""
    root = tree.root
    intervals = {root: (tree.start_ns(root), tree.end_ns(root))}
    status = {node: PathStatus.OTHER_ROOT for node in tree.graph}
    status[root] = PathStatus.INSIDE
    stack = [root]
    while stack:
        node = stack.pop()
        for child in tree.children(node):
            if node not in intervals:  # node itself is excluded: so is its subtree
                status[child] = PathStatus.UNDER_EXCLUDED
            elif is_non_blocking(tree, node, child):
                status[child] = PathStatus.NON_BLOCKING
            else:
                own = (tree.start_ns(child), tree.end_ns(child))
                placed = place_in_parent(own, intervals[node])
                if placed is None:
                    status[child] = PathStatus.OUTSIDE_PARENT
                else:
                    intervals[child] = placed
                    status[child] = PathStatus.INSIDE if placed == own else PathStatus.CLIPPED
            stack.append(child)
    return intervals, status


def critical_path_of_tree(tree: TraceTree) -> list[Section]:
    """The critical path of one trace, latest section first (the reference)."""
    intervals, _ = placement_of_tree(tree)
    ordered = {
        node: sorted(
            (c for c in tree.children(node) if c in intervals),
            key=lambda c: (-intervals[c][1], intervals[c][0], c),
        )
        for node in intervals
    }
    cursor = dict.fromkeys(intervals, 0)
    sections: list[Section] = []
    node, bound = tree.root, intervals[tree.root][1]
    while True:
        kids, i = ordered[node], cursor[node]
        while i < len(kids) and intervals[kids[i]][1] > bound:
            i += 1  # bounds only shrink, so a child skipped once is skipped for good
        if i < len(kids):
            cursor[node] = i + 1
            child = kids[i]
            child_end = intervals[child][1]
            if child_end != bound:
                sections.append(Section(node, child_end, bound))
            node, bound = child, child_end
            continue
        cursor[node] = i
        start = intervals[node][0]
        if start != bound:
            sections.append(Section(node, start, bound))
        if node == tree.root:
            return sections
        parent = tree.parent(node)
        assert parent is not None  # every walkable non-root span has a parent
        node, bound = parent, start


SECTION_SCHEMA = pl.Schema(
    {
        s.TRACE_ID: pl.String(),
        s.SPAN_ID: pl.String(),
        s.START: s.TIME_DTYPE,
        s.END: s.TIME_DTYPE,
        s.SERVICE_NAME: pl.String(),
        s.NAME: pl.String(),
    }
)


def sections_frame(rows: list[tuple[str, str, int, int, str, str]]) -> pl.DataFrame:
    """Rows (trace_id, span_id, start_ns, end_ns, service, name) as a sections frame."""
    raw = pl.DataFrame(
        rows,
        schema={s.TRACE_ID: pl.String, s.SPAN_ID: pl.String, s.START: pl.Int64, s.END: pl.Int64,
                s.SERVICE_NAME: pl.String, s.NAME: pl.String},
        orient="row",
    )
    return raw.with_columns(
        pl.col(s.START).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"),
        pl.col(s.END).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"),
    )


def critical_path_reference(spans: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """critical_path() computed trace by trace on TraceTrees (slow; for tests and
    benchmarks)."""
    from tracelens.model.tree import trees

    rows = []
    for tree in trees(spans):
        for section in critical_path_of_tree(tree):
            span = tree.graph.nodes[section.span_id]
            rows.append((tree.trace_id, section.span_id, section.start, section.end, span[s.SERVICE_NAME], span[s.NAME]))
    return sections_frame(rows)


def excluded_spans_reference(spans: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """excluded_spans() computed trace by trace on TraceTrees."""
    from tracelens.model.tree import trees

    rows = []
    for tree in trees(spans):
        _, status = placement_of_tree(tree)
        rows.extend((tree.trace_id, node, STATUS_NAMES[st]) for node, st in status.items() if st >= PathStatus.OUTSIDE_PARENT)
    return pl.DataFrame(rows, schema={s.TRACE_ID: pl.String, s.SPAN_ID: pl.String, "reason": pl.String}, orient="row")


def critical_path(spans: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Critical-path sections of every trace in ``spans`` (span contract):
    (trace_id, span_id, start, end, service_name, name), latest first within a trace,
    traces in order of first appearance. The fast path (compiled kernels)."""
    from tracelens.analysis.columnar import analyze

    return analyze(spans).sections


def excluded_spans(spans: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Spans the critical-path walk cannot visit, with the reason: outside_parent,
    non_blocking, under_excluded (below one of those) or other_root."""
    from tracelens.analysis.columnar import analyze, excluded_frame

    return excluded_frame(analyze(spans))
