"""``tracelens serve`` as a library call: store + receiver until SIGTERM/SIGINT, then a clean exit.

Shutdown order matters for "never lose an acknowledged span": stop accepting and let the
requests in flight finish (each is acknowledged only once durable), then close the store,
which flushes the write-ahead log into the table. A status file in the data directory
(``receiver-status.json``, rewritten every second) lets ``tracelens status`` find the
running server and report on it even after it stopped.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tracelens.config import ReceiverConfig, StoreConfig
from tracelens.receiver.http_transport import QueryRoute
from tracelens.receiver.receiver import Receiver

logger = logging.getLogger("tracelens.receiver")

STATUS_FILE = "receiver-status.json"
STATUS_INTERVAL_SECONDS = 1.0
DEFAULT_SHUTDOWN_GRACE_SECONDS = 10.0


def freeze_startup_objects() -> None:
    """Exempt everything alive now (modules, compiled kernels, the server's own objects)
    from the cyclic garbage collector's scans. Its full passes walk every tracked object:
    after the imports of numba, polars, pyarrow and grpc that is ~140,000 of them, ~60 ms
    a pass here, and under load those passes took ~6 % of the server's CPU (perf on
    benchmarks/ingest.py). For a process that serves until it exits: objects created
    later are collected as usual."""
    gc.collect()
    gc.freeze()


def status_path(data: Path) -> Path:
    return Path(data) / STATUS_FILE


def write_status_file(data: Path, payload: dict[str, Any]) -> None:
    """Atomically replace the status file (readers never see half a file)."""
    target = status_path(data)
    temporary = target.with_suffix(f".{os.getpid()}.tmp")
    temporary.write_text(json.dumps(payload, default=str, indent=1))
    os.replace(temporary, target)


def _status_payload(receiver: Receiver, running: bool) -> dict[str, Any]:
    # Table statistics read the Delta log: too costly every second under load. A stopped
    # server's store is read by `tracelens status` itself.
    payload = receiver.status(store_stats=False)
    payload |= {"pid": os.getpid(), "running": running, "auth_required": receiver.config.auth_token is not None}
    return payload


def serve(
    data: Path,
    receiver_config: ReceiverConfig,
    store_config: StoreConfig | None = None,
    *,
    stop: threading.Event | None = None,
    on_ready: Callable[[Receiver], None] | None = None,
    grace: float = DEFAULT_SHUTDOWN_GRACE_SECONDS,
    query_routes: Callable[[Any], Mapping[str, QueryRoute]] | None = None,
) -> dict[str, Any]:
    """Run a receiver on the store in ``data`` until ``stop`` is set or SIGTERM/SIGINT
    arrives (when called from the main thread). Returns the final counters.
    ``query_routes(store)`` may mount read-only JSON endpoints (e.g. /api/v1/canary)."""
    from tracelens.store import Store

    stop = stop or threading.Event()
    store = Store.open(data, store_config or StoreConfig(path=Path(data)))
    try:
        store.start_flusher()
        routes = query_routes(store) if query_routes is not None else None
        receiver = Receiver(store, receiver_config, query_routes=routes).start()
        restore = _install_signal_handlers(stop)
        try:
            if on_ready is not None:  # before the status file announces the server: the CLI's
                on_ready(receiver)  # garbage-collector freeze then runs before clients come
            write_status_file(data, _status_payload(receiver, running=True))
            while not stop.wait(STATUS_INTERVAL_SECONDS):
                write_status_file(data, _status_payload(receiver, running=True))
            logger.info("shutting down: draining requests in flight, then flushing the store")
        finally:
            receiver.stop(grace)
            restore()
    finally:
        store.close()
    final = _status_payload(receiver, running=False)
    write_status_file(data, final)
    return final


def _install_signal_handlers(stop: threading.Event) -> Callable[[], None]:
    """SIGTERM/SIGINT set ``stop`` (only possible from the main thread); returns an undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: object) -> None:
        logger.info("received %s", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_status(data: Path, auth_token: str | None = None, timeout: float = 2.0) -> dict[str, Any] | None:
    """The receiver's status for the store in ``data``: live from its HTTP status endpoint
    when it runs, else the last status file it wrote (``live`` says which); None if no
    receiver ever ran there."""
    path = status_path(data)
    try:
        saved: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    running = bool(saved.get("running")) and _pid_alive(int(saved.get("pid", 0)))
    saved["running"] = running
    http = saved.get("endpoints", {}).get("http", "")
    if running and http.startswith("http://"):
        request = urllib.request.Request(f"{http}/api/v1/status")
        if auth_token:
            request.add_header("Authorization", f"Bearer {auth_token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - our own loopback endpoint
                live: dict[str, Any] = json.loads(response.read())
            live |= {"pid": saved.get("pid"), "running": True, "live": True, "auth_required": saved.get("auth_required")}
            return live
        except (urllib.error.URLError, OSError, ValueError) as exc:
            saved["live_error"] = str(exc)
    saved["live"] = False
    saved["age_seconds"] = round(time.time() - float(saved.get("time", time.time())), 1)
    return saved
