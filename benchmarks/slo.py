"""SLO benchmark: `tracelens slo check` over a 10 M-span store with 5 SLOs (target < 5 s),
and the alert history replayed over 30 days at 1-minute resolution (target < 10 s).

    .venv/bin/python benchmarks/slo.py                    # 10 M spans over 30 days
    .venv/bin/python benchmarks/slo.py --spans 1000000    # quicker
    .venv/bin/python benchmarks/slo.py --keep /tmp/slo-store   # build once, reuse after

Baselines, measured in the same run on the same in-memory spans:

* check: a naive evaluation that rescans the spans once per SLO per window (the SLO
  window and the 7 burn-rate windows) instead of one rollup pass;
* history: a naive replay that rescans the spans for every tier window at every minute;
  measured on a sample of minutes and extrapolated to 30 days x 5 SLOs (running it in
  full would take hours -- that is the point).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from store import synthetic_spans  # noqa: E402  (the store benchmark's realistic span generator)

import tracelens.slo as slo_api  # noqa: E402
from tracelens import schema as s  # noqa: E402
from tracelens.slo.budget import BURN_WINDOWS  # noqa: E402
from tracelens.slo.selection import good_expr, total_expr  # noqa: E402
from tracelens.store import Store  # noqa: E402
from tracelens.store.table import SpanTable, to_table_frame  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 30
SPEC = """\
slos:
  - name: checkout-availability
    service: service-0
    objective: 99.9
    sli: {kind: availability}
  - name: cart-latency
    service: service-1
    objective: 95
    sli: {kind: latency, threshold: 100ms}
  - name: checkout-op-latency
    service: service-2
    operation: "POST /checkout"
    objective: 99
    sli: {kind: latency, threshold: 150ms}
  - name: api-http-errors
    service: service-3
    objective: 99.5
    sli: {kind: ratio, bad: 'http.response.status_code >= 500'}
  - name: routes-filtered
    filter: 'kind = server and http.route in ("/cart", "/checkout") and service.version = "1.4.2"'
    objective: 99
    window: 28d
    sli: {kind: availability}
