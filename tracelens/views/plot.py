"""Matplotlib pictures of analysis results, for notebooks (``tracelens.plot``).

Each function draws what it is given on ``ax`` (a new figure when None) and returns the
Axes, so notebooks can compose them. Nothing here computes an analysis: the service graph,
latency bands and SLO budgets come from the analysis layer; binning values for a histogram
is drawing.

* :func:`service_graph` -- nodes in layers from the callers, edge width = calls,
  edge colour = critical-path share, node colour = kind.
* :func:`latency_histogram` / :func:`latency_heatmap` -- span durations per service, and
  over time (log latency axis).
* :func:`critical_path_by_band` -- critical-path shares per latency band (CRISP-style).
* :func:`slo_burndown` -- remaining error budget over time, from a (time, remaining) frame.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import networkx as nx
import numpy as np
import polars as pl

from tracelens import schema as s
from tracelens.views.graph_export import as_digraph

if TYPE_CHECKING:
    from matplotlib.axes import Axes

NODE_COLOURS: Final = {"service": "#4c78a8", "database": "#f58518", "external": "#e45756", "queue": "#72b7b2", "user": "#9d9d9d"}
CRITICAL_CMAP: Final = "YlOrRd"


def _axes(ax: Axes | None, size: tuple[float, float] = (8, 5)) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=size)
    return new


def layered_positions(graph: nx.DiGraph) -> dict[Any, tuple[float, float]]:
    """Left-to-right layers: a node's layer is its shortest hop count from a node nobody
    calls (the user, batch roots); nodes only in cycles start a layer of their own."""
    layer: dict[Any, int] = {}
    frontier = sorted((n for n in graph if graph.in_degree(n) == 0), key=str) or sorted(graph, key=str)[:1]
    depth = 0
    while frontier:
        nxt = []
        for node in frontier:
            if node in layer:
                continue
            layer[node] = depth
            nxt.extend(sorted((m for m in graph.successors(node) if m not in layer), key=str))
        frontier, depth = nxt, depth + 1
        if not frontier:
            rest = sorted((n for n in graph if n not in layer), key=str)
            frontier = rest[:1]
    columns: dict[int, list[Any]] = {}
    for node, col in layer.items():
        columns.setdefault(col, []).append(node)
    positions = {}
    for col, members in columns.items():
        for row, node in enumerate(sorted(members, key=str)):
            positions[node] = (float(col), -(row - (len(members) - 1) / 2.0))
    return positions


def service_graph(graph: Any, *, ax: Axes | None = None, positions: dict[Any, tuple[float, float]] | None = None) -> Axes:
    """Draw a service graph (a ServiceGraph or its DiGraph): edge width grows with calls
    (log scale), edge colour with critical-path share, node colour by kind."""
    import matplotlib as mpl
    from matplotlib.patches import Patch

    g = as_digraph(graph)
    ax = _axes(ax, (10, 6))
    pos = positions or layered_positions(g)
    edges = list(g.edges(data=True))
    max_calls = max((d.get("calls", 0) for *_, d in edges), default=1) or 1
    max_share = max((d.get("critical_path_share", 0.0) for *_, d in edges), default=0.0) or 1.0
    cmap = mpl.colormaps[CRITICAL_CMAP]
    for source, target, data in edges:
        width = 1.0 + 5.0 * math.log1p(data.get("calls", 0)) / math.log1p(max_calls)
        colour = cmap(0.15 + 0.85 * data.get("critical_path_share", 0.0) / max_share)
        style = "dashed" if data.get("connection_type") == "messaging" else "solid"
        ax.annotate(
            "", xy=pos[target], xytext=pos[source],
            arrowprops={"arrowstyle": "-|>", "lw": width, "color": colour, "linestyle": style,
                        "shrinkA": 14, "shrinkB": 14, "connectionstyle": "arc3,rad=0.08"},
        )
    for node, data in g.nodes(data=True):
        x, y = pos[node]
        ax.scatter([x], [y], s=500, color=NODE_COLOURS.get(data.get("kind", "service"), "#4c78a8"), zorder=3)
        share = data.get("critical_path_share")
        label = f"{node}\n{share:.0%} cp" if share else str(node)
        ax.annotate(label, (x, y), xytext=(0, -22), textcoords="offset points", ha="center", va="top", fontsize=8)
    sm = mpl.cm.ScalarMappable(cmap=cmap, norm=mpl.colors.Normalize(0, max_share))
    ax.figure.colorbar(sm, ax=ax, label="critical-path share of edge")
    kinds = sorted({d.get("kind", "service") for _, d in g.nodes(data=True)})
    ax.legend(handles=[Patch(color=NODE_COLOURS.get(k, "#4c78a8"), label=k) for k in kinds], loc="upper left", fontsize=8)
    ax.set_axis_off()
    ax.margins(0.15)
    ax.set_title("Service dependencies (width = calls, colour = critical-path share)")
    return ax


def _durations_ms(frame: pl.DataFrame, column: str) -> pl.Expr:
    dtype = frame.schema[column]
    return pl.col(column).dt.total_nanoseconds() / 1e6 if isinstance(dtype, pl.Duration) else pl.col(column).cast(pl.Float64)


def latency_histogram(
    spans: pl.DataFrame,
    *,
    by: str = s.SERVICE_NAME,
    duration: str = s.DURATION,
    groups: Sequence[str] | None = None,
    bins: int = 40,
    ax: Axes | None = None,
) -> Axes:
    """Histograms of ``duration`` (Duration or ms) per ``by`` value on a log axis; pass the
    entry spans (SERVER/CONSUMER) to see what callers experience."""
    ax = _axes(ax)
    data = spans.select(pl.col(by).cast(pl.String).fill_null("?").alias("group"), _durations_ms(spans, duration).alias("ms"))
    data = data.filter(pl.col("ms") > 0)
    names = list(groups) if groups is not None else data.group_by("group").len().sort("len", descending=True)["group"].head(8).to_list()
    if data.height:
        edges = np.geomspace(max(float(data["ms"].min() or 1e-3), 1e-3), float(data["ms"].max() or 1.0) * 1.01, bins + 1)
        for name in names:
            values = data.filter(pl.col("group") == name)["ms"].to_numpy()
            ax.hist(values, bins=edges, histtype="step", linewidth=1.5, label=f"{name} (n={values.size})")
    ax.set_xscale("log")
    ax.set_xlabel("duration (ms)")
    ax.set_ylabel("spans")
    ax.legend(fontsize=8)
    ax.set_title(f"Latency by {by}")
    return ax


def latency_heatmap(
    spans: pl.DataFrame,
    *,
    time: str = s.START,
    duration: str = s.DURATION,
    time_bins: int = 60,
    latency_bins: int = 40,
    ax: Axes | None = None,
) -> Axes:
    """Span count by (time, log duration): latency modes and when they appear. Filter the
    frame to one service (or its entry spans) first."""
    ax = _axes(ax)
    data = spans.select(pl.col(time).dt.epoch("ns").alias("t"), _durations_ms(spans, duration).alias("ms")).filter(pl.col("ms") > 0)
    if data.height:
        t = data["t"].to_numpy()
        minutes = (t - t.min()) / 60e9
        ms = data["ms"].to_numpy()
        y_edges = np.geomspace(ms.min(), ms.max() * 1.01, latency_bins + 1)
        counts, x_edges, y_edges = np.histogram2d(minutes, ms, bins=[time_bins, y_edges])
        mesh = ax.pcolormesh(x_edges, y_edges, counts.T, cmap="viridis", norm="log" if counts.max() > 1 else None)
        ax.figure.colorbar(mesh, ax=ax, label="spans")
    ax.set_yscale("log")
    ax.set_xlabel("minutes since first span")
    ax.set_ylabel("duration (ms)")
    ax.set_title("Latency heatmap")
    return ax


def critical_path_by_band(bands: pl.DataFrame, *, by: str = s.SERVICE_NAME, share: str = "share", top: int = 6, ax: Axes | None = None) -> Axes:
    """Stacked bars: for each latency band (from ``latency_bands``), the share of the
    critical path each group owns -- what takes over in the tail."""
    ax = _axes(ax)
    order = list(dict.fromkeys(bands["band"].to_list()))
    totals = bands.group_by(by).agg(pl.col(share).max()).sort(share, descending=True)
    groups = totals[by].head(top).to_list()
    bottom = np.zeros(len(order))
    for group in groups:
        part = bands.filter(pl.col(by) == group)
        values = np.array([float(part.filter(pl.col("band") == b)[share].sum()) for b in order])
        ax.bar(order, values, bottom=bottom, label=str(group))
        bottom += values
    rest = np.array([float(bands.filter((pl.col("band") == b) & ~pl.col(by).is_in(groups))[share].sum()) for b in order])
    if rest.any():
        ax.bar(order, rest, bottom=bottom, label="other", color="#cccccc")
    ax.set_ylabel("share of critical path")
    ax.set_xlabel("root latency band (percentiles)")
    ax.set_ylim(0, max(1.0, float((bottom + rest).max()) if len(order) else 1.0))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Who owns the critical path, by latency band")
    return ax


def slo_burndown(
    budget: pl.DataFrame, *, time: str = "time", remaining: str = "remaining_budget", ax: Axes | None = None
) -> Axes:
    """Remaining error budget (fraction, 1 = untouched) over time; below zero is shaded."""
    ax = _axes(ax)
    data = budget.sort(time)
    x = data[time].to_list()
    y = data[remaining].cast(pl.Float64).to_numpy()
    ax.plot(x, y, drawstyle="steps-post", color="#4c78a8", linewidth=2, label="remaining budget")
    ax.axhline(0.0, color="#e45756", linewidth=1)
    if y.size:
        ax.fill_between(x, y, 0.0, where=y < 0, step="post", color="#e45756", alpha=0.3, label="budget exhausted")
    ax.set_ylabel("error budget remaining")
    ax.set_xlabel(time)
    ax.legend(fontsize=8)
    ax.set_title("SLO error-budget burn-down")
    return ax
