"""``tracelens services``: RED per service (and per operation) over a time range."""

from __future__ import annotations

from pathlib import Path

import click

from tracelens.cli.common import data_option, echo_json, existing_data_dir, frame_records, handle_errors, json_option


@click.command("services")
@data_option
@click.option("--since", default="24h", show_default=True, help="Look back this far (e.g. 15m, 1h, 7d).")
@click.option("--operations", is_flag=True, help="One row per operation (service, span name, kind) instead of per service.")
@click.option("--all-spans", is_flag=True, help="Count every span, not only entry (SERVER/CONSUMER/root) spans.")
@click.option("--limit", default=30, show_default=True, help="Show at most this many rows (highest impact first).")
@json_option
@handle_errors
def services(data: Path, since: str, operations: bool, all_spans: bool, limit: int, as_json: bool) -> None:
    """Rate, errors and latency (p50/p95/p99) per service, ranked by impact (p95 x rate).

    \b
    Example:
      tracelens services --since 1h
      tracelens services --operations --json | jq '.rows[0]'
    """
    import tracelens
    from tracelens.analysis.red import OPERATION_DIMENSIONS, SERVICE_DIMENSIONS, red

    from datetime import UTC, datetime

    from tracelens.store.timerange import parse_time

    now = datetime.now(UTC)
    window = (parse_time(since, now), now)  # rates are per second of the whole window asked for
    store = tracelens.open(existing_data_dir(data))
    spans = store.spans(since=window[0], until=now)
    frame = red(spans, by=OPERATION_DIMENSIONS if operations else SERVICE_DIMENSIONS, entry_only=not all_spans, window=window)
    shown = frame.head(limit)
    if as_json:
        echo_json({"total": frame.height, "since": since, "rows": frame_records(shown)})
        return
    from rich.console import Console

    from tracelens.views.tables import frame_table

    caption = f"{shown.height} of {frame.height} rows; durations in ms; impact = p95 (s) x rate (/s)"
    Console().print(frame_table(shown, title=f"RED since {since}", caption=caption))
