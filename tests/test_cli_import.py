"""`tracelens import` of real files into a real store in tmp_path."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from click.testing import CliRunner

import tracelens
from tracelens.cli.main import cli

TRACE_A = "5b8efff798038103d269b633813fc60c"
TRACE_B = "4bf92f3577b34da6a3ce929d0e0e4736"


def _span(trace_id: str, span_id: str, name: str, parent: str = "", error: bool = False) -> dict:
    span = {
        "traceId": trace_id,
        "spanId": span_id,
        "name": name,
        "kind": 2,
        "startTimeUnixNano": "1767225600000000000",
        "endTimeUnixNano": "1767225600100000000",
        "attributes": [{"key": "http.route", "value": {"stringValue": "/pay"}}],
        "status": {"code": 2 if error else 0},
    }
    if parent:
        span["parentSpanId"] = parent
    return span


def _otlp_json(spans: list[dict], service: str = "checkout") -> str:
    return json.dumps({
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
            "scopeSpans": [{"scope": {"name": "test"}, "spans": spans}],
        }]
    })


def _files(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(_otlp_json([_span(TRACE_A, "00f067aa0ba902b7", "POST /pay"),
                                _span(TRACE_A, "00f067aa0ba902b8", "charge", parent="00f067aa0ba902b7", error=True)]))
    mixed = tmp_path / "mixed.json.gz"  # one valid span, one with a 15-byte trace id
    mixed.write_bytes(gzip.compress(_otlp_json([_span(TRACE_B, "00f067aa0ba902b9", "GET /"),
                                                 _span(TRACE_B[:30], "00f067aa0ba902ba", "bad")]).encode()))
    return good, mixed


def test_import_stores_every_valid_span_once_and_warns_about_rejected_ones(tmp_path):
    good, mixed = _files(tmp_path)
    data = tmp_path / "data"
    runner = CliRunner()
    result = runner.invoke(cli, ["import", str(good), str(mixed), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert "Imported 3 span(s) from 2 of 2 file(s)" in result.stdout
    assert "Warning:" in result.stderr and "mixed.json.gz: rejected 1 span(s)" in result.stderr
    assert "invalid_trace_id 1" in result.stderr
    store = tracelens.open(data)
    summary = store.traces()
    assert sorted(summary["trace_id"].to_list()) == sorted([TRACE_A, TRACE_B])
    row = summary.filter(summary["trace_id"] == TRACE_A).row(0, named=True)
    assert (row["root_service"], row["root_name"], row["span_count"], row["error_count"]) == ("checkout", "POST /pay", 2, 1)
    again = runner.invoke(cli, ["import", str(good), "--data", str(data)])  # the same file twice
    assert again.exit_code == 0, again.output
    assert tracelens.open(data).spans().collect().height == 3


def test_import_unreadable_file_is_one_error_line_and_exit_1(tmp_path):
    good, _ = _files(tmp_path)
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00\x01 this is not a trace file {")
    data = tmp_path / "data"
    result = CliRunner().invoke(cli, ["import", str(garbage), str(good), str(tmp_path / "missing.json"), "--data", str(data)])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 2 and "garbage.json" in errors[0] and "missing.json" in errors[1]
    assert "Traceback" not in result.output
    assert "from 1 of 3 file(s)" in result.stdout
    assert tracelens.open(data).spans().collect().height == 2  # the readable file is imported


def test_import_json_report(tmp_path):
    good, mixed = _files(tmp_path)
    result = CliRunner().invoke(cli, ["import", str(good), str(mixed), "--data", str(tmp_path / "d"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["spans"] == 3
    assert [(f["spans"], f["rejected"]) for f in report["files"]] == [(2, 0), (1, 1)]
    assert report["files"][1]["rejected_by_reason"] == {"invalid_trace_id": 1}


def test_import_detects_jaeger_and_zipkin_files(tmp_path):
    zipkin = tmp_path / "zipkin.json"
    zipkin.write_text(json.dumps([{
        "traceId": "aaaabbbbccccdddd1111222233334444", "id": "1111222233334444", "name": "get /zip",
        "timestamp": 1767225600000000, "duration": 1500, "kind": "SERVER",
        "localEndpoint": {"serviceName": "zipper"},
    }]))
    jaeger = tmp_path / "jaeger.json"
    jaeger.write_text(json.dumps({"data": [{
        "traceID": "bbbbccccddddeeee1111222233334444",
        "spans": [{"traceID": "bbbbccccddddeeee1111222233334444", "spanID": "2222333344445555",
                   "operationName": "GET /jaeger", "references": [], "startTime": 1767225600000000,
                   "duration": 2000, "tags": [], "logs": [], "processID": "p1"}],
        "processes": {"p1": {"serviceName": "jaegered", "tags": []}},
    }]}))
    data = tmp_path / "data"
    result = CliRunner().invoke(cli, ["import", str(zipkin), str(jaeger), "--data", str(data)])
    assert result.exit_code == 0, result.output
    summary = tracelens.open(data).traces(sort="start")
    assert sorted(zip(summary["root_service"], summary["root_name"])) == [("jaegered", "GET /jaeger"), ("zipper", "get /zip")]


def test_import_decodes_files_in_parallel_and_reports_them_in_order(tmp_path):
    paths = []
    for n in range(5):  # files of different sizes finish decoding out of order
        path = tmp_path / f"part-{n}.json"
        spans = [_span(f"{n + 1:032x}", f"{n + 1:04x}{k + 1:012x}", f"op-{k}") for k in range((5 - n) * 40)]
        path.write_text(_otlp_json(spans, service=f"svc-{n}"))
        paths.append(path)
    data = tmp_path / "data"
    result = CliRunner().invoke(cli, ["import", *map(str, paths), "--data", str(data), "--jobs", "3", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(Path(f["file"]).name, f["spans"]) for f in report["files"]] == [(p.name, (5 - n) * 40) for n, p in enumerate(paths)]
    store = tracelens.open(data)
    stats = store.stats()
    assert stats["wal_backlog_records"] == 0 and stats["table_rows"] == report["spans"] == 600  # straight into the table
    counts = store.spans().group_by("service_name").len().collect()
    assert dict(counts.iter_rows()) == {f"svc-{n}": (5 - n) * 40 for n in range(5)}


def test_import_jobs_must_be_positive(tmp_path):
    good, _ = _files(tmp_path)
    result = CliRunner().invoke(cli, ["import", str(good), "--data", str(tmp_path / "d"), "--jobs", "0"])
    assert result.exit_code == 2
    assert "--jobs" in result.output and "Traceback" not in result.output


def test_import_files_stops_queued_files_when_the_caller_stops(tmp_path):
    from tracelens.cli.import_ import import_files
    from tracelens.store import Store

    paths = []
    for n in range(6):
        path = tmp_path / f"part-{n}.json"
        path.write_text(_otlp_json([_span(f"{n + 1:032x}", f"{n + 1:016x}", "op")], service=f"svc-{n}"))
        paths.append(path)
    with Store.open(tmp_path / "data") as store:
        reports = import_files(store, paths, jobs=1)
        assert next(reports)["spans"] == 1
        reports.close()  # e.g. Ctrl-C: the file in flight may finish, the queued ones never start
        loaded = store.stats()["spans_loaded"]
    assert 1 <= loaded <= 2
