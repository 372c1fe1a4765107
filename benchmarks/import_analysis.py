"""`tracelens import` of Jaeger JSON files plus the analysis, end to end (issue 3's
"CRISP comparison" figure: parse Jaeger JSON + critical path + self time + per-service share).

    .venv/bin/python benchmarks/import_analysis.py [--traces 20000] [--files 4] [--store]

Writes the realistic traces of benchmarks/analysis.py as Jaeger UI JSON files (what CRISP
reads), then times, in CPU seconds on one core (POLARS_MAX_THREADS=1), in the same run:

* tracelens: `tracelens.ingest.decode_file` on each file (the columnar Jaeger decoder)
  followed by the bulk analysis (latency_share by service: critical path + self time);
* with ``--store``: the same through the store, as `tracelens import` does it (decode,
  Store.append in 50,000-span chunks, close = flush to the table), then the analysis;
* baselines: json.loads of each file alone (parsing only), and json.load + a per-span dict
  loop into rows (the straightforward Python importer, CRISP's approach);
* the target (issue 3: >= 250,000 spans/s) and the load average (the machine is shared).

The Jaeger kernels are loaded (compiled on the first run on a machine) before the timing,
like the analysis kernels; their load time is printed separately.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # one core, as the target says
os.environ.setdefault("NUMBA_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis import generate  # noqa: E402  (the realistic trace shapes of benchmarks/analysis.py)

from tracelens import latency_share  # noqa: E402
from tracelens.ingest import decode_file, decode_jaeger_json, encode_jaeger_json  # noqa: E402


def clock() -> float:
    return time.process_time()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--store", action="store_true", help="also time the import into a store (WAL + table)")
    args = parser.parse_args()
    import polars as pl

    from tracelens import schema as s

    # the analysis benchmark's frames carry only what the analysis reads: make them whole
    # spans (a status, a resource) so they can be written as Jaeger files
    frame = s.conform(generate(args.traces)).with_columns(
        pl.col(s.STATUS_CODE).fill_null("unset"), pl.col(s.STATUS_MESSAGE).fill_null(""),
        pl.col(s.ATTRIBUTES).fill_null([]), pl.col(s.RESOURCE_ATTRIBUTES).fill_null([]),
        pl.col(s.EVENTS).fill_null([]), pl.col(s.LINKS).fill_null([]),
    ).collect()
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        ids = frame["trace_id"].unique(maintain_order=True)
        for i, chunk in enumerate(ids.to_list()[j:: args.files] for j in range(args.files)):
            part = frame.filter(frame["trace_id"].is_in(chunk))
            path = Path(tmp) / f"jaeger-{i}.json"
            path.write_text(json.dumps(encode_jaeger_json(part)))
            paths.append(path)
        size = sum(p.stat().st_size for p in paths)
        print(f"{frame.height:,} spans in {args.traces:,} traces as {len(paths)} Jaeger JSON files ({size / 2**20:.0f} MiB)")
        print(f"load average before: {load_average()}")
        latency_share(frame.head(1000))  # compile/load the kernels outside the timing
        started = time.perf_counter()
        decode_jaeger_json(json.dumps(encode_jaeger_json(frame.head(10))))
        print(f"Jaeger kernels loaded in {time.perf_counter() - started:.2f} s (compiled on a machine's first run)")

        started = clock()
        decoded = [decode_file(p).spans for p in paths]
        parsed = clock()
        spans = pl.concat(decoded)
        table = latency_share(spans, by="service")
        done = clock()
        total = done - started
        rate = spans.height / total
        print(f"tracelens : decode {parsed - started:6.2f} s + analysis {done - parsed:5.2f} s = {total:6.2f} s CPU"
              f"  {rate:>10,.0f} spans/s  ({table.height} services)")
        if args.store:
            print(import_into_store(paths, tmp))

        started = clock()
        rows = 0
        for p in paths:
            rows += sum(len(trace["spans"]) for trace in json.loads(p.read_bytes())["data"])
        parse_only = clock() - started
        print(f"baseline  : json.loads only (parsing, nothing else)            {parse_only:6.2f} s CPU  {rows / parse_only:>10,.0f} spans/s")

        started = clock()
        rows = 0
        for p in paths:
            for trace in json.loads(p.read_text())["data"]:
                for span in trace["spans"]:
                    _ = {"trace": span["traceID"], "span": span["spanID"], "name": span["operationName"],
                         "start": span["startTime"], "dur": span["duration"], "tags": {t["key"]: t["value"] for t in span["tags"]}}
                    rows += 1
        baseline = clock() - started
        print(f"baseline  : json.load + per-span dicts only (no analysis) {baseline:6.2f} s CPU  {rows / baseline:>10,.0f} spans/s")
        target = 250_000
        print(f"target    : >= {target:,} spans/s -> {'met' if rate >= target else 'NOT met'}"
              f" ({rate / (rows / baseline):.1f}x the json.load baseline)")
        print(f"load average after: {load_average()}")
    return 0


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def import_into_store(paths: list[Path], tmp: str) -> str:
    """`tracelens import` of the files (decode + append in chunks + flush on close), then
    the analysis on the stored spans."""
    from tracelens.cli.import_ import _import_file
    from tracelens.config import StoreConfig
    from tracelens.store import Store

    data = Path(tmp) / "store"
    started = clock()
    with Store.open(data, StoreConfig(path=data)) as store:
        spans = sum(_import_file(store, p)["spans"] for p in paths)
    imported = clock()
    with Store.open(data, StoreConfig(path=data)) as store:
        stored = store.spans().collect()
    read = clock()
    table = latency_share(stored, by="service")
    done = clock()
    total = done - started
    return (f"import    : decode+store {imported - started:6.2f} s + read {read - imported:5.2f} s + analysis "
            f"{done - read:5.2f} s = {total:6.2f} s CPU  {spans / total:>10,.0f} spans/s  ({table.height} services)")


if __name__ == "__main__":
    raise SystemExit(main())
