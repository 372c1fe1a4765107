"""SLO spec loading (native and OpenSLO), spec errors naming file:line:field, and the linter."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import tracelens.slo as slo_api
from tracelens.errors import SpecError
from tracelens.slo.spec import format_duration, loads, parse_duration
from tracelens.slo.synthetic import entry_spans

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "slo"


def test_native_fixture_loads_the_seed_examples() -> None:
    pay, checkout, search = slo_api.load(FIXTURES / "checkout.yaml")
    assert (pay.name, pay.service, pay.objective, pay.window) == ("payment-availability", "payment-api", 0.999,
                                                                   timedelta(days=30))
    assert pay.sli.kind == "availability" and pay.error_budget == 0.001
    assert pay.budget_time == timedelta(minutes=43.2)
    assert checkout.operation == "POST /checkout"
    assert checkout.sli.kind == "latency" and checkout.sli.threshold == timedelta(milliseconds=500)
    assert search.sli.bad == "http.response.status_code >= 500"
    assert (search.alert_mode, search.min_bad_events, search.window) == ("auto", 3, timedelta(days=7))
    assert pay.source.endswith("checkout.yaml:3")
    assert [t.threshold(pay.window) for t in pay.tiers] == pytest.approx([14.4, 6, 3, 1])


def test_openslo_fixture() -> None:
    checkout, fast, ok = slo_api.load(FIXTURES / "openslo.yaml")
    assert (checkout.name, checkout.service, checkout.objective) == ("checkout-good", "web-frontend", 0.995)
    assert checkout.sli.kind == "ratio" and checkout.sli.total == "kind = server"
    assert checkout.operation == "POST /checkout"
    assert [(t.severity, t.long, t.short, t.burn_rate) for t in checkout.tiers] == [
        ("page", timedelta(hours=1), timedelta(minutes=5), 14.4),
        ("ticket", timedelta(days=3), timedelta(hours=6), 1.0),
    ]
    assert fast.name == "payment-latency/p-fast" and fast.window == timedelta(days=28)
    assert fast.sli.threshold == timedelta(milliseconds=300) and not fast.sli.strict
    assert (fast.budgeting, fast.time_slice_target, fast.time_slice_window) == ("timeslices", 0.95,
                                                                                 timedelta(minutes=5))
    assert ok.sli.threshold == timedelta(seconds=1) and ok.sli.strict and ok.objective == 0.999


NATIVE = """\
slos:
  - name: a
    service: api
    objective: 99.9
    sli: {kind: availability}
