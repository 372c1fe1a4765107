"""R3 and operator visibility: counters by reason, one log line per event (bursts folded),
`tracelens status` on a store where no receiver ran and on one whose receiver stopped."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time

from click.testing import CliRunner
from receiver_support import grpc_call, otlp_request

from tracelens.cli.main import cli
from tracelens.config import ReceiverConfig, StoreConfig
from tracelens.receiver import serve
from tracelens.receiver.counters import Counters, Reason


def test_counters_count_every_refusal_and_log_one_line_per_event(caplog):
    counters = Counters(log_interval_seconds=60)
    with caplog.at_level(logging.WARNING, logger="tracelens.receiver"):
        counters.refused(Reason.UNAUTHENTICATED, "missing token", "peer-a")
        for _ in range(50):  # a burst: counted, but folded in the log
            counters.refused(Reason.OVERLOADED, "backlog", "peer-b")
        counters.accepted(10, {"invalid_span_id": 2}, "2 span(s) rejected", "peer-c")
        counters.accepted(5, {}, "", "peer-c")  # a full success logs nothing
    snapshot = counters.snapshot()
    assert snapshot["refused_requests"] == {"unauthenticated": 1, "overloaded": 50}
    assert snapshot["refused_requests_total"] == 51
    assert snapshot["rejected_spans"] == {"invalid_span_id": 2} and snapshot["accepted_spans"] == 15
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3, lines
    assert any("unauthenticated" in line and "peer-a" in line for line in lines)
    assert any("partial success" in line and "invalid_span_id=2" in line for line in lines)


def test_status_command_without_and_after_a_receiver(tmp_path):
    data = tmp_path / "data"
    runner = CliRunner()
    assert runner.invoke(cli, ["status", "--data", str(data)]).exit_code == 2  # no store: usage error

    stop = threading.Event()

    def send_then_stop(receiver) -> None:  # type: ignore[no-untyped-def]
        grpc_call(receiver.grpc_port, otlp_request(3, bad_trace_ids=1).SerializeToString())
        stop.set()

    final = serve(data, ReceiverConfig(grpc_port=0, http_port=0), StoreConfig(path=data), stop=stop, on_ready=send_then_stop)
    assert final["accepted_spans"] == 3 and final["running"] is False

    result = runner.invoke(cli, ["status", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["receiver"]["running"] is False and report["receiver"]["live"] is False
    assert report["receiver"]["rejected_spans"] == {"invalid_trace_id": 1}
    assert report["store"]["table_rows"] == 3 and report["store"]["wal_backlog_bytes"] == 0

    human = runner.invoke(cli, ["status", "--data", str(data)], env={"COLUMNS": "120"})
    assert human.exit_code == 0
    assert "stopped" in human.output and "3 span(s) in 1 request(s)" in human.output
    assert "invalid_trace_id 1" in human.output


def test_serve_on_a_port_in_use_is_a_one_line_error(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--data", str(tmp_path / "d"), "--grpc-port", "0", "--http-port", str(port)])
    assert result.exit_code == 1
    assert "cannot listen for OTLP/HTTP" in result.output and "Traceback" not in result.output


def test_http_keep_alive_request_after_stop_is_told_to_retry(tmp_path):
    import http.client

    from receiver_support import running_receiver

    with running_receiver(tmp_path) as (rx, _):
        connection = http.client.HTTPConnection("127.0.0.1", rx.http_port, timeout=30)
        body = otlp_request(1).SerializeToString()
        connection.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
        assert connection.getresponse().read() is not None
        # let the handler finish the first exchange and wait idle on the connection; a stop
        # that lands before that closes the connection instead (also a retry for clients)
        time.sleep(0.5)
        rx.stop(grace=1)
        connection.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
        response = connection.getresponse()
        assert response.status == 503 and response.getheader("Retry-After") == "1"
        connection.close()


def test_freeze_startup_objects_exempts_the_imports_from_collection():
    # in a child: freezing is process-wide, and pytest's own objects must stay collectable
    code = (
        "import gc, tracelens.ingest, polars, grpc\n"
        "from tracelens.receiver.serve import freeze_startup_objects\n"
        "before = gc.get_freeze_count()\n"
        "freeze_startup_objects()\n"
        "print(before, gc.get_freeze_count(), len(gc.get_objects(generation=2)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    before, frozen, left = (int(v) for v in out.split())
    assert before == 0
    assert frozen > 50_000  # the imports' objects, which full collections no longer walk
    assert left < frozen / 10
