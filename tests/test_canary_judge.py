"""Canary judgement: per-rule decisions, Kayenta scoring, the sparse-error case, and the
seed's progressive rollout on generated spans."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from tracelens import schema as s
from tracelens.analysis import stats
from tracelens.canary.api import compare_cohorts, progressive_rollout
from tracelens.canary.cohort import CohortData, RatioData, cohort_data
from tracelens.canary.judge import judge, kayenta_score
from tracelens.canary.rules import loads_spec
from tracelens.canary.synthetic import CanaryScenario, generate_canary_spans
from tracelens.testing import make_spans

BASELINE = 'service.version = "1.4"'
CANARY = 'service.version = "2.0"'
INTERVAL_NS = 60 * 10**9


def cohort(name: str, errors_per_interval: list[int], requests_per_interval: int, *, durations=None) -> CohortData:
    """A cohort of len(errors) one-minute intervals with the given error counts."""
    starts, errors = [], []
    for i, bad in enumerate(errors_per_interval):
        starts.append(i * INTERVAL_NS + np.arange(requests_per_interval) * (INTERVAL_NS // requests_per_interval))
        flags = np.zeros(requests_per_interval, bool)
        flags[:bad] = True
        errors.append(flags)
    start = np.concatenate(starts) if starts else np.zeros(0, np.int64)
    error = np.concatenate(errors) if errors else np.zeros(0, bool)
    duration = np.full(start.size, 100.0) if durations is None else np.asarray(durations, float)
    return CohortData(name, name, start, duration, error, {"payment_success_rate": RatioData(start, ~error)})


def spec(text: str):
    return loads_spec(text)


ERROR_RULE = "canary_rules:\n  - {metric: error_rate, threshold: %s, comparison: old_version}\n"


# --- the sparse-error case ------------------------------------------------------------------


def test_sparse_errors_kayenta_per_interval_passes_but_per_request_fails():
    """[0,1,2,1,0,0] errors per interval vs all zeros: Kayenta's Mann-Whitney on six
    per-interval error rates cannot see it (p > 0.05, so it passes the canary); per
    request, the baseline's 114 000 error-free requests make 4 errors in 6000 decisive."""
    canary = cohort("canary", [0, 1, 2, 1, 0, 0], 1000)
    baseline = cohort("baseline", [0] * 6, 19_000)  # 5 % canary traffic
    per_interval_canary = [e / 1000 for e in [0, 1, 2, 1, 0, 0]]
    kayenta = stats.mann_whitney_u(per_interval_canary, [0.0] * 6, alternative="two-sided")
    assert kayenta.pvalue > 0.05  # what Kayenta's classifier sees: "no significant difference"

    verdict = judge(baseline, canary, spec(ERROR_RULE % "0%"))  # no worse than the old version
    (result,) = verdict.results
    assert result.status == "Failed" and verdict.verdict == "Failed"
    assert result.details["p_vs_old_version"] < 1e-4
    assert "4 errors of 6000 requests" in result.summary and "0 of 114000" in result.summary


def test_sparse_errors_above_the_seed_ceiling_are_never_passed():
    # 4 errors in 300 = 1.33 % against the seed's 1 % ceiling: clearly worse than the
    # error-free old version, not yet proven above 1 % -> Inconclusive, not Successful.
    canary = cohort("canary", [0, 1, 2, 1, 0, 0], 50)
    baseline = cohort("baseline", [0] * 6, 2000)
    (result,) = judge(baseline, canary, spec(ERROR_RULE % "1%")).results
    assert result.details["p_vs_old_version"] < 1e-4
    assert result.status == "Inconclusive" and "keep watching" in result.summary
    # ... and with twice the evidence (8 of 300) it fails
    canary = cohort("canary", [0, 2, 4, 2, 0, 0], 50)
    (result,) = judge(baseline, canary, spec(ERROR_RULE % "1%")).results
    assert result.status == "Failed"


def test_sparse_errors_with_equal_traffic_are_inconclusive_not_passed():
    # 4 errors vs 0 in equal cohorts: p ~ 1/16 under H0. Not enough to fail, never a pass.
    canary = cohort("canary", [0, 1, 2, 1, 0, 0], 1000)
    baseline = cohort("baseline", [0] * 6, 1000)
    (result,) = judge(baseline, canary, spec(ERROR_RULE % "0%")).results
    assert result.status == "Inconclusive"
    assert result.pvalue == pytest.approx(math.comb(6000, 4) / math.comb(12000, 4), rel=1e-9)


# --- per rule -----------------------------------------------------------------------------------


