"""``tracelens traces``: search traces (one summary row each), newest first."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from tracelens.cli.common import data_option, echo_json, existing_data_dir, frame_records, handle_errors, json_option

SORT_CHOICES = ("start", "duration", "spans", "errors", "span_count", "error_count")


def _time_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Reject a malformed --since/--until as a usage error (exit 2) before any work."""
    if value is None:
        return None
    from tracelens.errors import StoreError
    from tracelens.store.timerange import parse_time

    try:
        parse_time(value)
    except StoreError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _duration_option(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    from tracelens.errors import StoreError
    from tracelens.store.timerange import parse_duration

    try:
        return parse_duration(value)
    except StoreError as exc:
        raise click.BadParameter(str(exc)) from None


def _render(summary: Any, total: int) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summary.height} of {total} trace(s)", title_justify="left")
    for column, justify in (
        ("trace_id", "left"),
        ("root service", "left"),
        ("root name", "left"),
        ("start (UTC)", "left"),
        ("duration", "right"),
        ("spans", "right"),
        ("errors", "right"),
    ):
        table.add_column(column, justify=justify, no_wrap=column == "trace_id")  # type: ignore[arg-type]
    for row in summary.iter_rows(named=True):
        errors = row["error_count"]
        table.add_row(
            row["trace_id"],
            row["root_service"],
            row["root_name"],
            row["start"].strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            f"{row['duration'].total_seconds() * 1000:,.1f} ms",
            str(row["span_count"]),
            f"[red]{errors}[/red]" if errors else "0",
        )
    Console().print(table)


@click.command("traces")
@data_option
@click.option("--since", "--from", "since", default=None, callback=_time_option,
              help="Only spans starting after this: 1h, 30m, 7d (ago) or ISO 8601.")
@click.option("--until", "--to", "until", default=None, callback=_time_option, help="... and before this (same forms).")
@click.option("--service", default=None, help="A span of this service ...")
@click.option("--operation", default=None, help="... with this span name ...")
@click.option("--where", default=None, help="... matching this filter expression, e.g. 'http.route = \"/pay\"' ...")
@click.option("--span-duration", default=None, callback=_duration_option, help="... lasting at least this long (e.g. 500ms) ...")
@click.option("--error", is_flag=True, help="... with status error (all span conditions hold on one span).")
@click.option("--min-duration", default=None, callback=_duration_option, help="Root span lasts at least this long.")
@click.option("--max-duration", default=None, callback=_duration_option, help="Root span lasts at most this long.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="At most this many traces.")
@click.option("--sort", "sort", type=click.Choice(SORT_CHOICES), default="start", show_default=True,
              help="Order by this, largest (newest) first.")
@json_option
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV instead of the table.")
@handle_errors
def traces(
    data: Path, since: str | None, until: str | None, service: str | None, operation: str | None, where: str | None,
    span_duration: timedelta | None, error: bool, min_duration: timedelta | None, max_duration: timedelta | None,
    limit: int, sort: str, as_json: bool, as_csv: bool,
) -> None:
    """Search traces: trace id, root service and name, start, duration, span and error
    counts. Span conditions (--service, --operation, --where, --span-duration, --error)
    must all hold on one span, as in Jaeger's search; --min/--max-duration apply to the
    root span.

    \b
    Example:
      tracelens traces --since 1h --service checkout --error
      tracelens traces --where 'http.route = "/pay" and duration > 500ms' --sort duration
      tracelens traces --sort duration --limit 5 --json | jq -r '.[0].trace_id'
    """
    import tracelens
    from tracelens.analysis.search import TraceQuery, search_traces

    spans = tracelens.open(existing_data_dir(data)).spans(since=since, until=until)
    query = TraceQuery(service=service, operation=operation, where=where, min_span_duration=span_duration,
                       error=error, min_duration=min_duration, max_duration=max_duration)
    summary, total = search_traces(spans, query, sort=sort, limit=limit)
    if as_json:
        echo_json(frame_records(summary))
    elif as_csv:
        click.echo(summary.with_columns(
            [summary[c].dt.total_nanoseconds().alias(c + "_ns") for c in ("duration", "root_duration")]
        ).drop("duration", "root_duration").write_csv(), nl=False)
    else:
        _render(summary, total)
