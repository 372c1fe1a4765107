"""`tracelens traces` on a real store in tmp_path."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from tracelens.cli.main import cli
from tracelens.store import Store
from tracelens.testing import make_trace, trace_id_for

NOW = datetime.now(UTC).replace(microsecond=0)


def _store(path):
    with Store.open(path) as store:
        store.append(make_trace(
            [{"span": "r", "service": "web", "name": "GET /", "start": 0, "end": 120},
             {"span": "c", "parent": "r", "service": "db", "name": "SELECT", "start": 10, "end": 50, "status": "error"}],
            trace="slow", epoch=NOW - timedelta(minutes=30)))
        store.flush()
        store.append(make_trace(  # stays in the WAL: listed all the same
            [{"span": "r", "service": "api", "name": "POST /pay", "start": 0, "end": 20}],
            trace="fresh", epoch=NOW - timedelta(minutes=5)))
        store.append(make_trace(
            [{"span": "r", "service": "web", "name": "GET /old", "start": 0, "end": 10}],
            trace="old", epoch=NOW - timedelta(days=3)))


def test_traces_json_lists_every_trace_newest_first(tmp_path):
    _store(tmp_path)
    result = CliRunner().invoke(cli, ["traces", "--data", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [r["trace_id"] for r in rows] == [trace_id_for("fresh"), trace_id_for("slow"), trace_id_for("old")]
    slow = rows[1]
    assert slow == {
        "trace_id": trace_id_for("slow"),
        "root_service": "web",
        "root_name": "GET /",
        "start": (NOW - timedelta(minutes=30)).isoformat(),
        "duration": 120.0,
        "root_duration": 120.0,
        "span_count": 2,
        "error_count": 1,
    }


def listed_ids(tmp_path, *args: str) -> list[str]:
    """The trace ids `tracelens traces --json ARGS` lists, in order."""
    result = CliRunner().invoke(cli, ["traces", "--data", str(tmp_path), "--json", *args])
    assert result.exit_code == 0, result.output
    return [r["trace_id"] for r in json.loads(result.output)]


def test_traces_filters_sort_and_limit(tmp_path):
    _store(tmp_path)
    ids = functools.partial(listed_ids, tmp_path)

    assert ids("--since", "1h") == [trace_id_for("fresh"), trace_id_for("slow")]
    assert ids("--service", "web") == [trace_id_for("slow"), trace_id_for("old")]
    assert ids("--sort", "duration", "--limit", "1") == [trace_id_for("slow")]
    assert ids("--until", "1d") == [trace_id_for("old")]


def test_traces_table_for_people(tmp_path):
    _store(tmp_path)
    result = CliRunner().invoke(cli, ["traces", "--data", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "3 of 3 trace(s)" in result.output
    assert trace_id_for("slow") in result.output and "GET /" in result.output and "120.0 ms" in result.output


def test_traces_user_mistakes_are_one_line_errors(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(cli, ["traces", "--data", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "no span store" in missing.output
    _store(tmp_path)
    bad_time = runner.invoke(cli, ["traces", "--data", str(tmp_path), "--since", "yesterday-ish"])
    assert bad_time.exit_code == 2 and "invalid time" in bad_time.output
    assert "Traceback" not in bad_time.output


def test_traces_search_options(tmp_path):
    _store(tmp_path)
    runner = CliRunner()
    ids = functools.partial(listed_ids, tmp_path)

    assert ids("--error") == [trace_id_for("slow")]
    assert ids("--service", "web", "--error") == []  # the error is on the db span: one span must match all
    assert ids("--operation", "SELECT", "--span-duration", "40ms") == [trace_id_for("slow")]
    assert ids("--min-duration", "100ms") == [trace_id_for("slow")]
    assert ids("--max-duration", "15ms") == [trace_id_for("old")]
    assert ids("--where", 'name = "POST /pay"', "--from", "1h", "--to", "now") == [trace_id_for("fresh")]
    csv = runner.invoke(cli, ["traces", "--data", str(tmp_path), "--csv", "--sort", "spans", "--limit", "1"])
    assert csv.output.splitlines()[0].startswith("trace_id,root_service") and trace_id_for("slow") in csv.output
    bad = runner.invoke(cli, ["traces", "--data", str(tmp_path), "--where", "name = "])
    assert bad.exit_code == 2 and "^" in bad.output
