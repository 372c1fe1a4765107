"""The service graph as text: edges ranked by critical-path time, then what to distrust."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
from rich.console import Group, RenderableType
from rich.text import Text

from tracelens.views.tables import frame_table

EDGE_COLUMNS = (
    "source", "target", "connection_type", "calls", "error_rate",
    "client_p95_ms", "server_p95_ms", "gap_p50_ms", "critical_path_ms", "critical_path_share",
)
EDGE_HEADERS = {
    "connection_type": "via",
    "error_rate": "errors",
    "client_p95_ms": "client p95 ms",
    "server_p95_ms": "server p95 ms",
    "gap_p50_ms": "gap p50 ms",
    "critical_path_ms": "critical path ms",
    "critical_path_share": "cp share",
}


def service_graph_view(edges: pl.DataFrame, warnings: Sequence[str] = (), *, limit: int | None = None) -> RenderableType:
    """Edges (already sorted by critical-path time) as a table, with the accuracy warnings."""
    shown = edges if limit is None else edges.head(limit)
    caption = f"{shown.height} of {edges.height} edges, by critical-path time" if limit is not None and edges.height > limit else None
    table = frame_table(shown, title="Service dependencies", columns=[c for c in EDGE_COLUMNS if c in edges.columns],
                        headers=EDGE_HEADERS, caption=caption)
    parts: list[RenderableType] = [table]
    if warnings:
        parts.append(Text("Accuracy:", style="bold"))
        parts.extend(Text(f"  - {warning}") for warning in warnings)
    return Group(*parts)
