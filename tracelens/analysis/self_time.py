"""Self time: how long a span ran with none of its children running.

``self_time = duration - |union of the children's intervals clipped to the span|``
(Jaeger UI's sweep). Every direct child counts, whatever its kind, and a child entirely
outside the span clips to nothing. A span ending before it starts has length zero.

::

    span      |0==================================100|
    child a       |10======40|
    child b                |30======60|
    child c                              |70===90|
    union of children = [10,60) + [70,90) = 70  ->  self time = 100 - 70 = 30

``self_time_of_tree`` is the per-trace reference; ``self_time`` is the bulk version
(tracelens.analysis.columnar), tested to agree.
"""

from __future__ import annotations

import polars as pl

from tracelens import schema as s
from tracelens.model.tree import TraceTree


def union_length(intervals: list[tuple[int, int]]) -> int:
    """Total length covered by half-open intervals."""
    covered, reach = 0, None
    for start, end in sorted(intervals):
        if reach is None or start > reach:
            covered += end - start
            reach = end
        elif end > reach:
            covered += end - reach
            reach = end
    return covered


def span_self_time(span: tuple[int, int], children: list[tuple[int, int]]) -> int:
    """Self time of a span [start, end) given its children's intervals."""
    start, end = span
    clipped = [(max(cs, start), min(ce, end)) for cs, ce in children]
    return (end - start) - union_length([(cs, ce) for cs, ce in clipped if cs < ce])


def self_time_of_tree(tree: TraceTree) -> dict[str, int]:
    """span_id -> self time in ns, for every span of the trace (the reference)."""
    return {
        node: span_self_time(
            (tree.start_ns(node), tree.end_ns(node)),
            [(tree.start_ns(c), tree.end_ns(c)) for c in tree.children(node)],
        )
        for node in tree.graph
    }


SELF_TIME_SCHEMA = pl.Schema({s.TRACE_ID: pl.String(), s.SPAN_ID: pl.String(), "self_time": s.DURATION_DTYPE})


def self_time_reference(spans: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """self_time() computed trace by trace on TraceTrees (slow; for tests and benchmarks)."""
    from tracelens.model.tree import trees

    rows = [(tree.trace_id, node, value) for tree in trees(spans) for node, value in self_time_of_tree(tree).items()]
    return pl.DataFrame(rows, schema={s.TRACE_ID: pl.String, s.SPAN_ID: pl.String, "self_time": pl.Int64}, orient="row").with_columns(
        pl.col("self_time").cast(s.DURATION_DTYPE)
    )


def self_time(spans: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """(trace_id, span_id, self_time) of every span in ``spans`` (span contract; a
    repeated span id counts once). The fast path (compiled kernels)."""
    from tracelens.analysis.columnar import analyze, self_time_frame

    return self_time_frame(analyze(spans))
