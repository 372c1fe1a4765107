"""``tracelens critical-path``: who owns the latency, aggregated over many traces."""

from __future__ import annotations

import re
from pathlib import Path

import click

from tracelens.cli.common import data_option, echo_json, existing_data_dir, frame_records, handle_errors, json_option

BAND = re.compile(r"^p(\d+(?:\.\d+)?)-(\d+(?:\.\d+)?)$")


def _band(value: str | None) -> tuple[float, float] | None:
    if value is None:
        return None
    match = BAND.match(value)
    if not match or not 0 <= float(match[1]) < float(match[2]) <= 100:
        raise click.BadParameter(f"{value!r} is not a latency band like p90-99 (percentiles, low < high <= 100)")
    return float(match[1]), float(match[2])


@click.command("critical-path")
@data_option
@click.option("--since", default="24h", show_default=True, help="Look back this far (e.g. 1h, 7d).")
@click.option("--where", default=None, help="Only traces with a span matching this filter expression.")
@click.option("--by", default="service", show_default=True, help="Attribute to service, operation, a column or any attribute key.")
@click.option("--band", default=None, help="Only traces in this band of root latency, e.g. p90-99 or p99-100.")
@click.option("--tail", is_flag=True, help="What grows in the tail: the p0-50 band against the p99-100 band.")
@click.option("--top", default=15, show_default=True, help="Show the N largest contributors.")
@json_option
@handle_errors
def critical_path(data: Path, since: str, where: str | None, by: str, band: str | None, tail: bool, top: int, as_json: bool) -> None:
    """Critical-path attribution over every trace in the window: how much of the
    end-to-end latency each service (or operation, or attribute value) is responsible for.

    \b
    Example:
      tracelens critical-path --since 1h --by service
      tracelens critical-path --where 'service.name = "checkout"' --band p99-100 --by operation
      tracelens critical-path --tail
    """
    limits = _band(band)
    import tracelens
    from tracelens.analysis.latency_share import band_difference, latency_bands, latency_share

    spans = tracelens.open(existing_data_dir(data)).spans(since=since)
    if tail:
        table = band_difference(latency_bands(spans, by, where=where), by=by)
        title = "What grows in the tail (p99-100 vs p0-50): mean critical-path time per trace"
    elif limits is not None:
        table = latency_bands(spans, by, where=where, bands=[limits])
        title = f"Critical-path attribution, traces in band {band}"
    else:
        table = latency_share(spans, by, where=where)
        title = f"Critical-path attribution since {since}"
    shown = table.head(top)
    if as_json:
        echo_json({"total": table.height, "rows": frame_records(shown)})
        return
    from rich.console import Console

    from tracelens.views.tables import frame_table

    if table.is_empty():
        click.echo("no traces matched")
        return
    hidden = {"band", "band_traces", "band_min", "band_max", "mean_share"}
    columns = [c for c in shown.columns if c not in hidden]
    caption = f"{shown.height} of {table.height} groups"
    if "band_traces" in shown.columns and shown.height:
        row = shown.row(0, named=True)
        caption += f"; {row['band_traces']} traces, root latency {row['band_min']} .. {row['band_max']}"
    Console().print(frame_table(shown, title=title, columns=columns, caption=caption))
