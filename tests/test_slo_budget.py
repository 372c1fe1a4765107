"""Error-budget formulas against hand-computed values, including the seed's worked examples."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest

import tracelens.slo as slo_api
from tracelens.slo.budget import burn_rate
from tracelens.slo.spec import DEFAULT_TIERS, SLI, SLO
from tracelens.slo.synthetic import entry_spans

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
DAY = 24 * 60


def availability(objective: float, window: timedelta = timedelta(days=30), name: str = "api") -> SLO:
    return SLO(name=name, service="api", objective=objective, window=window, sli=SLI("availability"))


@pytest.mark.parametrize(
    ("objective", "minutes"), [(0.999, 43.2), (0.9995, 21.6), (0.99, 432.0), (0.9999, 4.32)]
)
def test_budget_time_of_availability_slo(objective: float, minutes: float) -> None:
    # seed: "99.9 % of 30 d = 43.2 min"; "99.95 % uptime = 21.6 minutes downtime allowed"
    assert availability(objective).budget_time / timedelta(minutes=1) == pytest.approx(minutes)


@pytest.mark.parametrize(
    ("period_days", "expected"), [(30, [14.4, 6.0, 3.0, 1.0]), (28, [13.44, 5.6, 2.8, 0.9333333])]
)
def test_burn_thresholds_scale_with_the_period(period_days: int, expected: list[float]) -> None:
    got = [t.threshold(timedelta(days=period_days)) for t in DEFAULT_TIERS]
    assert got == pytest.approx(expected)


def test_burn_rate_formula() -> None:
    assert burn_rate(bad=20, total=1000, objective=0.999) == pytest.approx(20.0)  # 2 % on 99.9 %
    assert burn_rate(bad=144, total=10_000, objective=0.999) == pytest.approx(14.4)
    assert burn_rate(bad=0, total=0, objective=0.999) is None


def test_five_minute_outage_is_23_percent_of_a_9995_budget() -> None:
    # seed: 30 d = 43,200 min; 99.95 % -> 21.6 min; 1 min outage = 4.6 %, 5 min = 23 %, 20 min = 92 %
    minutes = 30 * DAY
    errors = np.zeros(minutes, dtype=np.int64)
    errors[10 * DAY : 10 * DAY + 5] = 10  # every request fails for five minutes
    spans = entry_spans(service="api", start=T0, requests_per_minute=10, errors_per_minute=errors)
    status = slo_api.evaluate(spans, [availability(0.9995)])[0]
    assert status.total == 432_000 and status.bad == 50
    assert status.budget_events == pytest.approx(216.0)
    assert status.budget_minutes == pytest.approx(21.6)
    assert status.consumed == pytest.approx(5 / 21.6)
    assert round(status.consumed * 100) == 23
    assert status.remaining_minutes == pytest.approx(16.6)
    assert status.state == "ok" and status.covers_window


def test_one_million_requests_950_failures_is_95_percent() -> None:
    # seed: 1,000,000 requests at 99.9 % -> 1,000 allowed failures; weeks 200/500/100/150 -> 20/50/10/15 %
    minutes = 28 * DAY
    requests = np.full(minutes, 24, dtype=np.int64)
    requests[: 1_000_000 - 24 * minutes] += 1
    errors = np.zeros(minutes, dtype=np.int64)
    for week, failures in enumerate((200, 500, 100, 150)):
        first = week * 7 * DAY + 600
        errors[first : first + failures // 10] = 10  # ten failures a minute
    slo = availability(0.999, window=timedelta(days=28))
    spans = entry_spans(service="api", start=T0, requests_per_minute=requests, errors_per_minute=errors)
    status = slo_api.evaluate(spans, [slo])[0]
    assert status.total == 1_000_000
    assert status.budget_events == pytest.approx(1000.0)
    assert status.bad == 950
    assert status.consumed == pytest.approx(0.95)
    assert status.remaining == pytest.approx(0.05)
    weekly = slo_api.consumption(slo_api.rollup(spans, [slo]), slo, every="1w")
    used = weekly.filter(pl.col("total") > 0)
    assert used["consumed"].to_list() == pytest.approx([0.20, 0.50, 0.10, 0.15])
    assert used["consumed_cumulative"][-1] == pytest.approx(0.95)


def test_restaurant_table_per_week() -> None:
    # seed: 3,000 customers a month at 99 % -> 30 may be late; weeks 10/15/3/2 -> 33/50/10/7 %
    minutes = 28 * DAY
    requests = np.zeros(minutes, dtype=np.int64)
    requests[np.linspace(0, minutes - 1, 3000).astype(np.int64)] = 1
    slow = np.zeros(minutes, dtype=np.int64)
    for week, late in enumerate((10, 15, 3, 2)):
        in_week = np.flatnonzero(requests[week * 7 * DAY : (week + 1) * 7 * DAY]) + week * 7 * DAY
        slow[in_week[:late]] = 1
    slo = SLO(name="food", service="kitchen", objective=0.99, window=timedelta(days=28),
              sli=SLI("latency", threshold=timedelta(minutes=30)))
    spans = entry_spans(service="kitchen", start=T0, requests_per_minute=requests, slow_per_minute=slow,
                        duration=timedelta(minutes=20), slow_duration=timedelta(minutes=45))
    rollup = slo_api.rollup(spans, [slo])
    status = slo_api.evaluate(rollup)[0]
    assert (status.total, status.bad, status.budget_events) == (3000, 30, pytest.approx(30.0))
    assert status.remaining == pytest.approx(0.0)
    weekly = slo_api.consumption(rollup, slo, every="1w").filter(pl.col("total") > 0)
    assert [round(x * 100) for x in weekly["consumed"]] == [33, 50, 10, 7]
    assert weekly["bad"].to_list() == [10, 15, 3, 2]


def test_overspent_budget_is_negative_and_no_traffic_is_no_data() -> None:
    errors = np.zeros(120, dtype=np.int64)
    errors[:6] = 1  # 6 bad of 1200 with a budget of 1.2
    spans = entry_spans(service="api", start=T0, requests_per_minute=10, errors_per_minute=errors)
    quiet = SLO(name="quiet", service="nobody", objective=0.999, window=timedelta(days=30), sli=SLI("availability"))
    busy, none = slo_api.evaluate(spans, [availability(0.999), quiet])
    assert busy.remaining == pytest.approx(1 - 6 / 1.2)
    assert busy.state == "breached"
    assert busy.time_to_exhaustion == timedelta(0)
    assert none.state == "no data"
    assert none.remaining is None and none.sli is None and none.consumed is None
    assert none.time_to_exhaustion is None
    assert none.burn_rates["1h"] is None


def test_burn_rates_per_window_and_time_to_exhaustion() -> None:
    # 10 days at 50/min: 0.05 % errors for 9 days, then 0.2 % (b = 2) during the last day
    minutes = 10 * DAY
    errors = np.zeros(minutes, dtype=np.int64)
    errors[np.arange(0, 9 * DAY, 40)] = 1  # 1 per 40 min at 50/min = 0.05 %
    errors[9 * DAY :: 10] = 1  # 1 per 10 min = 0.2 %
    spans = entry_spans(service="api", start=T0, requests_per_minute=50, errors_per_minute=errors)
    status = slo_api.evaluate(spans, [availability(0.999)])[0]
    assert status.burn_rates["1h"] == pytest.approx(2.0)
    assert status.burn_rates["1d"] == pytest.approx(2.0)
    assert status.burn_rates["3d"] == pytest.approx((2 * 1.0 + 0.5 * 2) / 3)
    total_bad = 9 * DAY / 40 + DAY / 10
    assert status.bad == total_bad
    remaining = 1 - total_bad / (0.001 * minutes * 50)
    assert status.remaining == pytest.approx(remaining)
    # the remaining budget lasts remaining * P / b at the last hour's burn rate
    assert status.time_to_exhaustion / timedelta(days=1) == pytest.approx(remaining * 30 / 2.0)


def test_evaluate_at_a_past_moment_sees_only_the_window_before_it() -> None:
    errors = np.zeros(3 * 60, dtype=np.int64)
    errors[120:] = 10
    spans = entry_spans(service="api", start=T0, requests_per_minute=10, errors_per_minute=errors)
    slo = availability(0.99, window=timedelta(hours=1))
    early = slo_api.evaluate(spans, [slo], at=T0 + timedelta(hours=2))[0]
    late = slo_api.evaluate(spans, [slo])[0]
    assert (early.total, early.bad, early.state) == (600, 0, "ok")
    assert (late.total, late.bad, late.state) == (600, 600, "breached")
    assert late.at == T0 + timedelta(hours=3)


def test_timeslices_budget_counts_bad_minutes() -> None:
    # 99 % of 1-minute slices must have >= 95 % good requests; 3 of 600 minutes are bad slices
    errors = np.zeros(600, dtype=np.int64)
    errors[[10, 200, 201]] = 6  # 6 % errors in those minutes
    errors[300] = 4  # 4 %: still a good slice
    spans = entry_spans(service="api", start=T0, requests_per_minute=100, errors_per_minute=errors)
    sliced = SLO(name="sliced", service="api", objective=0.99, window=timedelta(hours=10), sli=SLI("availability"),
                 budgeting="timeslices", time_slice_target=0.95)
    ratio = SLO(name="ratio", service="api", objective=0.99, window=timedelta(hours=10), sli=SLI("availability"),
                budgeting="ratio_timeslices")
    five = SLO(name="five", service="api", objective=0.99, window=timedelta(hours=10), sli=SLI("availability"),
               budgeting="timeslices", time_slice_target=0.95, time_slice_window=timedelta(minutes=5))
    a, b, c = slo_api.evaluate(spans, [sliced, ratio, five])
    assert (a.total, a.bad) == (600, 3)
    assert a.budget_minutes == pytest.approx(6.0)
    assert a.consumed == pytest.approx(0.5)
    assert b.total == 600 and b.bad == pytest.approx((18 + 4) / 100)
    # 5-minute slices: minute 10 -> slice 2 has 6/500 errors (good); 200-201 -> 12/500 (good)
    assert (c.total, c.bad) == (120, 0)