def test_error_rate_significant_but_under_ceiling_passes():
    canary = cohort("canary", [3] * 10, 1000)  # 0.3 %
    baseline = cohort("baseline", [0] * 10, 1000)
    (result,) = judge(baseline, canary, spec(ERROR_RULE % "1%")).results
    assert result.details["p_vs_old_version"] < 0.001 and result.status == "Successful"
    assert "within the ceiling" in result.summary


def test_error_rate_above_ceiling_but_not_significant_is_inconclusive():
    canary = cohort("canary", [1], 40)  # 2.5 % of 40
    baseline = cohort("baseline", [0], 40)
    (result,) = judge(baseline, canary, spec(ERROR_RULE % "1%")).results
    assert result.status == "Inconclusive" and "keep watching" in result.summary


def test_no_data_is_inconclusive_unless_must_have_data():
    empty = cohort("canary", [], 10)
    baseline = cohort("baseline", [0] * 3, 100)
    (result,) = judge(baseline, empty, spec(ERROR_RULE % "1%")).results
    assert result.status == "Inconclusive" and "no canary requests" in result.summary
    strict = spec("canary_rules:\n  - {metric: error_rate, threshold: 1%, must_have_data: true}\n")
    (result,) = judge(baseline, empty, strict).results
    assert result.status == "Failed"


def test_latency_percentile_rule_numbers_in_words():
    rng = np.random.default_rng(1)
    base = rng.lognormal(np.log(120), 0.31, 3000)
    slow = rng.lognormal(np.log(330), 0.6, 600)
    canary = cohort("canary", [0] * 6, 100, durations=slow)
    baseline = cohort("baseline", [0] * 6, 500, durations=base)
    rules = spec("canary_rules:\n  - {metric: latency_p95, threshold: 10%, comparison: old_version}\n")
    (result,) = judge(baseline, canary, rules).results
    assert result.status == "Failed"
    assert result.canary_value == pytest.approx(np.percentile(slow, 95))
    assert result.bound == pytest.approx(np.percentile(base, 95) * 1.1)
    assert result.shift_low <= result.shift <= result.shift_high and result.shift > 100
    for words in ("canary p95 latency", "Hodges-Lehmann shift", "95% CI", "Mann-Whitney p", "binomial p"):
        assert words in result.summary


def test_tail_only_regression_is_caught_by_the_tail_test():
    # 8 % of canary requests get +1 s: the median barely moves, p95 does.
    rng = np.random.default_rng(2)
    base = rng.lognormal(np.log(120), 0.31, 4000)
    can = rng.lognormal(np.log(120), 0.31, 4000)
    can[rng.random(4000) < 0.08] += 1000.0
    canary = cohort("canary", [0] * 4, 1000, durations=can)
    baseline = cohort("baseline", [0] * 4, 1000, durations=base)
    rules = spec("canary_rules:\n  - {metric: latency_p95, threshold: 10%}\n")
    (result,) = judge(baseline, canary, rules).results
    assert result.details["mann_whitney_p"] > 1e-3 or result.details["tail_p"] < 1e-10
    assert result.status == "Failed"


def test_absolute_latency_and_mean_and_request_rate():
    durations = np.full(600, 100.0)
    durations[:60] = 900.0  # 10 % slow -> p95 = 900 ms
    canary = cohort("canary", [0] * 6, 100, durations=durations)
    baseline = cohort("baseline", [0] * 6, 100)
    rules = spec(
        """
canary_rules:
  - {metric: latency_p95, threshold: 500ms, comparison: absolute}
  - {metric: latency_mean, threshold: 1s, comparison: absolute}
  - {metric: request_rate, threshold: 5/s, comparison: absolute}
  - {metric: request_rate, threshold: 50/s, comparison: absolute}
"""
    )
    p95, mean, rate_ok, rate_low = judge(baseline, canary, rules, window_seconds=360).results
    assert p95.status == "Failed" and mean.status == "Successful"
    assert rate_ok.canary_value == pytest.approx(600 / 360) and rate_ok.status == "Failed"  # 1.7 req/s < 5
    assert rate_low.status == "Failed"
    rules = spec("canary_rules:\n  - {metric: request_rate, threshold: 1/s, comparison: absolute}\n")
    (ok,) = judge(baseline, canary, rules, window_seconds=360).results
    assert ok.status == "Successful"


