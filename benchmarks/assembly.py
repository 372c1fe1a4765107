"""Decode cost split into the numba scan and everything after it (the assembly), per span.

Both fast decoders scan the bytes into integer tables (numba), then assemble Arrow arrays
and a polars frame. This prints, for each, CPU microseconds per span of the whole decode
and of the part after the scan, measured inside the same calls (the scan kernels are timed
as they run), best of --repeat runs (time.process_time, so a busy machine disturbs less).
The scan is the baseline the assembly is compared with:

  Jaeger UI JSON: files of --traces traces (benchmarks/analysis.py shapes), one frame each;
  OTLP protobuf (c): realistic 512-span requests one at a time (benchmarks/workload.py);
  OTLP protobuf (d): the same requests batched, as the flusher decodes them.

    .venv/bin/python benchmarks/assembly.py
    .venv/bin/python benchmarks/assembly.py --traces 5000 --requests 30 --repeat 9
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import polars as pl  # noqa: E402

from benchmarks.analysis import generate  # noqa: E402
from benchmarks.workload import realistic_requests  # noqa: E402
from tracelens import schema as s  # noqa: E402
from tracelens.ingest import (  # noqa: E402
    _jaeger_scan,
    _wire,
    decode_otlp_protobuf,
    decode_otlp_protobuf_batch,
    encode_jaeger_json,
    jaeger_columnar,
    warm_up,
)

_SCAN_KERNELS = ((_jaeger_scan, "count_objects"), (_jaeger_scan, "scan_jaeger"), (_wire, "count_request"), (_wire, "scan_request"))


def time_scan_kernels() -> list[float]:
    """Wrap the scan kernels so the CPU time spent in them accumulates in the returned cell."""
    spent = [0.0]
    for module, name in _SCAN_KERNELS:
        kernel = getattr(module, name)

        def timed(*args: object, kernel: Callable = kernel) -> object:
            started = time.process_time()
            try:
                return kernel(*args)
            finally:
                spent[0] += time.process_time() - started

        setattr(module, name, timed)
    return spent


def best_split(run: Callable[[], object], spent: list[float], repeat: int) -> tuple[float, float]:
    """(whole, after the scan) CPU seconds, each the best of ``repeat`` runs."""
    whole = after = float("inf")
    for _ in range(repeat):
        spent[0] = 0.0
        started = time.process_time()
        run()
        elapsed = time.process_time() - started
        whole, after = min(whole, elapsed), min(after, elapsed - spent[0])
    return whole, after


def jaeger_document(traces: int, seed: int) -> bytes:
    frame = s.conform(generate(traces, seed)).with_columns(
        pl.col(s.STATUS_CODE).fill_null("unset"), pl.col(s.STATUS_MESSAGE).fill_null(""),
        pl.col(s.ATTRIBUTES).fill_null([]), pl.col(s.RESOURCE_ATTRIBUTES).fill_null([]),
        pl.col(s.EVENTS).fill_null([]), pl.col(s.LINKS).fill_null([]),
    ).collect()
    return json.dumps(encode_jaeger_json(frame)).encode()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=5000, help="traces per Jaeger file")
    parser.add_argument("--files", type=int, default=2)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)

    warm_up()
    documents = [jaeger_document(args.traces, seed) for seed in range(1, args.files + 1)]
    payloads = realistic_requests(args.requests, 512, seed=0)
    jaeger_spans = sum(jaeger_columnar.decode_jaeger_columnar(d).spans.height for d in documents)
    otlp_spans = args.requests * 512
    spent = time_scan_kernels()
    runs = {
        "Jaeger JSON, one frame per file": (lambda: [jaeger_columnar.decode_jaeger_columnar(d) for d in documents], jaeger_spans),
        "OTLP (c) per 512-span request": (lambda: [decode_otlp_protobuf(p) for p in payloads], otlp_spans),
        "OTLP (d) batched (flush)": (lambda: decode_otlp_protobuf_batch(payloads), otlp_spans),
    }
    print(f"{jaeger_spans} Jaeger spans in {args.files} files; {otlp_spans} OTLP spans; CPU us per span, best of {args.repeat}")
    print(f"{'':34s} {'scan':>7s} {'after':>7s} {'whole':>7s}")
    for label, (run, spans) in runs.items():
        run()
        whole, after = best_split(run, spent, args.repeat)
        print(f"{label:34s} {(whole - after) * 1e6 / spans:7.3f} {after * 1e6 / spans:7.3f} {whole * 1e6 / spans:7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
