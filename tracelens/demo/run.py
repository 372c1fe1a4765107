"""One demo run end to end: span store + embedded OTLP receiver + the simulated shop.

The shop runs in child processes by default, its timeline cut into SHOP_PROCESSES parts:
the OpenTelemetry SDK (span creation and OTLP protobuf encoding) is CPU-bound Python and
by far the largest cost (the receiver needs about a tenth of it), so separate processes
use both cores instead of sharing one GIL. It is also more honest: the services and the
receiver only meet over OTLP/gRPC on loopback. ``in_process=True`` runs the same parts one
after another in this process and produces the same spans.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Final

from tracelens.config import ReceiverConfig
from tracelens.demo.simulate import WHOLE, Part, SimulationConfig, SimulationResult, merge_results, parts_of, run
from tracelens.errors import TracelensError

#: fraction of the run done, requests so far, spans so far
Progress = Callable[[float, int, int], None]

#: the timeline is cut into this many parts, each simulated by its own process: the SDK
#: is the bottleneck (the receiver needs a tenth of the shop's CPU), so two use both cores
SHOP_PROCESSES: Final = 2
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


def simulate_to(
    endpoint: str, config: SimulationConfig, progress: Progress | None = None, part: Part = WHOLE
) -> SimulationResult:
    """Run the shop (or one part of its timeline) in this process, exporting to
    ``endpoint`` (host:port of OTLP/gRPC)."""
    from tracelens.demo.emit import build_pipeline

    pipeline = build_pipeline(part.seed(config.seed), otlp_exporter(endpoint))

    def report(fraction: float, result: SimulationResult) -> None:
        if progress is not None:
            progress(fraction, result.requests, result.spans)

    return run(config, pipeline, report, part=part)


def _child_main(config: SimulationConfig, part: Part, conn: Connection) -> None:
    try:
        # import the SDK and gRPC while the parent starts the receiver, then wait for it
        import opentelemetry.exporter.otlp.proto.grpc.trace_exporter  # noqa: F401

        import tracelens.demo.emit  # noqa: F401

        endpoint = conn.recv()
        if endpoint is None:
            return
        result = simulate_to(endpoint, config, lambda f, r, s: conn.send(("progress", f, r, s)), part)
        conn.send(("done", result))
    except BaseException:  # the parent turns this into a TracelensError with the traceback
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


class ShopProcess:
    """One part of the shop's timeline in a spawned child process (see the module
    docstring for why), started early so its imports overlap the receiver's start-up."""

    def __init__(self, config: SimulationConfig, part: Part = WHOLE) -> None:
        ctx = multiprocessing.get_context("spawn")  # never fork a process that runs gRPC threads
        self.conn, child_end = ctx.Pipe(duplex=True)
        self._child = ctx.Process(target=_child_main, args=(config, part, child_end), name=f"tracelens-demo-shop-{part.index}", daemon=True)
        self._child.start()
        child_end.close()

    def start(self, endpoint: str) -> None:
        self.conn.send(endpoint)

    def receive(self) -> tuple[Any, ...]:
        try:
            message: tuple[Any, ...] = self.conn.recv()
        except EOFError:
            msg = f"the simulated shop exited unexpectedly (exit code {self._child.exitcode})"
            raise TracelensError(msg) from None
        if message[0] == "error":
            msg = f"the simulated shop failed:\n{message[1]}"
            raise TracelensError(msg)
        return message

    def close(self, *, graceful: bool = True) -> None:
        """Stop the child: let it finish (telling it to quit if it never got an endpoint),
        or, after an error or Ctrl-C in the parent, terminate it at once."""
        if graceful:
            try:
                self.conn.send(None)
            except OSError:
                pass  # it already finished and closed its end
            self._child.join(timeout=10)
        if self._child.is_alive():
            self._child.terminate()
            self._child.join()
        self.conn.close()


def run_shops(shops: list[ShopProcess], endpoint: str, progress: Progress | None = None) -> SimulationResult:
    """Give every shop process the endpoint, relay their combined progress, merge results."""
    for shop in shops:
        shop.start(endpoint)
    latest = {id(shop): (0.0, 0, 0) for shop in shops}
    results: dict[int, SimulationResult] = {}
    by_conn = {shop.conn: shop for shop in shops}
    while len(results) < len(shops):
        for conn in wait([shop.conn for shop in shops if id(shop) not in results]):
            shop = by_conn[conn]  # type: ignore[index]
            message = shop.receive()
            if message[0] == "progress":
                latest[id(shop)] = message[1:]
                if progress is not None:
                    values = list(latest.values())
                    progress(sum(v[0] for v in values) / len(values), sum(v[1] for v in values), sum(v[2] for v in values))
            elif message[0] == "done":
                results[id(shop)] = message[1]
    return merge_results([results[id(shop)] for shop in shops])


def simulate_parts_here(endpoint: str, config: SimulationConfig, parts: tuple[Part, ...], progress: Progress | None) -> SimulationResult:
    """The same parts one after another in this process (the reproducible twin of run_shops)."""
    results = []
    for part in parts:
        done = sum(r.requests for r in results), sum(r.spans for r in results)

        def relay(fraction: float, requests: int, spans: int, part: Part = part, done: tuple[int, int] = done) -> None:
            if progress is not None:
                progress((part.index + fraction) / part.count, done[0] + requests, done[1] + spans)

        results.append(simulate_to(endpoint, config, relay, part))
    return merge_results(results)


def run_demo(
    config: SimulationConfig,
    data: Path | None = None,
    progress: Progress | None = None,
    *,
    in_process: bool = False,
    shops: int = SHOP_PROCESSES,
) -> DemoRun:
    """Start a store and a receiver on free loopback ports, run the shop against them, and
    stop everything, leaving the data durable in ``data`` (a fresh temp dir if None)."""
    from tracelens.receiver.receiver import Receiver
    from tracelens.store import Store

    data = data or Path(tempfile.mkdtemp(prefix="tracelens-demo-"))
    parts = parts_of(shops)
    children = [] if in_process else [ShopProcess(config, part) for part in parts]
    finished = False
    try:
        with Store.open(data) as store:
            store.start_flusher()
            with Receiver(store, ReceiverConfig(grpc_port=0, http_port=0)) as receiver:
                endpoint = f"127.0.0.1:{receiver.grpc_port}"
                if in_process:
                    result = simulate_parts_here(endpoint, config, parts, progress)
                else:
                    result = run_shops(children, endpoint, progress)
                counters = receiver.counters
        finished = True
    finally:
        for child in children:
            child.close(graceful=finished)
    return DemoRun(data, config, result, counters, endpoint)
