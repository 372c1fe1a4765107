"""``tracelens deps``: the service dependency graph, as text or in an export format."""

from __future__ import annotations

from pathlib import Path

import click

from tracelens.cli.common import data_option, existing_data_dir, handle_errors

FORMATS = ("text", "graphml", "dot", "mermaid", "json", "jaeger")


@click.command("deps")
@data_option
@click.option("--since", default="24h", show_default=True, help="Look back this far (e.g. 15m, 1h, 7d).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
              help="text (edges by critical-path time), graphml, dot, mermaid, json (node-link), jaeger (DependencyLink).")
@click.option("--where", default=None, help='Only traces with a span matching this filter, e.g. "duration > 2s and kind = server".')
@click.option("--self-loops", is_flag=True, help="Also draw a service calling itself.")
@click.option("--limit", default=30, show_default=True, help="Text format: show at most this many edges.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write to FILE instead of stdout.")
@handle_errors
def deps(data: Path, since: str, fmt: str, where: str | None, self_loops: bool, limit: int, output: Path | None) -> None:
    """Service dependencies from whole traces: calls, errors, latency and critical-path time
    per edge, with virtual nodes for databases, external APIs and queues.

    \b
    Example:
      tracelens deps --since 1h
      tracelens deps --where "duration > 2s and kind = server"
      tracelens deps --format graphml --output deps.graphml
      tracelens deps --format jaeger | jq '.[0]'
    """
    import tracelens
    from tracelens.analysis.service_graph import service_graph

    store = tracelens.open(existing_data_dir(data))
    graph = service_graph(store.spans(since=since), where=where, self_loops=self_loops)
    if graph.edges.is_empty():
        # an empty picture is usually a window that misses the data: say so (stderr keeps
        # the exported formats clean for pipes)
        click.echo(f"no calls between services in spans since {since}"
                   f"{' matching --where' if where else ''}; widen --since (e.g. --since 30d)", err=True)
    if fmt == "text":
        from rich.console import Console

        from tracelens.views.graph_view import service_graph_view

        view = service_graph_view(graph.edges, graph.accuracy.warnings(), limit=limit)
        if output is None:
            Console().print(view)
        else:
            with output.open("w") as handle:
                Console(file=handle, width=160, no_color=True).print(view)
        return
    from tracelens.views.graph_export import export_graph

    text = export_graph(graph.graph, fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
