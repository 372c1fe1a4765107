"""HTML for notebooks: what ``_repr_html_`` of a TraceTree or a ServiceGraph returns.

Self-contained HTML (inline styles, no scripts): a trace is a collapsible timeline built
from nested ``<details>`` elements, one per span with children, with the critical path
drawn as red segments on the bars and the spans on it marked; a service graph is a
summary, its edges by critical-path time, and its accuracy report. Views lay out what
they are given: the critical-path sections are passed in by the caller.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any, Final

import polars as pl

from tracelens import schema as s
from tracelens.model.tree import TraceTree
from tracelens.views.tables import format_value

#: spans shown before the timeline is cut (a notebook stays responsive)
MAX_SPANS: Final = 2000
CRITICAL_MARK: Final = "◆"
_CRITICAL_COLOUR: Final = "#d62728"
_BAR_COLOUR: Final = "#9ecae1"
_ERROR_COLOUR: Final = "#fdae6b"
_ROW_STYLE: Final = "display:flex;align-items:center;gap:8px;font:12px monospace;white-space:nowrap"


def _ms(ns: int) -> str:
    ms = ns / 1e6
    return f"{ms:,.0f} ms" if ms >= 100 else f"{ms:,.1f} ms" if ms >= 1 else f"{ms:.3f} ms"


def _bar(start: int, end: int, t0: int, total: int, sections: Sequence[tuple[int, int]], error: bool) -> str:
    def pct(ns: int) -> float:
        return 100.0 * ns / total if total else 0.0

    colour = _ERROR_COLOUR if error else _BAR_COLOUR
    marks = "".join(
        f'<div title="critical path {_ms(b - a)}" style="position:absolute;top:0;height:100%;'
        f'left:{pct(a - t0):.3f}%;width:{max(pct(b - a), 0.15):.3f}%;background:{_CRITICAL_COLOUR}"></div>'
        for a, b in sections
    )
    return (
        '<div style="position:relative;width:320px;height:10px;background:#f3f3f3;flex:none">'
        f'<div style="position:absolute;top:2px;height:6px;left:{pct(start - t0):.3f}%;'
        f'width:{max(pct(end - start), 0.15):.3f}%;background:{colour}"></div>{marks}</div>'
    )


def _label(tree: TraceTree, span_id: str, on_path: bool, t0: int, total: int, sections: Sequence[tuple[int, int]]) -> str:
    row = tree.span(span_id)
    start, end = tree.start_ns(span_id), tree.end_ns(span_id)
    error = str(row.get(s.STATUS_CODE)) == "error"
    mark = f'<span style="color:{_CRITICAL_COLOUR}" title="on the critical path">{CRITICAL_MARK}</span>' if on_path else "&nbsp;"
    name = html.escape(str(row.get(s.NAME)))
    service = html.escape(str(row.get(s.SERVICE_NAME)))
    kind = html.escape(str(row.get(s.KIND)))
    weight = "font-weight:bold;" if on_path else ""
    return (
        f'<span style="{_ROW_STYLE}">{mark}{_bar(start, end, t0, total, sections, error)}'
        f'<span style="{weight}">{service}</span> <span>{name}</span>'
        f'<span style="color:#888">{kind} · {_ms(end - start)}</span></span>'
    )


def trace_tree_html(tree: TraceTree, critical_sections: Iterable[tuple[str, int, int]] = ()) -> str:
    """A collapsible timeline of ``tree``; ``critical_sections`` are (span_id, start_ns,
    end_ns) of its critical path (red on the bars, ◆ before the span)."""
    by_span: dict[str, list[tuple[int, int]]] = {}
    for span_id, a, b in critical_sections:
        by_span.setdefault(span_id, []).append((a, b))
    spans = list(tree.graph.nodes)
    t0 = min(tree.start_ns(x) for x in spans) if spans else 0
    total = (max(tree.end_ns(x) for x in spans) - t0) if spans else 0
    path_ns = sum(b - a for sections in by_span.values() for a, b in sections)
    errors = sum(1 for x in spans if str(tree.graph.nodes[x].get(s.STATUS_CODE)) == "error")
    parts = [
        '<div style="font:12px sans-serif">',
        f"<b>trace {html.escape(tree.trace_id)}</b> · {_ms(total)} · {len(spans)} spans · {errors} errors"
        + (f" · critical path {_ms(path_ns)}" if by_span else ""),
    ]
    for warning in tree.warnings[:5]:
        parts.append(f'<div style="color:#a60">⚠ {html.escape(str(warning))}</div>')
    # depth-first order with depths: open a <details> per span with children, close on the way up
    open_depths: list[int] = []
    shown = 0
    for span_id, depth in tree.walk():
        while open_depths and open_depths[-1] >= depth:
            open_depths.pop()
            parts.append("</div></details>")
        if shown == MAX_SPANS:
            parts.append(f"<div>… {len(spans) - shown} more spans not shown</div>")
            break
        shown += 1
        label = _label(tree, span_id, span_id in by_span, t0, total, by_span.get(span_id, ()))
        if tree.children(span_id):
            parts.append(f'<details open><summary style="list-style-position:inside">{label}</summary><div style="margin-left:14px">')
            open_depths.append(depth)
        else:
            parts.append(f'<div style="margin-left:14px">{label}</div>')
    parts.extend("</div></details>" for _ in open_depths)
    parts.append("</div>")
    return "".join(parts)


def frame_html(frame: pl.DataFrame, *, columns: Sequence[str] | None = None, limit: int = 20) -> str:
    """A small HTML table of ``frame`` (cells formatted like the terminal tables)."""
    names = [c for c in (columns or frame.columns) if c in frame.columns]
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(format_value(n, v))}</td>" for n, v in zip(names, row, strict=True)) + "</tr>"
        for row in frame.select(names).head(limit).iter_rows()
    )
    more = f"<caption style='caption-side:bottom'>{limit} of {frame.height} rows</caption>" if frame.height > limit else ""
    return f"<table>{more}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


EDGE_HTML_COLUMNS: Final = (
    "source", "target", "connection_type", "calls", "error_rate", "client_p95_ms", "server_p95_ms",
    "gap_p50_ms", "critical_path_ms", "critical_path_share",
)
NODE_HTML_COLUMNS: Final = ("node", "kind", "requests", "error_rate", "p95_ms", "critical_path_share")


def service_graph_html(graph: Any) -> str:
    """Summary, edges by critical-path time, nodes, and the accuracy report of a ServiceGraph
    (anything with ``nodes``/``edges`` frames and an ``accuracy`` with ``warnings()``)."""
    accuracy = graph.accuracy
    warnings = "".join(f"<li>{html.escape(w)}</li>" for w in accuracy.warnings())
    summary = (
        f"<b>Service graph</b>: {graph.nodes.height} nodes, {graph.edges.height} edges, "
        f"{accuracy.traces:,} traces, {accuracy.spans:,} spans; "
        f"{accuracy.placed_fraction:.0%} of client/server spans placed exactly"
    )
    return (
        f'<div style="font:12px sans-serif">{summary}'
        f"<h4>Edges by critical-path time</h4>{frame_html(graph.edges, columns=EDGE_HTML_COLUMNS)}"
        f"<h4>Nodes</h4>{frame_html(graph.nodes, columns=NODE_HTML_COLUMNS)}"
        + (f"<h4>Accuracy</h4><ul>{warnings}</ul>" if warnings else "")
        + "</div>"
    )
