"""Acceptance: bad input against a `tracelens serve` subprocess. Each kind of bad request
gets its documented status (docs/receiver.md), the server stays up, valid data sent after
it is stored, every refusal is counted by reason and `tracelens status` shows it. A gzip
bomb (100 MiB of zeros in ~100 KiB) is refused on both transports without the server
growing by 100 MiB."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import grpc
import pytest
from receiver_support import ServerProcess, grpc_call, http_post, otlp_request

import tracelens

TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GRPC_AUTH = (("authorization", f"Bearer {TOKEN}"),)
PROTOBUF = {"Content-Type": "application/x-protobuf"} | AUTH
JSON = {"Content-Type": "application/json"} | AUTH
BOMB_BYTES = 100 * 1024 * 1024


def _wrong_length_ids() -> bytes:
    request = otlp_request(0, bad_trace_ids=2, trace_byte=7)
    request.resource_spans[0].scope_spans[0].spans[1].span_id = b"\x01" * 7  # and a 7-byte span id
    return request.SerializeToString()


def _status_cli(data) -> dict:  # type: ignore[no-untyped-def]
    result = subprocess.run(
        [sys.executable, "-c", "from tracelens.cli.main import main; main()", "status", "--data", str(data), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TRACELENS_AUTH_TOKEN": TOKEN},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_bad_input_gets_documented_statuses_and_server_stays_up(tmp_path):
    data = tmp_path / "data"
    server = ServerProcess(data, "--auth-token", TOKEN, "--max-request-size", "8MiB")
    try:
        http_cases = [
            # (what, body, headers, expected status)
            ("truncated protobuf", otlp_request(5).SerializeToString()[:-9], PROTOBUF, 400),
            ("random bytes", os.urandom(3000) + b"\xff", PROTOBUF, 400),
            ("invalid JSON", b'{"resourceSpans": [{"scopeSpans": ', JSON, 400),
            ("oversized request", b"\x0a" + b"\x00" * (9 * 1024 * 1024), PROTOBUF, 413),
            ("wrong content type", b"hello", {"Content-Type": "text/plain"} | AUTH, 415),
            ("missing auth", otlp_request(1).SerializeToString(), {"Content-Type": "application/x-protobuf"}, 401),
        ]
        for what, body, headers, expected in http_cases:
            status, _, _ = http_post(server.http_port, body, headers)
            assert status == expected, what

        # wrong-length ids: rejected one by one, the request itself is fine (partial success)
        status, _, _ = http_post(server.http_port, _wrong_length_ids(), PROTOBUF)
        assert status == 200

        grpc_cases = [
            ("truncated protobuf", otlp_request(5).SerializeToString()[:-9], GRPC_AUTH, grpc.StatusCode.INVALID_ARGUMENT),
            ("random bytes", os.urandom(3000) + b"\xff", GRPC_AUTH, grpc.StatusCode.INVALID_ARGUMENT),
            ("oversized request", b"\x0a" + b"\x00" * (9 * 1024 * 1024), GRPC_AUTH, grpc.StatusCode.RESOURCE_EXHAUSTED),
            ("missing auth", otlp_request(1).SerializeToString(), (), grpc.StatusCode.UNAUTHENTICATED),
        ]
        for what, body, metadata, expected in grpc_cases:
            with pytest.raises(grpc.RpcError) as failure:
                grpc_call(server.grpc_port, body, metadata=metadata)
            assert failure.value.code() == expected, what

        # valid data after all that is stored
        grpc_call(server.grpc_port, otlp_request(3, trace_byte=1).SerializeToString(), metadata=GRPC_AUTH)
        assert http_post(server.http_port, otlp_request(4, trace_byte=2).SerializeToString(), PROTOBUF)[0] == 200

        report = _status_cli(data)
        receiver = report["receiver"]
        assert receiver["live"] and receiver["running"]
        assert receiver["accepted_spans"] == 7
        assert receiver["rejected_spans"] == {"invalid_trace_id": 2}
        assert receiver["refused_requests"] == {
            "undecodable": 5,
            "too_large": 2,
            "unsupported_media_type": 1,
            "unauthenticated": 2,
        }
        log = server.output()
        assert "refused request" in log and "too_large" in log
    finally:
        assert server.terminate() == 0
    assert tracelens.open(data).spans().collect().height == 7
    stopped = _status_cli(data)["receiver"]
    assert stopped["running"] is False and stopped["accepted_spans"] == 7  # from the status file


@pytest.mark.slow
def test_gzip_bomb_is_refused_without_the_process_growing_100_mib(tmp_path):
    data = tmp_path / "data"
    server = ServerProcess(data)  # default 64 MiB limit
    try:
        bomb = gzip.compress(b"\0" * BOMB_BYTES, compresslevel=9)
        assert len(bomb) < 200 * 1024
        # warm both transports first so the baseline includes their buffers
        grpc_call(server.grpc_port, otlp_request(1).SerializeToString())
        assert http_post(server.http_port, otlp_request(1, span_offset=5).SerializeToString(), {"Content-Type": "application/x-protobuf"})[0] == 200
        before = server.rss_kib()["VmRSS"]

        status, _, _ = http_post(server.http_port, bomb, {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"})
        assert status == 413
        with pytest.raises(grpc.RpcError) as failure:
            # the client compresses 100 MiB of zeros itself: a bomb on the wire
            grpc_call(server.grpc_port, b"\0" * BOMB_BYTES, compression=grpc.Compression.Gzip, options=(("grpc.max_send_message_length", -1),))
        assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        peak = server.rss_kib()["VmHWM"]
        grown_mib = (peak - before) / 1024
        assert grown_mib < 100, f"server grew by {grown_mib:.0f} MiB on a 100 MiB gzip bomb"
        assert http_post(server.http_port, otlp_request(2, trace_byte=3).SerializeToString(), {"Content-Type": "application/x-protobuf"})[0] == 200
    finally:
        assert server.terminate() == 0
