"""Decode throughput: OTLP protobuf bytes -> span frame, one core.

Compares, on the same pre-serialised realistic requests (benchmarks/workload.py: 512 spans,
~10 attributes per span, 2 events on 10 % of spans, 5 resource attributes):

  (a) upb parse only: ExportTraceServiceRequest.FromString (no frame at all) — the ceiling
      of any decoder that first builds protobuf messages;
  (b) the per-span reference decoder (upb messages -> rows -> frame);
  (c) tracelens.ingest.decode_otlp_protobuf (numba wire scanner -> Arrow -> polars).

Figures are spans per CPU-second of this process (time.process_time), best of --repeat
runs, so a busy machine disturbs them less than wall-clock figures would.

    .venv/bin/python benchmarks/decode.py              # 40 requests x 512 spans
    .venv/bin/python benchmarks/decode.py --requests 100 --repeat 5
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from benchmarks.workload import realistic_requests  # noqa: E402
from tracelens.ingest import decode_otlp_protobuf, warm_up  # noqa: E402
from tracelens.ingest.otlp_reference import decode_otlp_protobuf_reference  # noqa: E402


def spans_per_second(decode: Callable[[bytes], object], payloads: list[bytes], spans: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        for payload in payloads:
            decode(payload)
        best = min(best, time.process_time() - started)
    return spans / best if best > 0 else float("inf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--spans", type=int, default=512, help="spans per request")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--reference-requests", type=int, default=8, help="the slow baseline runs on fewer requests")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    warm_up()
    print(f"numba kernels ready in {time.perf_counter() - started:.2f} s (compiled on first use, then cached)")
    payloads = realistic_requests(args.requests, args.spans, seed=0)
    total = args.requests * args.spans
    size = sum(len(p) for p in payloads) / len(payloads)
    print(f"{args.requests} requests x {args.spans} spans, {size / 1024:.0f} KiB each")

    # sanity: the fast decoder gives the reference frame
    assert decode_otlp_protobuf(payloads[0]).spans.equals(decode_otlp_protobuf_reference(payloads[0]).spans)

    upb = spans_per_second(ExportTraceServiceRequest.FromString, payloads, total, args.repeat)
    ref_payloads = payloads[: args.reference_requests]
    reference = spans_per_second(decode_otlp_protobuf_reference, ref_payloads, len(ref_payloads) * args.spans, 1)
    fast = spans_per_second(decode_otlp_protobuf, payloads, total, args.repeat)

    print(f"(a) upb FromString only        {upb:>12,.0f} spans/s")
    print(f"(b) reference per-span decoder {reference:>12,.0f} spans/s")
    print(f"(c) tracelens decode           {fast:>12,.0f} spans/s")
    print(f"tracelens / reference = {fast / reference:.1f}x ; tracelens / upb parse = {fast / upb:.2f}")
    target = 400_000
    print(f"target >= {target:,} spans/s: {'met' if fast >= target else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
