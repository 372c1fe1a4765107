"""Cohorts: the baseline and canary requests a canary judgement compares.

A cohort is chosen by a span filter expression (``service.version = "1.4"``, or a time
window like ``start >= ...``) and, by default, restricted to one service's *entry spans*:
its SERVER and CONSUMER spans and its root spans. One entry span = one request the service
handled, so error rates and latencies are per request, not per internal operation.

Judgement works on :class:`CohortData`, the few numpy arrays it needs (start, duration,
error flag per request, and per ratio metric the spans it counts), extracted once so that
progressive steps can re-judge many time windows without touching polars again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt
import polars as pl

from tracelens import schema as s
from tracelens.errors import SpecError

FilterLike = str | pl.Expr
ENTRY_KINDS = ("server", "consumer")
_NS_PER_MS = 1e6


def filter_expr(cohort_filter: FilterLike | None) -> pl.Expr:
    """A polars expression from a filter expression string (tracelens.filters) or an
    expression given as is; ``None`` selects everything."""
    if cohort_filter is None:
        return pl.lit(True)
    if isinstance(cohort_filter, pl.Expr):
        return cohort_filter
    from tracelens.filters import parse_filter  # only needed for text filters

    return parse_filter(cohort_filter)


def is_entry_span() -> pl.Expr:
    """SERVER/CONSUMER spans and roots: where a service starts handling a request."""
    return pl.col(s.KIND).cast(pl.String).is_in(ENTRY_KINDS) | pl.col(s.PARENT_SPAN_ID).is_null()


def entry_spans(spans: pl.LazyFrame | pl.DataFrame, service: str | None = None) -> pl.LazyFrame:
    """The entry spans of ``service`` (of every service when None)."""
    lf = spans.lazy().filter(is_entry_span())
    if service is not None:
        lf = lf.filter(pl.col(s.SERVICE_NAME) == service)
    return lf


def busiest_service(entry: pl.DataFrame) -> str | None:
    """The service with the most entry spans (ties: alphabetical), None for no spans."""
    if entry.height == 0:
        return None
    counts = entry.group_by(s.SERVICE_NAME).len().sort(["len", s.SERVICE_NAME], descending=[True, False])
    return str(counts[s.SERVICE_NAME][0])


@dataclass(frozen=True, slots=True)
class RatioData:
    """Spans counted by one ratio metric: their start (ns) and whether each is good."""

    start_ns: npt.NDArray[np.int64]
    good: npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class CohortData:
    """One cohort's requests as arrays (sorted by start)."""

    name: str
    filter_text: str
    start_ns: npt.NDArray[np.int64]
    duration_ms: npt.NDArray[np.float64]
    error: npt.NDArray[np.bool_]
    ratios: Mapping[str, RatioData] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.start_ns.size)

    def window(self, since_ns: int | None, until_ns: int | None) -> CohortData:
        """Requests that started in [since, until)."""
        lo = 0 if since_ns is None else int(np.searchsorted(self.start_ns, since_ns, side="left"))
        hi = self.n if until_ns is None else int(np.searchsorted(self.start_ns, until_ns, side="left"))
        ratios = {}
        for name, data in self.ratios.items():
            rlo = 0 if since_ns is None else int(np.searchsorted(data.start_ns, since_ns, side="left"))
            rhi = data.start_ns.size if until_ns is None else int(np.searchsorted(data.start_ns, until_ns, side="left"))
            ratios[name] = RatioData(data.start_ns[rlo:rhi], data.good[rlo:rhi])
        return CohortData(self.name, self.filter_text, self.start_ns[lo:hi], self.duration_ms[lo:hi], self.error[lo:hi], ratios)

    def span_seconds(self) -> float:
        """Seconds between the first and the last request (0 for fewer than two)."""
        if self.n < 2:
            return 0.0
        return float(self.start_ns[-1] - self.start_ns[0]) / 1e9


@dataclass(frozen=True, slots=True)
class RatioDefinition:
    """How to count one ratio metric: ``total`` selects spans (None: the cohort's entry
    spans), ``good`` or ``bad`` marks them (None/None: good = not an error)."""

    name: str
    total: FilterLike | None
    good: FilterLike | None = None
    bad: FilterLike | None = None


def _start_ns(col: str = s.START) -> pl.Expr:
    return pl.col(col).dt.epoch("ns")


def _arrays(frame: pl.DataFrame) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    frame = frame.sort(s.START)
    start = frame.select(_start_ns()).to_series().to_numpy().astype(np.int64, copy=False)
    duration = (frame[s.DURATION].dt.total_nanoseconds().to_numpy() / _NS_PER_MS).astype(np.float64, copy=False)
    error = (frame[s.STATUS_CODE].cast(pl.String) == "error").fill_null(False).to_numpy()
    return start, duration, error


def _ratio_data(cohort_spans: pl.LazyFrame, entry: pl.LazyFrame, definition: RatioDefinition) -> RatioData:
    if definition.total is None and definition.good is None and definition.bad is None:
        base = entry
        good = pl.col(s.STATUS_CODE).cast(pl.String) != "error"
    else:
        base = cohort_spans.filter(filter_expr(definition.total)) if definition.total is not None else cohort_spans
        if definition.good is not None:
            good = filter_expr(definition.good)
        elif definition.bad is not None:
            good = ~filter_expr(definition.bad)
        else:
            good = pl.col(s.STATUS_CODE).cast(pl.String) != "error"
    frame = base.select(_start_ns().alias("start_ns"), good.fill_null(False).alias("good")).sort("start_ns").collect()
    return RatioData(frame["start_ns"].to_numpy().astype(np.int64, copy=False), frame["good"].to_numpy())


def cohort_data(
    spans: pl.LazyFrame | pl.DataFrame,
    cohort_filter: FilterLike | None,
    *,
    name: str,
    service: str | None,
    ratios: Iterable[RatioDefinition] = (),
    entry_only: bool = True,
) -> CohortData:
    """The arrays judgement needs for one cohort: spans matching ``cohort_filter``,
    requests = entry spans of ``service`` (all matching spans when ``entry_only`` is False)."""
    cohort_spans = spans.lazy().filter(filter_expr(cohort_filter))
    entry = entry_spans(cohort_spans, service) if entry_only else (
        cohort_spans.filter(pl.col(s.SERVICE_NAME) == service) if service else cohort_spans
    )
    frame = entry.select(s.START, s.DURATION, s.STATUS_CODE).collect()
    start, duration, error = _arrays(frame)
    ratio_arrays = {d.name: _ratio_data(cohort_spans, entry, d) for d in ratios}
    text = cohort_filter if isinstance(cohort_filter, str) else ("(all spans)" if cohort_filter is None else str(cohort_filter))
    return CohortData(name, text, start, duration, error, ratio_arrays)


def infer_service(spans: pl.LazyFrame | pl.DataFrame, cohort_filter: FilterLike | None) -> str:
    """The service whose entry spans dominate the cohort (used when none is given)."""
    entry = entry_spans(spans.lazy().filter(filter_expr(cohort_filter))).select(s.SERVICE_NAME).collect()
    found = busiest_service(entry)
    if found is None:
        raise SpecError(f"no entry spans match the canary filter {cohort_filter!s}; check the expression or pass --service")
    return found


def to_ns(moment: datetime | None) -> int | None:
    """Nanoseconds since the epoch (None stays None)."""
    if moment is None:
        return None
    return int(pl.Series([moment]).cast(s.TIME_DTYPE).dt.epoch("ns")[0])
