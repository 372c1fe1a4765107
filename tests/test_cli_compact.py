"""`tracelens compact` on a real store: days become one sorted file, duplicates leave the disk."""

from __future__ import annotations

import json

import polars as pl
from click.testing import CliRunner
from deltalake import DeltaTable

from tracelens import schema as s
from tracelens.cli.main import cli
from tracelens.store import Store
from tracelens.testing import make_spans

from test_store import EPOCH, traces_frame


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args))


def three_flush_files_and_a_duplicate(path) -> None:
    with Store.open(path) as store:
        for chunk in range(3):
            store.append(traces_frame([f"t{chunk}", f"u{chunk}"]))
            store.flush()
        store.append(traces_frame(["t0"]))  # an exporter's retry, stored again
        store.flush()


def test_compact_makes_each_day_one_sorted_file_without_duplicates(tmp_path):
    three_flush_files_and_a_duplicate(tmp_path)
    result = run("compact", "--data", str(tmp_path))
    assert result.exit_code == 0, result.output
    day = EPOCH.date().isoformat()
    assert result.output.strip() == f"compacted 1 day(s): {day}; 3 duplicate span(s) removed"
    rows = pl.DataFrame(DeltaTable(str(tmp_path / "table")).to_pyarrow_table())
    assert rows.height == 18 and rows[s.TRACE_ID].is_sorted()
    assert len(DeltaTable(str(tmp_path / "table")).file_uris()) == 1
    again = run("compact", "--data", str(tmp_path), "--json")
    assert again.exit_code == 0
    assert json.loads(again.output) == {"rewritten_days": [], "zordered_days": [], "duplicates_removed": 0}


def test_compact_only_the_days_asked_for(tmp_path):
    with Store.open(tmp_path) as store:
        for hours in (0, 24):
            for chunk in range(2):
                rows = [{"trace": f"t{hours}-{chunk}", "span": "root", "service": "web", "name": "GET /",
                         "start": hours * 3_600_000, "end": hours * 3_600_000 + 5}]
                store.append(make_spans(rows, epoch=EPOCH))
                store.flush()
    first = EPOCH.date().isoformat()
    result = run("compact", "--data", str(tmp_path), "--day", first, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["zordered_days"] == [first]
    with Store.open(tmp_path) as store:
        assert list(store._table.files_per_day().values()) == [1, 2]


def test_compact_refuses_bad_days_and_stores_in_use(tmp_path):
    three_flush_files_and_a_duplicate(tmp_path)
    bad = run("compact", "--data", str(tmp_path), "--day", "yesterday")
    assert bad.exit_code == 2 and "YYYY-MM-DD" in bad.output
    missing = run("compact", "--data", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "no span store" in missing.output
    with Store.open(tmp_path):  # as a running server holds it
        busy = run("compact", "--data", str(tmp_path))
    assert busy.exit_code == 1 and "already open for writing" in busy.output
