"""SLO-violating traces and what sets them apart.

``violations``: the traces whose entry span broke the SLI in the SLO window (newest or
worst first) with the bottleneck of each, from its critical path: the service (and
operation) owning the largest share of the time the request waited.

``explain``: for the violating set against a sample of good traces,

* critical-path share per service and per operation, bad vs good: which service ate the
  budget (the one whose share grows in bad traces);
* BubbleUp-style attribute comparison: every (dimension, value) present in the traces'
  spans, the share of bad traces and of good traces containing it, ranked by the
  difference: the values over-represented among bad traces come first, with counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import polars as pl

from tracelens import schema as s
from tracelens.analysis.columnar import CRITICAL_TIME
from tracelens.analysis.latency_share import SHARE, bottlenecks, latency_share
from tracelens.slo.rollup import floor_minute
from tracelens.slo.selection import good_expr, total_expr
from tracelens.slo.spec import SLO

ORDERS: Final = ("newest", "worst")
DEFAULT_SAMPLE: Final = 500
#: dimensions compared by explain(): intrinsic and promoted columns, plus every attribute
_DIMENSION_COLUMNS: Final = (
    s.SERVICE_NAME, s.NAME, s.KIND, s.STATUS_CODE, *(p.column for p in s.PROMOTED_ATTRIBUTES),
)
_DIMENSION_NAMES: Final = {
    s.SERVICE_NAME: "service.name", s.NAME: "name", s.KIND: "kind", s.STATUS_CODE: "status",
    **{p.column: p.keys[0] for p in s.PROMOTED_ATTRIBUTES},
}


#: whole traces (span contract) for a list of trace ids
TraceLoader = Callable[[list[str]], pl.DataFrame]


def _filter_loader(lf: pl.LazyFrame) -> TraceLoader:
    def load(ids: list[str]) -> pl.DataFrame:
        return lf.filter(pl.col(s.TRACE_ID).is_in(pl.Series(ids, dtype=pl.String).implode())).collect()

    return load


def _window(lf: pl.LazyFrame, slo: SLO, at: datetime | None) -> tuple[pl.LazyFrame, datetime]:
    if at is None:
        newest = lf.select(pl.col(s.END).max()).collect().item()
        if newest is None:
            at = datetime.now().astimezone()
        else:
            at = floor_minute(newest) + timedelta(minutes=1)
    else:
        at = floor_minute(at)
    return lf.filter((pl.col(s.END) >= at - slo.window) & (pl.col(s.END) < at)), at


def bad_entry_spans(spans: pl.DataFrame | pl.LazyFrame, slo: SLO, at: datetime | None = None) -> pl.LazyFrame:
    """The SLO's events in its window that failed the SLI."""
    lf, _ = _window(spans.lazy(), slo, at)
    return lf.filter(total_expr(slo).fill_null(False) & ~good_expr(slo).fill_null(False))


def trace_bottlenecks(trace_spans: pl.DataFrame) -> pl.DataFrame:
    """Per trace: the service and the operation owning the largest share of its critical
    path (trace_id, bottleneck_service, bottleneck_operation, bottleneck_share)."""
    schema = {"trace_id": pl.String, "bottleneck_service": pl.String, "bottleneck_operation": pl.String,
              "bottleneck_share": pl.Float64}
    if trace_spans.height == 0:
        return pl.DataFrame(schema=schema)
    by_service = bottlenecks(trace_spans, "service").select(
        s.TRACE_ID, pl.col(s.SERVICE_NAME).alias("bottleneck_service"), pl.col(SHARE).alias("bottleneck_share")
    )
    by_operation = bottlenecks(trace_spans, "operation").select(
        s.TRACE_ID, (pl.col(s.SERVICE_NAME) + " " + pl.col(s.NAME)).alias("bottleneck_operation")
    )
    return by_service.join(by_operation, on=s.TRACE_ID, how="left").select(list(schema))


