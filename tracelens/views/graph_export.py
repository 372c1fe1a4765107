"""Service graphs in the formats other tools read: GraphML, DOT, Mermaid, node-link JSON,
and Jaeger's dependency links.

Every function takes a ``networkx.DiGraph`` (or anything with a ``.graph`` DiGraph, such
as a ``ServiceGraph``) whose nodes and edges carry scalar attributes, and returns text or
JSON-ready data; nothing here computes. GraphML and node-link JSON read back with
``networkx.read_graphml`` / ``networkx.node_link_graph(data, edges="edges")`` into the same
graph (tests/test_graph_export.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final

import networkx as nx

FORMATS: Final = ("graphml", "dot", "mermaid", "json", "jaeger")

#: Mermaid node shapes per node kind (database = cylinder, external = hexagon ...)
_MERMAID_SHAPES: Final = {
    "database": ("[(", ")]"),
    "external": ("{{", "}}"),
    "queue": ("[/", "/]"),
    "user": ("((", "))"),
}
_DOT_SHAPES: Final = {"database": "cylinder", "external": "hexagon", "queue": "parallelogram", "user": "circle"}


def as_digraph(graph: Any) -> nx.DiGraph:
    """The DiGraph of ``graph`` (a DiGraph, or an object with a ``.graph`` DiGraph)."""
    if isinstance(graph, nx.DiGraph):
        return graph
    inner = getattr(graph, "graph", None)  # a DiGraph's own .graph is its attribute dict
    if not isinstance(inner, nx.DiGraph):
        msg = f"expected a networkx.DiGraph or a ServiceGraph, got {type(graph).__name__}"
        raise TypeError(msg)
    return inner


def to_graphml(graph: Any) -> str:
    """GraphML text (yEd, Gephi, Cytoscape; ``networkx.read_graphml``)."""
    return "\n".join(nx.generate_graphml(as_digraph(graph), prettyprint=True)) + "\n"


def to_node_link(graph: Any) -> dict[str, Any]:
    """networkx node-link data (d3.js style): ``{"nodes": [...], "edges": [...]}``."""
    return nx.node_link_data(as_digraph(graph), edges="edges")  # type: ignore[no-any-return]


def to_jaeger_dependencies(graph: Any) -> list[dict[str, Any]]:
    """Jaeger's ``DependencyLink`` list (``parent``, ``child``, ``callCount``), as served by
    its ``/api/dependencies``. The ``user`` node is left out: Jaeger has no such node."""
    links = []
    for source, target, data in sorted(as_digraph(graph).edges(data=True), key=lambda e: (e[0], e[1])):
        if as_digraph(graph).nodes[source].get("kind") == "user":
            continue
        links.append({"parent": source, "child": target, "callCount": int(data.get("calls", 0))})
    return links


def _dot_id(text: object) -> str:
    escaped = str(text).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _dot_value(value: object) -> str:
    if isinstance(value, float):
        return _dot_id(repr(value))
    return _dot_id(value)


def _edge_label(data: dict[str, Any]) -> str:
    label = f"{data.get('calls', 0)} calls"
    if data.get("critical_path_ms"):
        label += f", cp {data['critical_path_ms']:.0f} ms"
    return label


def to_dot(graph: Any, *, name: str = "services") -> str:
    """Graphviz DOT text; every attribute is kept (as a string), plus a label and a shape
    per node kind so ``dot -Tsvg`` draws something readable."""
    g = as_digraph(graph)
    lines = [f"digraph {_dot_id(name)} {{", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
    for node, data in g.nodes(data=True):
        attrs = {**data, "label": str(node)}
        if data.get("kind") in _DOT_SHAPES:
            attrs["shape"] = _DOT_SHAPES[data["kind"]]
        body = ", ".join(f"{key}={_dot_value(value)}" for key, value in attrs.items())
        lines.append(f"  {_dot_id(node)} [{body}];")
    for source, target, data in g.edges(data=True):
        attrs = {**data, "label": _edge_label(data)}
        body = ", ".join(f"{key}={_dot_value(value)}" for key, value in attrs.items())
        lines.append(f"  {_dot_id(source)} -> {_dot_id(target)} [{body}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: object) -> str:
    # Mermaid labels are quoted; a quote inside is written as an entity
    return '"' + str(text).replace('"', "#quot;") + '"'


def to_mermaid(graph: Any) -> str:
    """A Mermaid ``flowchart`` (renders in GitHub markdown and many notebooks)."""
    g = as_digraph(graph)
    ids: dict[Any, str] = {}
    lines = ["flowchart LR"]
    for i, (node, data) in enumerate(sorted(g.nodes(data=True), key=lambda item: str(item[0]))):
        ids[node] = f"n{i}_" + re.sub(r"[^A-Za-z0-9_]", "_", str(node))[:40]
        left, right = _MERMAID_SHAPES.get(str(data.get("kind")), ("[", "]"))
        lines.append(f"  {ids[node]}{left}{_mermaid_text(node)}{right}")
    for source, target, data in sorted(g.edges(data=True), key=lambda e: (str(e[0]), str(e[1]))):
        arrow = "-.->" if data.get("connection_type") == "messaging" else "-->"
        lines.append(f"  {ids[source]} {arrow}|{_mermaid_text(_edge_label(data))}| {ids[target]}")
    return "\n".join(lines) + "\n"


def export_graph(graph: Any, fmt: str) -> str:
    """``graph`` as text in ``fmt`` (one of FORMATS; json and jaeger are JSON text)."""
    writers: dict[str, Callable[[Any], str]] = {
        "graphml": to_graphml,
        "dot": to_dot,
        "mermaid": to_mermaid,
        "json": lambda g: json.dumps(to_node_link(g), indent=2, default=str) + "\n",
        "jaeger": lambda g: json.dumps(to_jaeger_dependencies(g), indent=2) + "\n",
    }
    if fmt not in writers:
        msg = f"unknown graph format {fmt!r}; choose one of {', '.join(FORMATS)}"
        raise ValueError(msg)
    return writers[fmt](graph)
