import json

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal

from tracelens import schema as s
from tracelens.cli.main import cli
from tracelens.ingest import decode_otlp_json
from tracelens.store import Store
from tracelens.testing import make_spans


@pytest.fixture(scope="module")
def store_path(tmp_path_factory, checkout_spans):
    other = make_spans([{"trace": "other", "span": "x", "service": "web", "start": 0, "end": 5, "status": "error",
                         "attrs": {"http.route": "/x", "n": 3}, "events": [(1, "exception", {"exception.type": "E"})]}])
    path = tmp_path_factory.mktemp("store")
    with Store.open(path) as store:
        store.append(checkout_spans)
        store.append(other)
    return path


def _run(*args):
    return CliRunner().invoke(cli, list(args))  # click >= 8.2 keeps stdout and stderr apart


def test_otlp_json_export_round_trips(store_path, checkout_spans):
    result = _run("export", "--data", str(store_path), "--where", 'service.name = "credit-card-api"')
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    back = decode_otlp_json(json.dumps(payload)).spans.sort(s.SPAN_ID)
    assert_frame_equal(back, checkout_spans.sort(s.SPAN_ID))  # whole trace, nothing lost


def test_parquet_and_csv(store_path, tmp_path):
    out = tmp_path / "spans.parquet"
    assert _run("export", "--data", str(store_path), "--format", "parquet", "-o", str(out)).exit_code == 0
    frame = pl.read_parquet(out)
    assert frame.height == 8 and s.validate(frame) is frame
    csv = tmp_path / "errors.csv"
    assert _run("export", "--data", str(store_path), "--where", "status = error", "--format", "csv", "-o", str(csv)).exit_code == 0
    rows = pl.read_csv(csv)
    assert rows.height == 1 and json.loads(rows["attributes"][0]) == {"http.route": "/x", "n": 3}
    assert rows["duration_ns"][0] == 5_000_000


def test_parquet_needs_output(store_path):
    assert _run("export", "--data", str(store_path), "--format", "parquet").exit_code == 2
