"""A trace assembled into a tree: :class:`TraceTree` wraps a ``networkx.DiGraph``.

Edges go parent -> child; node attributes are the span's row (as a dict), so notebook
users can run any networkx algorithm on ``tree.graph``. Links are *not* edges: they are
async causality, kept as data in ``tree.links``.

Assembly never raises on bad data. Each problem becomes a :class:`TraceWarning`:

* a parent id that is not in the trace -> the span becomes a root, the trace is
  ``incomplete`` (``missing_parent``);
* a span id seen twice -> the first row wins, later ones are dropped (``duplicate_span_id``);
* parent pointers that loop -> the loop's member with the earliest (start, span id) is cut
  loose and becomes a root (``cycle``);
* more than one root -> all are kept, the *primary* root is the one analyses follow
  (``several_roots``);
* ``end == start`` / ``end < start`` (``zero_duration`` / ``negative_duration``; a negative
  span is treated as zero length at its start by every analysis).

The primary root is chosen by (genuine root before orphan before cut cycle member,
earliest start, longest, smallest span id) -- the bulk kernels use the same order.

This module is the readable reference; it is not the fast path (see
tracelens.analysis.columnar for millions of spans).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import networkx as nx
import polars as pl

from tracelens import schema as s
from tracelens.model.problems import TraceWarning, WarningKind

#: root categories, in order of preference for the primary root
GENUINE_ROOT, ORPHAN_ROOT, CYCLE_ROOT = 0, 1, 2

_START_NS = "_start_ns"
_END_NS = "_end_ns"


@dataclass(frozen=True, slots=True)
class Link:
    """A span link: ``span_id`` points at (``linked_trace_id``, ``linked_span_id``)."""

    span_id: str
    linked_trace_id: str
    linked_span_id: str
    attributes: dict[str, object]


def _ns_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    # to_dicts() turns Datetime(ns) into microsecond datetimes: keep exact ns alongside
    return frame.with_columns(
        pl.col(s.START).dt.epoch("ns").alias(_START_NS),
        pl.col(s.END).dt.epoch("ns").alias(_END_NS),
    ).to_dicts()


class TraceTree:
    """One trace as a tree of spans. Build with ``TraceTree(frame)`` (one trace id) or
    :func:`trees` for many."""

    def __init__(self, frame: pl.DataFrame) -> None:
        trace_ids = frame[s.TRACE_ID].unique().to_list() if frame.height else []
        if len(trace_ids) != 1:
            msg = f"TraceTree needs the spans of exactly one trace, got {len(trace_ids)} trace ids; use trees()"
            raise ValueError(msg)
        self.trace_id: str = trace_ids[0]
        self.graph: nx.DiGraph = nx.DiGraph(trace_id=self.trace_id)
        self._warnings: list[TraceWarning] = []
        self._root_category: dict[str, int] = {}
        self._add_nodes(_ns_rows(frame))
        self._add_edges()
        self._cut_cycles()
        self._children = {
            node: sorted(self.graph.successors(node), key=self._start_key) for node in self.graph
        }
        self.roots: tuple[str, ...] = tuple(
            sorted(self._root_category, key=self._root_key)
        )
        if len(self.roots) > 1:
            self._warn(WarningKind.SEVERAL_ROOTS, None, f"{len(self.roots)} roots; primary root is {self.roots[0]}")
        self.warnings: tuple[TraceWarning, ...] = tuple(self._warnings)

    # --- assembly ---------------------------------------------------------------------
    def _warn(self, kind: WarningKind, span_id: str | None, message: str) -> None:
        self._warnings.append(TraceWarning(kind, self.trace_id, span_id, message))

    def _add_nodes(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            span_id = row[s.SPAN_ID]
            if span_id in self.graph:
                self._warn(WarningKind.DUPLICATE_SPAN_ID, span_id, "span id seen again; the later row was dropped")
                continue
            self.graph.add_node(span_id, **row)
            length = row[_END_NS] - row[_START_NS]
            if length == 0:
                self._warn(WarningKind.ZERO_DURATION, span_id, "span has zero duration")
            elif length < 0:
                self._warn(WarningKind.NEGATIVE_DURATION, span_id, f"span ends {-length} ns before it starts")

    def _add_edges(self) -> None:
        for span_id, row in list(self.graph.nodes(data=True)):
            parent = row.get(s.PARENT_SPAN_ID)
            if parent is None:
                self._root_category[span_id] = GENUINE_ROOT
            elif parent in self.graph:
                self.graph.add_edge(parent, span_id)
            else:
                self._root_category[span_id] = ORPHAN_ROOT
                self._warn(WarningKind.MISSING_PARENT, span_id, f"parent {parent} is not in the trace; span made a root")

    def _reachable_from(self, sources: list[str]) -> set[str]:
        seen = set(sources)
        queue = deque(sources)
        while queue:
            for child in self.graph.successors(queue.popleft()):
                if child not in seen:
                    seen.add(child)
                    queue.append(child)
        return seen

    def _cut_cycles(self) -> None:
        reached = self._reachable_from(list(self._root_category))
        while len(reached) < self.graph.number_of_nodes():
            # every span has at most one parent, so walking up from any unreached span
            # must enter a loop; cutting the loop frees everything hanging off it
            node = next(n for n in self.graph if n not in reached)
            order: list[str] = []
            position: dict[str, int] = {}
            while node not in position:
                position[node] = len(order)
                order.append(node)
                node = next(iter(self.graph.predecessors(node)))
            loop = order[position[node] :]
            cut = min(loop, key=lambda n: (self.start_ns(n), n))
            self.graph.remove_edge(next(iter(self.graph.predecessors(cut))), cut)
            self._root_category[cut] = CYCLE_ROOT
            self._warn(WarningKind.CYCLE, cut, f"parent pointers loop through {len(loop)} span(s); this one was made a root")
            reached |= self._reachable_from([cut])

    # --- queries ------------------------------------------------------------------------
    def _start_key(self, span_id: str) -> tuple[int, str]:
        return (self.start_ns(span_id), span_id)

    def _root_key(self, span_id: str) -> tuple[int, int, int, str]:
        # genuine before orphan before cut loop, then earliest, then longest, then id
        return (self._root_category[span_id], self.start_ns(span_id), -self.end_ns(span_id), span_id)

    @property
    def root(self) -> str:
        """The primary root: the span analyses start from."""
        return self.roots[0]

    @property
    def incomplete(self) -> bool:
        """True when some span's parent is missing from the trace."""
        return any(c == ORPHAN_ROOT for c in self._root_category.values())

    def root_category(self, span_id: str) -> int | None:
        """GENUINE_ROOT, ORPHAN_ROOT, CYCLE_ROOT, or None if ``span_id`` is not a root."""
        return self._root_category.get(span_id)

    def span(self, span_id: str) -> dict[str, Any]:
        """The span's row."""
        return dict(self.graph.nodes[span_id])

    def start_ns(self, span_id: str) -> int:
        return int(self.graph.nodes[span_id][_START_NS])

    def end_ns(self, span_id: str) -> int:
        """End in ns since the epoch; a span ending before it starts ends at its start."""
        node = self.graph.nodes[span_id]
        return int(max(node[_END_NS], node[_START_NS]))

    def kind(self, span_id: str) -> str:
        return str(self.graph.nodes[span_id][s.KIND])

    def parent(self, span_id: str) -> str | None:
        """The parent in the tree (None for roots, including orphans and cut cycles)."""
        return next(iter(self.graph.predecessors(span_id)), None)

    def children(self, span_id: str) -> list[str]:
        """Children in start order (ties by span id)."""
        return list(self._children[span_id])

    def ancestors(self, span_id: str) -> list[str]:
        """Parent, grandparent, ... up to the root."""
        found = []
        node = self.parent(span_id)
        while node is not None:
            found.append(node)
            node = self.parent(node)
        return found

    def depth(self, span_id: str) -> int:
        """0 for a root."""
        return len(self.ancestors(span_id))

    def subtree(self, span_id: str) -> list[str]:
        """``span_id`` and all its descendants, depth first, children in start order."""
        found = []
        stack = [span_id]
        while stack:
            node = stack.pop()
            found.append(node)
            stack.extend(reversed(self._children[node]))
        return found

    def walk(self) -> Iterator[tuple[str, int]]:
        """(span_id, depth) for every span, depth first from each root in root order."""
        for root in self.roots:
            stack = [(root, 0)]
            while stack:
                node, depth = stack.pop()
                yield node, depth
                stack.extend((child, depth + 1) for child in reversed(self._children[node]))

    @property
    def links(self) -> list[Link]:
        """Every span link in the trace, as data (links are never tree edges)."""
        found = []
        for span_id, row in self.graph.nodes(data=True):
            for link in row.get(s.LINKS) or []:
                found.append(
                    Link(span_id, link["trace_id"], link["span_id"], s.plain_attributes(link.get("attributes")))
                )
        return found

    def __len__(self) -> int:
        return self.graph.number_of_nodes()

    def __contains__(self, span_id: object) -> bool:
        return span_id in self.graph

    def __repr__(self) -> str:
        flags = " incomplete" if self.incomplete else ""
        return f"<TraceTree {self.trace_id} spans={len(self)} roots={len(self.roots)} warnings={len(self.warnings)}{flags}>"

    def _repr_html_(self) -> str:
        # display hook (the notebook facade): imported only when Jupyter renders a tree
        from tracelens.analysis.critical_path import critical_path_of_tree
        from tracelens.views.html import trace_tree_html

        return trace_tree_html(self, [(x.span_id, x.start, x.end) for x in critical_path_of_tree(self)])


def trees(frame: pl.DataFrame | pl.LazyFrame) -> list[TraceTree]:
    """One TraceTree per trace id in ``frame``, in order of first appearance."""
    eager = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
    if eager.height == 0:
        return []
    return [TraceTree(part) for part in eager.partition_by(s.TRACE_ID, maintain_order=True)]
