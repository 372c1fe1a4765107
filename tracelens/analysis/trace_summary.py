"""Everything `tracelens show` needs about ONE trace, from the per-trace reference code.

For a single trace the networkx reference (tracelens.model.tree + critical_path_of_tree)
is instant, and it avoids loading the compiled bulk kernels, which would cost more than
the whole command is allowed (`show` answers in under a second, process start included).
tests/test_analysis_trace_summary.py checks it agrees with the bulk ``bottlenecks``.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tracelens import schema as s
from tracelens.analysis.critical_path import critical_path_reference
from tracelens.analysis.self_time import self_time_reference


@dataclass(frozen=True, slots=True)
class TraceSummary:
    trace_id: str
    duration_ns: int  # of the primary root (what the critical path tiles)
    critical_span_ids: frozenset[str]
    self_times: dict[str, int]  # span_id -> ns
    critical_by_service: pl.DataFrame  # service_name, critical_time (Duration), share
    bottleneck: str | None  # the service with the most critical-path time
    bottleneck_share: float

    def bottleneck_line(self) -> str | None:
        """E.g. ``credit-card-api (82% of total time)``."""
        if self.bottleneck is None:
            return None
        return f"{self.bottleneck} ({self.bottleneck_share:.0%} of total time)"


def summarize_trace(spans: pl.DataFrame) -> TraceSummary:
    """Critical path, self times and bottleneck of the one trace in ``spans``."""
    sections = critical_path_reference(spans)
    self_frame = self_time_reference(spans)
    duration_ns = int((sections[s.END] - sections[s.START]).dt.total_nanoseconds().sum() or 0)
    by_service = (
        sections.group_by(s.SERVICE_NAME)
        .agg((pl.col(s.END) - pl.col(s.START)).sum().alias("critical_time"))
        .with_columns((pl.col("critical_time").dt.total_nanoseconds() / max(duration_ns, 1)).alias("share"))
        .sort(["critical_time", s.SERVICE_NAME], descending=[True, False])
    )
    top = by_service.row(0, named=True) if by_service.height else None
    return TraceSummary(
        trace_id=str(spans[s.TRACE_ID][0]) if spans.height else "",
        duration_ns=duration_ns,
        critical_span_ids=frozenset(sections[s.SPAN_ID].to_list()),
        self_times=dict(
            zip(self_frame[s.SPAN_ID].to_list(), self_frame["self_time"].dt.total_nanoseconds().to_list(), strict=True)
        ),
        critical_by_service=by_service,
        bottleneck=top[s.SERVICE_NAME] if top and duration_ns > 0 else None,
        bottleneck_share=float(top["share"]) if top else 0.0,
    )
