import pytest

from tracelens.demo.timeline import (
    CANARY_STEPS,
    NORMAL,
    conditions_at,
    format_duration,
    parse_duration,
    parse_scenarios,
)
from tracelens.errors import ScenarioError

HOUR = 3600.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1.5d", 129600), ("250ms", 0.25)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "1h 30m", "-1h", "2h30"])
def test_parse_duration_rejects_garbage(text):
    with pytest.raises(ScenarioError):
        parse_duration(text)


def test_format_duration_round_trips():
    for seconds in (1, 59, 60, 5400, 86400 + 61):
        assert parse_duration(format_duration(seconds)) == seconds


def test_explicit_window_and_defaults():
    windows = parse_scenarios(["db-slowdown@2h+1h", "error-spike@30m", "canary"], 10 * HOUR)
    by_name = {w.name: w for w in windows}
    assert (by_name["db-slowdown"].start, by_name["db-slowdown"].length) == (2 * HOUR, HOUR)
    assert (by_name["error-spike"].start, by_name["error-spike"].length) == (1800, 120)  # seed: 2 minutes
    assert by_name["canary"].start == pytest.approx(7 * HOUR)
    assert [w.start for w in windows] == sorted(w.start for w in windows)
    assert by_name["db-slowdown"].label() == "db-slowdown@2h+1h"


def test_comma_lists_and_none():
    assert len(parse_scenarios("db-slowdown@1h+1h, kill-pod@2h+10m", 4 * HOUR)) == 2
    assert parse_scenarios("none", 4 * HOUR) == ()
    assert parse_scenarios(None, 4 * HOUR) == ()


@pytest.mark.parametrize("text", ["db-slow", "db-slowdown@5h", "db-slowdown@1h+0s", "db-slowdown@x"])
def test_bad_scenarios_are_errors(text):
    with pytest.raises(ScenarioError):
        parse_scenarios(text, 4 * HOUR)


def test_conditions_follow_the_timeline():
    windows = parse_scenarios("db-slowdown@1h+1h,sustained-errors@1h30m+1h", 4 * HOUR)
    assert conditions_at(windows, 0.5 * HOUR) == NORMAL
    assert conditions_at(windows, 1.2 * HOUR).db_extra_seconds == 2.0
    both = conditions_at(windows, 1.75 * HOUR)
    assert (both.db_extra_seconds, both.auth_error_rate) == (2.0, 0.02)
    assert conditions_at(windows, 2 * HOUR).db_extra_seconds == 0.0  # the window is half-open


def test_slow_degradation_ramps_and_canary_steps():
    windows = parse_scenarios("slow-degradation@0s+6h,canary@0s+3h", 6 * HOUR)
    rates = [conditions_at(windows, h * HOUR).auth_error_rate for h in (0, 2, 4, 5.99)]
    assert rates[0] == pytest.approx(0.005)
    assert rates == sorted(rates) and rates[-1] == pytest.approx(0.008, abs=1e-5)
    shares = [conditions_at(windows, h * HOUR).canary_share for h in (0.5, 1.5, 2.5, 3.5)]
    assert shares == [*CANARY_STEPS, 0.0]  # rolled back after the window


def test_partition_with_and_without_cache():
    plain = conditions_at(parse_scenarios("network-partition@0s+1h", 2 * HOUR), 10)
    cached = conditions_at(parse_scenarios("network-partition-cached@0s+1h", 2 * HOUR), 10)
    assert plain.db_partitioned and not plain.db_cache_fallback
    assert cached.db_partitioned and cached.db_cache_fallback
