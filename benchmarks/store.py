"""Span store benchmark: WAL appends/s (group commit vs fsync-per-append), flush spans/s,
trace-by-id lookup on a 10 M-span store (load time, on-disk size, median lookup), and
lookup in today's data: a store of flush files as the receiver leaves them until compaction.

    .venv/bin/python benchmarks/store.py                 # full run (10 M spans, a few minutes)
    .venv/bin/python benchmarks/store.py --spans 1000000 # quicker
    .venv/bin/python benchmarks/store.py --skip-lookup --flushed-spans 10000000  # flush files only

Each figure is printed next to a straightforward baseline measured in the same run:
fsync per append (no group commit) for the WAL, a plain ``write_parquet`` for the flush,
and a scan of the whole Delta table (``pl.scan_delta(...).filter(trace_id == x)``) for
the lookup.
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from tracelens import schema as s
from tracelens.config import StoreConfig
from tracelens.store import Store
from tracelens.store.store import encode_frame
from tracelens.store.table import SpanTable, to_table_frame

SERVICES = [f"service-{i}" for i in range(20)]
NAMES = ["GET /", "POST /checkout", "SELECT", "INSERT", "publish", "consume", "render", "auth"]
ROUTES = ["/", "/checkout", "/cart", "/api/items/{id}", "/login"]


def _hex(rng: np.random.Generator, n: int, width_bytes: int) -> pl.Series:
    import pyarrow as pa

    raw = rng.integers(0, 256, size=n * width_bytes, dtype=np.uint8).tobytes()
    fixed = pa.FixedSizeBinaryArray.from_buffers(pa.binary(width_bytes), n, [None, pa.py_buffer(raw)])
    return pl.Series(fixed).cast(pl.Binary).bin.encode("hex")


def synthetic_spans(n_spans: int, *, spans_per_trace: int = 10, days: int = 5, seed: int = 0,
                    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> pl.DataFrame:
    """A realistic contract frame built column by column (no per-span Python objects):
    traces of ``spans_per_trace`` spans (a root and its children), 6 typed attributes per
    span, a resource with service.name, an exception event on 10 % of spans."""
    rng = np.random.default_rng(seed)
    n_traces = n_spans // spans_per_trace
    n = n_traces * spans_per_trace
    trace_ids = _hex(rng, n_traces, 16)
    span_ids = _hex(rng, n, 8)
    position = np.tile(np.arange(spans_per_trace), n_traces)
    trace_start = (start.timestamp() * 1e9 + rng.integers(0, days * 86_400 * 10**9, n_traces)).astype(np.int64)
    offsets = np.where(position == 0, 0, rng.integers(1_000, 50_000_000, n))
    durations = np.where(position == 0, 100_000_000, rng.integers(10_000, 40_000_000, n))
    starts = np.repeat(trace_start, spans_per_trace) + offsets
    status = np.where(rng.random(n) < 0.02, 2, 0)
    kinds = np.where(position == 0, 2, 3)
    service = pl.Series(SERVICES).gather(rng.integers(0, len(SERVICES), n))
    name = pl.Series(NAMES).gather(rng.integers(0, len(NAMES), n))
    route = pl.Series(ROUTES).gather(rng.integers(0, len(ROUTES), n))

    frame = pl.DataFrame(
        {
            s.TRACE_ID: trace_ids.gather(np.repeat(np.arange(n_traces), spans_per_trace)),
            s.SPAN_ID: span_ids,
            "_root_idx": np.repeat(np.arange(n_traces) * spans_per_trace, spans_per_trace),
            "_pos": position,
            s.NAME: name,
            "_kind": kinds,
            s.SERVICE_NAME: service,
            "_start": starts,
            "_dur": durations,
            "_status": status,
            s.HTTP_ROUTE: route,
            "_code": np.where(status == 2, 500, 200),
            "_user": rng.integers(0, 100_000, n),
        }
    )
    frame = frame.with_columns(
        pl.when(pl.col("_pos") == 0).then(None).otherwise(pl.col(s.SPAN_ID).gather(pl.col("_root_idx"))).alias(s.PARENT_SPAN_ID),
        pl.col("_start").cast(s.TIME_DTYPE).alias(s.START),
        (pl.col("_start") + pl.col("_dur")).cast(s.TIME_DTYPE).alias(s.END),
        pl.col("_kind").replace_strict(list(range(6)), list(s.SPAN_KINDS), return_dtype=s.KindEnum).alias(s.KIND),
        pl.col("_status").replace_strict([0, 2], ["unset", "error"], return_dtype=s.StatusEnum).alias(s.STATUS_CODE),
        pl.when(pl.col("_status") == 2).then(pl.lit("boom")).otherwise(pl.lit("")).alias(s.STATUS_MESSAGE),
        pl.col("_code").alias(s.HTTP_RESPONSE_STATUS_CODE),
        pl.lit("GET").alias(s.HTTP_REQUEST_METHOD),
        pl.lit("1.4.2").alias(s.SERVICE_VERSION),
        pl.lit("prod").alias(s.DEPLOYMENT_ENVIRONMENT),
        pl.lit(1).alias(s.FLAGS),
        pl.lit("bench").alias(s.SCOPE_NAME),
        pl.lit([], dtype=pl.List(s.LINK_DTYPE)).alias(s.LINKS),
    )
    null_str = pl.repeat(None, n, dtype=pl.String, eager=True)
    null_int = pl.repeat(None, n, dtype=pl.Int64, eager=True)
    attributes = _attribute_lists(
        n,
        [
            ("http.route", "string", frame[s.HTTP_ROUTE], null_int),
            ("http.request.method", "string", pl.repeat("GET", n, eager=True), null_int),
            ("http.response.status_code", "int", null_str, frame["_code"]),
            ("user.id", "int", null_str, frame["_user"]),
            ("net.transport", "string", pl.repeat("ip_tcp", n, eager=True), null_int),
            ("thread.name", "string", pl.repeat("worker-3", n, eager=True), null_int),
        ],
    )
    resource = _attribute_lists(
        n,
        [
            ("service.name", "string", frame[s.SERVICE_NAME], null_int),
            ("service.version", "string", pl.repeat("1.4.2", n, eager=True), null_int),
            ("deployment.environment.name", "string", pl.repeat("prod", n, eager=True), null_int),
        ],
    )
    frame = frame.with_columns(attributes.alias(s.ATTRIBUTES), resource.alias(s.RESOURCE_ATTRIBUTES), _events(frame))
    return s.conform(frame).collect()


def _attribute_lists(n: int, specs: list[tuple[str, str, pl.Series, pl.Series]]) -> pl.Series:
    """List(typed attribute) per span from k value columns: build the n*k structs in
    span-major order, then view them as fixed-size arrays (free) and cast to lists.
    (``pl.concat_list`` of struct expressions is ~100x slower here.)"""
    k = len(specs)
    order = (np.arange(n)[:, None] + np.arange(k)[None, :] * n).ravel()  # span-major

    def stacked(values: list[pl.Series]) -> pl.Series:
        return pl.concat(values, rechunk=True).gather(order)

    long = pl.DataFrame(
        {
            "key": stacked([pl.repeat(key, n, dtype=pl.String, eager=True) for key, _, _, _ in specs]),
            "type": stacked([pl.repeat(kind, n, dtype=pl.String, eager=True) for _, kind, _, _ in specs]).cast(s.AttributeTypeEnum),
            "str": stacked([v.cast(pl.String) for _, _, v, _ in specs]),
            "int": stacked([v.cast(pl.Int64) for _, _, _, v in specs]),
            "float": pl.repeat(None, n * k, dtype=pl.Float64, eager=True),
            "bool": pl.repeat(None, n * k, dtype=pl.Boolean, eager=True),
        }
    ).select(pl.struct(pl.all()).alias("a"))["a"]
    return long.reshape((n, k)).cast(s.ATTRIBUTES_DTYPE)


def _events(frame: pl.DataFrame) -> pl.Series:
    """An exception event on every span whose user id ends in 0 (~10 %), built from offsets."""
    import pyarrow as pa

    has = (frame["_user"] % 10 == 0).to_numpy()
    chosen = frame.filter(pl.Series(has))
    m = chosen.height
    no_int = pl.repeat(None, m, dtype=pl.Int64, eager=True)
    attrs = _attribute_lists(m, [("exception.type", "string", pl.repeat("TimeoutError", m, eager=True), no_int)])
    values = pl.DataFrame(
        {"time": (chosen["_start"] + 1000).cast(s.TIME_DTYPE), "name": pl.repeat("exception", m, eager=True), "attributes": attrs}
    ).select(pl.struct(pl.all()).alias("e"))["e"]
    offsets = np.concatenate([[0], np.cumsum(has)]).astype(np.int32)
    events = pl.Series(s.EVENTS, pa.ListArray.from_arrays(pa.array(offsets), values.to_arrow()))
    return events.cast(pl.List(s.EVENT_DTYPE))


def bench_encode(frame: pl.DataFrame) -> None:
    """Arrow IPC encode cost of one request (best of 15 rounds: robust on a busy machine)."""
    for compression in ("uncompressed", "lz4"):
        best, size = float("inf"), 0
        for _ in range(15):
            t0 = time.perf_counter()
            for _ in range(10):
                buffer = io.BytesIO()
                frame.write_ipc(buffer, compression=compression)  # type: ignore[arg-type]
                size = len(buffer.getvalue())
            best = min(best, (time.perf_counter() - t0) / 10)
        print(f"  IPC encode {compression:>12}: {frame.height / best:>10,.0f} spans/s, {size / frame.height:,.0f} B/span")


def cpu_seconds() -> float:
    """CPU time of this process, all threads: a figure that holds on a busy shared machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_appends(requests: list[pl.DataFrame], threads: int, seconds: float, *, flusher: bool = True) -> None:
    """Store.append of distinct requests from ``threads`` threads: spans made durable
    (fsync'd WAL) and flushed into the table (close() waits for the last flush). With the
    flusher off, the appends alone: what compares with the fsync-per-append baseline (the
    flusher's Parquet encode competes with the appends for the same cores). Requests are
    distinct so that the flush's dedup does not shrink the work."""
    directory = Path(tempfile.mkdtemp(prefix="tl-bench-wal-"))
    try:
        config = StoreConfig(path=directory, flush_interval_seconds=0.5)
        store = Store.open(directory, config)
        if flusher:
            store.start_flusher()
        stop = time.monotonic() + seconds
        counts = [0] * threads
        cursor = iter(range(len(requests)))
        lock = threading.Lock()

        def worker(i: int) -> None:
            while time.monotonic() < stop:
                with lock:
                    index = next(cursor, None)
                if index is None:
                    return
                store.append(requests[index])
                counts[i] += 1

        t0, c0 = time.perf_counter(), cpu_seconds()
        pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        appended = time.perf_counter() - t0
        stats = store.stats()
        store.close()
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        appends = sum(counts)
        spans = appends * requests[0].height
        print(
            f"  Store.append, {threads:>2} thread(s), flusher {'on: ' if flusher else 'off:'} {appends / appended:>5,.0f} appends/s = {spans / appended:>8,.0f} spans/s "
            f"durable ({stats['wal_commits']} fsyncs for {appends} appends); durable+flushed {spans / elapsed:>8,.0f} spans/s, "
            f"{cpu / spans * 1e5:.2f} CPU-s per 100k spans"
        )
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def bench_fsync_per_append_baseline(frame: pl.DataFrame, threads: int, seconds: float) -> None:
    """Baseline: each append writes and fsyncs on its own (a lock around write+fsync)."""
    directory = Path(tempfile.mkdtemp(prefix="tl-bench-naive-"))
    lock = threading.Lock()
    fd = os.open(directory / "naive.wal", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        stop = time.monotonic() + seconds
        counts = [0] * threads

        def worker(i: int) -> None:
            while time.monotonic() < stop:
                payload = encode_frame(frame)
                with lock:
                    os.write(fd, payload)
                    os.fdatasync(fd)
                counts[i] += 1

        t0 = time.perf_counter()
        pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
        elapsed = time.perf_counter() - t0
        appends = sum(counts)
        print(f"  baseline fsync-per-append, {threads:>2} thread(s): {appends / elapsed:>8,.0f} appends/s = "
              f"{appends * frame.height / elapsed:>10,.0f} spans/s")
    finally:
        os.close(fd)
        shutil.rmtree(directory, ignore_errors=True)


def bench_flush(frames: list[pl.DataFrame]) -> None:
    """One flush of many WAL records (wall and CPU time) vs a plain polars write_parquet."""
    directory = Path(tempfile.mkdtemp(prefix="tl-bench-flush-"))
    try:
        config = StoreConfig(path=directory, flush_batch_bytes=1 << 40)
        with Store.open(directory, config) as store:
            for frame in frames:
                store.append(frame)
            spans = sum(f.height for f in frames)
            t0, c0 = time.perf_counter(), cpu_seconds()
            store.flush()
            elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
            print(f"  Store.flush of {spans:,} spans ({len(frames)} WAL records, one commit): "
                  f"{spans / elapsed:>9,.0f} spans/s wall, {spans / cpu:>9,.0f} spans per CPU-second")
        whole = pl.concat(frames)
        t0, c0 = time.perf_counter(), cpu_seconds()
        whole.write_parquet(directory / "baseline.parquet")
        elapsed, cpu = time.perf_counter() - t0, cpu_seconds() - c0
        print(f"  baseline polars write_parquet of the same spans:          "
              f"{spans / elapsed:>9,.0f} spans/s wall, {spans / cpu:>9,.0f} spans per CPU-second")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def disk_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def bench_lookup(n_spans: int, batch: int, keep: Path | None) -> None:
    directory = keep or Path(tempfile.mkdtemp(prefix="tl-bench-10m-"))
    try:
        table = SpanTable(directory / "table")
        sample: list[str] = []
        t0 = time.perf_counter()
        gen_seconds = 0.0
        for i, offset in enumerate(range(0, n_spans, batch)):
            g0 = time.perf_counter()
            frame = synthetic_spans(min(batch, n_spans - offset), seed=1000 + i)
            gen_seconds += time.perf_counter() - g0
            sample.extend(frame[s.TRACE_ID].gather(np.linspace(0, frame.height - 1, 20).astype(int)).to_list())
            table.write_rows(to_table_frame(frame))
        load = time.perf_counter() - t0 - gen_seconds
        print(f"  loaded {n_spans:,} spans in {load:.1f} s ({n_spans / load:,.0f} spans/s; generation {gen_seconds:.1f} s not counted)")
        print(f"  on disk before compaction: {disk_bytes(directory) / 1e6:,.0f} MB, {table.stats()['table_files']} files")
        store = Store.open(directory, read_only=True)
        lookup_median(store, sample, "before compaction, ")
        t0 = time.perf_counter()
        writer = Store.open(directory)
        report = writer.compact()
        writer.close()
        print(f"  compact (z-order by trace_id) {report['zordered_days']}: {time.perf_counter() - t0:.1f} s")
        with Store.open(directory) as writer:  # vacuum what compaction replaced, to size the table
            writer._table.refresh().vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
        print(f"  on disk after compaction: {disk_bytes(directory) / 1e6:,.0f} MB, {table.stats()['table_files']} files")
        store = Store.open(directory, read_only=True)
        lookup_median(store, sample, "after compaction, ")
        lookup_baseline(directory, sample[:5])
    finally:
        if keep is None:
            shutil.rmtree(directory, ignore_errors=True)


def bench_flush_file_lookup(n_spans: int) -> None:
    """Trace lookup in today's data: spans appended in 500-span requests and flushed by the
    store's own path (arrival-order flush files, as a running receiver leaves them until
    the day is compacted), where the bulk load above writes files sorted by trace_id."""
    directory = Path(tempfile.mkdtemp(prefix="tl-bench-flushed-"))
    try:
        sample: list[str] = []
        t0 = time.perf_counter()
        with Store.open(directory, StoreConfig(path=directory, flush_interval_seconds=3600)) as store:
            for i, offset in enumerate(range(0, n_spans, 1_000_000)):
                frame = synthetic_spans(min(1_000_000, n_spans - offset), days=1, seed=2000 + i)
                sample.extend(frame[s.TRACE_ID].gather(np.linspace(0, frame.height - 1, 60).astype(int)).to_list())
                for start in range(0, frame.height, 500):
                    store.append(frame.slice(start, 500))
                store.flush()
            files = store.stats()["table_files"]
        print(f"  appended and flushed {n_spans:,} spans in {time.perf_counter() - t0:.1f} s: {files} flush files")
        lookup_median(Store.open(directory, read_only=True), sample, "in flush files, ")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def lookup_median(store: Store, sample: list[str], label: str, spans_per_trace: int | None = 10) -> None:
    """Median wall and CPU time of store.trace(). The first lookup of a process is a plain
    statistics-pruned scan ('cold'); the next ones build the in-memory footer index of
    each file they touch ('first pass', until every file has been touched once); a long-
    lived process then runs on the built index ('warm pass', other trace ids)."""
    rng = np.random.default_rng(7)
    ids = list(rng.choice(sample, size=min(120, len(sample)), replace=False))
    t0 = time.perf_counter()
    store.trace(ids[0])
    cold = time.perf_counter() - t0
    half = (len(ids) + 1) // 2
    for name, chosen in (("first pass", ids[1:half]), ("warm pass", ids[half:])):
        walls, cpus = [], []
        for trace_id in chosen:
            t0, c0 = time.perf_counter(), cpu_seconds()
            frame = store.trace(trace_id)
            walls.append(time.perf_counter() - t0)
            cpus.append(cpu_seconds() - c0)
            assert frame.height == (spans_per_trace or frame.height) > 0, frame.height
        print(f"  store.trace() {label}{name}: median {statistics.median(walls) * 1000:.1f} ms wall "
              f"({statistics.median(cpus) * 1000:.1f} ms CPU), p90 {sorted(walls)[int(len(walls) * 0.9)] * 1000:.1f} ms "
              f"over {len(walls)} lookups; load average {os.getloadavg()[0]:.1f}")
    print(f"  cold first lookup of the process: {cold * 1000:.0f} ms")


def sample_trace_ids(directory: Path, n: int = 200) -> list[str]:
    table = SpanTable(directory / "table")
    paths = [str(directory / "table" / p) for p in table.add_actions()["path"].to_list()]
    ids = pl.scan_parquet(paths).select(s.TRACE_ID).collect()[s.TRACE_ID]
    return ids.gather(np.linspace(0, ids.len() - 1, n).astype(int)).to_list()


def lookup_baseline(directory: Path, ids: list[str]) -> None:
    times = []
    for trace_id in ids:
        t0 = time.perf_counter()
        pl.scan_delta(str(directory / "table")).filter(pl.col(s.TRACE_ID) == trace_id).collect()
        times.append(time.perf_counter() - t0)
    print(f"  baseline pl.scan_delta(...).filter(trace_id == x): median {statistics.median(times) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=10_000_000, help="size of the lookup store")
    parser.add_argument("--batch", type=int, default=1_000_000, help="spans per bulk write")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each append run")
    parser.add_argument("--keep", type=Path, default=None, help="build the lookup store here and keep it")
    parser.add_argument("--skip-lookup", action="store_true")
    parser.add_argument("--flushed-spans", type=int, default=2_000_000,
                        help="size of the store for the lookup in (uncompacted) flush files; 0 skips it")
    parser.add_argument("--lookup-only", type=Path, default=None, metavar="DIR",
                        help="only time lookups on a store kept by an earlier --keep run")
    args = parser.parse_args()
    print(f"tracelens store benchmark on {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}")
    if args.lookup_only is not None:
        store = Store.open(args.lookup_only, read_only=True)
        stats = store.stats()
        print(f"trace lookup on {args.lookup_only}: {stats['table_rows']:,} spans, {stats['table_files']} files, "
              f"{disk_bytes(args.lookup_only) / 1e6:,.0f} MB")
        sample = sample_trace_ids(args.lookup_only)
        lookup_median(store, sample, "", spans_per_trace=None)
        lookup_baseline(args.lookup_only, sample[:5])
        return
    live = synthetic_spans(1_000_000, days=1, seed=1)  # today's traffic: one day partition
    requests = [live.slice(offset, 500) for offset in range(0, live.height, 500)]
    request = requests[0]
    print(f"request frame: {request.height} spans, {len(encode_frame(request)):,} bytes as Arrow IPC")
    bench_encode(request)
    print("WAL appends (fsync on):")
    for threads in (1, 8):
        bench_appends(requests, threads, args.seconds, flusher=False)
        bench_appends(requests, threads, args.seconds)
        bench_fsync_per_append_baseline(request, threads, args.seconds)
    print("flush WAL -> Delta table:")
    bench_flush(requests[:600])
    if not args.skip_lookup:
        print(f"trace lookup on a {args.spans:,}-span store:")
        bench_lookup(args.spans, args.batch, args.keep)
    if args.flushed_spans:
        print(f"trace lookup on a {args.flushed_spans:,}-span store of flush files (today's data, not compacted):")
        bench_flush_file_lookup(args.flushed_spans)


if __name__ == "__main__":
    main()
