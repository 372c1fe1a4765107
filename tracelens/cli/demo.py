"""``tracelens demo``: a simulated shop with chaos, through OTLP into tracelens, then the story.

Thin adapter: options -> tracelens.demo.run.run_demo (with a progress bar) ->
tracelens.demo.report (compute, then render).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tracelens.cli.common import echo_json, handle_errors, json_option

SCENARIO_HELP = (
    "Chaos on the timeline: NAME[@START[+LENGTH]], comma-separated or repeated, e.g. "
    "db-slowdown@1h+30m. Names: db-slowdown, kill-pod, network-partition, "
    "network-partition-cached, error-spike, sustained-errors, slow-degradation, canary, "
    "payment-outage; 'none' for a calm run. Default: db-slowdown,kill-pod,canary."
)


@click.command("demo")
@click.option("--data", "data", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Keep the spans in this data directory (default: a fresh temporary one, printed at the end).")
@click.option("--scenario", "scenarios", multiple=True, help=SCENARIO_HELP)
@click.option("--duration", default="4h", show_default=True, help="Simulated time to cover (e.g. 30m, 4h, 1d).")
@click.option("--rps", default=0.3, show_default=True, type=click.FloatRange(min=0.001, max=1000),
              help="Mean requests per simulated second (Poisson arrivals).")
@click.option("--seed", default=7, show_default=True, type=int, help="Seed: the same seed gives the same spans.")
@json_option
@handle_errors
def demo(data: Path | None, scenarios: tuple[str, ...], duration: str, rps: float, seed: int, as_json: bool) -> None:
    """Run a simulated shop (web-frontend, auth, payment, inventory + database, email via a
    queue) instrumented with the real OpenTelemetry SDK, break it on a timeline, send every
    span over OTLP/gRPC to an embedded tracelens receiver, then tell what tracelens finds:
    slowest traces and their bottleneck, critical path before/during the chaos, SLO burn-rate
    alerts, the dependency graph, the circuit breaker, the canary verdict.

    \b
    Example:
      tracelens demo
      tracelens demo --scenario db-slowdown@1h+30m --duration 3h --rps 0.5
      tracelens demo --scenario canary,error-spike@20m --data ./shop-data --json
    """
    from tracelens.demo.simulate import SimulationConfig, default_start
    from tracelens.demo.timeline import DEFAULT_SCENARIOS, parse_duration, parse_scenarios
    from tracelens.errors import ScenarioError

    try:
        seconds = parse_duration(duration)
        windows = parse_scenarios(scenarios or (DEFAULT_SCENARIOS,), seconds)
    except ScenarioError as exc:
        raise click.BadParameter(str(exc), param_hint="--scenario/--duration") from None
    if seconds <= 0:
        raise click.BadParameter("must be longer than 0s", param_hint="--duration")
    config = SimulationConfig(seconds, default_start(seconds), rps=rps, seed=seed, scenarios=windows)
    run = _run_with_progress(config, data, quiet=as_json)

    from tracelens.demo.report import compute_story, render, story_json

    story = compute_story(run)
    if as_json:
        echo_json(story_json(story))
        return
    from rich.console import Console

    console = Console()
    if not console.is_terminal:
        console.width = 140  # piped or logged: no terminal to wrap for, keep tables whole
    for part in render(story):
        console.print(part, soft_wrap=True)  # long commands stay on one line for copy-paste
    console.print(f"\nThe spans are kept in {run.data} (pass --data {run.data} to any tracelens command).")


def _run_with_progress(config: Any, data: Path | None, *, quiet: bool) -> Any:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from tracelens.demo.run import run_demo

    if quiet:
        return run_demo(config, data)
    columns = (
        TextColumn("simulating the shop"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}% of simulated time"),
        TextColumn("{task.fields[requests]} requests, {task.fields[spans]} spans"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("shop", total=1.0, requests=0, spans=0)

        def update(fraction: float, requests: int, spans: int) -> None:
            progress.update(task, completed=fraction, requests=requests, spans=spans)

        return run_demo(config, data, update)
