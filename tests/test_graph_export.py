"""Service-graph exports read back into the same graph; `tracelens deps` on a real store."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import networkx as nx
import polars as pl
import pytest
from click.testing import CliRunner

from tracelens.analysis.service_graph import service_graph
from tracelens.cli.main import cli
from tracelens.store import Store
from tracelens.testing import make_spans
from tracelens.views.graph_export import export_graph, to_dot, to_graphml, to_jaeger_dependencies, to_mermaid, to_node_link

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "topology_traces.json"


@pytest.fixture(scope="module")
def spans() -> pl.DataFrame:
    rows = json.loads(FIXTURE.read_text())["rows"]
    # the store reads the last 24 h by default: put the fixture an hour ago
    return make_spans(rows, epoch=datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=1))


@pytest.fixture(scope="module")
def graph(spans):
    return service_graph(spans)


def _same_graph(a: nx.DiGraph, b: nx.DiGraph) -> None:
    assert dict(a.nodes(data=True)) == dict(b.nodes(data=True))
    assert {(u, v): d for u, v, d in a.edges(data=True)} == {(u, v): d for u, v, d in b.edges(data=True)}


def test_graphml_reads_back_as_the_same_graph(graph):
    back = nx.read_graphml(io.BytesIO(to_graphml(graph).encode()))
    _same_graph(back, graph.graph)


def test_node_link_json_reads_back_as_the_same_graph(graph):
    data = json.loads(export_graph(graph, "json"))
    _same_graph(nx.node_link_graph(data, edges="edges"), graph.graph)
    assert data == json.loads(json.dumps(to_node_link(graph.graph)))


def test_jaeger_dependency_links(graph):
    links = to_jaeger_dependencies(graph)
    assert {"parent": "frontend", "child": "cart", "callCount": 2} in links
    assert all(set(link) == {"parent", "child", "callCount"} for link in links)
    assert not any(link["parent"] == "user" for link in links)
    assert len(links) == graph.graph.number_of_edges() - 1


def test_dot_and_mermaid_name_every_node_and_edge(graph):
    dot = to_dot(graph)
    assert dot.startswith('digraph "services" {') and dot.rstrip().endswith("}")
    assert '"frontend" -> "cart"' in dot and 'shape="cylinder"' in dot
    assert dot.count(" -> ") == graph.graph.number_of_edges()
    mermaid = to_mermaid(graph)
    assert mermaid.startswith("flowchart LR")
    assert mermaid.count("-->") + mermaid.count("-.->") == graph.graph.number_of_edges()
    assert '[("redis")]' in mermaid  # a database is a cylinder
    assert '-.->|"2 calls"|' in mermaid  # messaging edges are dotted


def test_unknown_format_is_an_error(graph):
    with pytest.raises(ValueError, match="unknown graph format"):
        export_graph(graph, "png")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory, spans) -> Path:
    path = tmp_path_factory.mktemp("deps-store")
    with Store.open(path) as store:
        store.append(spans)
        store.flush()
    return path


def test_cli_deps_text_ranks_edges_by_critical_path(store_dir):
    result = CliRunner().invoke(cli, ["deps", "--data", str(store_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Service dependencies" in result.output
    first_edge = next(line for line in result.output.splitlines() if line.strip().startswith(("user", "payments", "frontend", "cart", "fulfillment")))
    assert [cell.strip() for cell in first_edge.split("│")[:2]] == ["user", "frontend"]  # largest critical-path time first
    assert "api.stripe.com" in result.output and "Accuracy:" in result.output


def test_cli_deps_exports_to_a_file(store_dir, tmp_path):
    out = tmp_path / "deps.graphml"
    result = CliRunner().invoke(cli, ["deps", "--data", str(store_dir), "--format", "graphml", "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert set(nx.read_graphml(out).edges()) >= {("frontend", "cart"), ("payments", "api.stripe.com")}
    jaeger = CliRunner().invoke(cli, ["deps", "--data", str(store_dir), "--format", "jaeger", "--where", "status = error"])
    assert jaeger.exit_code == 0, jaeger.output
    assert {"parent": "frontend", "child": "payments", "callCount": 1} in json.loads(jaeger.output)


def test_cli_deps_user_mistakes_are_one_line_errors(store_dir, tmp_path):
    bad_filter = CliRunner().invoke(cli, ["deps", "--data", str(store_dir), "--where", "duration >"])
    assert bad_filter.exit_code == 2 and "Traceback" not in bad_filter.output
    missing = CliRunner().invoke(cli, ["deps", "--data", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no span store" in missing.output


def test_deps_says_when_the_window_holds_no_calls(tmp_path):
    from datetime import UTC, datetime, timedelta

    from click.testing import CliRunner

    from tracelens.cli.main import cli
    from tracelens.store import Store
    from tracelens.testing import make_trace

    old = make_trace([{"span": "a", "service": "web", "kind": "client", "start": 0, "end": 5},
                      {"span": "b", "parent": "a", "service": "db", "kind": "server", "start": 1, "end": 4}],
                     epoch=datetime.now(UTC) - timedelta(days=3))
    with Store.open(tmp_path) as store:
        store.append(old)
    recent = CliRunner().invoke(cli, ["deps", "--data", str(tmp_path), "--format", "jaeger"])
    assert recent.exit_code == 0 and "widen --since" in recent.stderr and recent.stdout.strip() == "[]"
    wide = CliRunner().invoke(cli, ["deps", "--data", str(tmp_path), "--format", "jaeger", "--since", "7d"])
    assert "widen" not in wide.stderr and '"callCount": 1' in wide.stdout
