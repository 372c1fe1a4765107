"""Canary rule files: the seed's YAML literally, the optional keys, and clear SpecErrors."""

from __future__ import annotations

import pytest

from tracelens.canary.rules import load_spec, loads_spec
from tracelens.errors import SpecError

SEED_YAML = """\
canary_rules:
  - metric: error_rate
    threshold: 1%  # Max 1% errors
    comparison: old_version

  - metric: latency_p95
    threshold: 10%  # Max 10% slower than old version
    comparison: old_version

  - metric: payment_success_rate
    threshold: 99%  # Min 99% success
    comparison: absolute

auto_rollback:
  enabled: true
  if: any_rule_fails
  notification: slack + pagerduty
"""


def test_seed_rule_file_loads_literally(tmp_path):
    path = tmp_path / "canary.yaml"
    path.write_text(SEED_YAML)
    spec = load_spec(path)
    error, p95, success = spec.rules
    assert (error.kind, error.threshold, error.threshold_unit, error.direction) == ("error_rate", 0.01, "fraction", "increase")
    assert (p95.kind, p95.percentile, p95.threshold, p95.threshold_unit) == ("latency_percentile", 95.0, 0.1, "relative")
    assert (success.kind, success.comparison, success.direction, success.threshold) == ("ratio", "absolute", "decrease", 0.99)
    assert success.ratio is not None and success.ratio.builtin
    assert spec.auto_rollback.enabled and spec.auto_rollback.condition == "any_rule_fails"
    assert spec.auto_rollback.notification == "slack + pagerduty"
    assert [s.weight for s in spec.steps] == [5.0, 25.0, 50.0, 100.0]


def test_optional_keys_and_ratio_metrics():
    spec = loads_spec(
        """
metrics:
  payment_success_rate:
    good: 'name = "charge" and status != error'
    total: 'name = "charge"'
  timeout_rate:
    bad: 'status_message =~ ".*timeout.*"'
    total: 'kind = server'
canary_rules:
  - {metric: payment_success_rate, threshold: 99.5%, comparison: absolute, critical: true, group: business}
  - {metric: timeout_rate, threshold: 0.002, comparison: old_version}
  - {metric: latency_p99.9, threshold: 50ms, comparison: old_version, must_have_data: true, min_samples: 100}
  - {metric: latency_mean, threshold: 300ms, comparison: old_version, direction: either}
  - {metric: request_rate, threshold: 600/m, comparison: absolute}
analysis:
  alpha: 0.01
  pass_score: 90
  marginal_score: 60
  group_weights: {business: 2}
  interval: 1m
  steps: [{weight: 10%, window: 10m}, {weight: 100%, window: 1m}]
  start: "2026-01-01T10:00:00Z"
  service: payment-service
"""
    )
    pay, timeout, p999, mean, rate = spec.rules
    assert pay.critical and pay.group == "business" and pay.ratio.good.startswith("name")
    assert timeout.direction == "increase" and timeout.threshold == 0.002
    assert p999.percentile == 99.9 and p999.threshold_unit == "seconds" and p999.threshold == pytest.approx(0.05)
    assert p999.must_have_data and p999.min_samples == 100
    assert mean.direction == "either" and mean.threshold == pytest.approx(0.3)
    assert rate.threshold == pytest.approx(10.0) and rate.direction == "decrease"
    assert spec.alpha == 0.01 and spec.interval_seconds == 60 and spec.group_weights == {"business": 2.0}
    assert [(s.weight, s.window_seconds) for s in spec.steps] == [(10.0, 600.0), (100.0, 60.0)]
    assert spec.start.hour == 10 and spec.service == "payment-service"


@pytest.mark.parametrize(
    "text,needle",
    [
        ("canary_rules: []", "non-empty list"),
        ("canary_rules:\n  - metric: latency_p95\n    threshold: 10\n", "has no unit"),
        ("canary_rules:\n  - metric: error_rate\n    threshold: 5\n", "more than 1"),
        ("canary_rules:\n  - metric: cpu\n    threshold: 1%\n", "unknown metric 'cpu'"),
        ("canary_rules:\n  - metric: error_rate\n    threshold: 1%\n    comparison: yesterday\n", "old_version or absolute"),
        ("canary_rules:\n  - metric: error_rate\n    treshold: 1%\n", "unknown key(s) treshold"),
        ("canary_rules:\n  - metric: error_rate\n", "threshold is required"),
        ("canary_rules:\n  - metric: error_rate\n    threshold: 1%\nauto_rollback: {if: sometimes}\n", "auto_rollback.if"),
        ("canary_rules:\n  - metric: error_rate\n    threshold: 1%\nanalysis: {alpha: 2}\n", "analysis.alpha"),
        ("canary_rules:\n  - metric: error_rate\n    threshold: 1%\nmetrics: {x_rate: {total: 'kind = server'}}\n", "exactly one of good: or bad:"),
        ("canary_rules: [", "not valid YAML"),
        ("canary_rules:\n  - {metric: latency_p95, threshold: 1s, comparison: absolute, direction: either}\n", "direction either needs"),
        ("metrics: {ok_rate: {good: 'status = = ok', total: 'kind = server'}}\ncanary_rules:\n  - {metric: ok_rate, threshold: 99%}\n", "metrics.ok_rate.good"),
        ("canary_rules:\n  - {metric: error_rate, threshold: 1%}\nanalysis: {canary: 'service.version ='}\n", "analysis.canary"),
        ("canary_rules:\n  - {metric: error_rate, threshold: 1%}\nanalysis: {steps: [{weight: 50%}, {weight: 5%}]}\n", "must not decrease"),
    ],
)
def test_spec_errors_are_clear(text, needle):
    with pytest.raises(SpecError) as info:
        loads_spec(text)
    assert needle in str(info.value)


def test_rule_errors_name_the_rule():
    with pytest.raises(SpecError, match=r"canary_rules\[1\] \(latency_p95\): threshold"):
        loads_spec("canary_rules:\n  - {metric: error_rate, threshold: 1%}\n  - {metric: latency_p95, threshold: fast}\n")


def test_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="cannot read rule file"):
        load_spec(tmp_path / "nope.yaml")
