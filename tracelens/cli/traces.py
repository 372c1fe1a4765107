"""``tracelens traces``: list traces (one summary row each), newest first."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tracelens.cli.common import data_option, echo_json, existing_data_dir, frame_records, handle_errors, json_option

SORT_CHOICES = ("start", "duration", "span_count", "error_count")


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


def _render(summary: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{summary.height} trace(s)", title_justify="left")
    for column, justify in (
        ("trace_id", "left"),
        ("root service", "left"),
        ("root name", "left"),
        ("start (UTC)", "left"),
        ("duration", "right"),
        ("spans", "right"),
        ("errors", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
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
@click.option("--since", default=None, callback=_time_option, help="Only traces with a span starting after this: 1h, 30m, 7d or ISO 8601.")
@click.option("--until", default=None, callback=_time_option, help="... and before this (same forms as --since).")
@click.option("--service", default=None, help="Only traces with a span of this service.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="At most this many traces.")
@click.option("--sort", "sort", type=click.Choice(SORT_CHOICES), default="start", show_default=True,
              help="Order by this column, largest (newest) first.")
@json_option
@handle_errors
def traces(data: Path, since: str | None, until: str | None, service: str | None, limit: int, sort: str, as_json: bool) -> None:
    """List traces: trace id, root service and name, start, duration, span count and
    error count; newest first (or --sort duration / span_count / error_count).

    \b
    Example:
      tracelens traces --since 1h --service checkout
      tracelens traces --sort duration --limit 5 --json | jq -r '.[0].trace_id'
    """
    import tracelens

    store = tracelens.open(existing_data_dir(data))
    summary = store.traces(since=since, until=until, service=service, limit=limit, sort=sort)
    if as_json:
        echo_json(frame_records(summary))
        return
    _render(summary)
