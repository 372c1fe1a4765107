"""``tracelens export``: a selection of traces out, for sharing and for other tools."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tracelens.cli.common import data_option, echo_json, existing_data_dir, handle_errors

if TYPE_CHECKING:
    import polars as pl

FORMATS = ("parquet", "otlp-json", "jaeger-json", "csv")


@click.command("export")
@data_option
@click.option("--where", default=None, help="Every trace with a span matching this filter expression.")
@click.option("--trace", "trace_ids", multiple=True, help="A trace id to export (repeatable).")
@click.option("--since", default=None, help="Only spans from this far back (e.g. 1h, 7d).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="otlp-json", show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output (required for parquet).")
@handle_errors
def export(data: Path, where: str | None, trace_ids: tuple[str, ...], since: str | None, fmt: str, output: Path | None) -> None:
    """Export whole traces as Parquet (the span contract), OTLP/JSON (re-importable by any
    OTLP tool), Jaeger JSON (opens in Jaeger's UI) or CSV (attributes as JSON text).

    \b
    Example:
      tracelens export --where 'status = error' --since 1h -o errors.json
      tracelens export --trace 4bf92f3577b34da6a3ce929d0e0e4736 --format jaeger-json > trace.json
      tracelens export --since 1d --format parquet -o spans.parquet
    """
    if fmt == "parquet" and output is None:
        raise click.UsageError("--format parquet needs --output FILE")
    import polars as pl

    import tracelens
    from tracelens import schema as s
    from tracelens.analysis.latency_share import cohort

    spans = tracelens.open(existing_data_dir(data)).spans(since=since)
    if trace_ids:
        spans = spans.filter(pl.col(s.TRACE_ID).is_in([t.lower() for t in trace_ids]))
    frame = cohort(spans, where).sort(s.TRACE_ID, s.START).collect()
    if fmt == "parquet":
        assert output is not None
        frame.write_parquet(output)
    elif fmt == "csv":
        text = _flat(frame).write_csv()
        _write_text(text, output)
    else:
        from tracelens.ingest import encode_jaeger_json, encode_otlp_json

        payload = encode_otlp_json(frame) if fmt == "otlp-json" else encode_jaeger_json(frame)
        if output is None:
            echo_json(payload)
        else:
            import json

            output.write_text(json.dumps(payload))
    traces = frame[s.TRACE_ID].n_unique()
    click.echo(f"exported {frame.height} spans of {traces} trace(s) as {fmt}" + (f" to {output}" if output else ""), err=True)


def _flat(frame: pl.DataFrame) -> pl.DataFrame:
    """CSV cannot hold nested columns: attributes, events and links become JSON text."""
    import json

    import polars as pl

    from tracelens import schema as s

    def attrs_json(values: list[dict[str, object]] | None) -> str:
        return json.dumps(s.plain_attributes(values), default=str, sort_keys=True)

    nested = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    converted = frame.with_columns(
        [
            pl.col(name).map_elements(
                (lambda v: attrs_json(v.to_list())) if name in (s.ATTRIBUTES, s.RESOURCE_ATTRIBUTES)
                else (lambda v: json.dumps(v.to_list(), default=str)),
                return_dtype=pl.String,
            )
            for name in nested
        ]
    )
    return converted.with_columns(pl.col(s.DURATION).dt.total_nanoseconds().alias(s.DURATION + "_ns")).drop(s.DURATION)


def _write_text(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
