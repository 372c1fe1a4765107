"""Benchmark: `tracelens demo` end to end, shop in a child process vs. everything in one.

    .venv/bin/python benchmarks/demo.py [--duration 4h] [--rps 0.3] [--baseline]

Times, in the same run, the default demo (the shop's timeline in two spawned child
processes exporting over OTLP/gRPC to the receiver in this process), the shop in one child,
and, with --baseline, the straightforward single-process version (shop, SDK, exporter
thread, receiver and store sharing one GIL).
Prints wall time, spans/s, CPU seconds of this process and of the child, the slowest
export call, then the time to compute the report (after a small warm-up run, so that
compiling numba kernels is not charged to whichever mode runs first). The machine is shared: CPU seconds are
the steadier figure; wall time on an idle 2-core machine is about max(parent, child) CPU.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from tracelens.demo.report import compute_story
from tracelens.demo.run import run_demo
from tracelens.demo.simulate import SimulationConfig, default_start
from tracelens.demo.timeline import DEFAULT_SCENARIOS, parse_duration, parse_scenarios


def _cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, children.ru_utime + children.ru_stime


def measure(config: SimulationConfig, *, in_process: bool, shops: int = 1) -> None:
    label = "one process (baseline)" if in_process else f"shop in {shops} child process(es)"
    cpu_before = _cpu()
    began = time.perf_counter()
    run = run_demo(config, Path(tempfile.mkdtemp(prefix="tracelens-bench-")) / "data", in_process=in_process, shops=shops)
    wall = time.perf_counter() - began
    cpu_after = _cpu()
    r = run.result
    print(
        f"{label:26} wall {wall:6.2f} s  {r.spans_ended / wall:8.0f} spans/s  "
        f"cpu self {cpu_after[0] - cpu_before[0]:6.2f} s  child {cpu_after[1] - cpu_before[1]:6.2f} s  "
        f"spans {r.spans_ended} ended / {r.spans_exported} acked / {r.spans_failed} failed  "
        f"slowest export {r.slowest_export_seconds:.2f} s"
    )
    began = time.perf_counter()
    compute_story(run)
    print(f"{'':26} report {time.perf_counter() - began:6.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", default="4h")
    parser.add_argument("--rps", type=float, default=0.3)
    parser.add_argument("--baseline", action="store_true", help="also time the single-process version")
    args = parser.parse_args()
    seconds = parse_duration(args.duration)
    config = SimulationConfig(seconds, default_start(seconds), rps=args.rps, scenarios=parse_scenarios(DEFAULT_SCENARIOS, seconds))
    print(f"demo: {args.duration} at {args.rps} rps, scenarios {DEFAULT_SCENARIOS}", file=sys.stderr)
    # warm up first: numba kernels compile (or load from cache) once, whichever mode runs first
    warm = SimulationConfig(120.0, default_start(120.0), rps=1.0)
    compute_story(run_demo(warm, Path(tempfile.mkdtemp(prefix="tracelens-bench-")) / "data", in_process=True))
    measure(config, in_process=False, shops=2)
    measure(config, in_process=False, shops=1)
    if args.baseline:
        measure(config, in_process=True)


if __name__ == "__main__":
    main()
