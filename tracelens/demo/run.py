"""One demo run end to end: span store + embedded OTLP receiver + the simulated shop.

The shop runs in a child process by default: the OpenTelemetry SDK (span creation and OTLP
protobuf encoding) and the receiver (decoding, WAL fsync, table flushes) are both
CPU-bound Python, so on two cores they go about twice as fast apart than sharing one GIL.
It is also more honest: the services and the receiver only meet over OTLP/gRPC on loopback.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Final

from tracelens.config import ReceiverConfig
from tracelens.demo.simulate import SimulationConfig, SimulationResult, run
from tracelens.errors import TracelensError

#: fraction of the run done, requests so far, spans so far
Progress = Callable[[float, int, int], None]

EXPORT_TIMEOUT_SECONDS: Final = 120.0  # generous: a loaded shared machine can stall the receiver for a while


@dataclass
class DemoRun:
    data: Path
    config: SimulationConfig
    result: SimulationResult
    receiver_counters: dict[str, Any] = field(default_factory=dict)
    endpoint: str = ""


def otlp_exporter(endpoint: str) -> Any:
    """The real OTLP/gRPC span exporter, plaintext to a loopback receiver."""
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter(endpoint=endpoint, insecure=True, timeout=EXPORT_TIMEOUT_SECONDS)


def simulate_to(endpoint: str, config: SimulationConfig, progress: Progress | None = None) -> SimulationResult:
    """Run the shop in this process, exporting to ``endpoint`` (host:port of OTLP/gRPC)."""
    from tracelens.demo.emit import build_pipeline

    pipeline = build_pipeline(config.seed, otlp_exporter(endpoint))

    def report(fraction: float, result: SimulationResult) -> None:
        if progress is not None:
            progress(fraction, result.requests, result.spans)

    return run(config, pipeline, report)


def _child_main(config: SimulationConfig, conn: Connection) -> None:
    try:
        # import the SDK and gRPC while the parent starts the receiver, then wait for it
        import opentelemetry.exporter.otlp.proto.grpc.trace_exporter  # noqa: F401

        import tracelens.demo.emit  # noqa: F401

        endpoint = conn.recv()
        if endpoint is None:
            return
        result = simulate_to(endpoint, config, lambda f, r, s: conn.send(("progress", f, r, s)))
        conn.send(("done", result))
    except BaseException:  # the parent turns this into a TracelensError with the traceback
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class ShopProcess:
    """The shop in a spawned child process (see the module docstring for why), started
    early so its imports overlap the receiver's start-up; :meth:`run` gives it the
    endpoint and relays its progress."""

    def __init__(self, config: SimulationConfig) -> None:
        ctx = multiprocessing.get_context("spawn")  # never fork a process that runs gRPC threads
        self._conn, child_end = ctx.Pipe(duplex=True)
        self._child = ctx.Process(target=_child_main, args=(config, child_end), name="tracelens-demo-shop", daemon=True)
        self._child.start()
        child_end.close()

    def run(self, endpoint: str, progress: Progress | None = None) -> SimulationResult:
        self._conn.send(endpoint)
        while True:
            try:
                message = self._conn.recv()
            except EOFError:
                msg = f"the simulated shop exited unexpectedly (exit code {self._child.exitcode})"
                raise TracelensError(msg) from None
            if message[0] == "progress":
                if progress is not None:
                    progress(*message[1:])
            elif message[0] == "done":
                result: SimulationResult = message[1]
                return result
            else:
                msg = f"the simulated shop failed:\n{message[1]}"
                raise TracelensError(msg)

    def close(self, *, graceful: bool = True) -> None:
        """Stop the child: let it finish (telling it to quit if it never got an endpoint),
        or, after an error or Ctrl-C in the parent, terminate it at once."""
        if graceful:
            try:
                self._conn.send(None)
            except OSError:
                pass  # it already finished and closed its end
            self._child.join(timeout=10)
        if self._child.is_alive():
            self._child.terminate()
            self._child.join()
        self._conn.close()


def run_demo(
    config: SimulationConfig,
    data: Path | None = None,
    progress: Progress | None = None,
    *,
    in_process: bool = False,
) -> DemoRun:
    """Start a store and a receiver on free loopback ports, run the shop against them, and
    stop everything, leaving the data durable in ``data`` (a fresh temp dir if None)."""
    from tracelens.receiver.receiver import Receiver
    from tracelens.store import Store

    data = data or Path(tempfile.mkdtemp(prefix="tracelens-demo-"))
    shop = None if in_process else ShopProcess(config)
    finished = False
    try:
        with Store.open(data) as store:
            store.start_flusher()
            with Receiver(store, ReceiverConfig(grpc_port=0, http_port=0)) as receiver:
                endpoint = f"127.0.0.1:{receiver.grpc_port}"
                result = simulate_to(endpoint, config, progress) if shop is None else shop.run(endpoint, progress)
                counters = receiver.counters
        finished = True
    finally:
        if shop is not None:
            shop.close(graceful=finished)
    return DemoRun(data, config, result, counters, endpoint)