def violations(
    spans: pl.DataFrame | pl.LazyFrame,
    slo: SLO,
    at: datetime | None = None,
    *,
    limit: int = 20,
    order: str = "newest",
    load_traces: TraceLoader | None = None,
) -> pl.DataFrame:
    """Traces whose entry span broke ``slo``'s SLI in its window ending at ``at``:
    trace_id, span_id, service_name, name, end, duration, status_code, status_message,
    bottleneck_service, bottleneck_operation, bottleneck_share. ``order`` newest (by end)
    or worst (by duration). ``load_traces(ids)`` fetches whole traces for the critical
    path (default: filter ``spans``; a store can do it by id much faster)."""
    if order not in ORDERS:
        msg = f"order must be one of {', '.join(ORDERS)}, got {order!r}"
        raise ValueError(msg)
    lf = spans.lazy()
    bad = bad_entry_spans(lf, slo, at)
    if order == "newest":
        bad = bad.sort(s.END, s.TRACE_ID, descending=[True, False])
    else:
        bad = bad.sort(s.DURATION, s.END, descending=[True, True])
    picked = (
        bad.unique(s.TRACE_ID, keep="first", maintain_order=True)
        .head(limit)
        .select(s.TRACE_ID, s.SPAN_ID, s.SERVICE_NAME, s.NAME, s.END, s.DURATION, pl.col(s.STATUS_CODE).cast(pl.String),
                s.STATUS_MESSAGE)
        .collect()
    )
    trace_spans = (load_traces or _filter_loader(lf))(picked[s.TRACE_ID].to_list())
    return picked.join(trace_bottlenecks(trace_spans), on=s.TRACE_ID, how="left", maintain_order="left")


@dataclass(frozen=True)
class Explanation:
    slo: str
    bad_traces: int
    good_traces: int
    by_service: pl.DataFrame  # service_name, share_bad, share_good, delta, ms_per_bad_trace, ms_per_good_trace
    by_operation: pl.DataFrame  # service_name, name, share_bad, share_good, delta, ...
    attributes: pl.DataFrame  # dimension, value, bad, good, bad_share, good_share, score

    def as_dict(self) -> dict[str, Any]:
        return {
            "slo": self.slo,
            "bad_traces": self.bad_traces,
            "good_traces": self.good_traces,
            "by_service": self.by_service.to_dicts(),
            "by_operation": self.by_operation.to_dicts(),
            "attributes": self.attributes.to_dicts(),
        }


def _share_table(bad_spans: pl.DataFrame, good_spans: pl.DataFrame, by: str, n_bad: int, n_good: int) -> pl.DataFrame:
    """Critical-path share per group in bad vs good traces (latency_share of each set)."""
    keys = [s.SERVICE_NAME] if by == "service" else [s.SERVICE_NAME, s.NAME]

    def shares(frame: pl.DataFrame, label: str, n: int) -> pl.DataFrame:
        if frame.height == 0:
            return pl.DataFrame(schema={**{k: pl.String for k in keys}, f"share_{label}": pl.Float64,
                                        f"ms_per_{label}_trace": pl.Float64})
        table = latency_share(frame, by)
        return table.select(
            *keys,
            pl.col(SHARE).fill_null(0.0).alias(f"share_{label}"),
            (pl.col(CRITICAL_TIME).dt.total_nanoseconds() / max(n, 1) / 1e6).alias(f"ms_per_{label}_trace"),
        )

    joined = shares(bad_spans, "bad", n_bad).join(shares(good_spans, "good", n_good), on=keys, how="full",
                                                  coalesce=True)
    return (
        joined.with_columns(pl.col(c).fill_null(0.0) for c in joined.columns if c not in keys)
        .with_columns(delta=pl.col("share_bad") - pl.col("share_good"))
        .sort("delta", *keys, descending=[True] + [False] * len(keys))
        .select(*keys, "share_bad", "share_good", "delta", "ms_per_bad_trace", "ms_per_good_trace")
    )


