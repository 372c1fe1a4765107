"""Decode throughput: OTLP protobuf bytes -> span frame, one core.

Compares, on the same pre-serialised realistic requests (benchmarks/workload.py: 512 spans,
~10 attributes per span, 2 events on 10 % of spans, 5 resource attributes):

  (a) upb parse only: ExportTraceServiceRequest.FromString (no frame at all) — the ceiling
      of any decoder that first builds protobuf messages;
  (b) the per-span reference decoder (upb messages -> rows -> frame);
  (c) tracelens.ingest.decode_otlp_protobuf, one request at a time (numba wire scanner ->
      Arrow -> polars);
  (d) tracelens.ingest.decode_otlp_protobuf_batch over all requests: what the flusher does
      with acknowledged requests (a few MiB of requests per frame) — the product's path;
  (e) tracelens.ingest.validate_otlp_protobuf: what the receiver does before acknowledging
      (the verdict without the frame).

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

import polars as pl  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from benchmarks.workload import realistic_requests  # noqa: E402
from tracelens.ingest import decode_otlp_protobuf, decode_otlp_protobuf_batch, validate_otlp_protobuf, warm_up  # noqa: E402
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
    batch = spans_per_second(lambda _: decode_otlp_protobuf_batch(payloads), [b""], total, args.repeat)
    validate = spans_per_second(validate_otlp_protobuf, payloads, total, args.repeat)
    assert decode_otlp_protobuf_batch(payloads[:3]).equals(
        pl.concat([decode_otlp_protobuf(p).spans for p in payloads[:3]])
    )

    print(f"(a) upb FromString only               {upb:>12,.0f} spans/s")
    print(f"(b) reference per-span decoder        {reference:>12,.0f} spans/s")
    print(f"(c) tracelens decode, per request     {fast:>12,.0f} spans/s")
    print(f"(d) tracelens decode, batched (flush) {batch:>12,.0f} spans/s")
    print(f"(e) tracelens validate (receiver)     {validate:>12,.0f} spans/s")
    print(f"batched / reference = {batch / reference:.1f}x ; batched / upb parse = {batch / upb:.2f} ; "
          f"per request / upb parse = {fast / upb:.2f}")
    target = 400_000
    print(f"target >= {target:,} spans/s (the flusher's batched decode): {'met' if batch >= target else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
