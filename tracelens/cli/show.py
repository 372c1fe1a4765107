"""``tracelens show TRACE_ID``: one trace as a tree with its critical path and bottleneck."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tracelens.cli.common import data_option, echo_json, existing_data_dir, frame_records, handle_errors, json_option

FORMATS = ("tree", "otlp-json", "jaeger-json")


@click.command("show")
@click.argument("trace_id")
@data_option
@click.option("--attributes", "show_attributes", is_flag=True, help="Show each span's attributes and events.")
@click.option("--depth", type=click.IntRange(min=1), default=None, help="Show spans down to this depth only.")
@click.option("--collapse", type=click.IntRange(min=1), default=None,
              help="Fold runs of more than N same-named siblings into one line (default: 20 for traces over 200 spans).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="tree", show_default=True,
              help="otlp-json / jaeger-json export the trace (Jaeger's UI opens jaeger-json files).")
@json_option
@handle_errors
def show(trace_id: str, data: Path, show_attributes: bool, depth: int | None, collapse: int | None, fmt: str, as_json: bool) -> None:
    """Show one trace as a tree: a time bar per span, critical-path spans marked ◆,
    self time, errors, and the bottleneck (the service with the most critical-path time).

    \b
    Example:
      tracelens show 5b8efff798038103d269b633813fc60c
      tracelens show 5b8efff798038103d269b633813fc60c --format jaeger-json > trace.json
    """
    import tracelens

    spans = tracelens.open(existing_data_dir(data)).trace(trace_id)
    if fmt != "tree":
        from tracelens.ingest import encode_jaeger_json, encode_otlp_json

        echo_json(encode_otlp_json(spans) if fmt == "otlp-json" else encode_jaeger_json(spans))
        return
    from tracelens.analysis.trace_summary import summarize_trace

    summary = summarize_trace(spans)
    if as_json:
        echo_json({
            "trace_id": summary.trace_id,
            "duration_ms": summary.duration_ns / 1e6,
            "span_count": spans.height,
            "bottleneck": summary.bottleneck,
            "bottleneck_share": summary.bottleneck_share,
            "critical_path_by_service": frame_records(summary.critical_by_service),
            "critical_span_ids": sorted(summary.critical_span_ids),
        })
        return
    from rich.console import Console

    from tracelens.views.trace_view import render_trace

    if collapse is None and spans.height > 200:
        collapse = 20
    console = Console()
    console.print(
        render_trace(
            spans,
            critical=summary.critical_span_ids,
            self_times=summary.self_times,
            bottleneck=summary.bottleneck_line(),
            max_depth=depth,
            collapse=collapse,
            show_attributes=show_attributes,
            width=console.width,
        ),
        soft_wrap=not sys.stdout.isatty(),
    )
