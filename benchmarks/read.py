"""Read-path benchmark on a big store: what `store.spans()` costs with its exact
(trace_id, span_id) de-duplication, and the CLI commands built on it, process start included.

    .venv/bin/python benchmarks/store.py --keep /tmp/s10m --skip-lookup ...   # or any 10 M store
    .venv/bin/python benchmarks/read.py /tmp/tlwork/bench/s10m
    .venv/bin/python benchmarks/read.py DIR --repeat 3 --graph   # + service graph over every span

Every figure is printed next to the straightforward baseline measured in the same run: the
previous read path, which filtered every read through a first-occurrence mask over the
(trace_id, span_id) struct (``is_first_distinct``). The baseline is the same code with
``tracelens.store.store.without_duplicates`` swapped for that mask and compaction's
duplicate-free file list ignored, in-process for the library figures and in the
subprocess (before the CLI starts) for the CLI figures.

A store whose files compaction certified duplicate-free (table/_tracelens_unique_files.json)
skips the de-duplication pre-pass; others pay it. To measure both on an already compacted
store without compacting again, certify a copy:
``SpanTable(Path(COPY) / "table").certify_unique()`` (what compact() runs last).
Both must return the same rows; the script checks it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from slo import SPEC  # noqa: E402  (the SLO benchmark's 5 SLOs)

import tracelens.slo as slo_api  # noqa: E402
import tracelens.store.store as store_module  # noqa: E402
from tracelens import schema as s  # noqa: E402
from tracelens.store import Store  # noqa: E402
from tracelens.store.table import UNIQUE_FILES, SpanTable  # noqa: E402

FEW_COLUMNS = [s.SERVICE_NAME, s.START, s.DURATION, s.STATUS_CODE]
BASELINE_PATCH = (
    "import polars as pl, tracelens.store.store as m, tracelens.store.table as t; "
    "m.without_duplicates = lambda lf, rows=None: lf.filter(pl.struct('trace_id', 'span_id').is_first_distinct()); "
    "t.SpanTable.unique_files = lambda self: frozenset(); "
)


def baseline_dedup(frame: pl.LazyFrame, expected_rows: int | None = None) -> pl.LazyFrame:
    """The previous read path: a first-occurrence mask over every row."""
    return frame.filter(pl.struct(s.TRACE_ID, s.SPAN_ID).is_first_distinct())


class baseline_reads:  # noqa: N801  (a context manager used like a function)
    """Within the block, Store reads use the baseline de-duplication."""

    def __enter__(self) -> None:
        self._saved = store_module.without_duplicates, SpanTable.unique_files
        store_module.without_duplicates = baseline_dedup
        SpanTable.unique_files = lambda self: frozenset()  # type: ignore[method-assign]

    def __exit__(self, *exc: object) -> None:
        store_module.without_duplicates, SpanTable.unique_files = self._saved  # type: ignore[method-assign]


def timed(func: Callable[[], Any], repeat: int) -> tuple[Any, float]:
    """(last result, median wall seconds over ``repeat`` runs)."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return result, statistics.median(times)


def compare(label: str, func: Callable[[], Any], repeat: int, *, check: Callable[[Any, Any], None] | None = None,
            warm_up: int = 2) -> None:
    for _ in range(warm_up):  # untimed: footer index built, files in the page cache, for both alike
        func()
    new, new_s = timed(func, repeat)
    with baseline_reads():
        old, old_s = timed(func, repeat)
    if check is not None:
        check(new, old)
    print(f"  {label}: {new_s:.2f} s   baseline {old_s:.2f} s   ({old_s / max(new_s, 1e-9):.1f}x)", flush=True)


def same_rows(new: pl.DataFrame, old: pl.DataFrame) -> None:
    assert new.height == old.height, (new.height, old.height)
    assert new.sort(new.columns).equals(old.sort(old.columns)), "new and baseline reads differ"


def cli(args: list[str], repeat: int, *, baseline: bool) -> tuple[float, str]:
    """Median wall seconds of ``python -m tracelens ARGS`` (a fresh process each time)."""
    if baseline:
        code = BASELINE_PATCH + "import sys; from tracelens.cli.main import main; sys.argv = ['tracelens', *sys.argv[1:]]; main()"
        command = [sys.executable, "-c", code, *args]
    else:
        command = [sys.executable, "-m", "tracelens", *args]
    times, out = [], ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
        out = done.stdout
    return statistics.median(times), out


