"""Trace and cohort diffs: alignment by ancestral path, deltas, cause first."""

from __future__ import annotations

import polars as pl
import pytest

from tracelens import schema as s
from tracelens.analysis.diff import diff_cohorts, diff_traces, span_paths
from tracelens.canary.synthetic import CanaryScenario, generate_canary_spans
from tracelens.filters import parse_filter
from tracelens.testing import make_trace, span_id_for


def checkout(trace: str, card_ms: float, *, db_calls: int = 1, fraud_check: bool = False) -> pl.DataFrame:
    """frontend > checkout > {cart, payment-service > {credit-card-api, db x N}}."""
    rows = [
        {"span": "root", "service": "frontend", "name": "GET /checkout", "kind": "server", "start": 0, "end": 300 + card_ms},
        {"span": "co", "parent": "root", "service": "checkout", "name": "POST /checkout", "kind": "server", "start": 10, "end": 290 + card_ms},
        {"span": "cart", "parent": "co", "service": "cart", "name": "GET /cart", "kind": "server", "start": 20, "end": 60},
        {"span": "pay", "parent": "co", "service": "payment-service", "name": "POST /pay", "kind": "server", "start": 70, "end": 270 + card_ms},
        {"span": "cc", "parent": "pay", "service": "credit-card-api", "name": "POST /authorize", "kind": "server", "start": 100, "end": 200 + card_ms},
    ]
    for i in range(db_calls):
        rows.append({"span": f"db{i}", "parent": "pay", "service": "payment-service", "name": "INSERT payments", "kind": "client",
                     "start": 205 + card_ms + 15 * i, "end": 215 + card_ms + 15 * i})
    if fraud_check:
        rows.append({"span": "fraud", "parent": "pay", "service": "fraud", "name": "POST /score", "kind": "server", "start": 75, "end": 95})
    return make_trace(rows, trace=trace)


def test_credit_card_api_500ms_slower_is_shown_first():
    diff = diff_traces(checkout("a", 100), checkout("b", 600))
    top = diff.table.row(0, named=True)
    assert (top[s.SERVICE_NAME], top["name"]) == ("credit-card-api", "POST /authorize")
    assert top["critical_delta_ms"] == pytest.approx(500) and top["self_delta_ms"] == pytest.approx(500)
    assert diff.duration_delta_ms == pytest.approx(500)
    assert diff.table["critical_delta_ms"].sum() == pytest.approx(diff.duration_delta_ms)  # deltas tile the root
    # ancestors inherit the duration change but not the self/critical-path change
    ancestors = diff.table.filter(pl.col(s.SERVICE_NAME).is_in(["frontend", "checkout", "payment-service"]) & (pl.col("name") != "INSERT payments"))
    assert ancestors["duration_delta_ms"].to_list() == [500.0] * 3
    assert ancestors["self_delta_ms"].to_list() == [0.0] * 3
    assert "credit-card-api: POST /authorize is +500.0 ms on the critical path" in diff.headline()
    assert diff.table.filter(pl.col(s.SERVICE_NAME) == "cart")["change"].to_list() == ["same"]


def test_added_removed_and_repeated_spans_are_aligned():
    diff = diff_traces(checkout("a", 100, fraud_check=True), checkout("b", 100, db_calls=3))
    by_name = {row["name"]: row for row in diff.table.iter_rows(named=True)}
    assert by_name["POST /score"]["change"] == "removed" and by_name["POST /score"]["count_b"] == 0
    db = by_name["INSERT payments"]
    assert (db["count_a"], db["count_b"], db["count_delta"], db["change"]) == (1, 3, 2, "changed")
    assert db["duration_delta_ms"] == pytest.approx(20)
    reverse = diff_traces(checkout("b", 100), checkout("a", 100, fraud_check=True))
    added = reverse.table.filter(pl.col("change") == "added")
    assert added["path"].to_list() == ["frontend: GET /checkout > checkout: POST /checkout > payment-service: POST /pay > fraud: POST /score"]


