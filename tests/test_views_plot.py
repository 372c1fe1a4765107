"""tracelens.views.plot draws what it is given (Agg backend, no display)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import polars as pl  # noqa: E402
import pytest  # noqa: E402

from tracelens.analysis.latency_share import latency_bands  # noqa: E402
from tracelens.analysis.service_graph import service_graph  # noqa: E402
from tracelens.demo.topology import synthetic_topology  # noqa: E402
from tracelens.testing import make_spans  # noqa: E402
from tracelens.views import plot  # noqa: E402

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "topology_traces.json"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def graph():
    return service_graph(make_spans(json.loads(FIXTURE.read_text())["rows"]))


def test_service_graph_draws_every_edge_with_width_by_calls(graph):
    ax = plot.service_graph(graph)
    arrows = [a for a in ax.texts if getattr(a, "arrow_patch", None) is not None]
    assert len(arrows) == graph.graph.number_of_edges()
    widths = {a.arrow_patch.get_linewidth() for a in arrows}
    assert len(widths) == 1  # every edge of the fixture has 2 calls
    assert len(ax.collections) == graph.graph.number_of_nodes()


def test_layers_put_callers_left_of_callees(graph):
    pos = plot.layered_positions(graph.graph)
    assert pos["user"][0] < pos["frontend"][0] < pos["payments"][0] < pos["api.stripe.com"][0]


def test_latency_histogram_and_heatmap():
    spans = synthetic_topology(200, seed=3)
    entry = spans.filter(pl.col("kind").is_in(["server", "consumer"]))
    ax = plot.latency_histogram(entry)
    assert len(ax.patches) == entry["service_name"].n_unique()  # one step outline per service
    ax = plot.latency_heatmap(entry.filter(pl.col("service_name") == "payments"))
    assert ax.collections and ax.get_yscale() == "log"


def test_critical_path_by_band_stacks_shares():
    bands = latency_bands(synthetic_topology(300, seed=4))
    ax = plot.critical_path_by_band(bands)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == list(dict.fromkeys(bands["band"].to_list()))
    assert ax.patches  # bars


def test_slo_burndown_plots_the_given_budget():
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    budget = pl.DataFrame({"time": [t0 + timedelta(hours=h) for h in range(5)], "remaining_budget": [1.0, 0.7, 0.3, -0.1, -0.4]})
    ax = plot.slo_burndown(budget)
    assert list(ax.lines[0].get_ydata()) == [1.0, 0.7, 0.3, -0.1, -0.4]