def compare_cli(label: str, args: list[str], repeat: int, target: float, *, same_output: bool = True) -> None:
    new_s, new_out = cli(args, repeat, baseline=False)
    old_s, old_out = cli(args, repeat, baseline=True)
    if same_output:  # (slo check's report carries its evaluation time)
        assert new_out == old_out, f"{label}: output differs from the baseline"
    verdict = "ok" if new_s < target else "MISSED"
    same = "; same output" if same_output else ""
    print(f"  {label}: {new_s:.2f} s   baseline {old_s:.2f} s   (target < {target:g} s: {verdict}{same})", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", type=Path, help="a store directory (e.g. one kept by benchmarks/store.py)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--graph", action="store_true", help="also time service_graph over every span")
    args = parser.parse_args()
    directory: Path = args.store
    print(f"read benchmark on {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}")

    store = Store.open(directory, read_only=True)
    stats = store.stats()
    actions = store._table.add_actions()
    first, last = int(actions["min.start"].min()), int(actions["max.start"].max())
    middle = datetime.fromtimestamp((first + last) // 2 // 10**9, UTC).replace(minute=0, second=0)
    hour = (middle, middle + timedelta(hours=1))
    day = (middle - timedelta(hours=12), middle + timedelta(hours=12))
    probe = store.spans(*hour).select(s.TRACE_ID, s.SERVICE_NAME).head(1).collect()
    trace_id, service = probe[s.TRACE_ID][0], probe[s.SERVICE_NAME][0]
    certified = (directory / "table" / UNIQUE_FILES).exists()
    print(f"store {directory}: {stats['table_rows']:,} spans, {stats['table_files']} files, "
          f"{stats['table_days']} days, WAL backlog {stats['wal_backlog_bytes']:,} bytes, "
          f"{'certified duplicate-free by compaction' if certified else 'not certified (dedup pre-pass on every read)'}")

    print("library (in process; the store is opened once):")
    compare(f"store.spans().select({len(FEW_COLUMNS)} columns).collect()",
            lambda: store.spans().select(FEW_COLUMNS).collect(), args.repeat, check=same_rows)
    spec = Path(tempfile.mkdtemp(prefix="tl-read-")) / "slos.yaml"
    spec.write_text(SPEC)
    columns = slo_api.columns_for(slo_api.load(spec))
    compare(f"slo check's read: store.spans().select({len(columns)} SLO columns).collect()",
            lambda: store.spans().select(columns).collect(), args.repeat, check=same_rows)
    _, raw = timed(lambda: pl.scan_delta(str(directory / "table")).select(columns).collect(), args.repeat)
    print(f"    for attribution: the same columns straight from the Delta table, no dedup: {raw:.2f} s")
    compare("store.spans(24 h window).select(4 columns) (services' read)",
            lambda: store.spans(*day).select(FEW_COLUMNS).collect(), args.repeat, check=same_rows)
    compare(f"store.traces(1 h window, service={service!r}, limit=20)",
            lambda: store.traces(*hour, service=service, limit=20), args.repeat, check=lambda a, b: same_rows(a, b))
    compare("store.trace(id)", lambda: store.trace(trace_id), args.repeat, check=same_rows)
    if args.graph:
        from tracelens.analysis.service_graph import service_graph

        compare("service_graph(store.spans()) over every span", lambda: service_graph(store.spans()).edges,
                1, check=lambda a, b: same_rows(a, b), warm_up=0)

    print("CLI (a fresh process per run, process start included):")
    bare, _ = cli(["--help"], args.repeat, baseline=False)
    print(f"  for reference, `tracelens --help` (process start + CLI import): {bare:.2f} s")
    iso = "%Y-%m-%dT%H:%M:%SZ"
    data = ["--data", str(directory)]
    compare_cli(f"tracelens show {trace_id}", ["show", trace_id, *data], args.repeat, 1.0)
    compare_cli(f"tracelens traces --service {service} --since/--until <1 h> --limit 20",
                ["traces", *data, "--service", service, "--since", hour[0].strftime(iso),
                 "--until", hour[1].strftime(iso), "--limit", "20"], args.repeat, 1.0)
    compare_cli("tracelens slo check SPEC --json (5 SLOs)", ["slo", "check", str(spec), *data, "--json"], 1, 5.0,
                same_output=False)


if __name__ == "__main__":
    main()
