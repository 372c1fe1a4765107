"""The service graph on a system whose topology is known (fixtures/topology_traces.json)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from tracelens import schema as s
from tracelens.analysis.critical_path import critical_path_reference
from tracelens.analysis.owners import factorize, owning_entries
from tracelens.analysis.service_graph import service_graph
from tracelens.model.tree import trees
from tracelens.testing import make_spans, make_trace, span_id_for

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "topology_traces.json"


@pytest.fixture(scope="module")
def topology() -> pl.DataFrame:
    return make_spans(json.loads(FIXTURE.read_text())["rows"])


@pytest.fixture(scope="module")
def graph(topology):
    return service_graph(topology)


EXPECTED_NODES = {
    "user": "user",
    "frontend": "service",
    "cart": "service",
    "payments": "service",
    "notifier": "service",
    "fulfillment": "service",
    "redis": "database",
    "postgresql/payments": "database",
    "postgresql/fulfillment": "database",
    "api.stripe.com": "external",
}
EXPECTED_EDGES = {  # (source, target): (connection_type, calls, errors)
    ("user", "frontend"): ("virtual_node", 2, 0),
    ("frontend", "cart"): ("direct", 2, 0),
    ("frontend", "payments"): ("direct", 2, 1),
    ("cart", "redis"): ("database", 2, 0),
    ("payments", "api.stripe.com"): ("virtual_node", 2, 1),
    ("payments", "postgresql/payments"): ("database", 2, 0),
    ("payments", "notifier"): ("messaging", 2, 0),  # consumer as the producer's child
    ("frontend", "fulfillment"): ("messaging", 2, 0),  # consumer in its own trace, linked
    ("fulfillment", "postgresql/fulfillment"): ("database", 2, 0),
}


def test_nodes_and_kinds_are_exactly_the_known_topology(graph):
    assert dict(zip(graph.nodes["node"], graph.nodes["kind"], strict=True)) == EXPECTED_NODES
    assert {n: d["kind"] for n, d in graph.graph.nodes(data=True)} == EXPECTED_NODES


def test_edges_connection_types_and_call_counts_are_exact(graph):
    found = {(r["source"], r["target"]): (r["connection_type"], r["calls"], r["errors"]) for r in graph.edges.iter_rows(named=True)}
    assert found == EXPECTED_EDGES
    assert set(graph.graph.edges()) == set(EXPECTED_EDGES)
    assert nx_self_loops(graph.graph) == []


def nx_self_loops(g):
    return [(u, v) for u, v in g.edges() if u == v]


def test_self_loops_only_when_asked(topology):
    looped = service_graph(topology, self_loops=True)
    edge = looped.graph.edges["cart", "cart"]
    assert edge["calls"] == 2 and edge["connection_type"] == "direct"
    assert set(looped.graph.edges()) == set(EXPECTED_EDGES) | {("cart", "cart")}


def test_latency_statistics_and_gap(graph):
    edge = graph.graph.edges["frontend", "cart"]
    assert (edge["client_p50_ms"], edge["server_p99_ms"], edge["gap_p50_ms"]) == (255.0, 240.0, 15.0)
    db = graph.graph.edges["cart", "redis"]
    assert db["client_p95_ms"] == 50.0 and "server_p50_ms" not in db  # no server side to a virtual peer
    queue = graph.graph.edges["frontend", "fulfillment"]
    assert queue["gap_p50_ms"] == 1500 - 720  # consumer start - producer end: the message waited
    assert graph.graph.edges["frontend", "payments"]["error_rate"] == 0.5
    assert {d["traces"] for *_, d in graph.graph.edges(data=True)} == {2}  # every edge is walked by both copies


def test_node_red_stats(graph):
    payments = graph.nodes.filter(pl.col("node") == "payments").row(0, named=True)
    assert (payments["requests"], payments["errors"], payments["p50_ms"]) == (2, 1, 365.0)
    assert payments["spans"] == 8


def test_critical_path_time_per_edge_is_exclusive(graph):
    per_trace = graph.trace_edges()
    first_checkout = graph.trace_ids[graph.calls.filter(pl.col("target") == "cart")["trace"][0]]
    checkout = per_trace.filter(pl.col("trace_id") == first_checkout)
    got = {(r["source"], r["target"]): r["critical_path_ms"] for r in checkout.iter_rows(named=True)}
    # frontend 0..1000 waits on cart 60..300 (redis 100..150 inside; cart's self call stays cart's)
    assert got[("frontend", "cart")] == 240 - 50
    assert got[("cart", "redis")] == 50
    assert got[("payments", "api.stripe.com")] == 300
    assert got[("user", "frontend")] + sum(v for k, v in got.items() if k[0] != "user") == 1000
    assert graph.critical_path_ns == 2 * 1000 * 10**6 + 2 * 300 * 10**6


def test_accuracy_report_counts_what_cannot_be_paired():
    frame = make_trace(
        [
            {"span": "root", "service": "web", "kind": "server", "start": 0, "end": 100},
            {"span": "c1", "parent": "root", "service": "web", "kind": "client", "start": 1, "end": 9},  # no peer
            {"span": "c2", "parent": "root", "service": "web", "kind": "client", "start": 10, "end": 20,
             "attrs": {"peer.service": "billing"}},
            {"span": "x", "parent": "root", "service": "auth", "kind": "unspecified", "start": 30, "end": 40},
            {"span": "o", "parent": "missing", "service": "web", "kind": "server", "start": 50, "end": 60},
            {"span": "k", "parent": "root", "service": "web", "kind": "consumer", "start": 61, "end": 62},
        ]
    ).with_columns(pl.when(pl.col(s.SPAN_ID) == make_trace([{"span": "x", "end": 1}])[s.SPAN_ID][0])
                   .then(pl.lit(s.UNKNOWN_SERVICE)).otherwise(pl.col(s.SERVICE_NAME)).alias(s.SERVICE_NAME))
    g = service_graph(frame)
    acc = g.accuracy
    assert (acc.client_spans, acc.client_without_server, acc.client_without_peer) == (2, 2, 1)
    assert (acc.orphans, acc.server_without_client, acc.spans_without_kind, acc.spans_without_service) == (1, 1, 1, 1)
    assert acc.cross_service_without_kinds == 1 and acc.consumer_without_producer == 1
    assert set(g.graph.edges()) == {("user", "web"), ("web", "billing"), ("web", s.UNKNOWN_SERVICE)}
    assert g.graph.nodes["billing"]["kind"] == "external"
    assert any("name no peer" in w for w in acc.warnings())
    assert 0 < acc.placed_fraction < 1


def test_cohort_restricts_to_whole_matching_traces(topology):
    errors_only = service_graph(topology, where="status = error")
    assert errors_only.graph.edges["frontend", "payments"]["calls"] == 1
    assert errors_only.graph.edges["frontend", "cart"]["calls"] == 1  # whole traces, not just error spans
    # the consumer trace linked to an erroneous checkout walks with it
    assert errors_only.graph.edges["frontend", "fulfillment"]["calls"] == 1
    by_expr = service_graph(topology, where=pl.col(s.SERVICE_NAME) == "fulfillment")
    assert set(by_expr.graph.edges()) == {("fulfillment", "postgresql/fulfillment")}


def test_lazy_input_and_empty_input(topology):
    assert set(service_graph(topology.lazy()).graph.edges()) == set(EXPECTED_EDGES)
    empty = service_graph(s.empty_frame())
    assert empty.graph.number_of_nodes() == 0 and empty.edges.height == 0


# --- critical-path identity on random systems ------------------------------------------


def _random_system(rng: random.Random, traces: int) -> pl.DataFrame:
    """Random traces over five services, with CLIENT->SERVER hops, internal work, calls to
    uninstrumented databases, and callbacks into the root service."""
    rows = []
    services = ["a", "b", "c", "d", "e"]
    for t in range(traces):
        root_service = rng.choice(services)
        counter = iter(range(10_000))

        def grow(parent: str, service: str, start: int, end: int, depth: int) -> None:
            cursor = start
            for _ in range(rng.randint(0, 3 if depth < 4 else 0)):
                if end - cursor < 4:
                    return
                s0 = rng.randint(cursor, end - 2)
                e0 = rng.randint(s0 + 1, min(end, s0 + (end - start) // 2 + 2))
                cursor = e0 if rng.random() < 0.7 else cursor  # siblings sometimes overlap
                label = f"{t}-{next(counter)}"
                choice = rng.random()
                if choice < 0.4:  # a call to another service (maybe back into the root)
                    callee = rng.choice(services)
                    rows.append({"trace": t, "span": label, "parent": parent, "service": service, "kind": "client",
                                 "start": s0, "end": e0})
                    srv = f"{label}s"
                    inner0, inner1 = s0 + (1 if e0 - s0 > 2 else 0), e0 - (1 if e0 - s0 > 2 else 0)
                    rows.append({"trace": t, "span": srv, "parent": label, "service": callee, "kind": "server",
                                 "start": inner0, "end": inner1})
                    grow(srv, callee, inner0, inner1, depth + 1)
                elif choice < 0.6:  # an uninstrumented database
                    rows.append({"trace": t, "span": label, "parent": parent, "service": service, "kind": "client",
                                 "start": s0, "end": e0, "attrs": {"db.system.name": rng.choice(["pg", "redis"])}})
                else:  # internal work
                    rows.append({"trace": t, "span": label, "parent": parent, "service": service, "kind": "internal",
                                 "start": s0, "end": e0})
                    grow(label, service, s0, e0, depth + 1)

        rows.append({"trace": t, "span": f"{t}-root", "service": root_service, "kind": "server", "start": 0, "end": 1000})
        grow(f"{t}-root", root_service, 0, 1000, 0)
    return make_spans(rows)


def _outside_root_reference(spans: pl.DataFrame) -> dict[str, int]:
    """Per trace, critical-path ns spent outside the root service, walked on TraceTrees:
    a section is the root service's own time iff every span from it up to the root is a
    root-service span and none of them is a CLIENT span with no SERVER child (a call to an
    uninstrumented peer is time spent in that peer)."""
    sections = critical_path_reference(spans)
    by_trace = {tree.trace_id: tree for tree in trees(spans)}
    outside: dict[str, int] = {}
    for row in sections.iter_rows(named=True):
        tree = by_trace[row[s.TRACE_ID]]
        root_service = tree.span(tree.root)[s.SERVICE_NAME]
        chain = [row[s.SPAN_ID], *tree.ancestors(row[s.SPAN_ID])]
        own = all(
            tree.span(span)[s.SERVICE_NAME] == root_service
            and not (tree.kind(span) == "client" and not any(tree.kind(c) == "server" for c in tree.children(span)))
            for span in chain
        )
        ns = int((row[s.END] - row[s.START]).total_seconds() * 1e9 + 0.5)
        outside[row[s.TRACE_ID]] = outside.get(row[s.TRACE_ID], 0) + (0 if own else ns)
    return outside


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_edge_critical_path_adds_up_to_time_outside_the_root_service(seed):
    spans = _random_system(random.Random(seed), traces=25)
    g = service_graph(spans)
    non_user = (
        g.calls.filter(pl.col("source") != "user").group_by("trace").agg(pl.col("critical_path_ns").sum())
    )
    got = dict(zip(g.trace_ids.gather(non_user["trace"]), non_user["critical_path_ns"], strict=True))
    expected = _outside_root_reference(spans)
    assert {t: got.get(t, 0) for t in expected} == expected
    # with the user edge, the edges carry each trace's whole critical path (1000 ms)
    assert g.calls["critical_path_ns"].sum() == 25 * 1000 * 10**6


def test_ids_outside_the_contract_and_duplicates_still_pair():
    frame = make_trace(
        [
            {"span": "r", "service": "web", "kind": "server", "end": 100},
            {"span": "c", "parent": "r", "service": "web", "kind": "client", "start": 10, "end": 90},
            {"span": "d", "parent": "c", "service": "api", "kind": "server", "start": 20, "end": 80},
        ]
    )
    short = {span_id_for(label): label for label in ("r", "c", "d")}
    odd = frame.with_columns(
        pl.col(s.SPAN_ID).replace_strict(short), pl.col(s.PARENT_SPAN_ID).replace_strict(short, default=None)
    )
    doubled = pl.concat([odd, odd.filter(pl.col(s.SPAN_ID) == "d")])  # a span delivered twice
    g = service_graph(doubled)
    assert g.graph.edges["web", "api"]["calls"] == 1
    assert g.accuracy.duplicate_span_ids == 1
    assert g.graph.edges["web", "api"]["critical_path_ms"] == 60


def test_owning_entries_walks_deep_chains_and_survives_loops():
    n = 50_000
    parent = np.arange(-1, n - 1, dtype=np.int64)  # a chain: row i's parent is i-1
    entry = np.zeros(n, dtype=np.bool_)
    entry[[0, 30_000]] = True
    owner = owning_entries(parent, entry)
    assert owner[29_999] == 0 and owner[30_000] == 30_000 and owner[-1] == 30_000
    loop = owning_entries(np.array([1, 2, 0, 0], dtype=np.int64), np.zeros(4, dtype=np.bool_))
    assert loop.tolist() == [-1, -1, -1, -1]


def test_a_linked_consumer_call_belongs_to_the_producers_trace(graph):
    per_trace = graph.trace_edges().filter((pl.col("source") == "frontend") & (pl.col("target") == "fulfillment"))
    checkout_traces = set(graph.trace_edges().filter(pl.col("target") == "cart")["trace_id"])
    assert set(per_trace["trace_id"]) == checkout_traces and per_trace["calls"].to_list() == [1, 1]


def test_factorize_codes_by_first_appearance():
    codes, first = factorize(np.array([7, 3, 7, 9, 3], dtype=np.uint64))
    assert codes.tolist() == [0, 1, 0, 2, 1] and first.tolist() == [0, 1, 3]
