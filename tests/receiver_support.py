"""Shared helpers of the receiver tests: a real Receiver on a real Store in tmp_path, raw
gRPC/HTTP clients for the negative cases, OTLP request builders, and a `tracelens serve`
subprocess for the crash / signal / memory tests."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracelens.config import ReceiverConfig, StoreConfig
from tracelens.receiver import Receiver
from tracelens.store import Store

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


def store_config(path: Path, **overrides: Any) -> StoreConfig:
    base = StoreConfig(path=path, flush_interval_seconds=0.2)
    return replace(base, **overrides)


@contextlib.contextmanager
def running_receiver(tmp_path: Path, store_overrides: dict[str, Any] | None = None, **config: Any) -> Iterator[tuple[Receiver, Store]]:
    """A started Receiver (ephemeral loopback ports) on a real Store with its flusher."""
    data = tmp_path / "data"
    store = Store.open(data, store_config(data, **(store_overrides or {})))
    store.start_flusher()
    settings = {"grpc_port": 0, "http_port": 0} | config
    receiver = Receiver(store, ReceiverConfig(**settings)).start()
    try:
        yield receiver, store
    finally:
        receiver.stop(grace=2)
        store.close()


def otlp_request(
    n_spans: int = 3,
    *,
    service: str = "checkout",
    trace_byte: int = 1,
    span_offset: int = 0,
    bad_trace_ids: int = 0,
    name: str = "GET /pay",
    trace_id: bytes | None = None,
) -> ExportTraceServiceRequest:
    """An ExportTraceServiceRequest with ``n_spans`` valid spans of one trace, followed by
    ``bad_trace_ids`` spans whose trace_id is 15 bytes long (rejected one by one)."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    attribute = resource_spans.resource.attributes.add()
    attribute.key, attribute.value.string_value = "service.name", service
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "tests"
    for i in range(n_spans + bad_trace_ids):
        span = scope_spans.spans.add()
        good = trace_id or bytes([trace_byte] * 16)
        span.trace_id = good if i < n_spans else good[:15]
        span.span_id = (span_offset + i + 1).to_bytes(8, "big")
        span.name = name
        span.kind = 2
        span.start_time_unix_nano = 1_767_225_600_000_000_000 + i * 1000
        span.end_time_unix_nano = span.start_time_unix_nano + 5_000_000
    return request


def grpc_call(
    port: int,
    body: bytes,
    *,
    metadata: tuple[tuple[str, str], ...] = (),
    compression: grpc.Compression | None = None,
    method: str = TRACE_METHOD,
    credentials: grpc.ChannelCredentials | None = None,
    target: str | None = None,
    options: tuple[tuple[str, Any], ...] = (),
) -> tuple[bytes, grpc.Call]:
    """One raw unary call with identity serializers; raises grpc.RpcError on failure."""
    target = target or f"127.0.0.1:{port}"
    channel = grpc.secure_channel(target, credentials, options=options) if credentials else grpc.insecure_channel(target, options=options)
    with channel:
        call = channel.unary_unary(method)
        response, state = call.with_call(body, metadata=metadata, compression=compression, timeout=60)
        return response, state


def http_post(
    port: int,
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    path: str = "/v1/traces",
    method: str = "POST",
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request; returns (status, lowercase headers, raw body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def stored_spans(store: Store) -> Any:
    return store.spans().collect()


def wait_for(predicate: Any, timeout: float = 20.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# --- `tracelens serve` as a subprocess --------------------------------------------------
SERVE = [sys.executable, "-c", "from tracelens.cli.main import main; main()", "serve"]


class ServerProcess:
    """`tracelens serve --grpc-port 0 --http-port 0` on ``data``; ports from its status file."""

    def __init__(self, data: Path, *extra: str, env: dict[str, str] | None = None) -> None:
        self.data = data
        status = data / "receiver-status.json"
        with contextlib.suppress(FileNotFoundError):
            status.unlink()
        self.log = (data.parent / f"serve-{time.monotonic_ns()}.log").open("wb")
        self.process = subprocess.Popen(
            [*SERVE, "--data", str(data), "--grpc-port", "0", "--http-port", "0", *extra],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )
        ok = wait_for(lambda: self._status() is not None or self.process.poll() is not None, timeout=150)
        if not ok or self.process.poll() is not None:
            self.kill()
            raise RuntimeError(f"tracelens serve did not start: {self.output()}")
        status_payload = self._status()
        assert status_payload is not None
        self.grpc_port = int(status_payload["endpoints"]["grpc"].rsplit(":", 1)[1])
        self.http_port = int(status_payload["endpoints"]["http"].rsplit(":", 1)[1])

    def _status(self) -> dict[str, Any] | None:
        try:
            payload = json.loads((self.data / "receiver-status.json").read_text())
        except (OSError, ValueError):
            return None
        return payload if payload.get("pid") == self.process.pid and payload.get("running") else None

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak) of the server process, in KiB."""
        found = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
        return found

    def output(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def terminate(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.log.close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.log.close()
