"""``tracelens stats``: Jaeger's Trace Statistics table for one trace or a cohort."""

from __future__ import annotations

from pathlib import Path

import click

from tracelens.cli.common import data_option, echo_json, existing_data_dir, frame_records, handle_errors, json_option


@click.command("stats")
@click.argument("trace_id", required=False)
@data_option
@click.option("--where", default=None, help="Every trace with a span matching this filter expression.")
@click.option("--since", default=None, help="With --where: only spans from this far back (e.g. 1h).")
@click.option("--by", default="service", show_default=True, help="Group by service, operation, a column or an attribute key.")
@click.option("--then", "then", default=None, help="Second level: group each group again (e.g. --by service --then operation).")
@click.option("--limit", default=50, show_default=True, help="Show at most this many rows.")
@json_option
@handle_errors
def stats(trace_id: str | None, data: Path, where: str | None, since: str | None, by: str, then: str | None, limit: int, as_json: bool) -> None:
    """Count, total/avg/min/max duration, self time and % of trace, per group.

    \b
    Example:
      tracelens stats 4bf92f3577b34da6a3ce929d0e0e4736 --by service --then operation
      tracelens stats --where 'duration > 2s and kind = server' --since 1h --by http.route
    """
    if (trace_id is None) == (where is None):
        raise click.UsageError("give a TRACE_ID or --where EXPRESSION (one of them)")
    import tracelens
    from tracelens.analysis.latency_share import cohort
    from tracelens.analysis.trace_statistics import trace_statistics

    store = tracelens.open(existing_data_dir(data))
    spans = store.trace(trace_id) if trace_id else cohort(store.spans(since=since), where).collect()
    table = trace_statistics(spans, by=by, then=then)
    shown = table.head(limit)
    traces = spans.select("trace_id").n_unique()
    if as_json:
        echo_json({"traces": traces, "spans": spans.height, "total": table.height, "rows": frame_records(shown)})
        return
    from rich.console import Console

    from tracelens.views.tables import frame_table

    title = f"Trace statistics: {traces} trace(s), {spans.height} spans"
    Console().print(frame_table(shown, title=title, caption=f"{shown.height} of {table.height} groups"))