def _dimension_values(trace_spans: pl.LazyFrame) -> pl.LazyFrame:
    """Distinct (trace_id, dimension, value) over the spans' columns and attributes."""
    schema = trace_spans.collect_schema()
    columns = [c for c in _DIMENSION_COLUMNS if c in schema]
    from_columns = trace_spans.select(
        s.TRACE_ID, *[pl.col(c).cast(pl.String).alias(_DIMENSION_NAMES[c]) for c in columns]
    ).unpivot(index=s.TRACE_ID, variable_name="dimension", value_name="value")
    promoted_keys = list(s.ATTRIBUTE_KEY_TO_COLUMN)
    parts = [from_columns]
    for list_column, prefix in ((s.ATTRIBUTES, ""), (s.RESOURCE_ATTRIBUTES, "resource.")):
        if list_column not in schema:
            continue
        attr = pl.col(list_column)
        exploded = (
            trace_spans.select(s.TRACE_ID, attr)
            .explode(list_column)
            .filter(attr.is_not_null())
            .select(
                s.TRACE_ID,
                attr.struct.field("key").alias("key"),
                pl.coalesce(
                    attr.struct.field("str"),
                    attr.struct.field("int").cast(pl.String),
                    attr.struct.field("float").cast(pl.String),
                    attr.struct.field("bool").cast(pl.String),
                ).alias("value"),
            )
            .filter(~pl.col("key").is_in(promoted_keys))  # already compared as columns
            .select(s.TRACE_ID, (pl.lit(prefix) + pl.col("key")).alias("dimension"), "value")
        )
        parts.append(exploded)
    return pl.concat(parts, how="vertical_relaxed").drop_nulls("value").unique()


def _bubble_up(bad_spans: pl.DataFrame, good_spans: pl.DataFrame, n_bad: int, n_good: int, top: int) -> pl.DataFrame:
    def counts(frame: pl.DataFrame, label: str) -> pl.LazyFrame:
        return _dimension_values(frame.lazy()).group_by("dimension", "value").agg(pl.len().alias(label))

    joined = counts(bad_spans, "bad").join(counts(good_spans, "good"), on=["dimension", "value"], how="full",
                                           coalesce=True)
    return (
        joined.with_columns(pl.col("bad").fill_null(0).cast(pl.Int64), pl.col("good").fill_null(0).cast(pl.Int64))
        .with_columns(
            bad_share=pl.col("bad") / max(n_bad, 1),
            good_share=pl.col("good") / max(n_good, 1),
        )
        .with_columns(score=pl.col("bad_share") - pl.col("good_share"))
        .filter(pl.col("score") > 0)
        .sort("score", "bad", "dimension", "value", descending=[True, True, False, False])
        .head(top)
        .collect()
    )


def explain(
    spans: pl.DataFrame | pl.LazyFrame,
    slo: SLO,
    at: datetime | None = None,
    *,
    sample: int = DEFAULT_SAMPLE,
    top: int = 20,
    seed: int = 0,
    load_traces: TraceLoader | None = None,
) -> Explanation:
    """What sets the violating traces of ``slo`` apart from its good ones (up to
    ``sample`` traces of each, sampled reproducibly)."""
    lf, _ = _window(spans.lazy(), slo, at)
    events = lf.filter(total_expr(slo).fill_null(False)).select(
        s.TRACE_ID, good_expr(slo).fill_null(False).alias("_good")
    )
    per_trace = events.group_by(s.TRACE_ID).agg(pl.col("_good").all()).collect()
    bad_ids = per_trace.filter(~pl.col("_good"))[s.TRACE_ID].sort()
    good_ids = per_trace.filter(pl.col("_good"))[s.TRACE_ID].sort()
    if bad_ids.len() > sample:
        bad_ids = bad_ids.sample(sample, seed=seed)
    if good_ids.len() > sample:
        good_ids = good_ids.sample(sample, seed=seed)
    loader = load_traces or _filter_loader(spans.lazy())
    bad_spans = loader(bad_ids.to_list())
    good_spans = loader(good_ids.to_list())
    n_bad, n_good = bad_ids.len(), good_ids.len()
    return Explanation(
        slo=slo.name,
        bad_traces=n_bad,
        good_traces=n_good,
        by_service=_share_table(bad_spans, good_spans, "service", n_bad, n_good),
        by_operation=_share_table(bad_spans, good_spans, "operation", n_bad, n_good),
        attributes=_bubble_up(bad_spans, good_spans, n_bad, n_good, top),
    )
