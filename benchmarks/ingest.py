"""End-to-end OTLP ingest benchmark: tracelens vs a bare receiver (the ceiling), gRPC and HTTP.

    .venv/bin/python benchmarks/ingest.py                       # 240 requests x 512 spans, 4 clients
    .venv/bin/python benchmarks/ingest.py --requests 600 --clients 6 --transports grpc

Realistic pre-serialised requests (benchmarks/workload.py: 512 spans, ~10 attributes, events
on 10 %) are sent by several client *processes* over gRPC and over HTTP (keep-alive,
protobuf) to a server *process*:

* bare: the ceiling. Python gRPC / http.server plus ``ExportTraceServiceRequest.FromString``
  and nothing else (no validation, no storage).
* tracelens: ``tracelens serve`` on a fresh data directory. A request is acknowledged once
  durable in the WAL; the clock stops when every span is also flushed into the Delta table
  (``table_rows``), and the store is then queried (``store.spans()`` count) to prove it.

Reported per run: spans/s, tracelens as a fraction of the ceiling, the server's CPU seconds
(user+system, all threads) and its peak RSS. Clients honour retry signals (UNAVAILABLE with
RetryInfo, 503 with Retry-After) like the real exporters do, and the retries are counted.
"""

from __future__ import annotations

import argparse
import itertools
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TRACE_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REQUESTS: list[bytes] = []  # filled before the client processes fork


# --- the bare ceiling server ---------------------------------------------------------------
def run_bare_server(port_file: Path) -> None:
    """gRPC + HTTP servers that only parse each request (the ceiling), until SIGTERM."""
    import grpc
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    parse = ExportTraceServiceRequest.FromString

    def export(request: bytes, context: object) -> bytes:
        parse(request)
        return b""

    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": grpc.unary_unary_rpc_method_handler(export)}
    )
    server = grpc.server(futures.ThreadPoolExecutor(32), handlers=[handler], options=[("grpc.max_receive_message_length", 64 << 20)])
    grpc_port = server.add_insecure_port("127.0.0.1:0")
    server.start()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802
            parse(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    ThreadingHTTPServer.daemon_threads = True
    http_server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=http_server.serve_forever, daemon=True).start()
    port_file.write_text(json.dumps({"grpc": grpc_port, "http": http_server.server_address[1]}))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()


# --- clients ---------------------------------------------------------------------------------
def _grpc_client(args: tuple[int, list[int]]) -> tuple[float, int]:
    """Send the requests at ``indices``; (this process's CPU seconds doing so, retries)."""
    import grpc
    from google.rpc import error_details_pb2

    started = time.process_time()
    port, indices = args
    channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)])
    export = channel.unary_unary(TRACE_METHOD)
    retries = 0
    for index in indices:
        while True:
            try:
                export(REQUESTS[index], timeout=60)
                break
            except grpc.RpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                retries += 1
                delay = 1.0
                raw = dict(error.trailing_metadata() or ()).get("google.rpc.retryinfo-bin")
                if raw:
                    info = error_details_pb2.RetryInfo.FromString(raw)
                    delay = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
                time.sleep(delay)
    channel.close()
    return time.process_time() - started, retries


def _http_client(args: tuple[int, list[int]]) -> tuple[float, int]:
    started = time.process_time()
    port, indices = args
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    retries = 0
    for index in indices:
        while True:
            connection.request("POST", "/v1/traces", body=REQUESTS[index], headers={"Content-Type": "application/x-protobuf"})
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                break
            if response.status not in (429, 503):
                raise RuntimeError(f"HTTP {response.status}")
            retries += 1
            time.sleep(float(response.getheader("Retry-After") or 1))
    connection.close()
    return time.process_time() - started, retries