def test_kayenta_score_groups_and_critical():
    base = cohort("baseline", [0] * 10, 1000)
    bad = cohort("canary", [50] * 10, 1000)  # 5 % errors
    rules = spec(
        """
canary_rules:
  - {metric: error_rate, threshold: 1%, group: errors}
  - {metric: latency_p95, threshold: 10%, group: latency}
  - {metric: latency_mean, threshold: 10%, group: latency}
auto_rollback: {enabled: true, if: score_below_marginal}
"""
    )
    verdict = judge(base, bad, rules)
    assert [r.status for r in verdict.results] == ["Failed", "Successful", "Successful"]
    assert verdict.score == pytest.approx(50.0)  # errors group 0, latency group 100
    assert verdict.classification == "fail" and verdict.verdict == "Failed" and verdict.rollback
    critical = spec("canary_rules:\n  - {metric: error_rate, threshold: 1%, critical: true}\n  - {metric: latency_p95, threshold: 10%}\n")
    verdict = judge(base, bad, critical)
    assert verdict.score == 0.0 and verdict.verdict == "Failed"
    assert kayenta_score(()) is None


def test_marginal_score_is_inconclusive():
    base = cohort("baseline", [0] * 10, 1000)
    bad = cohort("canary", [50] * 10, 1000)
    rules = spec(
        "canary_rules:\n"
        + "  - {metric: error_rate, threshold: 1%}\n"
        + "  - {metric: latency_mean, threshold: 10%}\n" * 4
        + "auto_rollback: {if: score_below_marginal}\n"
    )
    verdict = judge(base, bad, rules)
    assert verdict.score == pytest.approx(80.0) and verdict.classification == "marginal"
    assert verdict.verdict == "Inconclusive" and not verdict.rollback


def test_verdict_json_is_plain_data():
    import json

    verdict = judge(cohort("b", [0] * 3, 100), cohort("c", [0] * 3, 100), spec(ERROR_RULE % "1%"))
    payload = json.loads(json.dumps(verdict.to_dict()))
    assert payload["verdict"] == "Successful" and payload["results"][0]["metric"] == "error_rate"


# --- cohorts from spans -------------------------------------------------------------------------


def test_cohorts_are_entry_spans_of_the_service():
    rows = []
    for i, version in enumerate(["1.4", "1.4", "2.0"]):
        rows += [
            {"trace": f"t{i}", "span": f"root{i}", "service": "frontend", "kind": "server", "start": 0, "end": 100},
            {"trace": f"t{i}", "span": f"pay{i}", "parent": f"root{i}", "service": "payment-service", "kind": "server",
             "start": 10, "end": 90, "resource": {"service.version": version}, "status": "error" if i == 2 else "unset"},
            {"trace": f"t{i}", "span": f"db{i}", "parent": f"pay{i}", "service": "payment-service", "kind": "client",
             "start": 20, "end": 30, "resource": {"service.version": version}},
        ]
    spans = make_spans(rows)
    data = cohort_data(spans, CANARY, name="canary", service="payment-service")
    assert data.n == 1 and data.error.tolist() == [True] and data.duration_ms.tolist() == [80.0]
    data = cohort_data(spans, pl.col(s.SERVICE_VERSION) == "1.4", name="baseline", service="payment-service")
    assert data.n == 2


def test_compare_cohorts_infers_the_service_and_counts_ratio_metrics():
    spans = generate_canary_spans(CanaryScenario(requests_per_second=2, steps=((50.0, 600.0),), regression_from_step=0))
    rules = """
metrics:
  payment_success_rate:
    good: 'name = "charge" and status != error'
    total: 'name = "charge"'
canary_rules:
  - {metric: payment_success_rate, threshold: 99%, comparison: absolute}
"""
    verdict = compare_cohorts(spans, baseline=BASELINE, canary=CANARY, rules=rules)
    assert verdict.service == "payment-service"
    (result,) = verdict.results
    charges = spans.filter((pl.col(s.NAME) == "charge") & (pl.col(s.SERVICE_VERSION) == "2.0"))
    assert result.n_canary == charges.height
    assert result.canary_value == pytest.approx(100 * (1 - (charges[s.STATUS_CODE] == "error").mean()))
    assert result.status == "Failed"


# --- the seed's rollout -------------------------------------------------------------------------


def test_seed_rollout_fails_at_the_50_percent_step_and_rolls_back_at_1105():
    spans = generate_canary_spans(CanaryScenario(seed=11))
    result = progressive_rollout(spans, baseline=BASELINE, canary=CANARY)
    assert result.verdict == "Failed"
    assert result.first_failed_step == 2
    assert result.rollback_at.strftime("%H:%M") == "11:05"
    assert [st.outcome for st in result.steps] == ["passed", "passed", "failed", "not reached"]
    failing = {r.metric: r for r in result.steps[2].final.results}
    assert failing["error_rate"].status == "Failed" and failing["latency_p95"].status == "Failed"
    assert failing["latency_p95"].canary_value == pytest.approx(800, rel=0.15)
    assert "rollback at 11:05" in result.summary
    frame = result.steps_frame()
    assert frame["outcome"].to_list() == ["passed", "passed", "failed", "not reached"]
    assert frame["verdict"].to_list()[:3] == ["Successful", "Successful", "Failed"]
    rules = result.steps[2].final.results_frame()
    assert rules.filter(pl.col("metric") == "latency_p95")["status"].item() == "Failed"
    assert rules["shift"].null_count() == 2  # only the latency rule has a shift
    shares = [st.canary_share for st in result.steps[:2]]
    assert shares[0] == pytest.approx(0.05, abs=0.015) and shares[1] == pytest.approx(0.25, abs=0.03)


