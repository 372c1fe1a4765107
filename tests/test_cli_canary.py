"""`tracelens canary` and `tracelens diff` on a real store on disk; the HTTP verdict function."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from tracelens import schema as s
from tracelens.canary.api import canary_verdict_json
from tracelens.canary.synthetic import CanaryScenario, generate_canary_spans
from tracelens.cli.main import cli
from tracelens.store import Store

BASELINE = 'service.version = "1.4"'
CANARY = 'service.version = "2.0"'
RULES = """\
canary_rules:
  - metric: error_rate
    threshold: 1%
    comparison: old_version
  - metric: latency_p95
    threshold: 10%
    comparison: old_version
  - metric: payment_success_rate
    threshold: 99%
    comparison: absolute
auto_rollback:
  enabled: true
  if: any_rule_fails
  notification: slack + pagerduty
"""


def _store(path: Path, frame: pl.DataFrame) -> Path:
    store = Store.open(path)
    try:
        store.append(frame)
        store.flush()
    finally:
        store.close()
    return path


@pytest.fixture(scope="module")
def rollout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pl.DataFrame]:
    frame = generate_canary_spans(CanaryScenario(requests_per_second=2.0, seed=4))
    return _store(tmp_path_factory.mktemp("canary") / "data", frame), frame


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "canary.yaml"
    path.write_text(RULES)
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_canary_steps_fail_at_50_percent_with_exit_1(rollout, rules_file):
    data, _ = rollout
    code, out = run("canary", "--baseline", BASELINE, "--canary", CANARY, "--rules", str(rules_file), "--steps", "--data", str(data))
    assert code == 1, out
    assert "11:00 step 3: 50% of traffic" in out and "rollback at 11:05" in out
    assert "FAILED" in out


def test_canary_json_window_shape(rollout, rules_file):
    data, _ = rollout
    code, out = run(
        "canary", "--baseline", BASELINE, "--canary", CANARY, "--rules", str(rules_file),
        "--since", "2026-01-01T10:30:00Z", "--until", "2026-01-01T11:00:00Z", "--data", str(data), "--json",
    )
    payload = json.loads(out)
    assert code == 0, out
    assert payload["verdict"] == "Successful" and payload["score"] == 100
    assert payload["service"] == "payment-service"
    assert [r["metric"] for r in payload["results"]] == ["error_rate", "latency_p95", "payment_success_rate"]
    assert {"status", "summary", "canary_value", "baseline_value", "bound", "pvalue", "n_canary"} <= set(payload["results"][0])


def test_canary_readable_report_and_failure(rollout, rules_file):
    data, _ = rollout
    code, out = run(
        "canary", "--baseline", BASELINE, "--canary", CANARY, "--rules", str(rules_file),
        "--since", "2026-01-01T11:00:00Z", "--data", str(data),
    )
    assert code == 1
    assert "latency_p95" in out and "Hodges-Lehmann" in out and "FAILED" in out and "rollback" in out


def test_canary_user_mistakes_are_one_line(rollout, tmp_path):
    data, _ = rollout
    bad = tmp_path / "bad.yaml"
    bad.write_text("canary_rules:\n  - {metric: cpu, threshold: 1%}\n")
    result = CliRunner().invoke(cli, ["canary", "--baseline", BASELINE, "--canary", CANARY, "--rules", str(bad), "--data", str(data)])
    assert result.exit_code == 1 and "unknown metric 'cpu'" in result.output and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["canary", "--baseline", "service.version = ", "--canary", CANARY, "--data", str(data)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    result = CliRunner().invoke(cli, ["canary", "--canary", CANARY, "--data", str(data)])
    assert result.exit_code == 2 and "--baseline" in result.output
    result = CliRunner().invoke(cli, ["canary", "--baseline", BASELINE, "--canary", 'service.version = "9.9"', "--data", str(data)])
    assert result.exit_code == 1 and "no entry spans match the canary filter" in result.output


def test_diff_two_traces_from_the_store(rollout):
    data, frame = rollout
    pay = frame.filter(pl.col(s.NAME) == "POST /authorize").sort(s.DURATION)
    fast, slow = pay[s.TRACE_ID][0], pay[s.TRACE_ID][-1]
    code, out = run("diff", fast, slow, "--data", str(data), "--json")
    assert code == 0, out
    payload = json.loads(out)
    assert payload["rows"][0]["service_name"] == "credit-card-api"  # the cause first
    assert payload["duration_delta_ms"] > 0
    code, out = run("diff", fast, slow, "--data", str(data))
    assert code == 0 and "credit-card-api" in out


def test_diff_cohorts(rollout):
    data, _ = rollout
    code, out = run("diff", "--baseline", BASELINE, "--candidate", CANARY, "--since", "2026-01-01T11:00:00Z", "--data", str(data), "--json")
    assert code == 0, out
    rows = json.loads(out)["rows"]
    assert rows and all(r["significant"] for r in rows[:3])
    code, out = run("diff", "only-one", "--data", str(data))
    assert code == 2


def test_canary_verdict_json_for_the_http_endpoint(rollout):
    data, _ = rollout
    import tracelens

    store = tracelens.open(data)
    params = {"baseline": [BASELINE], "canary": [CANARY], "since": "2026-01-01T11:00:00Z"}
    body = canary_verdict_json(store, params)
    assert body["verdict"] == "Failed" and body["ok"] is False and body["status"] == 412
    body = canary_verdict_json(store, {**params, "since": "2026-01-01T10:30:00Z", "until": "2026-01-01T11:00:00Z"})
    assert body["verdict"] == "Successful" and body["ok"] and body["status"] == 200
    body = canary_verdict_json(store, {"baseline": BASELINE, "canary": CANARY, "steps": "true"})
    assert body["verdict"] == "Failed" and body["rollback_at"].startswith("2026-01-01T11:05")
    body = canary_verdict_json(store, {"baseline": "service.version = ", "canary": CANARY})
    assert body["verdict"] == "Error" and body["status"] == 400 and "error" in body
    json.dumps(body)


def test_diff_two_trace_files(fixtures_dir):
    trace = fixtures_dir / "checkout_trace.json"
    code, out = run("diff", str(trace), str(trace), "--json")
    assert code == 0, out
    payload = json.loads(out)
    assert payload["duration_delta_ms"] == 0 and payload["headline"].startswith("no change")


def test_serve_mounts_the_canary_endpoint(rollout, tmp_path):
    """GET /api/v1/canary on a real `tracelens serve` receiver: 412 + Failed, 200 + Successful."""
    import shutil
    import threading
    import urllib.error
    import urllib.parse
    import urllib.request

    from tracelens.cli.serve import _canary_route
    from tracelens.config import ReceiverConfig, StoreConfig
    from tracelens.receiver import serve

    data = tmp_path / "data"
    shutil.copytree(rollout[0], data)
    stop, answers = threading.Event(), []

    def ask(receiver):
        def get(**params):
            url = f"http://127.0.0.1:{receiver.http_port}/api/v1/canary?{urllib.parse.urlencode(params)}"
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read())

        try:
            answers.append(get(baseline=BASELINE, canary=CANARY, since="2026-01-01T11:00:00Z"))
            answers.append(get(baseline=BASELINE, canary=CANARY, since="2026-01-01T10:30:00Z", until="2026-01-01T11:00:00Z"))
            answers.append(get(baseline="service.version = ", canary=CANARY))
        finally:
            stop.set()

    serve(data, ReceiverConfig(grpc_port=None, http_port=0), StoreConfig(path=data), stop=stop,
          on_ready=lambda r: threading.Thread(target=ask, args=(r,), daemon=True).start(), query_routes=_canary_route)
    (failed_code, failed), (ok_code, ok), (bad_code, bad) = answers
    assert failed_code == 412 and failed["verdict"] == "Failed"
    assert ok_code == 200 and ok["verdict"] == "Successful"
    assert bad_code == 400 and bad["verdict"] == "Error"