def test_identical_traces_have_no_changes():
    diff = diff_traces(checkout("a", 100), checkout("b", 100))
    assert set(diff.table["change"]) == {"same"}
    assert diff.headline().startswith("no change")


def test_span_paths_handle_orphans_and_cycles():
    frame = make_trace(
        [
            {"span": "root", "service": "web", "name": "GET /", "start": 0, "end": 10},
            {"span": "child", "parent": "root", "service": "db", "name": "SELECT", "start": 1, "end": 2},
            {"span": "orphan", "parent": "missing", "service": "db", "name": "SELECT", "start": 1, "end": 2},
            {"span": "x", "parent": "y", "service": "loop", "name": "x", "start": 1, "end": 2},
            {"span": "y", "parent": "x", "service": "loop", "name": "y", "start": 1, "end": 2},
        ]
    )
    paths = dict(span_paths(frame, max_depth=6).select(s.SPAN_ID, "path").iter_rows())
    assert paths[span_id_for("child")] == "web: GET / > db: SELECT"
    assert paths[span_id_for("orphan")] == "? > db: SELECT"
    assert paths[span_id_for("x")].endswith("loop: y > loop: x")  # cut, not an endless loop


def test_cohort_diff_finds_the_slower_operations_and_their_share():
    spans = generate_canary_spans(
        CanaryScenario(requests_per_second=1.0, steps=((50.0, 600.0),), regression_from_step=0, seed=5)
    )
    table = diff_cohorts(spans, parse_filter('service.version = "1.4"'), parse_filter('service.version = "2.0"'))
    pay = table.filter((pl.col(s.SERVICE_NAME) == "payment-service") & (pl.col("name") == "POST /pay")).row(0, named=True)
    assert pay["significant"] and pay["shift_low_ms"] < pay["shift_ms"] < pay["shift_high_ms"]
    assert 150 < pay["shift_ms"] < 300  # medians 120 ms -> 330 ms
    assert pay["p95_b_ms"] > 2 * pay["p95_a_ms"]
    card = table.filter(pl.col(s.SERVICE_NAME) == "credit-card-api").row(0, named=True)
    assert card["critical_share_delta"] > 0  # the card API's share of the end-to-end path grows
    assert table["significant"].all()
    same = generate_canary_spans(CanaryScenario(requests_per_second=1.0, steps=((50.0, 600.0),), regression=False, seed=5))
    table = diff_cohorts(same, parse_filter('service.version = "1.4"'), parse_filter('service.version = "2.0"'))
    assert not table["significant"].any()
    assert table["critical_share_delta"].abs().max() < 0.02


def test_seed_checkout_trace_with_credit_card_api_500ms_slower(checkout_spans):
    """The seed's checkout trace (fixtures/checkout_trace.json) against a copy where
    credit-card-api takes 500 ms longer and everything after it moves later."""
    card_end = checkout_spans.filter(pl.col(s.SERVICE_NAME) == "credit-card-api")[s.END][0]
    delay = pl.duration(milliseconds=500)
    slower = checkout_spans.with_columns(
        pl.when(pl.col(s.START) >= card_end).then(pl.col(s.START) + delay).otherwise(pl.col(s.START)).alias(s.START),
        pl.when(pl.col(s.END) >= card_end).then(pl.col(s.END) + delay).otherwise(pl.col(s.END)).alias(s.END),
        pl.lit("f" * 32).alias(s.TRACE_ID),
    ).with_columns((pl.col(s.END) - pl.col(s.START)).alias(s.DURATION))
    diff = diff_traces(checkout_spans, slower)
    first = diff.table.row(0, named=True)
    assert (first[s.SERVICE_NAME], first["name"]) == ("credit-card-api", "POST /v1/charges")
    assert first["critical_delta_ms"] == pytest.approx(500) and first["self_delta_ms"] == pytest.approx(500)
    assert diff.duration_delta_ms == pytest.approx(500)
    others = diff.table.slice(1)
    assert (others["critical_delta_ms"].abs() < 1e-9).all() and (others["self_delta_ms"].abs() < 1e-9).all()
