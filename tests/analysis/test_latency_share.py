"""Latency share, bottlenecks and latency bands, end to end from OTLP JSON."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import polars as pl
import pytest
from random_traces import random_traces

import tracelens
from tracelens import schema as s
from tracelens.analysis.critical_path import critical_path_of_tree
from tracelens.analysis.latency_share import band_difference, latency_bands, latency_share
from tracelens.analysis.self_time import self_time_of_tree
from tracelens.ingest import decode_otlp_json
from tracelens.model import trees
from tracelens.testing import make_spans

CHECKOUT = Path(__file__).resolve().parents[2] / "fixtures" / "checkout_trace.json"


@pytest.fixture(scope="module")
def checkout() -> pl.DataFrame:
    result = decode_otlp_json(CHECKOUT.read_bytes())
    assert result.rejected == 0
    return result.spans


def test_checkout_bottleneck_is_credit_card_api_at_82_percent(checkout):
    [row] = tracelens.bottlenecks(checkout).to_dicts()
    assert row[s.SERVICE_NAME] == "credit-card-api"
    assert f"{row['share']:.0%}" == "82%"
    assert row["trace_duration"].total_seconds() * 1000 == 2190
    assert f"{row[s.SERVICE_NAME]}, {row['share']:.0%} of total time" == "credit-card-api, 82% of total time"


def test_checkout_share_by_service(checkout):
    table = tracelens.latency_share(checkout, by="service")
    ms = {r[s.SERVICE_NAME]: r["critical_time"].total_seconds() * 1000 for r in table.to_dicts()}
    assert ms == {"credit-card-api": 1800, "payment-service": 200, "email-service": 100, "auth-service": 50,
                  "inventory-service": 30, "web-frontend": 10, "fraud-check-api": 0}
    assert table["share"].sum() == pytest.approx(1.0)
    fraud = table.filter(pl.col(s.SERVICE_NAME) == "fraud-check-api").row(0, named=True)
    assert fraud["traces"] == 1 and fraud["traces_on_path"] == 0 and fraud["self_time"].total_seconds() == 0.2
    # the critical path itself: sections tile the 2190 ms root
    sections = tracelens.critical_path(checkout)
    assert (sections[s.END] - sections[s.START]).sum().total_seconds() == pytest.approx(2.19)
    assert sections[s.SERVICE_NAME].to_list()[5] == "credit-card-api"


def test_share_by_operation_and_by_attribute(checkout):
    by_op = latency_share(checkout, by="operation")
    assert by_op.row(0, named=True)[s.NAME] == "POST /v1/charges"
    by_route = latency_share(checkout, by="http.route")
    assert by_route.row(0, named=True)[s.HTTP_ROUTE] == "/v1/charges"
    by_method = latency_share(checkout, by="http.response.status_code")
    assert by_method[s.HTTP_RESPONSE_STATUS_CODE].to_list() == [200]
    by_host = latency_share(checkout, by="resource.host.name")
    assert by_host.row(0, named=True)["resource.host.name"] == "credit-card-api-1"
    by_generic = latency_share(checkout, by="http.request.method")
    assert set(by_generic[s.HTTP_REQUEST_METHOD].to_list()) == {"GET", "POST"}


def test_cohort_filter_selects_whole_traces(checkout):
    other = make_spans([{"trace": "x", "span": "r", "service": "search", "start": 0, "end": 40}])
    both = pl.concat([checkout, other])
    assert latency_share(both, where='service.name = "fraud-check-api"').height == 7
    assert latency_share(both, where=pl.col(s.SERVICE_NAME) == "search")[s.SERVICE_NAME].to_list() == ["search"]


def test_per_trace_share_equals_reference_on_random_traces():
    frame = random_traces(400, seed=7)
    bulk = latency_share(frame, by="service", per_trace=True)
    got = {(r[s.TRACE_ID], r[s.SERVICE_NAME]): (r["critical_time"], r["self_time"], r["total_time"], r["count"]) for r in bulk.with_columns(
        pl.col("critical_time", "self_time", "total_time").dt.total_nanoseconds()).to_dicts()}
    want = {}
    for tree in trees(frame):
        acc = defaultdict(lambda: [0, 0, 0, 0])
        critical = defaultdict(int)
        for section in critical_path_of_tree(tree):
            critical[section.span_id] += section.end - section.start
        for node, self_ns in self_time_of_tree(tree).items():
            row = acc[tree.span(node)[s.SERVICE_NAME]]
            row[0] += critical[node]
            row[1] += self_ns
            row[2] += tree.end_ns(node) - tree.start_ns(node)
            row[3] += 1
        want |= {(tree.trace_id, service): tuple(v) for service, v in acc.items()}
    assert got == want
    shares = bulk.group_by(s.TRACE_ID).agg(pl.col("share").sum(), pl.col("trace_duration").first())
    nonzero = shares.filter(pl.col("trace_duration") > pl.duration(nanoseconds=0))
    assert ((nonzero["share"] - 1).abs() < 1e-9).all()


def _cohort_of(n_fast: int, n_slow: int) -> pl.DataFrame:
    rows = []
    for i in range(n_fast + n_slow):
        slow = i >= n_fast
        db = 900 if slow else 20
        rows += [
            {"trace": f"t{i}", "span": f"root{i}", "service": "api", "start": 0, "end": 30 + db + i * 0.001},
            {"trace": f"t{i}", "span": f"db{i}", "parent": f"root{i}", "service": "db", "start": 10, "end": 10 + db},
        ]
    return make_spans(rows)


def test_latency_bands_and_difference_find_what_grows_in_the_tail():
    frame = _cohort_of(95, 5)
    bands = latency_bands(frame, by="service")
    counts = dict(bands.select("band", "band_traces").unique().iter_rows())
    assert counts == {"p0-50": 50, "p50-90": 40, "p90-99": 9, "p99-100": 1}
    diff = band_difference(bands, "p0-50", "p99-100")
    top = diff.row(0, named=True)
    assert top[s.SERVICE_NAME] == "db"
    assert top["mean_critical_time_low"].total_seconds() * 1000 == pytest.approx(20)
    assert top["mean_critical_time_high"].total_seconds() * 1000 == pytest.approx(900)
    assert top["share_high"] > top["share_low"]


def test_trace_complete_batches_give_the_same_answer():
    frame = random_traces(300, seed=21)
    whole = latency_share(frame, by="service")
    batched = latency_share(frame.lazy(), by="service", batches=5)
    assert batched.sort(s.SERVICE_NAME).drop("share", "mean_share").equals(whole.sort(s.SERVICE_NAME).drop("share", "mean_share"))
    assert batched.sort(s.SERVICE_NAME)["share"].to_list() == pytest.approx(whole.sort(s.SERVICE_NAME)["share"].to_list())
    assert batched.sort(s.SERVICE_NAME)["mean_share"].to_list() == pytest.approx(whole.sort(s.SERVICE_NAME)["mean_share"].to_list())
    per = latency_share(frame, by="service", per_trace=True, batches=3)
    assert per.height == latency_share(frame, by="service", per_trace=True).height


def test_latency_share_of_a_real_store_in_batches(tmp_path, checkout):
    from tracelens.store import Store

    other = random_traces(50, seed=5)
    with Store.open(tmp_path / "data") as store:
        store.append(checkout)
        store.append(other)
        store.flush()
        store.append(checkout)  # a retry: unflushed duplicates are not counted twice
        expected = latency_share(pl.concat([checkout, other], how="vertical_relaxed"))
        got = latency_share(store.spans(), batches=4)
    assert got.sort(s.SERVICE_NAME).drop("share", "mean_share").equals(expected.sort(s.SERVICE_NAME).drop("share", "mean_share"))


def test_empty_frames_give_empty_answers():
    empty = s.empty_frame()
    assert tracelens.critical_path(empty).height == 0
    assert tracelens.self_time(empty).height == 0
    assert tracelens.latency_share(empty).height == 0
    assert tracelens.bottlenecks(empty).height == 0
    assert tracelens.what_if(empty, pl.lit(True), faster=1).height == 0
    assert tracelens.trees(empty) == []


def test_group_by_a_column_the_analysis_also_reads(checkout):
    assert latency_share(checkout, by="span_id").height == 7
