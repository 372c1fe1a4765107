"""What-if projections: re-timed traces, p50/p95/p99 against today."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from random_traces import random_traces

import tracelens
from tracelens import schema as s
from tracelens.analysis.what_if import what_if_traces
from tracelens.ingest import decode_otlp_json
from tracelens.testing import make_trace

CHECKOUT = Path(__file__).resolve().parents[2] / "fixtures" / "checkout_trace.json"


@pytest.fixture(scope="module")
def checkout() -> pl.DataFrame:
    return decode_otlp_json(CHECKOUT.read_bytes()).spans


def ms(value) -> float:
    return value.total_seconds() * 1000


def projected_ms(frame, target, **change) -> float:
    return ms(what_if_traces(frame, target, **change)["projected_duration"][0])


def test_checkout_what_if(checkout):
    cc = 'service.name = "credit-card-api"'
    assert projected_ms(checkout, cc, faster=1000) == 1190
    assert projected_ms(checkout, cc, remove=True) == 500  # now fraud-check (200 ms) bounds payment
    assert projected_ms(checkout, 'service.name = "fraud-check-api"', remove=True) == 2190  # off the path
    assert projected_ms(checkout, 'service.name = "email-service"', faster=40) == 2150
    table = tracelens.what_if(checkout, pl.col(s.NAME) == "POST /v1/charges", speedup=0.5)
    row = table.filter(pl.col("statistic") == "p50").row(0, named=True)
    assert ms(row["today"]) == 2190 and ms(row["projected"]) == 1290 and ms(row["change"]) == -900
    assert table["statistic"].to_list() == ["p50", "p95", "p99", "mean"]


def test_no_change_projects_today_exactly_on_random_traces():
    frame = random_traces(600, seed=11)
    for change in ({"faster": 0}, {"parallel": True}, {"remove": True}):
        got = what_if_traces(frame, pl.lit(False), **change)
        assert (got["projected_duration"] == got[s.DURATION]).all(), change


def test_faster_never_slows_a_trace_and_saves_at_most_what_was_cut():
    frame = random_traces(600, seed=12)
    got = what_if_traces(frame, pl.col(s.SERVICE_NAME) == "pay", faster=5)
    saved = got["saved"].dt.total_nanoseconds()
    assert (saved >= 0).all()
    assert (saved <= got["targeted_spans"] * 5_000_000).all()
    assert (saved > 0).any()


def n_plus_one(lengths, follower=True):
    rows = [{"span": "req", "start": 0, "end": 0}]
    t = 10
    for i, length in enumerate(lengths):
        rows.append({"span": f"q{i}", "parent": "req", "name": "SELECT", "start": t, "end": t + length})
        t += length
    if follower:
        rows.append({"span": "render", "parent": "req", "name": "render", "start": t, "end": t + 10})
        t += 10
    rows[0]["end"] = t + 10
    return make_trace(rows)


def test_parallel_sibling_calls():
    frame = n_plus_one([20, 20, 20, 20])
    assert projected_ms(frame, pl.col(s.NAME) == "SELECT", parallel=True) == 10 + 20 + 10 + 10
    # the follower waits for the longest call, not the last one
    frame = n_plus_one([10, 40, 10])
    assert projected_ms(frame, pl.col(s.NAME) == "SELECT", parallel=True) == 10 + 40 + 10 + 10
    assert projected_ms(n_plus_one([10, 40, 10], follower=False), pl.col(s.NAME) == "SELECT", parallel=True) == 10 + 40 + 10


def test_parallel_siblings_gain_nothing_beyond_slack():
    frame = make_trace([
        {"span": "p", "start": 0, "end": 100},
        {"span": "a", "parent": "p", "start": 0, "end": 50},
        {"span": "f", "parent": "p", "start": 0, "end": 80},
        {"span": "b", "parent": "p", "start": 80, "end": 100},
    ])
    assert projected_ms(frame, pl.col(s.SPAN_ID) == tracelens.testing.span_id_for("a"), faster=30) == 100
    assert projected_ms(frame, pl.col(s.SPAN_ID) == tracelens.testing.span_id_for("f"), faster=50) == 70


def test_choose_exactly_one_change(checkout):
    with pytest.raises(ValueError, match="exactly one"):
        tracelens.what_if(checkout, pl.lit(True), faster=1, remove=True)
