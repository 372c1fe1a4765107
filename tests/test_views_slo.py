"""The `slo check` report as exact text at 80 columns, colour off."""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from rich.console import Console

import tracelens.slo as slo_api
from tracelens.slo.synthetic import entry_spans
from tracelens.views.slo import slo_report

EXPECTED = Path(__file__).resolve().parent.parent / "fixtures" / "expected" / "slo_check.txt"
T0 = datetime(2026, 6, 1, tzinfo=timezone.utc)


def render() -> str:
    slos = slo_api.loads("""
slos:
  - name: payment
    service: payment-api
    objective: 99.9
    window: 7d
    sli: {kind: availability}
  - name: search
    service: search
    objective: 99
    window: 7d
    sli: {kind: latency, threshold: 100ms}
  - name: idle
    service: nobody
    objective: 99
    window: 7d
    sli: {kind: availability}
""", "slos.yaml")
    errors = np.zeros(26 * 60, dtype=np.int64)
    errors[-120:] = 2
    spans = entry_spans(service="payment-api", start=T0, requests_per_minute=100, errors_per_minute=errors).vstack(
        entry_spans(service="search", start=T0, requests_per_minute=10, minutes=26 * 60, seed=3,
                    slow_per_minute=np.arange(26 * 60) % 50 == 0, duration=timedelta(milliseconds=20))
    )
    rollup = slo_api.rollup(spans, slos)
    statuses = [s.as_dict() for s in slo_api.evaluate(rollup)]
    alerts = [a.as_dict() for a in slo_api.alerts(rollup)]
    findings = [str(f) for f in slo_api.lint(slos, spans, rollup)]
    console = Console(file=io.StringIO(), width=80, color_system=None, force_terminal=False)
    console.print(slo_report(statuses, alerts, findings))
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_slo_report_matches_expected_text() -> None:
    assert render() == EXPECTED.read_text()
