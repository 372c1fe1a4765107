"""What changed between two traces, or between two cohorts of traces.

**Two traces** are aligned by *ancestral path*: a span is identified by the chain of
``service: operation`` from the root down to it (``frontend: GET /checkout > checkout:
POST /checkout > payment-service: POST /pay``), so the same call in two executions lines
up even though every id differs. Spans sharing a path (a loop of DB calls) are summed.
Per path we report the count, total duration, self time and critical-path time on both
sides, their deltas, and whether the path was added or removed. Rows are ordered by the
size of the critical-path delta first: critical-path time is what the end-to-end latency
is made of (the deltas sum to the root's duration delta), so the span that *caused* a
slowdown comes first, not its ancestors, whose durations merely inherit it. (Jaeger's
comparison view counts spans only; latency deltas have been asked for since 2018.)

**Two cohorts** (say yesterday's traces and today's, or version 1.4 and 2.0) are compared
per operation: the shift of its duration distribution (Hodges-Lehmann estimate and
confidence interval, Mann-Whitney p-value, Bonferroni-adjusted for the number of
operations) and the change of its share of the end-to-end critical path: "what got
slower, and does it matter for the user".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from tracelens import schema as s
from tracelens.analysis import stats

PATH = "path"
SEPARATOR = " > "
_MS = 1e6


def _label() -> pl.Expr:
    return pl.col(s.SERVICE_NAME).fill_null("?") + pl.lit(": ") + pl.col(s.NAME).fill_null("?")


def span_paths(spans: pl.DataFrame | pl.LazyFrame, *, max_depth: int = 10_000) -> pl.DataFrame:
    """(trace_id, span_id, path, depth) for every span: the ``service: name`` chain from
    its root. A missing parent starts the path with ``?`` (orphans stay comparable);
    a parent cycle is cut after ``max_depth`` levels. Vectorised: one join per level."""
    base = (
        spans.lazy()
        .select(s.TRACE_ID, s.SPAN_ID, s.PARENT_SPAN_ID, _label().alias("label"))
        .unique([s.TRACE_ID, s.SPAN_ID], keep="first", maintain_order=True)
        .collect()
    )
    lookup = base.select(
        s.TRACE_ID, pl.col(s.SPAN_ID).alias("_ancestor"), pl.col("label").alias("_alabel"), pl.col(s.PARENT_SPAN_ID).alias("_aparent")
    )
    current = base.select(
        s.TRACE_ID, s.SPAN_ID, pl.col("label").alias(PATH), pl.col(s.PARENT_SPAN_ID).alias("_ancestor"), pl.lit(0).alias("depth")
    )
    for _ in range(max_depth):
        if current["_ancestor"].null_count() == current.height:
            break
        joined = current.join(lookup, on=[s.TRACE_ID, "_ancestor"], how="left")
        pending = pl.col("_ancestor").is_not_null()
        found = pl.col("_alabel").is_not_null()
        current = joined.select(
            s.TRACE_ID,
            s.SPAN_ID,
            pl.when(pending & found)
            .then(pl.col("_alabel") + SEPARATOR + pl.col(PATH))
            .when(pending)
            .then(pl.lit("?") + SEPARATOR + pl.col(PATH))
            .otherwise(pl.col(PATH))
            .alias(PATH),
            pl.when(pending & found).then(pl.col("_aparent")).otherwise(None).alias("_ancestor"),
            (pl.col("depth") + pending.cast(pl.Int32)).alias("depth"),
        )
    return current.drop("_ancestor")


def _per_span_times(spans: pl.DataFrame) -> pl.DataFrame:
    """(trace_id, span_id, path, depth, service, name, duration_ns, self_ns, critical_ns)."""
    from tracelens.analysis.critical_path import critical_path
    from tracelens.analysis.self_time import self_time

    paths = span_paths(spans)
    own = spans.select(
        s.TRACE_ID, s.SPAN_ID, s.SERVICE_NAME, s.NAME, pl.col(s.DURATION).dt.total_nanoseconds().alias("duration_ns")
    ).unique([s.TRACE_ID, s.SPAN_ID], keep="first", maintain_order=True)
    self_frame = self_time(spans).select(s.TRACE_ID, s.SPAN_ID, pl.col("self_time").dt.total_nanoseconds().alias("self_ns"))
    critical = (
        critical_path(spans)
        .group_by(s.TRACE_ID, s.SPAN_ID)
        .agg((pl.col(s.END) - pl.col(s.START)).dt.total_nanoseconds().sum().alias("critical_ns"))
    )
    return (
        paths.join(own, on=[s.TRACE_ID, s.SPAN_ID], how="left")
        .join(self_frame, on=[s.TRACE_ID, s.SPAN_ID], how="left")
        .join(critical, on=[s.TRACE_ID, s.SPAN_ID], how="left")
        .with_columns(pl.col("self_ns").fill_null(0), pl.col("critical_ns").fill_null(0))
    )


def _per_path(times: pl.DataFrame, suffix: str) -> pl.DataFrame:
    return times.group_by(PATH).agg(
        pl.col("depth").first(),
        pl.col(s.SERVICE_NAME).first(),
        pl.col(s.NAME).first(),
        pl.len().cast(pl.Int64).alias(f"count_{suffix}"),
        (pl.col("duration_ns").sum() / _MS).alias(f"duration_{suffix}_ms"),
        (pl.col("self_ns").sum() / _MS).alias(f"self_{suffix}_ms"),
        (pl.col("critical_ns").sum() / _MS).alias(f"critical_{suffix}_ms"),
    )


@dataclass(frozen=True, slots=True)
class TraceDiff:
    """``table``: one row per ancestral path (see diff_traces); ``duration_*_ms``: each
    trace's end-to-end duration (its critical path's total)."""

    table: pl.DataFrame
    trace_a: str
    trace_b: str
    duration_a_ms: float
    duration_b_ms: float

    @property
    def duration_delta_ms(self) -> float:
        return self.duration_b_ms - self.duration_a_ms

    def headline(self) -> str:
        """The biggest change, in words."""
        changed = self.table.filter(pl.col("change") != "same")
        if changed.height == 0:
            return f"no change: both traces take {self.duration_a_ms:.1f} ms with the same spans"
        top = changed.row(0, named=True)
        where = f"{top[s.SERVICE_NAME]}: {top[s.NAME]}"
        if top["change"] in ("added", "removed"):
            return f"{where} was {top['change']} ({top['path']})"
        return (
            f"{where} is {top['critical_delta_ms']:+.1f} ms on the critical path "
            f"(self time {top['self_delta_ms']:+.1f} ms); end to end {self.duration_delta_ms:+.1f} ms"
        )


def diff_traces(a: pl.DataFrame | pl.LazyFrame, b: pl.DataFrame | pl.LazyFrame) -> TraceDiff:
    """Align two traces by ancestral path and compare them.

    Table columns: path, depth, service_name, name, change (added | removed | changed |
    same), count_a/b, count_delta, duration_a/b_ms, duration_delta_ms, self_a/b_ms,
    self_delta_ms, critical_a/b_ms, critical_delta_ms. Order: |critical delta| desc, then
    |self delta|, |duration delta|, count changes, then path (the cause of a slowdown
    first; its ancestors only inherit it)."""
    frame_a, frame_b = a.lazy().collect(), b.lazy().collect()
    times_a, times_b = _per_span_times(frame_a), _per_span_times(frame_b)
    left, right = _per_path(times_a, "a"), _per_path(times_b, "b")
    table = left.join(right, on=PATH, how="full", coalesce=True, suffix="_r")
    table = table.with_columns(
        pl.coalesce("depth", "depth_r").alias("depth"),
        pl.coalesce(s.SERVICE_NAME, f"{s.SERVICE_NAME}_r").alias(s.SERVICE_NAME),
        pl.coalesce(s.NAME, f"{s.NAME}_r").alias(s.NAME),
    ).drop("depth_r", f"{s.SERVICE_NAME}_r", f"{s.NAME}_r")
    zero_fill = [c for c in table.columns if c.endswith(("_a", "_b", "_a_ms", "_b_ms"))]
    table = table.with_columns(
        pl.col("count_a").is_null().alias("_added"), pl.col("count_b").is_null().alias("_removed")
    ).with_columns([pl.col(c).fill_null(0) for c in zero_fill])
    table = table.with_columns(
        (pl.col("count_b") - pl.col("count_a")).alias("count_delta"),
        (pl.col("duration_b_ms") - pl.col("duration_a_ms")).alias("duration_delta_ms"),
        (pl.col("self_b_ms") - pl.col("self_a_ms")).alias("self_delta_ms"),
        (pl.col("critical_b_ms") - pl.col("critical_a_ms")).alias("critical_delta_ms"),
    )
    table = table.with_columns(
        pl.when(pl.col("_added"))
        .then(pl.lit("added"))
        .when(pl.col("_removed"))
        .then(pl.lit("removed"))
        .when(
            (pl.col("count_delta") != 0)
            | (pl.col("duration_delta_ms") != 0)
            | (pl.col("self_delta_ms") != 0)
            | (pl.col("critical_delta_ms") != 0)
        )
        .then(pl.lit("changed"))
        .otherwise(pl.lit("same"))
        .alias("change")
    )
    table = table.sort(
        by=[
            pl.col("critical_delta_ms").abs(),
            pl.col("self_delta_ms").abs(),
            pl.col("duration_delta_ms").abs(),
            pl.col("count_delta").abs(),
            pl.col(PATH),
        ],
        descending=[True, True, True, True, False],
    ).select(
        PATH, "depth", s.SERVICE_NAME, s.NAME, "change",
        "count_a", "count_b", "count_delta",
        "duration_a_ms", "duration_b_ms", "duration_delta_ms",
        "self_a_ms", "self_b_ms", "self_delta_ms",
        "critical_a_ms", "critical_b_ms", "critical_delta_ms",
    )
    return TraceDiff(
        table,
        _trace_label(frame_a),
        _trace_label(frame_b),
        float(times_a["critical_ns"].sum()) / _MS,
        float(times_b["critical_ns"].sum()) / _MS,
    )


def _trace_label(frame: pl.DataFrame) -> str:
    ids = frame[s.TRACE_ID].unique().to_list() if frame.height else []
    return ",".join(sorted(ids)) if len(ids) <= 3 else f"{len(ids)} traces"


# --- cohorts --------------------------------------------------------------------------------------


def traces_matching(spans: pl.DataFrame | pl.LazyFrame, where: pl.Expr) -> pl.LazyFrame:
    """Every span of the traces that have at least one span matching ``where``."""
    lf = spans.lazy()
    ids = lf.filter(where).select(s.TRACE_ID).unique()
    return lf.join(ids, on=s.TRACE_ID, how="semi")


def _operation_samples(times: pl.DataFrame, by: Sequence[str]) -> dict[tuple[str, ...], np.ndarray]:
    grouped = times.group_by(list(by), maintain_order=True).agg((pl.col("duration_ns") / _MS).alias("ms"))
    keys = grouped.select(list(by)).rows()
    return {tuple(k): np.asarray(v, dtype=np.float64) for k, v in zip(keys, grouped["ms"].to_list(), strict=True)}


def _shares(times: pl.DataFrame, by: Sequence[str]) -> pl.DataFrame:
    total = float(times["critical_ns"].sum()) or 1.0
    return times.group_by(list(by)).agg((pl.col("critical_ns").sum() / total).alias("share"))


def diff_cohorts(
    spans: pl.DataFrame | pl.LazyFrame,
    baseline: pl.Expr,
    candidate: pl.Expr,
    *,
    by: Sequence[str] = (s.SERVICE_NAME, s.NAME),
    alpha: float = 0.05,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Per operation, how the candidate cohort differs from the baseline cohort.

    A cohort is every trace with at least one span matching its expression. Columns:
    ``by`` columns, n_a, n_b, p50_a_ms, p50_b_ms, p95_a_ms, p95_b_ms, shift_ms (Hodges-
    Lehmann, candidate minus baseline), shift_low_ms, shift_high_ms (CI at
    ``confidence``), p_value (Mann-Whitney, two-sided), p_adjusted (Bonferroni over the
    operations compared), significant (p_adjusted < alpha), critical_share_a/b (share of
    the cohort's end-to-end critical-path time spent in this operation),
    critical_share_delta. Ordered: significant first, then |share delta|, then |shift|."""
    times_a = _per_span_times(traces_matching(spans, baseline).collect())
    times_b = _per_span_times(traces_matching(spans, candidate).collect())
    samples_a, samples_b = _operation_samples(times_a, by), _operation_samples(times_b, by)
    keys = sorted(set(samples_a) | set(samples_b))
    compared = sum(1 for k in keys if k in samples_a and k in samples_b)
    rows = []
    empty = np.zeros(0)
    for key in keys:
        xa, xb = samples_a.get(key, empty), samples_b.get(key, empty)
        mw = stats.mann_whitney_u(xb, xa)
        hl = stats.hodges_lehmann(xa, xb, confidence=confidence)
        p = mw.pvalue
        rows.append(
            (*key, xa.size, xb.size, stats.percentile(xa, 50), stats.percentile(xb, 50), stats.percentile(xa, 95),
             stats.percentile(xb, 95), hl.shift, hl.low, hl.high, p, min(1.0, p * max(compared, 1)) if not np.isnan(p) else p)
        )
    schema = {c: pl.String for c in by} | {
        "n_a": pl.Int64, "n_b": pl.Int64, "p50_a_ms": pl.Float64, "p50_b_ms": pl.Float64, "p95_a_ms": pl.Float64,
        "p95_b_ms": pl.Float64, "shift_ms": pl.Float64, "shift_low_ms": pl.Float64, "shift_high_ms": pl.Float64,
        "p_value": pl.Float64, "p_adjusted": pl.Float64,
    }
    table = pl.DataFrame(rows, schema=schema, orient="row")
    share_a = _shares(times_a, by).rename({"share": "critical_share_a"})
    share_b = _shares(times_b, by).rename({"share": "critical_share_b"})
    table = (
        table.join(share_a, on=list(by), how="left")
        .join(share_b, on=list(by), how="left")
        .with_columns(pl.col("critical_share_a").fill_null(0.0), pl.col("critical_share_b").fill_null(0.0))
        .with_columns(
            (pl.col("critical_share_b") - pl.col("critical_share_a")).alias("critical_share_delta"),
            (pl.col("p_adjusted") < alpha).fill_null(False).alias("significant"),
        )
    )
    return table.sort(
        by=[pl.col("significant"), pl.col("critical_share_delta").abs(), pl.col("shift_ms").abs().fill_nan(0)],
        descending=[True, True, True],
        nulls_last=True,
    )
