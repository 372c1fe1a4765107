"""``tracelens compact``: rewrite the span store for fast reads (sorted by trace_id, no duplicates)."""

from __future__ import annotations

from pathlib import Path

import click

from tracelens.cli.common import data_option, echo_json, existing_data_dir, handle_errors, json_option


@click.command("compact")
@data_option
@click.option("--day", "days", multiple=True, metavar="YYYY-MM-DD", help="Only this day partition (repeatable); default: every day.")
@json_option
@handle_errors
def compact(data: Path, days: tuple[str, ...], as_json: bool) -> None:
    """Compact the span store: each day partition of several files becomes one file sorted
    by trace_id (trace lookups read one row group), and duplicate spans are removed from
    disk. A running `tracelens serve` does this by itself for closed days (see
    --compact-every); this command is for a store no server has open.

    \b
    Example:
      tracelens compact --data ./tracelens-data
      tracelens compact --data ./tracelens-data --day 2026-03-10 --json
    """
    from datetime import date

    from tracelens.store import Store

    for day in days:
        try:
            date.fromisoformat(day)
        except ValueError:
            raise click.BadParameter(f"{day!r} is not a YYYY-MM-DD day", param_hint="--day") from None
    with Store.open(existing_data_dir(data)) as store:
        report = store.compact(set(days) if days else None)
    if as_json:
        echo_json(report)
        return
    touched = sorted(report["rewritten_days"] + report["zordered_days"])
    if not touched:
        click.echo("nothing to compact: every day is already one file")
        return
    click.echo(
        f"compacted {len(touched)} day(s): {', '.join(touched)}; "
        f"{report['duplicates_removed']} duplicate span(s) removed"
    )
