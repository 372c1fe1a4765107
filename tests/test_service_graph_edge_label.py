"""An edge reached in more than one way is labelled by its most common way (ties: the
first in CONNECTION_TYPES), whatever order the calls come in."""

from __future__ import annotations

import polars as pl

from tracelens.analysis.service_graph import CONNECTION_TYPES, _edge_frame, _NodeNames


def _calls(rows: list[tuple[int, int, str]]) -> pl.DataFrame:
    n = len(rows)
    return pl.DataFrame({
        "trace": list(range(n)),
        "source": pl.Series([r[0] for r in rows], dtype=pl.UInt32),
        "target": pl.Series([r[1] for r in rows], dtype=pl.UInt32),
        "connection_type": pl.Series([CONNECTION_TYPES.index(r[2]) for r in rows], dtype=pl.UInt8),
        "start": [0] * n, "client_ns": [1_000_000] * n, "server_ns": [500_000] * n, "gap_ns": [500_000] * n,
        "error": [False] * n, "entry_row": [-1] * n, "critical_path_ns": [0] * n,
    })


def test_edge_label_is_the_most_common_way_ties_to_the_first():
    names = _NodeNames(pl.Series(["a", "b", "c"]))
    rows = [(0, 1, "messaging"), (0, 1, "direct"), (0, 1, "messaging"), (0, 1, "direct"),
            (0, 2, "virtual_node"), (0, 2, "database"), (0, 2, "virtual_node"), (1, 2, "messaging")]
    for order in (rows, rows[::-1], rows[3:] + rows[:3]):
        edges = _edge_frame(_calls(order), names, 0)
        label = {(r["source"], r["target"]): r["connection_type"] for r in edges.iter_rows(named=True)}
        assert label == {("a", "b"): "direct", ("a", "c"): "virtual_node", ("b", "c"): "messaging"}
        assert edges.filter(pl.col("source") == "a", pl.col("target") == "b")["calls"].item() == 4
