"""The seed's three alert scenarios as span data, with exact fire/reset times, plus the
replay checked against a naive per-window rescan of the spans."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracelens.slo as slo_api
from tracelens import schema as s
from tracelens.slo.spec import SLI, SLO, BurnTier
from tracelens.slo.synthetic import entry_spans

DAY = 24 * 60
HISTORY_DAYS = 3  # healthy history before the incident, so the 3d ticket window is meaningful
T0 = datetime(2026, 5, 1, tzinfo=timezone.utc)
TEN = T0 + timedelta(days=HISTORY_DAYS, hours=10)  # "10:00" on the incident day


def at_clock(hours: float) -> datetime:
    return T0 + timedelta(days=HISTORY_DAYS, hours=hours)


def payment_slo(**kw: object) -> SLO:
    base: dict[str, object] = dict(name="payment", service="payment-api", objective=0.999,
                                   window=timedelta(days=30), sli=SLI("availability"))
    return SLO(**(base | kw))  # type: ignore[arg-type]


def scenario(rpm: int, error_rate: np.ndarray) -> pl.DataFrame:
    """Entry spans at ``rpm`` with per-minute error counts whose running total tracks
    ``error_rate`` exactly (cumulative rounding)."""
    expected = np.cumsum(error_rate * rpm)
    errors = np.diff(np.concatenate(([0], np.floor(expected + 1e-9).astype(np.int64))))
    return entry_spans(service="payment-api", start=T0, requests_per_minute=rpm, errors_per_minute=errors)


def minute_of(hours: float) -> int:
    return int((HISTORY_DAYS * DAY) + hours * 60)


def events(history: pl.DataFrame, severity: str) -> list[tuple[str, datetime]]:
    rows = history.filter(pl.col("severity") == severity)
    return list(zip(rows["event"].to_list(), rows["time"].to_list(), strict=True))


def test_brief_spike_fires_nothing() -> None:
    # seed scenario 1: 10:00 error rate spikes to 5 % for 2 minutes, then back to normal
    minutes = minute_of(14)
    rate = np.full(minutes, 0.0002)
    rate[minute_of(10) : minute_of(10) + 2] = 0.05
    spans = scenario(100, rate)
    slo = payment_slo()
    history = slo_api.history(spans, [slo])
    assert history.height == 0
    # the 5-minute window did exceed 14.4 (1 %) -- only the long window kept it quiet
    timeline = slo_api.burn_timeline(slo_api.rollup(spans, [slo]), "payment")
    at_spike = timeline.filter(pl.col("time") == TEN + timedelta(minutes=2))
    assert at_spike["burn_5m"][0] > 14.4 > at_spike["burn_1h"][0]
    assert not any(a.firing for a in slo_api.alerts(spans, [slo]))


def test_sustained_two_percent_pages_within_the_hour_and_resets() -> None:
    # seed scenario 2: from 10:00 the error rate is 2 % (b = 20 on 99.9 %), fixed at 12:00.
    # 1h/5m (B = 14.4) fires when the hour holds > 1.44 %: 2 % * k / 60 > 1.44 % -> k = 44 min.
    # After 12:00 the 6h/30m tier (B = 6, firing since 11:49) keeps the page until its 30-minute
    # window drops to 0.6 %: 2 % * (30 - m) / 30 <= 0.6 % -> m = 21 -> reset at 12:21.
    minutes = minute_of(13)
    rate = np.zeros(minutes)
    rate[minute_of(10) : minute_of(12)] = 0.02
    spans = scenario(100, rate)
    slo = payment_slo()
    history = slo_api.history(spans, [slo])
    assert events(history, "page") == [("fire", at_clock(10 + 44 / 60)), ("reset", at_clock(12 + 21 / 60))]
    fire = history.filter((pl.col("severity") == "page") & (pl.col("event") == "fire"))
    assert fire["tiers"][0] == "1h/5m"
    assert fire["burn_long"][0] == pytest.approx(20 * 44 / 60)
    assert events(history, "ticket") == []  # 24h and 3d windows stay below 3x and 1x
    # "now" during the incident: paging since 10:44, both page tiers burning
    states = {a.severity: a for a in slo_api.alerts(spans, [slo], at=at_clock(11.95))}
    assert states["page"].firing and states["page"].since == at_clock(10 + 44 / 60)
    assert not states["ticket"].firing
    assert [t.firing for t in states["page"].tiers] == [True, True]


def test_slow_degradation_fires_the_slow_tier_not_the_fast_one() -> None:
    # seed scenario 3: 08:00 0.5 % rising linearly to 0.8 % at 14:00, then fixed.
    # 6h/30m (B = 6) needs the 6-hour window above 0.6 %: with a healthy morning that is
    # (0.5 t + 0.025 t^2) / 6 > 0.6 -> t ~ 5.6 h -> about 13:37; 1h/5m (1.44 %) never.
    minutes = minute_of(16)
    rate = np.zeros(minutes)
    ramp = np.arange(minute_of(8), minute_of(14))
    rate[ramp] = 0.005 + 0.003 * (ramp - minute_of(8)) / (6 * 60)
    spans = scenario(200, rate)
    slo = payment_slo()
    rollup = slo_api.rollup(spans, [slo])
    history = slo_api.history(rollup)
    page = events(history, "page")
    assert [e for e, _ in page] == ["fire", "reset"]
    fired, reset = page[0][1], page[1][1]
    assert at_clock(13.5) <= fired <= at_clock(13.75)
    assert at_clock(14) < reset <= at_clock(14.25)  # the 30-minute window lets go quickly
    fire_row = history.filter((pl.col("event") == "fire") & (pl.col("severity") == "page"))
    assert fire_row["tiers"][0] == "6h/30m"
    timeline = slo_api.burn_timeline(rollup, "payment")
    assert not timeline["firing_1h_5m"].any()  # the fast tier never fires
    assert timeline["firing_6h_30m"].any()
    assert events(history, "ticket") == []
    # exact minute: the replay agrees with a naive rescan of the spans
    naive = naive_firing(spans, slo, slo.tiers[1], [fired - timedelta(minutes=1), fired])
    assert naive == [False, True]


def naive_firing(spans: pl.DataFrame, slo: SLO, tier: BurnTier, moments: list[datetime]) -> list[bool]:
    """Obviously-correct reference: filter the spans of each window and count."""
    out = []
    budget = 1 - slo.objective
    threshold = tier.threshold(slo.window)
    for when in moments:
        rates = []
        for window in (tier.long, tier.short):
            rows = spans.filter(
                (pl.col(s.END) >= when - window) & (pl.col(s.END) < when) & (pl.col(s.SERVICE_NAME) == slo.service)
            )
            total = rows.height
            bad = rows.filter(pl.col(s.STATUS_CODE) == "error").height
            rates.append(bad / total / budget if total else 0.0)
        out.append(all(r > threshold for r in rates))
    return out


@settings(max_examples=6, deadline=None)
@given(
    st.lists(st.integers(0, 6), min_size=90, max_size=90),
    st.integers(5, 10),
)
def test_replay_matches_naive_rescan(errors: list[int], rpm: int) -> None:
    tiers = (
        BurnTier("page", timedelta(minutes=30), timedelta(minutes=5), burn_rate=4.0),
        BurnTier("ticket", timedelta(minutes=60), timedelta(minutes=10), burn_rate=2.0),
    )
    slo = payment_slo(objective=0.95, window=timedelta(days=1), tiers=tiers)
    spans = entry_spans(service="payment-api", start=T0, requests_per_minute=rpm,
                        errors_per_minute=np.array(errors, dtype=np.int64))
    rollup = slo_api.rollup(spans, [slo])
    timeline = slo_api.burn_timeline(rollup, "payment")
    moments = timeline["time"].to_list()
    assert len(moments) == 90
    for tier, column in zip(tiers, ("firing_30m_5m", "firing_1h_10m"), strict=True):
        assert timeline[column].to_list() == naive_firing(spans, slo, tier, moments)
    # fire/reset events are exactly the transitions of the OR-ed tiers per severity
    history = slo_api.history(rollup)
    for severity, column in (("page", "firing_30m_5m"), ("ticket", "firing_1h_10m")):
        flags = timeline[column].to_list()
        expected = [
            ("fire" if flag else "reset", moments[i])
            for i, flag in enumerate(flags)
            if flag != (flags[i - 1] if i else False)
        ]
        assert events(history, severity) == expected


def test_volume_mode_ignores_one_failure_at_low_traffic() -> None:
    # 10 requests an hour for 30 days; one failure in the last hour is a 100x burn (rate mode
    # pages) but only 1/21.6 of the month's budget: volume mode with min 5 bad events is quiet
    minutes = 30 * DAY
    requests = np.zeros(minutes, dtype=np.int64)
    requests[::6] = 1
    errors = np.zeros(minutes, dtype=np.int64)
    errors[minutes - 6] = 1
    spans = entry_spans(service="payment-api", start=T0, requests_per_minute=requests, errors_per_minute=errors)
    rate = payment_slo(name="rate")
    volume = payment_slo(name="volume", alert_mode="volume", min_bad_events=5)
    auto = payment_slo(name="auto", alert_mode="auto", min_bad_events=5)
    states = {(a.slo, a.severity): a for a in slo_api.alerts(spans, [rate, volume, auto])}
    assert states[("rate", "page")].firing
    assert not states[("volume", "page")].firing
    assert not states[("auto", "page")].firing
    assert states[("auto", "page")].tiers[0].volume_mode
    # every request of the last hour fails: 10 failures = 139 % of the month's budget (7.2);
    # volume mode pages (through the 6h/30m tier: the last 5 minutes had no requests)
    errors[minutes - 60 :: 6] = 1
    spans = entry_spans(service="payment-api", start=T0, requests_per_minute=requests, errors_per_minute=errors)
    states = {(a.slo, a.severity): a for a in slo_api.alerts(spans, [volume])}
    assert states[("volume", "page")].firing
