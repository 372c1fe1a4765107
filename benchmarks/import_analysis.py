"""`tracelens import` of Jaeger JSON files plus the analysis, end to end (issue 3's
"CRISP comparison" figure: parse Jaeger JSON + critical path + self time + per-service share).

    .venv/bin/python benchmarks/import_analysis.py [--traces 20000] [--files 4]

Writes the realistic traces of benchmarks/analysis.py as Jaeger UI JSON files (what CRISP
reads), then times, in CPU seconds, `tracelens.ingest.decode_file` on each file followed by
the bulk analysis (latency_share by service, which runs critical path + self time), and a
straightforward baseline in the same run: json.load + a per-span dict loop into rows.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from analysis import generate  # noqa: E402  (the realistic trace shapes of benchmarks/analysis.py)

from tracelens import latency_share  # noqa: E402
from tracelens.ingest import decode_file, encode_jaeger_json  # noqa: E402


def clock() -> float:
    return time.process_time()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--traces", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=4)
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
        latency_share(frame.head(1000))  # compile/load the kernels outside the timing

        started = clock()
        decoded = [decode_file(p).spans for p in paths]
        parsed = clock()
        spans = pl.concat(decoded)
        table = latency_share(spans, by="service")
        done = clock()
        total = done - started
        print(f"tracelens : decode {parsed - started:6.2f} s + analysis {done - parsed:5.2f} s = {total:6.2f} s CPU"
              f"  {spans.height / total:>10,.0f} spans/s  ({table.height} services)")

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
        print(f"target    : >= {target:,} spans/s -> {'met' if spans.height / total >= target else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
