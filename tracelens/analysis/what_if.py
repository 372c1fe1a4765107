"""What if operation X were faster, removed, or its sibling calls ran in parallel?

Every trace is re-timed on the same tree the critical path walks (clipped spans;
outside-parent and non-blocking children play no part), keeping what the trace shows
about waiting:

* a child starts after the siblings that finished before it started -- the latest of
  them -- plus the gap it left after them; with none, at its offset from its parent's start;
* a span ends its own tail after its last child ends; a leaf keeps its length;
* the changed spans: ``faster`` / ``speedup`` shorten them (not below zero), ``remove``
  makes them zero long (their subtrees no longer matter); ``parallel`` starts every
  matching child of the same parent when the first one starts, and whatever followed
  them waits for all of them.

::

    today         A |==10==|                      parent waits for A, then B
                  B         |====40====|          (B after A: sequential)
    A 5 ms faster A |=5=|
                  B      |====40====|             -> the trace is 5 ms shorter

    A ∥ F, then B: if only A gets faster, B still waits for F (no gain beyond the slack).

The projected root latency of every trace gives p50/p95/p99 against today's. With no
change the projection equals today's durations exactly (tested).
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from tracelens import schema as s
from tracelens.analysis import _whatif_kernel as kernel
from tracelens.analysis.columnar import Analysis, analyze
from tracelens.analysis.latency_share import Where, cohort

TARGET = "_what_if_target"
DEFAULT_QUANTILES = (0.5, 0.95, 0.99)


def _target_expr(target: str | pl.Expr) -> pl.Expr:
    if isinstance(target, str):
        from tracelens.filters import parse_filter

        return parse_filter(target)
    return target


def _ns(value: timedelta | float) -> int:
    """A timedelta, or a number of milliseconds, in ns."""
    if isinstance(value, timedelta):
        return int(value.total_seconds() * 1_000_000_000)
    return int(round(float(value) * 1_000_000))


def _choose_mode(faster: timedelta | float | None, speedup: float | None, remove: bool, parallel: bool) -> str:
    chosen = [name for name, on in (("faster", faster is not None), ("speedup", speedup is not None),
                                    ("remove", remove), ("parallel", parallel)) if on]
    if len(chosen) != 1:
        msg = f"what_if needs exactly one of faster=, speedup=, remove=True, parallel=True (got {chosen or 'none'})"
        raise ValueError(msg)
    return chosen[0]


def project(
    analysis: Analysis,
    target_rows: np.ndarray,
    *,
    faster: timedelta | float | None = None,
    speedup: float | None = None,
    remove: bool = False,
    parallel: bool = False,
) -> np.ndarray:
    """Projected duration (ns) of every trace of ``analysis`` (by trace index)."""
    mode = _choose_mode(faster, speedup, remove, parallel)
    target = np.ascontiguousarray(target_rows[analysis.order], dtype=np.bool_)
    length = np.maximum(analysis.clipped_end - analysis.clipped_start, 0)
    if mode == "faster":
        new_length = np.maximum(length - _ns(faster or 0), 0)
    elif mode == "speedup":
        new_length = np.round(length * (1.0 - float(speedup or 0))).astype(np.int64).clip(0)
    else:
        new_length = np.zeros_like(length)
    kernel_mode = kernel.PARALLEL if mode == "parallel" else kernel.FASTER
    return kernel.project_traces(
        analysis.offsets, analysis.parent, analysis.status, analysis.root_pos,
        analysis.clipped_start, analysis.clipped_end, target, kernel_mode, new_length.astype(np.int64))


def what_if_traces(
    spans: pl.DataFrame | pl.LazyFrame,
    target: str | pl.Expr,
    *,
    faster: timedelta | float | None = None,
    speedup: float | None = None,
    remove: bool = False,
    parallel: bool = False,
    where: Where = None,
) -> pl.DataFrame:
    """Per trace: (trace_id, duration, projected_duration, saved, targeted spans).
    ``target`` selects the spans of the operation (filter text or polars expression);
    ``faster`` is a timedelta or milliseconds; ``speedup`` a fraction (0.3 = 30 % faster)."""
    analysis = analyze(cohort(spans, where), extra={TARGET: _target_expr(target).fill_null(False)})
    target_rows = analysis.frame[TARGET].to_numpy().astype(np.bool_)
    projected = project(analysis, target_rows, faster=faster, speedup=speedup, remove=remove, parallel=parallel)
    trace_index = np.repeat(np.arange(analysis.n_traces), np.diff(analysis.offsets))
    hits = np.bincount(trace_index, weights=target_rows[analysis.order], minlength=analysis.n_traces).astype(np.int64)
    return pl.DataFrame({
        s.TRACE_ID: analysis.trace_ids,
        s.DURATION: pl.Series(analysis.duration_ns).cast(s.DURATION_DTYPE),
        "projected_duration": pl.Series(projected).cast(s.DURATION_DTYPE),
        "saved": pl.Series(analysis.duration_ns - projected).cast(s.DURATION_DTYPE),
        "targeted_spans": hits,
    })


def what_if(
    spans: pl.DataFrame | pl.LazyFrame,
    target: str | pl.Expr,
    *,
    faster: timedelta | float | None = None,
    speedup: float | None = None,
    remove: bool = False,
    parallel: bool = False,
    where: Where = None,
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES,
) -> pl.DataFrame:
    """Projected root latency if the ``target`` spans changed, against today's:
    one row per statistic (p50, p95, p99, mean) with today, projected, change, change_pct.

    Example: ``what_if(spans, 'service.name = "credit-card-api"', faster=500)``."""
    per_trace = what_if_traces(spans, target, faster=faster, speedup=speedup, remove=remove, parallel=parallel, where=where)
    today = per_trace[s.DURATION].dt.total_nanoseconds().to_numpy().astype(np.float64)
    after = per_trace["projected_duration"].dt.total_nanoseconds().to_numpy().astype(np.float64)
    names, before_ns, after_ns = [], [], []
    if today.size:
        for q in quantiles:
            names.append(f"p{q * 100:g}")
            before_ns.append(float(np.quantile(today, q)))
            after_ns.append(float(np.quantile(after, q)))
        names.append("mean")
        before_ns.append(float(today.mean()))
        after_ns.append(float(after.mean()))
    before = np.round(np.array(before_ns)).astype(np.int64)
    projected = np.round(np.array(after_ns)).astype(np.int64)
    with np.errstate(divide="ignore", invalid="ignore"):
        pct = np.where(before > 0, (projected - before) / np.maximum(before, 1) * 100, np.nan)
    return pl.DataFrame({
        "statistic": names,
        "today": pl.Series(before, dtype=pl.Int64).cast(s.DURATION_DTYPE),
        "projected": pl.Series(projected, dtype=pl.Int64).cast(s.DURATION_DTYPE),
        "change": pl.Series(projected - before, dtype=pl.Int64).cast(s.DURATION_DTYPE),
        "change_pct": pl.Series(pct, dtype=pl.Float64).fill_nan(None),
        "traces": [per_trace.height] * len(names),
    })