def send_all(transport: str, port: int, clients: int) -> tuple[float, int, float]:
    """Send every request once, split over ``clients`` processes; (seconds, retries, the
    clients' CPU seconds: what the server shares the machine's cores with)."""
    shares = [list(range(i, len(REQUESTS), clients)) for i in range(clients)]
    work = _grpc_client if transport == "grpc" else _http_client
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        started = time.perf_counter()
        results = pool.map(work, [(port, share) for share in shares])
        elapsed = time.perf_counter() - started
    return elapsed, sum(r for _, r in results), sum(cpu for cpu, _ in results)


# --- server processes --------------------------------------------------------------------------
def _stat_fields(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a server's flush worker processes count as the server)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def host_steal_seconds() -> float:
    """CPU seconds the hypervisor gave to other guests (``steal`` in /proc/stat, all CPUs):
    on a virtual machine, time the benchmark's processes could not run. A run with much
    steal has fewer cores than ``os.cpu_count()`` says, which is why runs vary (0 where the
    kernel does not account steal)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        return int(fields[8]) / CLOCK_TICKS if len(fields) > 8 else 0.0
    except OSError:
        return 0.0


def cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its live descendants (user + system, all threads)."""
    total = 0.0
    for member in _process_tree(pid):
        try:
            fields = _stat_fields(member)
        except OSError:  # exited meanwhile
            continue
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


def page_faults(pid: int) -> int:
    """Minor page faults so far: each costs ~3 us of kernel time on this machine, so
    memory churn (freeing and re-touching big buffers) shows up here before anywhere else."""
    return int(_stat_fields(pid)[7])


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_for_file(path: Path, process: subprocess.Popen[bytes], timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("server exited early")
        try:
            payload = json.loads(path.read_text())
            if payload:
                return payload
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"no {path}")


@dataclass
class Result:
    name: str
    transport: str
    spans: int
    seconds: float
    ack_seconds: float
    cpu: float
    rss_mib: float
    retries: int
    faults: int
    client_cpu: float
    #: CPU seconds stolen by the hypervisor during the run (host_steal_seconds)
    steal: float
    #: (seconds since the first request, rows in the table, server CPU seconds since then)
    timeline: tuple[tuple[float, int, float], ...] = ()

    @property
    def rate(self) -> float:
        return self.spans / self.seconds


def bench_bare(transport: str, clients: int, spans: int, workdir: Path) -> Result:
    port_file = workdir / "bare-ports.json"
    port_file.unlink(missing_ok=True)
    process = subprocess.Popen([sys.executable, __file__, "--bare-server", str(port_file)])
    try:
        ports = wait_for_file(port_file, process)
        cpu0, faults0, steal0 = cpu_seconds(process.pid), page_faults(process.pid), host_steal_seconds()
        elapsed, retries, client_cpu = send_all(transport, ports[transport], clients)
        return Result("bare", transport, spans, elapsed, elapsed, cpu_seconds(process.pid) - cpu0, peak_rss_mib(process.pid), retries,
                      page_faults(process.pid) - faults0, client_cpu, host_steal_seconds() - steal0)
    finally:
        process.terminate()
        process.wait(30)


#: a flush that has not caught up by then is stuck: fail with the server's stacks, not hang
FLUSH_TIMEOUT_SECONDS = 180.0


def wait_until_flushed(table_rows: Callable[[], int], spans: int, pid: int, deadline: float,
                       timeline: list[tuple[float, int, float]] | None = None) -> None:
    """Poll the table until it holds ``spans`` rows; past ``deadline``, dump the server's
    threads (py-spy, when installed) and raise. ``timeline`` collects (monotonic time, rows
    in the table, server CPU seconds) at each change: how the backlog drains."""
    while (rows := table_rows()) < spans:
        if timeline is not None and (not timeline or timeline[-1][1] != rows):
            timeline.append((time.monotonic(), rows, cpu_seconds(pid)))
        if time.monotonic() > deadline:
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            dump = subprocess.run([py_spy, "dump", "--native", "--pid", str(pid)], capture_output=True, text=True, timeout=60)
            print(dump.stdout or dump.stderr, file=sys.stderr)
            held = table_rows()
            raise TimeoutError(f"the table holds {held} of {spans} spans after {FLUSH_TIMEOUT_SECONDS:g} s")
        time.sleep(0.05)


def bench_tracelens(transport: str, clients: int, spans: int, workdir: Path, flush_interval: float, profile: Path | None = None, extra: tuple[str, ...] = ()) -> Result:
    import polars as pl

    import tracelens
    from tracelens.store.store import TABLE_DIR
    from tracelens.store.table import SpanTable

    data = workdir / f"data-{transport}"
    command = [sys.executable, "-c", "from tracelens.cli.main import main; main()", "serve", "--data", str(data),
               "--grpc-port", "0", "--http-port", "0", "--log-level", "warning", "--flush-interval", str(flush_interval), *extra]
    process = subprocess.Popen(command)
    try:
        status = wait_for_file(data / "receiver-status.json", process)
        port = int(status["endpoints"][transport].rsplit(":", 1)[1])
        profiler = None
        if profile is not None:  # py-spy (pip install py-spy): collapsed stacks for flamegraph tools
            output = profile / f"ingest-{transport}.folded"
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))  # the venv's, when not on PATH
            profiler = subprocess.Popen([py_spy, "record", "--pid", str(process.pid), "--format", "raw", "--rate", "250",
                                         "--threads", "--gil", "--output", str(output)], stdout=subprocess.DEVNULL)
            time.sleep(1.0)
        cpu0, faults0, steal0 = cpu_seconds(process.pid), page_faults(process.pid), host_steal_seconds()
        started = time.perf_counter()
        ack_seconds, retries, client_cpu = send_all(transport, port, clients)
        ack_cpu = cpu_seconds(process.pid) - cpu0
        # the Delta log's row count, not store.stats(): a read-only store's stats read the
        # whole unflushed WAL (hundreds of MB here) at every poll, a core taken from the server
        table = SpanTable(data / TABLE_DIR)
        timeline: list[tuple[float, int, float]] = []
        wait_until_flushed(lambda: int(table.stats()["table_rows"]), spans, process.pid,
                           deadline=time.monotonic() + FLUSH_TIMEOUT_SECONDS, timeline=timeline)
        elapsed = time.perf_counter() - started
        cpu, steal = cpu_seconds(process.pid) - cpu0, host_steal_seconds() - steal0
        origin = time.monotonic() - (time.perf_counter() - started)
        drained = [(ack_seconds, -1, ack_cpu), *((t - origin, rows, c - cpu0) for t, rows, c in timeline), (elapsed, spans, cpu)]
        faults = page_faults(process.pid) - faults0
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(60)
        queryable = tracelens.open(data).spans().select(pl.len()).collect().item()
        if queryable != spans:
            raise RuntimeError(f"store holds {queryable} spans, expected {spans}")
        return Result("tracelens", transport, spans, elapsed, ack_seconds, cpu, peak_rss_mib(process.pid), retries, faults, client_cpu,
                      steal, tuple(drained))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def stage_breakdown(requests: list[bytes], workdir: Path) -> list[tuple[str, float]]:
    """CPU seconds per span of each server stage, measured one after the other in this
    process (``time.process_time``: all threads): where the end-to-end CPU goes."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from tracelens.config import StoreConfig
    from tracelens.ingest import decode_otlp_protobuf, decode_otlp_protobuf_batch, validate_otlp_protobuf, warm_up
    from tracelens.store import Store

    warm_up()
    spans = 0
    stages: list[tuple[str, float]] = []

    def timed(label: str, work: object) -> object:
        started = time.process_time()
        result = work()  # type: ignore[operator]
        stages.append((label, time.process_time() - started))
        return result

    timed("upb parse (the ceiling's work)", lambda: [ExportTraceServiceRequest.FromString(r) for r in requests])
    timed("validate (receiver, before the ack)", lambda: [validate_otlp_protobuf(r) for r in requests])
    batched = timed("batched decode (pre-decoder)", lambda: decode_otlp_protobuf_batch(requests))
    frames = timed("decode per request (for reference)", lambda: [decode_otlp_protobuf(r).spans for r in requests])
    spans = sum(f.height for f in frames)  # type: ignore[union-attr]
    path = workdir / "stages"
    store = Store.open(path, StoreConfig(path=path, flush_interval_seconds=3600))
    # a first flush creates the table and loads pyarrow: once per server, not per span
    store.append_otlp(requests[0], frames[0])  # type: ignore[index]
    store.flush()
    # the receiver's protobuf path: the WAL keeps the request bytes and the accepted count
    # (append(frame) would Arrow-IPC-encode the frame; JSON requests and imports do that)
    timed("WAL append raw request, fsync",
          lambda: [store.append_otlp(r, f.height) for r, f in zip(requests, frames, strict=True)])  # type: ignore[attr-defined]
    # what the flusher and its pre-decoder thread do between them: decode in batches, write
    timed("flush: batched decode + table write", store.flush)
    store.close()
    # the flush's Parquet file alone, against the writer it replaced in the same run
    from tracelens.store.table import DAY, FLUSH_ROW_GROUP_ROWS, to_table_frame, write_flush_file

    batch = batched  # chunked as the pre-decoder hands frames to the flusher
    timed("  of which the Parquet file", lambda: write_flush_file(batch, workdir / "file.parquet", FLUSH_ROW_GROUP_ROWS))
    timed("  baseline: sort + polars writer", lambda: to_table_frame(batch).drop(DAY).write_parquet(
        workdir / "baseline.parquet", compression="lz4", row_group_size=FLUSH_ROW_GROUP_ROWS, statistics=True))
    return [(label, seconds / spans) for label, seconds in stages]


def make_requests(n: int, spans_per_request: int) -> list[bytes]:
    from benchmarks.workload import realistic_requests

    workers = min(4, os.cpu_count() or 1)
    chunks = [(max(1, n // workers) + (1 if i < n % workers else 0), spans_per_request, 1000 + i) for i in range(workers)]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        parts = pool.starmap(realistic_requests, chunks)
    return [request for part in parts for request in part][:n]


def print_timeline(timeline: tuple[tuple[float, int, float], ...]) -> None:
    """After the last acknowledgement: when the table grew, and the server's CPU use
    (in cores) since the previous line; under 2 cores on an idle machine means a core idles."""
    acked, _, acked_cpu = timeline[0]
    print(f"  all acknowledged at {acked:.2f}s (server: {acked_cpu / max(acked, 1e-9):.2f} cores); then")
    print("      seconds    table rows   server cores since the line before")
    for (t0, _, c0), (t1, rows, c1) in itertools.pairwise(timeline):
        print(f"      {t1:7.2f}  {rows:>12,}   {(c1 - c0) / max(t1 - t0, 1e-9):.2f}")


def server_budget_us(rate: float, client_cpu_per_span: float, cores: int) -> float:
    """The server CPU per span (us) that sustaining ``rate`` spans/s leaves on ``cores``
    cores beside clients taking ``client_cpu_per_span`` seconds per span, if no core ever
    idles: an upper bound on what the server may spend."""
    return (cores / rate - client_cpu_per_span) * 1e6


def print_summary(shares: dict[str, list[tuple[float, ...]]]) -> None:
    """Median and range over the runs: the ceiling moves ~1.5x between runs here."""
    print("\nover all runs: median (min-max)")
    for transport, runs in shares.items():
        columns = list(zip(*runs, strict=True))
        share, rate, cpu, budget, steal = (sorted(column) for column in columns)
        print(f"  {transport:5s} end-to-end share {statistics.median(share):.0%} ({share[0]:.0%}-{share[-1]:.0%}),  "
              f"{statistics.median(rate):,.0f} spans/s ({rate[0]:,.0f}-{rate[-1]:,.0f}),  "
              f"server CPU {statistics.median(cpu):.1f} us/span ({cpu[0]:.1f}-{cpu[-1]:.1f}); "
              f"50 % of the ceiling allows {statistics.median(budget):.1f} ({budget[0]:.1f}-{budget[-1]:.1f}); "
              f"host steal {statistics.median(steal):.2f} cores ({steal[0]:.2f}-{steal[-1]:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=240)
    parser.add_argument("--spans-per-request", type=int, default=512)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--transports", default="grpc,http")
    parser.add_argument("--flush-interval", type=float, default=0.5)
    parser.add_argument("--serve-option", action="append", default=[], help="extra `tracelens serve` option (repeatable), e.g. --serve-option=--grpc-workers=8")
    parser.add_argument("--repeat", type=int, default=1, help="runs per transport (bare, then tracelens, each run); prints medians")
    parser.add_argument("--timeline", action="store_true", help="print how the table filled after the last acknowledgement")
    parser.add_argument("--profile", type=Path, help="write py-spy profiles of the tracelens server here")
    parser.add_argument("--no-stages", action="store_true", help="skip the per-stage CPU breakdown (quicker A/B runs)")
    parser.add_argument("--bare-server", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        run_bare_server(args.bare_server)
        return

    REQUESTS.extend(make_requests(args.requests, args.spans_per_request))
    spans = len(REQUESTS) * args.spans_per_request
    megabytes = sum(map(len, REQUESTS)) / 1e6
    print(f"{len(REQUESTS)} requests x {args.spans_per_request} spans = {spans} spans, {megabytes:.0f} MB protobuf; "
          f"{args.clients} client processes; {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    shares: dict[str, list[tuple[float, ...]]] = {}  # transport -> (share, spans/s, server us/span, budget us/span, steal cores)
    with tempfile.TemporaryDirectory(prefix="tracelens-ingest-bench-") as tmp:
        if not args.no_stages:
            print("\nserver stages, CPU per span (one thread, one after the other):")
            # 128 requests = 64k spans = one flush batch of a loaded server (64 MB of frames)
            for label, seconds in stage_breakdown(REQUESTS[:128], Path(tmp)):
                print(f"  {label:36s} {seconds * 1e6:7.2f} us/span  = {1 / seconds:>10,.0f} spans per CPU-second")
        for run, transport in itertools.product(range(args.repeat), args.transports.split(",")):
            workdir = Path(tmp) / f"run-{run}"
            workdir.mkdir(exist_ok=True)
            bare = bench_bare(transport, args.clients, spans, workdir)
            ours = bench_tracelens(transport, args.clients, spans, workdir, args.flush_interval, args.profile, tuple(args.serve_option))
            budget = server_budget_us(bare.rate / 2, ours.client_cpu / spans, os.cpu_count() or 1)
            shares.setdefault(transport, []).append((ours.rate / bare.rate, ours.rate, ours.cpu / spans * 1e6, budget, ours.steal / ours.seconds))
            print(f"\n{transport}:" if args.repeat == 1 else f"\n{transport} (run {run + 1} of {args.repeat}):")
            for result in (bare, ours):
                extra = f" (acknowledged+durable after {result.ack_seconds:.2f}s)" if result.name == "tracelens" else ""
                print(f"  {result.name:9s} {result.rate:>10,.0f} spans/s  {result.seconds:6.2f}s{extra}  "
                      f"server CPU {result.cpu:5.1f}s ({result.spans / max(result.cpu, 1e-9):,.0f} spans per CPU-second)  "
                      f"peak RSS {result.rss_mib:,.0f} MiB  page faults {result.faults:,}  retries {result.retries}  "
                      f"clients' CPU {result.client_cpu / spans * 1e6:.1f} us/span  host steal {result.steal / result.seconds:.2f} cores")
            print(f"  tracelens end-to-end = {ours.rate / bare.rate:.0%} of the bare ceiling "
                  f"(acknowledged only: {spans / ours.ack_seconds / bare.rate:.0%}); 50 % of the ceiling would leave "
                  f"the server at most {budget:.1f} us of CPU per span beside these clients")
            if args.timeline:
                print_timeline(ours.timeline)
        if args.repeat > 1:
            print_summary(shares)


if __name__ == "__main__":
    main()
