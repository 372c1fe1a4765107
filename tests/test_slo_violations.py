"""A latency SLO's violating traces point at the service that was slowed, and explain()
says which service ate the budget and which attribute values are over-represented."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

import tracelens.slo as slo_api
from tracelens import schema as s
from tracelens.slo.spec import SLI, SLO
from tracelens.testing import make_spans, trace_id_for

N_TRACES = 40


def is_slow(i: int) -> bool:
    return i % 4 == 0  # every fourth checkout hits the slowed credit-card-api 2.0


def checkout_rows(i: int) -> list[dict[str, object]]:
    """web-frontend -> auth-service -> payment-service -> (credit-card-api || fraud-check-api)."""
    t = i * 60_000  # one checkout a minute
    cc = 1800 if is_slow(i) else 100
    cc_end, fraud_end = t + 15 + cc, t + 215
    pay_end = max(cc_end, fraud_end) + 10
    auth_end, root_end = pay_end + 5, pay_end + 10
    trace = f"checkout-{i}"
    return [
        {"trace": trace, "span": f"{i}-root", "service": "web-frontend", "name": "POST /checkout", "kind": "server",
         "start": t, "end": root_end, "attrs": {"http.route": "/checkout"}},
        {"trace": trace, "span": f"{i}-auth", "parent": f"{i}-root", "service": "auth-service", "name": "authorize",
         "kind": "server", "start": t + 5, "end": auth_end},
        {"trace": trace, "span": f"{i}-pay", "parent": f"{i}-auth", "service": "payment-service", "name": "charge",
         "kind": "server", "start": t + 10, "end": pay_end},
        {"trace": trace, "span": f"{i}-cc", "parent": f"{i}-pay", "service": "credit-card-api", "name": "POST /charge",
         "kind": "server", "start": t + 15, "end": cc_end, "attrs": {"card.network": "visa"},
         "resource": {"service.version": "2.0" if is_slow(i) else "1.9"}},
        {"trace": trace, "span": f"{i}-fraud", "parent": f"{i}-pay", "service": "fraud-check-api", "name": "score",
         "kind": "server", "start": t + 15, "end": fraud_end},
    ]


@pytest.fixture(scope="module")
def spans() -> pl.DataFrame:
    return make_spans([row for i in range(N_TRACES) for row in checkout_rows(i)])


LATENCY = SLO(name="checkout-latency", service="web-frontend", operation="POST /checkout", objective=0.95,
              window=timedelta(days=30), sli=SLI("latency", threshold=timedelta(milliseconds=500)))


def test_violating_traces_point_at_the_slowed_service(spans: pl.DataFrame) -> None:
    found = slo_api.violations(spans, LATENCY, order="worst", limit=100)
    slow_ids = {trace_id_for(f"checkout-{i}") for i in range(N_TRACES) if is_slow(i)}
    assert set(found[s.TRACE_ID]) == slow_ids
    assert found["bottleneck_service"].unique().to_list() == ["credit-card-api"]
    assert found["bottleneck_operation"].unique().to_list() == ["credit-card-api POST /charge"]
    assert found["bottleneck_share"].to_list() == pytest.approx([1800 / 1835] * len(slow_ids))
    assert (found[s.DURATION] > timedelta(milliseconds=500)).all()
    assert found[s.SERVICE_NAME].unique().to_list() == ["web-frontend"]
    # newest first by default, and the limit holds
    newest = slo_api.violations(spans, LATENCY, limit=3)
    assert newest[s.TRACE_ID].to_list() == [trace_id_for(f"checkout-{i}") for i in (36, 32, 28)]


def test_explain_names_the_service_and_the_attribute(spans: pl.DataFrame) -> None:
    explanation = slo_api.explain(spans, LATENCY)
    assert (explanation.bad_traces, explanation.good_traces) == (10, 30)
    top = explanation.by_service.row(0, named=True)
    assert top[s.SERVICE_NAME] == "credit-card-api"
    assert top["share_bad"] == pytest.approx(1800 / 1835)
    assert top["share_good"] == pytest.approx(0.0)  # fraud-check (200 ms) outlasts it in good traces
    assert top["ms_per_bad_trace"] == pytest.approx(1800)
    good_owner = explanation.by_service.sort("share_good", descending=True).row(0, named=True)
    assert good_owner[s.SERVICE_NAME] == "fraud-check-api"
    assert explanation.by_operation.row(0, named=True)[s.NAME] == "POST /charge"
    bubble = explanation.attributes.row(0, named=True)
    assert (bubble["dimension"], bubble["value"], bubble["bad"], bubble["good"]) == ("service.version", "2.0", 10, 0)
    assert bubble["score"] == pytest.approx(1.0)
    # values present in every trace are not over-represented
    assert explanation.attributes.filter(pl.col("value") == "visa").height == 0


def test_availability_violations_and_empty_results(spans: pl.DataFrame) -> None:
    errored = spans.with_columns(
        pl.when(pl.col(s.TRACE_ID) == trace_id_for("checkout-7"))
        .then(pl.lit("error"))
        .otherwise(pl.col(s.STATUS_CODE))
        .cast(s.StatusEnum)
        .alias(s.STATUS_CODE)
    )
    availability = SLO(name="a", service="web-frontend", objective=0.999, window=timedelta(days=30),
                       sli=SLI("availability"))
    found = slo_api.violations(errored, availability)
    assert found[s.TRACE_ID].to_list() == [trace_id_for("checkout-7")]
    assert found[s.STATUS_CODE].to_list() == ["error"]
    assert slo_api.violations(spans, availability).height == 0
    empty = slo_api.explain(spans, availability)
    assert empty.bad_traces == 0 and empty.attributes.height == 0
