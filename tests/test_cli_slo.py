"""`tracelens slo` against a real span store on disk: report, exit codes, JSON shapes."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from tracelens.cli.main import cli
from tracelens.slo.synthetic import entry_spans
from tracelens.store import Store

T0 = datetime(2026, 6, 1, tzinfo=timezone.utc)

SPEC = """\
slos:
  - name: payment
    service: payment-api
    objective: 99.9
    sli: {kind: availability}
  - name: search
    service: search
    objective: 99
    sli: {kind: latency, threshold: 100ms}
"""


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("slo") / "data"
    errors = np.zeros(180, dtype=np.int64)
    # 2 % errors (b = 20) for the last two hours. With only three hours of data the 6h window
    # holds little healthy traffic: 6h/30m pages first, at 01:26 (52 bad of 8,600 > 0.6 %)
    errors[60:] = 2
    payment = entry_spans(service="payment-api", start=T0, requests_per_minute=100, errors_per_minute=errors, seed=1)
    search = entry_spans(service="search", start=T0, requests_per_minute=20, minutes=180, seed=2)
    store = Store.open(path)
    try:
        store.append(payment)
        store.append(search)
        store.flush()
    finally:
        store.close()
    return path


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "slos.yaml"
    path.write_text(SPEC)
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_check_reports_and_fails_when_paging(store_dir: Path, spec: Path) -> None:
    code, out = run("slo", "check", str(spec), "--data", str(store_dir))
    assert code == 1
    assert "payment" in out and "breached" in out
    assert "PAGE firing since 2026-06-01 01:26:00 UTC" in out
    assert "FAILED: breached: payment; paging: payment" in out


def test_check_json_shape(store_dir: Path, spec: Path) -> None:
    code, out = run("slo", "check", str(spec), "--data", str(store_dir), "--json")
    assert code == 1
    payload = json.loads(out.split("FAILED")[0])
    assert payload["ok"] is False and payload["paging"] == ["payment"] and payload["breached"] == ["payment"]
    payment, search = payload["slos"]
    assert payment["total"] == 18_000 and payment["bad"] == 240
    assert payment["budget_minutes"] == pytest.approx(43.2)
    assert payment["remaining_percent"] == pytest.approx((1 - 240 / 18) * 100)
    assert [a["severity"] for a in payment["alerts"]] == ["page", "ticket"]
    assert search["state"] == "ok" and search["remaining_percent"] == pytest.approx(100.0)


def test_check_before_the_incident_passes(store_dir: Path, spec: Path) -> None:
    code, out = run("slo", "check", str(spec), "--data", str(store_dir), "--at", "2026-06-01T01:00:00Z", "--json")
    assert code == 0
    assert json.loads(out)["ok"] is True


def test_history_lists_fire_events(store_dir: Path, spec: Path) -> None:
    code, out = run("slo", "history", str(spec), "--data", str(store_dir), "--json", "--slo", "payment")
    assert code == 0
    events = json.loads(out)["events"]
    page = [(e["event"], e["time"]) for e in events if e["severity"] == "page"]
    assert page == [("fire", "2026-06-01T01:26:00+00:00")]
    assert [e["tiers"] for e in events if e["severity"] == "page"] == ["6h/30m"]
    code, out = run("slo", "history", str(spec), "--data", str(store_dir))
    assert code == 0 and "fire" in out and "6h/30m" in out


def test_violations_lists_error_traces(store_dir: Path, spec: Path) -> None:
    code, out = run("slo", "violations", str(spec), "--data", str(store_dir), "--slo", "payment", "--limit", "5",
                    "--json")
    assert code == 0
    traces = json.loads(out)["slos"][0]["traces"]
    assert len(traces) == 5 and {t["status_code"] for t in traces} == {"error"}
    assert {t["bottleneck_service"] for t in traces} == {"payment-api"}
    code, out = run("slo", "violations", str(spec), "--data", str(store_dir), "--slo", "payment", "--explain")
    assert code == 0 and "violating traces" in out


def test_user_mistakes_are_one_line_errors(store_dir: Path, spec: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SPEC.replace("99.9", "100"))
    code, out = run("slo", "check", str(bad), "--data", str(store_dir))
    assert code == 2 and "bad.yaml:4: slos[0].objective: must be a percentage" in out
    code, out = run("slo", "check", str(tmp_path / "missing.yaml"), "--data", str(store_dir))
    assert code == 2 and "no such file" in out
    code, out = run("slo", "check", str(spec), "--data", str(tmp_path / "nowhere"))
    assert code == 2 and "no span store" in out
    code, out = run("slo", "check", str(spec), "--data", str(store_dir), "--slo", "nope")
    assert code == 2 and "no SLO named 'nope'" in out
    code, out = run("slo", "check", str(spec), "--data", str(store_dir), "--at", "yesterday-ish")
    assert code == 2 and "ISO 8601" in out
    assert "Traceback" not in out


def test_lint_command(spec: Path, tmp_path: Path) -> None:
    code, out = run("slo", "lint", str(spec), "--no-data")
    assert code == 0 and "no findings" in out
    loose = tmp_path / "loose.yaml"
    loose.write_text(SPEC.replace("99.9", "90"))
    code, out = run("slo", "lint", str(loose), "--no-data")
    assert code == 1 and "can never fire" in out


def test_check_per_week_table(store_dir: Path, spec: Path) -> None:
    code, out = run("slo", "check", str(spec), "--data", str(store_dir), "--per", "week", "--json", "--slo", "payment")
    weeks = json.loads(out.split("FAILED")[0])["slos"][0]["per_week"]
    assert [(w["bad"], w["total"]) for w in weeks] == [(240, 18_000)]
    assert weeks[0]["consumed"] == pytest.approx(240 / 18)
    code, out = run("slo", "check", str(spec), "--data", str(store_dir), "--per", "day")
    assert "budget used per day" in out and "1333.3%" in out
