"""``tracelens diff``: what changed between two traces, or between two cohorts of traces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tracelens.cli.common import data_option, echo_json, existing_data_dir, frame_records, handle_errors, json_option


def _load_trace(store: Any, ref: str) -> Any:
    """A trace by id from the store, or every span in a trace file (OTLP/Jaeger/Zipkin)."""
    path = Path(ref)
    if path.is_file():
        try:
            from tracelens.ingest import decode_file  # sniffs OTLP JSON/protobuf, Jaeger, Zipkin
        except ImportError:  # older ingest: OTLP JSON only
            from tracelens.ingest import decode_otlp_json

            return decode_otlp_json(path.read_bytes()).spans
        return decode_file(path).spans
    return store().trace(ref)


@click.command("diff")
@click.argument("traces", nargs=-1)
@click.option("--baseline", default=None, help="Cohort diff: filter expression for the baseline traces.")
@click.option("--candidate", default=None, help="Cohort diff: filter expression for the candidate traces.")
@click.option("--since", default=None, help="Cohort diff: only spans from this time on (e.g. 2h, ISO 8601).")
@click.option("--until", default=None, help="Cohort diff: only spans before this time.")
@click.option("--limit", default=20, show_default=True, help="Show at most this many rows.")
@data_option
@json_option
@handle_errors
def diff(traces: tuple[str, ...], baseline: str | None, candidate: str | None, since: str | None, until: str | None,
         limit: int, data: Path, as_json: bool) -> None:
    """Compare two traces (by id, or trace files) aligned by their service/operation path
    from the root: added/removed spans, count, duration, self-time and critical-path
    deltas, the cause of a slowdown first. Or compare two cohorts of traces per operation:
    latency shift with confidence interval and significance, and the change of each
    operation's share of the end-to-end critical path.

    \b
    Example:
      tracelens diff 5b8efff798038103d269b633813fc60c 0af7651916cd43dd8448eb211c80319c
      tracelens diff --baseline 'service.version = "1.4"' --candidate 'service.version = "2.0"' --since 2h
    """
    import polars as pl

    import tracelens

    cohort_mode = baseline is not None or candidate is not None
    if cohort_mode and traces:
        raise click.UsageError("give either two traces or --baseline and --candidate, not both")
    if not cohort_mode and len(traces) != 2:
        raise click.UsageError("give two trace ids (or trace files), or --baseline EXPR --candidate EXPR")
    if cohort_mode and (baseline is None or candidate is None):
        raise click.UsageError("a cohort diff needs both --baseline and --candidate")

    def store() -> Any:
        return tracelens.open(existing_data_dir(data))

    if not cohort_mode:
        from tracelens.analysis.diff import diff_traces

        result = diff_traces(_load_trace(store, traces[0]), _load_trace(store, traces[1]))
        table = result.table
        if as_json:
            echo_json({
                "trace_a": result.trace_a, "trace_b": result.trace_b, "duration_a_ms": result.duration_a_ms,
                "duration_b_ms": result.duration_b_ms, "duration_delta_ms": result.duration_delta_ms,
                "headline": result.headline(), "total": table.height, "rows": frame_records(table.head(limit)),
            })
            return
        shown = table.filter(pl.col("change") != "same").head(limit)
        columns = ["change", "service_name", "name", "depth", "count_delta", "duration_delta_ms", "self_delta_ms", "critical_delta_ms"]
        caption = (
            f"{result.trace_a} -> {result.trace_b}: {result.duration_a_ms:.1f} ms -> {result.duration_b_ms:.1f} ms "
            f"({result.duration_delta_ms:+.1f} ms); {shown.height} changed paths shown of {table.height}"
        )
        _print(shown.select(columns), "trace diff (critical-path delta first)", caption, result.headline())
        return
    from tracelens.analysis.diff import diff_cohorts
    from tracelens.filters import parse_filter
    from tracelens.store.timerange import parse_time

    spans = store().spans(since=parse_time(since), until=parse_time(until))
    table = diff_cohorts(spans, parse_filter(baseline or ""), parse_filter(candidate or ""))
    if as_json:
        echo_json({"baseline": baseline, "candidate": candidate, "total": table.height, "rows": frame_records(table.head(limit))})
        return
    columns = ["service_name", "name", "n_a", "n_b", "p95_a_ms", "p95_b_ms", "shift_ms", "shift_low_ms", "shift_high_ms",
               "p_adjusted", "critical_share_a", "critical_share_b"]
    shown = table.head(limit).select(columns).with_columns(pl.col(pl.Float64).round(3))
    _print(shown, f"cohort diff: {candidate} vs {baseline}", "shift = candidate - baseline (Hodges-Lehmann, 95% CI); p Bonferroni-adjusted", None)


def _print(frame: Any, title: str, caption: str, headline: str | None) -> None:
    from rich.console import Console

    from tracelens.views.tables import frame_table

    console = Console()
    console.print(frame_table(frame, title=title, caption=caption))
    if headline:
        console.print(headline, highlight=False)