@pytest.mark.slow
def test_no_false_alarm_on_identical_versions_across_20_seeds():
    verdicts = []
    for seed in range(20):
        spans = generate_canary_spans(CanaryScenario(seed=seed, regression=False, requests_per_second=2.0))
        result = progressive_rollout(spans, baseline=BASELINE, canary=CANARY)
        verdicts.append((seed, result.verdict, result.summary))
    alarms = [v for v in verdicts if v[1] == "Failed"]
    assert not alarms, alarms
    assert sum(v[1] == "Successful" for v in verdicts) >= 18, verdicts


def test_regression_switched_off_promotes():
    spans = generate_canary_spans(CanaryScenario(seed=11, regression=False))
    result = progressive_rollout(spans, baseline=BASELINE, canary=CANARY)
    assert result.verdict == "Successful" and result.promoted_at.strftime("%H:%M") == "11:30"
    assert math.isnan(result.steps[3].canary_share)


def test_schedule_and_interval_override_the_spec():
    spans = generate_canary_spans(
        CanaryScenario(requests_per_second=4.0, steps=((5.0, 600.0), (25.0, 600.0), (50.0, 600.0)), seed=3)
    )
    result = progressive_rollout(
        spans, baseline=BASELINE, canary=CANARY, schedule="5%:10m,25%:10m,50%:10m,100%", interval_seconds=120
    )
    assert [st.weight for st in result.steps] == [5.0, 25.0, 50.0, 100.0]
    assert len(result.steps[0].checks) == 5
    assert result.first_failed_step == 2
    assert result.rollback_at.strftime("%H:%M") in ("10:22", "10:24")
    from tracelens.errors import SpecError

    with pytest.raises(SpecError, match="step schedule"):
        progressive_rollout(spans, baseline=BASELINE, canary=CANARY, schedule="50%:1m,5%:1m")


def test_request_rate_vs_old_version_accounts_for_the_traffic_split():
    spans = generate_canary_spans(CanaryScenario(requests_per_second=4.0, steps=((5.0, 1200.0),), regression=False, seed=2))
    rules = "canary_rules:\n  - {metric: request_rate, threshold: 20%, comparison: old_version}\n"
    raw = compare_cohorts(spans, baseline=BASELINE, canary=CANARY, rules=rules)
    assert raw.results[0].status == "Failed"  # 5 % of the traffic looks like a 95 % drop
    fair = compare_cohorts(spans, baseline=BASELINE, canary=CANARY, rules=rules, canary_weight=5.0)
    assert fair.results[0].status == "Successful", fair.results[0].summary
    # the canary losing half its requests is a real drop
    half = spans.filter(~((pl.col(s.SERVICE_VERSION) == "2.0") & (pl.col(s.START).dt.second() % 2 == 0)))
    dropped = compare_cohorts(half, baseline=BASELINE, canary=CANARY, rules=rules, canary_weight=5.0)
    assert dropped.results[0].status == "Failed"


def test_all_spans_instead_of_entry_spans():
    spans = generate_canary_spans(CanaryScenario(requests_per_second=2.0, steps=((50.0, 300.0),), regression=False, seed=1))
    rules = "canary_rules:\n  - {metric: error_rate, threshold: 1%}\n"
    entry = compare_cohorts(spans, baseline=BASELINE, canary=CANARY, rules=rules, service="payment-service")
    every = compare_cohorts(spans, baseline=BASELINE, canary=CANARY, rules=rules, service="payment-service", entry_only=False)
    assert every.n_canary == 2 * entry.n_canary  # POST /pay and charge


def test_direction_either_fails_a_suspiciously_faster_canary():
    rng = np.random.default_rng(4)
    baseline = cohort("baseline", [0] * 5, 400, durations=rng.lognormal(np.log(120), 0.3, 2000))
    canary = cohort("canary", [0] * 5, 100, durations=rng.lognormal(np.log(40), 0.3, 500))
    increase = spec("canary_rules:\n  - {metric: latency_mean, threshold: 10%}\n")
    either = spec("canary_rules:\n  - {metric: latency_mean, threshold: 10%, direction: either}\n")
    assert judge(baseline, canary, increase).results[0].status == "Successful"
    result = judge(baseline, canary, either).results[0]
    assert result.status == "Failed" and "faster" in result.summary
