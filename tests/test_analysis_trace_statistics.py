from datetime import timedelta

import polars as pl

from tracelens.analysis.trace_statistics import trace_statistics


def test_checkout_statistics_by_service(checkout_spans):
    table = trace_statistics(checkout_spans)
    assert table["count"].sum() == 7
    selfs = {r["service_name"]: r["self_total"] / timedelta(milliseconds=1) for r in table.to_dicts()}
    assert selfs == {"web-frontend": 10, "auth-service": 50, "payment-service": 110, "fraud-check-api": 200,
                     "credit-card-api": 1800, "inventory-service": 30, "email-service": 100}
    # fraud-check runs in parallel with credit-card, so the self times add up to more than the trace
    assert abs(table["percent_of_trace"].sum() - 2300 / 2190) < 1e-12
    top = table.row(0, named=True)
    assert top["service_name"] == "credit-card-api" and top["self_total"] == timedelta(milliseconds=1800)
    payment = table.filter(pl.col("service_name") == "payment-service").row(0, named=True)
    # payment 2000 ms minus the union of fraud-check (200 ms) and credit-card (1800 ms), overlapping
    assert payment["total"] == timedelta(milliseconds=2000) and payment["self_total"] == timedelta(milliseconds=110)


def test_two_levels_and_many_traces():
    from tracelens.testing import make_spans

    rows = []
    for t in range(3):
        rows += [
            {"trace": t, "span": "r", "service": "web", "name": "GET", "start": 0, "end": 100},
            {"trace": t, "span": "a", "parent": "r", "service": "db", "name": "q1", "start": 10, "end": 30},
            {"trace": t, "span": "b", "parent": "r", "service": "db", "name": "q2", "start": 40, "end": 40 + 10 * t},
        ]
    table = trace_statistics(make_spans(rows), by="service", then="name")
    q2 = table.filter(pl.col("name") == "q2").row(0, named=True)
    assert q2["count"] == 3 and q2["min"] == timedelta(0) and q2["max"] == timedelta(milliseconds=20)
    assert q2["avg"] == timedelta(milliseconds=10)
    web = table.filter(pl.col("service_name") == "web").row(0, named=True)
    assert web["self_total"] == timedelta(milliseconds=3 * 80 - 30)  # 80, 70, 60 ms
    assert abs(web["percent_of_trace"] - 210 / 300) < 1e-12
