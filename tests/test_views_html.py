"""Notebook HTML: a TraceTree as a collapsible timeline with the critical path, a ServiceGraph summary."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from tracelens.analysis.service_graph import service_graph
from tracelens.model.tree import TraceTree
from tracelens.testing import make_spans, make_trace, span_id_for
from tracelens.views.html import CRITICAL_MARK, trace_tree_html


class _Balance(HTMLParser):
    """Checks that every opened details/div/table is closed, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.ok = True
        self.details = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("details", "div", "table", "summary"):
            self.stack.append(tag)
            self.details += tag == "details"

    def handle_endtag(self, tag):
        if tag in ("details", "div", "table", "summary"):
            self.ok &= bool(self.stack) and self.stack.pop() == tag


def _parse(text: str) -> _Balance:
    parser = _Balance()
    parser.feed(text)
    assert parser.ok and not parser.stack, "unbalanced HTML"
    return parser


def test_trace_tree_html_is_collapsible_and_marks_the_critical_path():
    frame = make_trace(
        [
            {"span": "root", "service": "web", "name": "GET /", "kind": "server", "start": 0, "end": 100},
            {"span": "a", "parent": "root", "service": "auth", "name": "<script>x</script>", "start": 10, "end": 50},
            {"span": "b", "parent": "root", "service": "db", "name": "query", "start": 50, "end": 90, "status": "error"},
            {"span": "c", "parent": "b", "service": "db", "name": "scan", "start": 55, "end": 70},
            {"span": "idle", "parent": "root", "service": "web", "name": "overlapped", "start": 12, "end": 20},
        ]
    )
    tree = TraceTree(frame)
    text = tree._repr_html_()
    parsed = _parse(text)
    assert parsed.details == 2  # root and b have children; leaves are plain rows
    assert "<script>" not in text and "&lt;script&gt;" in text
    # root, a, b and c are on the path; 'idle' runs while 'a' (which ends later) is the wait
    on_path = text.count(f'title="on the critical path">{CRITICAL_MARK}')
    assert on_path == 4
    assert "critical path 100 ms" in text


def test_trace_tree_html_without_sections_marks_nothing():
    tree = TraceTree(make_trace([{"span": "r", "end": 10}, {"span": "k", "parent": "r", "start": 1, "end": 2}]))
    text = trace_tree_html(tree)
    _parse(text)
    assert CRITICAL_MARK not in text and span_id_for("r") not in text


def test_service_graph_html_lists_edges_and_accuracy():
    rows = json.loads((Path(__file__).resolve().parent.parent / "fixtures" / "topology_traces.json").read_text())["rows"]
    graph = service_graph(make_spans(rows))
    text = graph._repr_html_()
    _parse(text)
    assert "Edges by critical-path time" in text and "api.stripe.com" in text
    assert text.index("<td>user</td>") < text.index("<td>cart</td>")  # ranked by critical-path time
    assert "Accuracy" in text
