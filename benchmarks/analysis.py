"""Benchmark: critical path + self time + per-service latency share of every trace.

    .venv/bin/python benchmarks/analysis.py [--traces 100000] [--reference-traces 10000]

Generates traces of realistic shapes (2 to 200 spans; a server span per service hop,
client calls in sequence and in parallel, database leaves, some async consumers), then
times on one core, in the same run:

* bulk: tracelens.analysis.columnar.analyze + the per-(trace, service) share table;
* reference: the straightforward per-trace Python (TraceTree + critical_path_of_tree +
  self_time_of_tree + a dict per service), on a sample of the traces, as spans/s.

Prints spans/s for both, the ratio, and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one core, as the target says
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from tracelens import schema as s  # noqa: E402
from tracelens.analysis.columnar import analyze, share_by_trace  # noqa: E402
from tracelens.analysis.critical_path import critical_path_of_tree  # noqa: E402
from tracelens.analysis.self_time import self_time_of_tree  # noqa: E402
from tracelens.model.tree import trees  # noqa: E402

SERVICES = [f"service-{i:02d}" for i in range(40)]
EPOCH_NS = 1_767_225_600_000_000_000


def trace_sizes(rng: np.random.Generator, n_traces: int, mean: float = 10.0) -> np.ndarray:
    """2..200 spans, heavy-tailed (most traces small, a few large), mean about ``mean``."""
    sizes = np.clip(np.round(rng.lognormal(np.log(mean) - 0.6, 1.1, n_traces)), 2, 200).astype(np.int64)
    return sizes


def generate(n_traces: int, seed: int = 1) -> pl.DataFrame:
    """Span frame (the columns the analysis reads) with realistic trace shapes."""
    rng = np.random.default_rng(seed)
    sizes = trace_sizes(rng, n_traces)
    n = int(sizes.sum())
    trace_col = np.empty(n, dtype=object)
    span_col = np.empty(n, dtype=object)
    parent_col = np.empty(n, dtype=object)
    kind = np.empty(n, np.int8)
    service = np.empty(n, np.int64)
    start = np.empty(n, np.int64)
    end = np.empty(n, np.int64)
    i = 0
    for t, size in enumerate(sizes):
        # high half uniform over all 64 bits (W3C ids are random): trace-id range batches
        # (latency_share(batches=N)) then get equal shares, as on real data
        trace_id = f"{int(rng.integers(1, 2**64, dtype=np.uint64)):016x}{t:016x}"
        base = EPOCH_NS + int(t) * 1_000_000
        first = i
        # root: a server span of 5..500 ms
        trace_col[i], span_col[i], parent_col[i] = trace_id, f"{i + 1:016x}", None
        kind[i], service[i] = 2, rng.integers(0, 8)
        start[i], end[i] = base, base + int(rng.integers(5, 500)) * 1_000_000
        i += 1
        cursor = {first: start[first]}  # next free time inside each parent (sequential calls)
        for _ in range(size - 1):
            # parent: mostly a recent span (depth), sometimes the root (breadth)
            p = first if rng.random() < 0.3 else int(rng.integers(max(first, i - 4), i))
            ps, pe = start[p], end[p]
            room = max(pe - ps, 1)
            if rng.random() < 0.6:  # sequential call after the previous one
                cs = min(cursor.get(p, ps) + int(rng.integers(0, room // 20 + 1)), pe)
            else:  # parallel call
                cs = ps + int(rng.integers(0, room // 2 + 1))
            length = int(rng.integers(0, max((pe - cs) * 9 // 10, 1) + 1))
            if rng.random() < 0.03:
                length += int(rng.integers(0, room // 4 + 1))  # overflows its parent
            roll = rng.random()
            kind[i] = 3 if roll < 0.45 else (2 if roll < 0.85 else (4 if roll < 0.9 else (5 if roll < 0.95 else 1)))
            service[i] = service[p] if kind[i] in (3, 1) else rng.integers(0, len(SERVICES))
            trace_col[i], span_col[i], parent_col[i] = trace_id, f"{i + 1:016x}", span_col[p]
            start[i], end[i] = cs, cs + length
            cursor[p] = cs + length
            i += 1
    # arrival order: a span is exported when it ends, so rows come roughly by end time,
    # the spans of concurrent traces interleaved (what store.spans() returns)
    order = np.lexsort((rng.random(n), end + rng.integers(0, 2_000_000, n)))
    frame = pl.DataFrame({
        s.TRACE_ID: trace_col[order].tolist(),
        s.SPAN_ID: span_col[order].tolist(),
        s.PARENT_SPAN_ID: pl.Series(parent_col[order].tolist(), dtype=pl.String),
        s.NAME: [f"op-{k}" for k in (service[order] % 7)],
        s.KIND: pl.Series(kind[order]).cast(pl.UInt8).cast(pl.Int64).replace_strict(list(range(6)), list(s.SPAN_KINDS), return_dtype=s.KindEnum),
        s.SERVICE_NAME: pl.Series([SERVICES[k] for k in service[order]]),
        s.START: pl.Series(start[order]).cast(pl.Datetime("ns", "UTC")),
        s.END: pl.Series(end[order]).cast(pl.Datetime("ns", "UTC")),
    })
    return frame


def clock() -> float:
    # CPU time of this process: the machine may be shared, and the target is "one core"
    return time.process_time()


KERNEL_THREADS: list[int] = []  # threads the bulk kernels used, per run


def bulk(frame: pl.DataFrame) -> tuple[float, pl.DataFrame]:
    """Critical-path sections (as a frame), self time of every span, per-(trace, service)
    share table."""
    t0 = clock()
    analysis = analyze(frame)
    sections = analysis.sections
    self_times = analysis.self_time_ns
    share = share_by_trace(analysis, [s.SERVICE_NAME])
    elapsed = clock() - t0
    assert sections.height > 0 and self_times.shape[0] == frame.height and share.height > 0
    KERNEL_THREADS.append(analysis.threads)
    return elapsed, share


def reference(frame: pl.DataFrame) -> tuple[float, dict]:
    t0 = clock()
    result = {}
    for tree in trees(frame):
        critical = defaultdict(int)
        for section in critical_path_of_tree(tree):
            critical[section.span_id] += section.end - section.start
        per_service: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for node, own in self_time_of_tree(tree).items():
            row = per_service[tree.graph.nodes[node][s.SERVICE_NAME]]
            row[0] += critical[node]
            row[1] += own
        result[tree.trace_id] = dict(per_service)
    return clock() - t0, result


def build_store(path: str, frame: pl.DataFrame, copies: int) -> int:
    """A store holding ``copies`` copies of ``frame`` (trace ids re-prefixed per copy)."""
    from tracelens.store import Store

    total = 0
    with Store.open(path) as store:
        for c in range(copies):
            # new trace ids, still uniformly spread: the batches split by leading digits
            copy = frame.with_columns(
                (pl.col(s.TRACE_ID).str.slice(0, 16) + pl.lit(f"{c:02x}") + pl.col(s.TRACE_ID).str.slice(18)).alias(s.TRACE_ID)
            )
            store.append(s.conform(copy).collect())
            store.flush()
            total += copy.height
            print(f"  store: {total:,} spans", flush=True)
    return total


def peak_rss_mb() -> float:
    """This process's peak RSS since its exec (VmHWM). Not ru_maxrss: Linux carries that
    over fork and exec, so a child started by the generating process (~1.5 GB) reported
    the parent's peak instead of its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def analyze_store(path: str, batches: int) -> None:
    """Run in a fresh process: per-service latency share of every trace in the store,
    in trace-complete batches; prints spans/s and this process's peak RSS."""
    import tracelens
    from tracelens.analysis.latency_share import latency_share

    store = tracelens.open(path)
    latency_share(generate(20), by="service")  # load the compiled kernels before timing
    t0, c0 = time.perf_counter(), clock()
    table = latency_share(store.spans(), by="service", batches=batches)
    wall, cpu = time.perf_counter() - t0, clock() - c0
    spans = int(table["count"].sum())
    peak = peak_rss_mb()
    print(f"store     : {spans:,} spans in {batches} trace-complete batches: {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"({spans / cpu:,.0f} spans/s CPU, read included); peak RSS {peak:,.0f} MB")


def plain_python(frame: pl.DataFrame) -> tuple[float, dict]:
    """The straightforward per-trace Python baseline: rows as tuples, dicts per trace,
    the same walk and sweep (no networkx, no TraceTree). Assumes clean traces (one root,
    no duplicates), as generated here."""
    t0 = clock()
    cols = frame.select(s.TRACE_ID, s.SPAN_ID, s.PARENT_SPAN_ID, pl.col(s.KIND).cast(pl.String),
                        s.SERVICE_NAME, pl.col(s.START).dt.epoch("ns"), pl.col(s.END).dt.epoch("ns"))
    by_trace: dict[str, list[tuple]] = defaultdict(list)
    for row in cols.iter_rows():
        by_trace[row[0]].append(row)
    result = {}
    for trace_id, rows in by_trace.items():
        span = {r[1]: r for r in rows}
        children: dict[str, list[str]] = defaultdict(list)
        root = None
        for r in rows:
            if r[2] in span:
                children[r[2]].append(r[1])
            elif root is None or (r[5], -r[6], r[1]) < (span[root][5], -span[root][6], root):
                root = r[1]
        # place top down
        iv = {root: (span[root][5], max(span[root][6], span[root][5]))}
        stack = [root]
        while stack:
            node = stack.pop()
            for c in children[node]:
                if span[node][3] == "producer" and span[c][3] == "consumer":
                    continue
                cs, ce = span[c][5], max(span[c][6], span[c][5])
                ps, pe = iv[node]
                if ps <= cs and ce <= pe:
                    iv[c] = (cs, ce)
                elif cs >= pe or ce <= ps:
                    continue
                else:
                    iv[c] = (max(cs, ps), min(ce, pe))
                stack.append(c)
        ordered = {n: sorted((c for c in children[n] if c in iv), key=lambda c: (-iv[c][1], iv[c][0], c)) for n in iv}
        cursor = dict.fromkeys(iv, 0)
        critical: dict[str, int] = defaultdict(int)
        node, bound = root, iv[root][1]
        while True:
            kids, i = ordered[node], cursor[node]
            while i < len(kids) and iv[kids[i]][1] > bound:
                i += 1
            if i < len(kids):
                cursor[node] = i + 1
                child = kids[i]
                critical[node] += bound - iv[child][1]
                node, bound = child, iv[child][1]
                continue
            critical[node] += bound - iv[node][0]
            if node == root:
                break
            node, bound = span[node][2], iv[node][0]
        per_service: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for sid, r in span.items():
            s0, e0 = r[5], max(r[6], r[5])
            covered, reach = 0, s0
            for cs, ce in sorted((span[c][5], max(span[c][6], span[c][5])) for c in children[sid]):
                cs, ce = max(cs, reach), min(ce, e0)
                if ce > cs:
                    covered += ce - cs
                    reach = ce
            row = per_service[r[4]]
            row[0] += critical[sid]
            row[1] += (e0 - s0) - covered
        result[trace_id] = dict(per_service)
    return clock() - t0, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--reference-traces", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", default="", help="keep the generated spans in <cache>.<traces>.parquet")
    parser.add_argument("--store", default="", help="also build a store here from --copies copies and analyse it")
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--batches", type=int, default=16)
    parser.add_argument("--analyze-store", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.analyze_store:
        analyze_store(args.analyze_store, args.batches)
        return 0

    t0 = time.perf_counter()
    cache = args.cache and f"{args.cache}.{args.traces}.v3.parquet"  # v3: ids over 64 bits
    if cache and os.path.exists(cache):
        frame = pl.read_parquet(cache)
    else:
        frame = generate(args.traces)
        if cache:
            frame.write_parquet(cache)
    print(f"{frame.height:,} spans in {args.traces:,} traces ready ({time.perf_counter() - t0:.1f} s); times are CPU seconds; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus")
    analyze(frame.head(1000))  # load the compiled kernels (cached on disk) before timing

    times = [bulk(frame)[0] for _ in range(args.repeat)]
    best = min(times)
    bulk_rate = frame.height / best
    print(f"bulk      : {best:6.3f} s  {bulk_rate:>12,.0f} spans/s  arrival order (best of {args.repeat}: {', '.join(f'{x:.3f}' for x in times)})")
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3)
    worst = min(bulk(shuffled)[0] for _ in range(args.repeat))
    print(f"bulk      : {worst:6.3f} s  {frame.height / worst:>12,.0f} spans/s  rows shuffled (worst case: no locality)")

    ids = frame[s.TRACE_ID].unique().sort().head(args.reference_traces)  # an unbiased sample
    sample = frame.filter(pl.col(s.TRACE_ID).is_in(ids.implode()))
    ref_time, ref = reference(sample)
    ref_rate = sample.height / ref_time
    print(f"reference : {ref_time:6.3f} s  {ref_rate:>12,.0f} spans/s  ({sample.height:,} spans, {len(ref):,} traces)")
    print(f"ratio     : {bulk_rate / ref_rate:6.1f}x  bulk / reference")
    plain_ids = frame[s.TRACE_ID].unique().sort().head(20_000)
    plain_frame = frame.filter(pl.col(s.TRACE_ID).is_in(plain_ids.implode()))
    plain_time, _ = plain_python(plain_frame)
    plain_rate = plain_frame.height / plain_time
    print(f"plain     : {plain_time:6.3f} s  {plain_rate:>12,.0f} spans/s  straightforward per-trace Python (dicts, no networkx)")
    print(f"ratio     : {bulk_rate / plain_rate:6.1f}x  bulk / plain Python")

    # the two agree on the sample
    _, share = bulk(sample)
    got = {(r[0], r[1]): (r[2], r[3]) for r in share.select(
        s.TRACE_ID, s.SERVICE_NAME, pl.col("critical_time").dt.total_nanoseconds(), pl.col("self_time").dt.total_nanoseconds()).iter_rows()}
    want = {(t, svc): tuple(v) for t, per in ref.items() for svc, v in per.items()}
    print(f"agreement : {'exact' if got == want else 'MISMATCH'} on {len(want):,} (trace, service) rows")
    _, plain_sample = plain_python(sample)
    plain_rows = {(t, svc): tuple(v) for t, per in plain_sample.items() for svc, v in per.items()}
    print(f"agreement : plain Python {'exact' if plain_rows == want else 'MISMATCH'} with the reference")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS  : {peak:,.0f} MB (whole process, generator included)")
    target = 1_500_000
    print(f"threads   : kernels ran on {sorted(set(KERNEL_THREADS))} thread(s), polars on {pl.thread_pool_size()}; "
          f"load average now {os.getloadavg()[0]:.1f}")
    print(f"target    : {target:,} spans/s on one core -> {'met' if bulk_rate >= target else 'NOT met'}")
    if args.store:
        import subprocess

        if not os.path.exists(args.store):
            build_store(args.store, frame, args.copies)
        subprocess.run([sys.executable, __file__, "--analyze-store", args.store, "--batches", str(args.batches)], check=True)
    return 0 if got == want == plain_rows else 1


if __name__ == "__main__":
    sys.exit(main())
