"""`tracelens services` and `tracelens stats` through the real CLI on a real store."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from tracelens.cli.main import cli
from tracelens.store import Store
from tracelens.testing import make_spans


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    now = datetime.now(UTC).replace(microsecond=0)
    rows = []
    for t in range(20):
        rows += [
            {"trace": t, "span": "r", "service": "web", "name": "GET /", "kind": "server", "start": t * 1000,
             "dur": 100, "status": "error" if t < 2 else "unset"},
            {"trace": t, "span": "c", "parent": "r", "service": "web", "name": "db call", "kind": "client",
             "start": t * 1000 + 10, "dur": 60 + t},
        ]
    path = tmp_path_factory.mktemp("store")
    with Store.open(path) as store:
        store.append(make_spans(rows, epoch=now - timedelta(minutes=5)))
    return path


def _run(*args):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "120", "NO_COLOR": "1"})


def test_services_json(store_path):
    result = _run("services", "--data", str(store_path), "--since", "1h", "--json")
    assert result.exit_code == 0, result.output
    [web] = json.loads(result.output)["rows"]
    assert web["service_name"] == "web" and web["calls"] == 20 and web["errors"] == 2
    assert web["error_rate"] == 0.1 and abs(web["rate_per_s"] - 20 / 3600) < 1e-6
    assert web["p95"] == 100.0


def test_services_table_and_operations(store_path):
    result = _run("services", "--data", str(store_path), "--since", "1h", "--operations", "--all-spans")
    assert result.exit_code == 0, result.output
    assert "db call" in result.output and "2 of 2 rows" in result.output


def test_stats_cohort_matches_polars(store_path):
    result = _run("stats", "--data", str(store_path), "--where", 'name = "db call" and duration > 70ms', "--by", "operation", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["traces"] == 9  # db call lasts 60+t ms: t = 11..19
    by_name = {r["name"]: r for r in payload["rows"]}
    assert by_name["db call"]["count"] == 9 and by_name["db call"]["max"] == 79.0
    assert by_name["GET /"]["self_total"] == sum(100 - (60 + t) for t in range(11, 20))


def test_stats_usage_errors(store_path):
    assert _run("stats", "--data", str(store_path)).exit_code == 2
    bad = _run("stats", "--data", str(store_path), "--where", "duration >> 5")
    assert bad.exit_code == 2 and "^" in bad.output and "Traceback" not in bad.output
