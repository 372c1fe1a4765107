"""`tracelens demo` end to end through the CLI: a short run, human and JSON output."""

from __future__ import annotations

import json
import shlex

import pytest
from click.testing import CliRunner

from tracelens.cli.main import cli


@pytest.mark.slow
def test_demo_json_run(tmp_path):
    data = tmp_path / "shop"
    result = CliRunner().invoke(
        cli, ["demo", "--duration", "4m", "--rps", "0.5", "--seed", "3", "--scenario", "kill-pod@1m+2m", "--data", str(data), "--json"]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["data"] == str(data)
    counts = {k: payload[k] for k in ("requests", "spans_ended", "spans_stored", "failed_requests", "slowest_export_seconds")}
    assert payload["spans_stored"] == payload["spans_ended"] > 0, counts
    assert [c["scenario"] for c in payload["chaos"]] == ["kill-pod@1m+2m"]
    assert {slo["slo"] for slo in payload["slos"]} == {"shop-availability", "checkout-latency"}
    assert (data / "demo-slos.yaml").exists()
    # every "dig further" command runs against the data it names (1 = a gate that failed)
    commands = [c for c in payload["commands"].values() if c.startswith("tracelens ")]
    assert len(commands) >= 4
    for line in commands:
        ran = CliRunner().invoke(cli, shlex.split(line)[1:])
        assert ran.exit_code in (0, 1), (line, ran.output)
        assert ran.exception is None or isinstance(ran.exception, SystemExit), (line, ran.exception)
        assert "Traceback" not in ran.output and "Usage:" not in ran.output, (line, ran.output)


def test_demo_rejects_a_bad_duration():
    result = CliRunner().invoke(cli, ["demo", "--duration", "soon"])
    assert result.exit_code == 2
    assert "invalid duration 'soon'" in result.output