"""

# (yaml, exact error message) -- every message names file:line: field
BAD_SPECS = [
    ("", "t.yaml: empty spec: expected `slos:` or OpenSLO documents"),
    ("slos: [", "t.yaml:1: invalid YAML: expected the node content, but found '<stream end>'"),
    ("- 1\n", "t.yaml:1: : expected a mapping at the top level, got a list"),
    ("slo: []\n", "t.yaml:1: slo: unknown field (expected one of: slos)"),
    ("slos: []\n", "t.yaml:1: slos: expected a non-empty list of SLOs"),
    (NATIVE.replace("99.9", "100"), "t.yaml:4: slos[0].objective: must be a percentage between 0 and 100 (exclusive), got 100"),
    (NATIVE.replace("99.9", "0.999"), "t.yaml:4: slos[0].objective: is a percentage: write 99.9 for 99.9 %, got 0.999"),
    (NATIVE.replace("99.9", "high"), "t.yaml:4: slos[0].objective: expected a percentage such as 99.9, got 'high'"),
    (NATIVE.replace("    service: api\n", ""), "t.yaml:2: slos[0]: needs a service: (or a filter: selecting the spans that count)"),
    (NATIVE.replace("    objective: 99.9\n", ""), "t.yaml:2: slos[0]: missing required field 'objective'"),
    (NATIVE + "    window: 30 days\n", "t.yaml:6: slos[0].window: expected a duration such as 5m, 1h or 30d, got '30 days'"),
    (NATIVE + "    windw: 30d\n", "t.yaml:6: slos[0].windw: unknown field (expected one of: name, service, operation, objective, window, sli, filter, description, budgeting, time_slice, alerting)"),
    (NATIVE.replace("availability", "speed"), "t.yaml:5: slos[0].sli.kind: expected one of availability, latency, ratio, got 'speed'"),
    (NATIVE.replace("{kind: availability}", "{kind: latency}"), "t.yaml:5: slos[0].sli: a latency SLI needs a threshold, e.g. threshold: 500ms"),
    (NATIVE.replace("{kind: availability}", "{kind: latency, threshold: fast}"), "t.yaml:5: slos[0].sli.threshold: expected a duration such as 5m, 1h or 30d, got 'fast'"),
    (NATIVE.replace("{kind: availability}", "{kind: ratio}"), "t.yaml:5: slos[0].sli: a ratio SLI needs exactly one of good: or bad: (a span filter)"),
    (NATIVE + "    filter: 'kind = sever'\n",
     "t.yaml:6: slos[0].filter: unknown kind 'sever': expected one of unspecified, internal, server, client, producer, consumer (at character 8)\nkind = sever\n       ^"),
    (NATIVE + "  - name: a\n    service: b\n    objective: 99\n    sli: {kind: availability}\n",
     "t.yaml:6: name: SLO 'a' is defined twice (first at t.yaml:2)"),
    (NATIVE + "    alerting:\n      tiers:\n        - {severity: page, long: 1h, short: 2h, budget: 2}\n",
     "t.yaml:8: slos[0].alerting.tiers[0]: short window 2h is longer than the long window 1h"),
    (NATIVE + "    alerting: {tiers: [{severity: sms, long: 1h, budget: 2}]}\n",
     "t.yaml:6: slos[0].alerting.tiers[0].severity: expected one of page, ticket, got 'sms'"),
    (NATIVE + "    budgeting: timeslices\n", "t.yaml:2: slos[0]: timeslices budgeting needs time_slice: {target: 95, window: 1m}"),
    (NATIVE + "    budgeting: timeslices\n    time_slice: {target: 95, window: 90s}\n",
     "t.yaml:7: slos[0].time_slice.window: time slices are whole minutes (rollups are per minute), got '90s'"),
    ("apiVersion: openslo/v2\nkind: SLO\n", "t.yaml:1: apiVersion: only openslo/v1 is supported, got 'openslo/v2'"),
    ("apiVersion: openslo/v1\nkind: Service\nmetadata: {name: x}\n", "t.yaml: no SLO documents (kind: SLO) found"),
    ("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: x}\nspec:\n  service: a\n  indicatorRef: nope\n"
     "  timeWindow: [{duration: 30d, isRolling: true}]\n  objectives: [{target: 0.99}]\n",
     "t.yaml:6: spec.indicatorRef: no SLI named 'nope' in this file"),
]


@pytest.mark.parametrize(("text", "message"), BAD_SPECS, ids=[str(i) for i in range(len(BAD_SPECS))])
def test_spec_errors_name_file_line_and_field(text: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        loads(text, "t.yaml")
    assert str(info.value) == message


def test_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such file"):
        slo_api.load(tmp_path / "missing.yaml")


def test_durations_round_trip() -> None:
    for text in ("5m", "30m", "1h", "6h", "3d", "500ms", "90s"):
        assert format_duration(parse_duration(text)) == text
    assert parse_duration("1w") == timedelta(days=7)


def test_lint_spec_only() -> None:
    slos = loads("""
slos:
  - name: loose
    service: api
    objective: 90
    sli: {kind: availability}
  - name: custom
    service: api
    objective: 99.9
    window: 1d
    sli: {kind: availability}
    alerting:
      tiers:
        - {severity: page, long: 3d, short: 2d, budget: 50}
""", "l.yaml")
    found = [str(f) for f in slo_api.lint(slos)]
    assert found[0].startswith("l.yaml:3: error: loose: alerting.tiers[0] (page 1h/5m): burn-rate threshold 14.4 can never fire")
    assert any("alerting.tiers[1] (page 6h/30m): burn-rate threshold 6" not in f for f in found)
    assert "l.yaml:7: warning: custom: alerting.tiers[0] (page 3d/2d): long window 3d is longer than the SLO window 1d" in found
    assert any("custom: alerting.tiers[0] (page 3d/2d): short window 2d is more than a quarter" in f for f in found)
    # 99.9 % with default tiers is fine
    assert slo_api.lint(slo_api.load(FIXTURES / "checkout.yaml")) == []


def test_lint_against_data() -> None:
    from datetime import datetime, timezone

    spans = entry_spans(service="payment-api", start=datetime(2026, 1, 1, tzinfo=timezone.utc),
                        requests_per_minute=2, minutes=120)
    slos = loads("""
slos:
  - name: typo
    service: payment-apl
    objective: 99.9
    sli: {kind: availability}
  - name: empty
    service: payment-api
    operation: "POST /nothing"
    objective: 99.9
    sli: {kind: availability}
  - name: ok
    service: payment-api
    objective: 99.9
    sli: {kind: availability}
""", "d.yaml")
    rollup = slo_api.rollup(spans, slos)
    found = [str(f) for f in slo_api.lint(slos, spans, rollup)]
    assert found[0] == "d.yaml:3: error: typo: service: unknown service 'payment-apl': no spans in the data (did you mean 'payment-api'?)"
    assert "d.yaml:7: warning: empty: operation: operation 'POST /nothing' matches no spans: the SLO has no events" in found
    assert "d.yaml:12: warning: ok: window: the data covers 2h of the 30d window: budget figures cover only that part" in found
    assert any(f.startswith("d.yaml:12: warning: ok: objective: 240 events in the data") for f in found)
