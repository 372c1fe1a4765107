import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from tracelens.analysis.latency_share import latency_share
from tracelens.cli.main import cli
from tracelens.store import Store
from tracelens.testing import make_spans


def _traces():
    rows = []
    for t in range(100):
        slow_db = 400 + t if t >= 95 else 20  # the tail (5 %) is slow because of the database
        rows += [
            {"trace": t, "span": "r", "service": "web", "name": "GET /", "kind": "server", "start": t * 1000, "dur": 50 + slow_db},
            {"trace": t, "span": "d", "parent": "r", "service": "db", "name": "SELECT", "kind": "client",
             "start": t * 1000 + 25, "dur": slow_db},
        ]
    return make_spans(rows, epoch=datetime.now(UTC) - timedelta(minutes=10))


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("store")
    with Store.open(path) as store:
        store.append(_traces())
    return path


def _run(*args):
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "140", "NO_COLOR": "1"})


def test_attribution_json_equals_the_library(store_path):
    result = _run("critical-path", "--data", str(store_path), "--since", "1h", "--json")
    assert result.exit_code == 0, result.output
    rows = {r["service_name"]: r for r in json.loads(result.output)["rows"]}
    expected = latency_share(_traces()).to_dicts()
    for row in expected:
        assert rows[row["service_name"]]["critical_time"] == row["critical_time"].total_seconds() * 1000
        assert rows[row["service_name"]]["share"] == pytest.approx(row["share"])


def test_tail_points_at_the_database(store_path):
    result = _run("critical-path", "--data", str(store_path), "--since", "1h", "--tail", "--json")
    top = json.loads(result.output)["rows"][0]
    # p99-100 holds only the slowest trace (db 499 ms), p0-50 has db at 20 ms
    assert top["service_name"] == "db" and top["mean_critical_time_delta"] == 479.0
    band = _run("critical-path", "--data", str(store_path), "--since", "1h", "--band", "p90-100")
    assert band.exit_code == 0 and "traces in band p90-100" in band.output


def test_bad_band_is_a_usage_error(store_path):
    result = _run("critical-path", "--data", str(store_path), "--band", "p99-101")
    assert result.exit_code == 2 and "latency band" in result.output