"""


def build_store(directory: Path, n_spans: int, batch: int) -> None:
    table = SpanTable(directory / "table")
    t0 = time.perf_counter()
    for i, offset in enumerate(range(0, n_spans, batch)):
        frame = synthetic_spans(min(batch, n_spans - offset), days=DAYS, seed=2000 + i, start=START)
        table.write_rows(to_table_frame(frame))
    print(f"  built a {n_spans:,}-span store over {DAYS} days in {time.perf_counter() - t0:.1f} s (not counted)")


def timed(label: str, func, *args, **kwargs):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    result = func(*args, **kwargs)
    elapsed = time.perf_counter() - t0
    print(f"  {label}: {elapsed:.2f} s")
    return result, elapsed


def naive_check(spans: pl.DataFrame, slos: tuple[slo_api.SLO, ...], at: datetime) -> list[tuple[str, str, int, int]]:
    """The straightforward way: one filter over all spans per SLO per window."""
    rows = []
    for slo in slos:
        for window in (slo.window, *BURN_WINDOWS):
            counts = spans.lazy().filter(
                (pl.col(s.END) >= at - window) & (pl.col(s.END) < at) & total_expr(slo)
            ).select(pl.len().alias("total"), good_expr(slo).sum().alias("good")).collect()
            rows.append((slo.name, str(window), int(counts["total"][0]), int(counts["good"][0])))
    return rows


def naive_history_sample(spans: pl.DataFrame, slo: slo_api.SLO, moments: list[datetime]) -> float:
    """Seconds per minute boundary for one SLO when every tier window is a rescan."""
    t0 = time.perf_counter()
    for when in moments:
        for tier in slo.tiers:
            for window in (tier.long, tier.short):
                spans.lazy().filter(
                    (pl.col(s.END) >= when - window) & (pl.col(s.END) < when) & total_expr(slo)
                ).select(pl.len(), good_expr(slo).sum()).collect()
    return (time.perf_counter() - t0) / len(moments)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spans", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="build the store here (reused if it exists)")
    parser.add_argument("--build-only", action="store_true", help="only build the --keep store (e.g. under nice)")
    parser.add_argument("--sample-minutes", type=int, default=10, help="minutes replayed by the naive history baseline")
    args = parser.parse_args()

    directory = args.keep or Path(tempfile.mkdtemp(prefix="tl-bench-slo-"))
    spec = directory / "slos.yaml"
    try:
        if not (directory / "table").exists():
            directory.mkdir(parents=True, exist_ok=True)
            build_store(directory, args.spans, args.batch)
        spec.write_text(SPEC)
        if args.build_only:
            return
        slos = slo_api.load(spec)
        print(f"slo check: {args.spans:,} stored spans, {len(slos)} SLOs")

        command = [sys.executable, "-m", "tracelens", "slo", "check", str(spec), "--data", str(directory), "--json"]
        t0 = time.perf_counter()
        out = subprocess.run(command, capture_output=True, text=True, check=False)
        cli_seconds = time.perf_counter() - t0
        if out.returncode not in (0, 1):
            raise SystemExit(f"slo check failed: {out.stderr}")
        print(f"  `tracelens slo check --json` end to end (process start, store read, rollup, evaluate, alerts, lint): "
              f"{cli_seconds:.2f} s  (target < 5 s; exit code {out.returncode})")

        store = Store.open(directory, read_only=True)
        columns = slo_api.columns_for(slos)
        spans, read_seconds = timed(f"library: store.spans().select({len(columns)} SLO columns).collect() "
                                    "(includes the store's (trace_id, span_id) dedup)",
                                    lambda: store.spans().select(columns).collect())
        timed("  for attribution: the same columns straight from the Delta table, no dedup",
              lambda: pl.scan_delta(str(directory / "table")).select(columns).collect())
        rollup, rollup_seconds = timed("library: per-minute rollup of 5 SLOs (one group_by pass)", slo_api.rollup, spans, slos)
        statuses, eval_seconds = timed("library: evaluate + alerts now from the rollup",
                                       lambda: (slo_api.evaluate(rollup), slo_api.alerts(rollup)))
        at = statuses[0][0].at
        naive, naive_seconds = timed(f"baseline: naive rescan per SLO per window ({len(slos) * (1 + len(BURN_WINDOWS))} scans)",
                                     naive_check, spans, slos, at)
        for st in statuses[0]:
            row = next(r for r in naive if r[0] == st.slo.name and r[1] == str(st.slo.window))
            assert (row[2], row[3]) == (st.total, st.good), (row, st.total, st.good)
        print(f"  -> rollup + evaluate {rollup_seconds + eval_seconds:.2f} s vs naive {naive_seconds:.2f} s "
              f"({naive_seconds / (rollup_seconds + eval_seconds):.1f}x); totals agree")

        print(f"alert history: {DAYS} days at 1-minute resolution, {len(slos)} SLOs")
        history, history_seconds = timed("library: replay every minute from the rollup", slo_api.history, rollup)
        minutes = int((rollup.last_minute() - rollup.first_minute()) / timedelta(minutes=1)) + 1  # type: ignore[operator]
        print(f"  -> {minutes:,} minute boundaries x {len(slos)} SLOs: rollup + replay "
              f"{rollup_seconds + history_seconds:.2f} s (target < 10 s); {history.height} fire/reset events")
        moments = [at - timedelta(minutes=m) for m in range(args.sample_minutes)]
        per_minute = naive_history_sample(spans, slos[0], moments)
        estimate = per_minute * minutes * len(slos)
        print(f"  baseline: naive rescan per tier window per minute: {per_minute * 1000:.0f} ms per minute per SLO "
              f"(measured on {args.sample_minutes} minutes) -> ~{estimate / 3600:.1f} h for the full replay (extrapolated)")
    finally:
        if args.keep is None:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
