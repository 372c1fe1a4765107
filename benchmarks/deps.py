"""Service graph with every edge statistic from N spans (default 10,000,000): target < 10 s.

    .venv/bin/python benchmarks/deps.py                 # 10M spans
    .venv/bin/python benchmarks/deps.py --spans 1000000 --baseline-spans 1000000

Data: tracelens.demo.topology (12 spans per checkout + its linked fulfilment trace; 8 edges
incl. a database, an external API, a span-linked consumer). Measured: ``service_graph``
end to end (pairing, virtual peers, critical-path attribution, percentiles, nodes, the
networkx graph), numba compiled beforehand on a small frame. Baseline in the same run: the
straightforward build -- a polars join child x parent on (trace_id, parent_span_id =
span_id) and a group-by with the same percentiles, without virtual nodes or critical path.
CPU seconds are reported next to wall seconds because the machine may be shared (the
load average is printed).
"""

from __future__ import annotations

import argparse
import os
import time

import polars as pl

from tracelens import schema as s
from tracelens.analysis.columnar import NEEDED, analyze
from tracelens.analysis.service_graph import service_graph
from tracelens.demo.topology import SPANS_PER_CHECKOUT, synthetic_topology


def _timed(label: str, fn):  # type: ignore[no-untyped-def]
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"  {label:<44} wall {wall:7.2f} s   cpu {cpu:7.2f} s", flush=True)
    return result, wall


def naive_graph(spans: pl.DataFrame) -> pl.DataFrame:
    """The straightforward way: join every span to its parent on string ids, keep the
    cross-service pairs, aggregate."""
    parents = spans.select(
        s.TRACE_ID,
        pl.col(s.SPAN_ID).alias(s.PARENT_SPAN_ID),
        pl.col(s.SERVICE_NAME).alias("source"),
        pl.col(s.KIND).alias("parent_kind"),
        pl.col(s.DURATION).alias("client"),
    )
    pairs = spans.join(parents, on=[s.TRACE_ID, s.PARENT_SPAN_ID], how="inner").filter(pl.col("source") != pl.col(s.SERVICE_NAME))
    return pairs.group_by("source", s.SERVICE_NAME).agg(
        pl.len().alias("calls"),
        (pl.col(s.STATUS_CODE) == "error").sum().alias("errors"),
        *[pl.col("client").quantile(q, "nearest").alias(f"client_p{int(q * 100)}") for q in (0.5, 0.95, 0.99)],
        *[pl.col(s.DURATION).quantile(q, "nearest").alias(f"server_p{int(q * 100)}") for q in (0.5, 0.95, 0.99)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=10_000_000)
    parser.add_argument("--baseline-spans", type=int, default=None, help="spans for the naive baseline (default: same)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus", flush=True)
    service_graph(synthetic_topology(200))  # compile the kernels (cached on disk afterwards)

    checkouts = -(-args.spans // SPANS_PER_CHECKOUT)
    spans, _ = _timed(f"generate {checkouts * SPANS_PER_CHECKOUT:,} spans", lambda: synthetic_topology(checkouts, seed=args.seed))
    analysis, _ = _timed("  of which: bulk trace kernels alone (analyze)", lambda: analyze(spans.select(NEEDED)))
    print(f"  kernels ran on {analysis.threads} thread(s) (NUMBA_NUM_THREADS), polars on {pl.thread_pool_size()}", flush=True)
    del analysis
    graph, wall = _timed("service_graph (all edge statistics)", lambda: service_graph(spans))
    print(f"  -> {graph.edges.height} edges, {graph.nodes.height} nodes, {spans.height / wall / 1e6:.2f} M spans/s; "
          f"target < 10 s: {'met' if wall < 10 else 'NOT met'} (load average now {os.getloadavg()[0]:.1f})", flush=True)
    print(graph.edges.select("source", "target", "connection_type", "calls", "client_p99_ms", "critical_path_share"))

    base = spans if args.baseline_spans is None else spans.head(args.baseline_spans)
    _, naive_wall = _timed(f"naive polars join baseline ({base.height:,} spans)", lambda: naive_graph(base))
    scaled = naive_wall * spans.height / base.height
    print(f"  -> baseline {base.height / naive_wall / 1e6:.2f} M spans/s (no virtual nodes, no critical path); "
          f"service_graph / baseline time = {wall / scaled:.2f}", flush=True)


if __name__ == "__main__":
    main()
