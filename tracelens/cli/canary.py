"""``tracelens canary``: judge a canary against its baseline from stored spans; exit 0/1."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from tracelens.cli.common import data_option, echo_json, existing_data_dir, handle_errors, json_option

_STYLE = {"Successful": "green", "Failed": "bold red", "Inconclusive": "yellow"}


@click.command("canary")
@click.option("--baseline", "baseline", default=None, help='Filter expression for the old version, e.g. \'service.version = "1.4"\'.')
@click.option("--canary", "canary", default=None, help='Filter expression for the new version, e.g. \'service.version = "2.0"\'.')
@click.option("--rules", "rules", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Rule file (the seed's canary_rules YAML). Default: the seed's rules (error rate 1%, p95 +10%, success 99%).")
@click.option("--service", default=None, help="Judge this service's entry spans (default: the service the canary's spans belong to).")
@click.option("--since", default=None, help="Only requests from this time on (e.g. 30m, 2h, or ISO 8601). Default: all stored spans.")
@click.option("--until", default=None, help="Only requests before this time.")
@click.option("--all-spans", is_flag=True, help="Judge every span of the service, not only its entry (SERVER/CONSUMER/root) spans.")
@click.option("--weight", default=None, help="Share of traffic on the canary (e.g. 5%), so request_rate rules compare rates per share.")
@click.option("--steps", "progressive", is_flag=True,
              help="Judge the progressive steps (5% -> 25% -> 50% -> 100%, or the rule file's analysis.steps) one by one.")
@click.option("--start", default=None, help="With --steps: when the first step began (ISO 8601). Default: the first canary request's minute.")
@click.option("--schedule", default=None, help='With --steps: the steps, e.g. "5%:10m,25%:10m,50%:10m,100%" (default: the rule file\'s, else 30m each).')
@click.option("--interval", default=None, help="With --steps: check every this long within a step (e.g. 1m; default 5m).")
@data_option
@json_option
@handle_errors
def canary(
    baseline: str | None, canary: str | None, rules: Path | None, service: str | None, since: str | None,
    until: str | None, all_spans: bool, weight: str | None, progressive: bool, start: str | None, schedule: str | None, interval: str | None, data: Path,
    as_json: bool,
) -> None:
    """Compare a canary with its baseline, rule by rule, on per-request samples.

    Each rule is Successful, Failed or Inconclusive with the numbers behind it (requests,
    rates, percentiles, Hodges-Lehmann shift and CI, p-values); the run gets a
    Kayenta-style score and an overall verdict. Exit code 0 when the verdict is
    Successful, 1 otherwise (Failed, or Inconclusive: not a pass), 2 for usage errors.

    \b
    Example:
      tracelens canary --baseline 'service.version = "1.4"' --canary 'service.version = "2.0"' \\
          --rules canary.yaml --since 30m
      tracelens canary --baseline 'service.version = "1.4"' --canary 'service.version = "2.0"' --steps --json
    """
    if (baseline is None or canary is None) and rules is None:
        raise click.UsageError("give --baseline EXPR and --canary EXPR (or name them under analysis: in --rules)")
    import tracelens
    from tracelens.canary.api import compare_cohorts, progressive_rollout
    from tracelens.store.timerange import parse_time

    store = tracelens.open(existing_data_dir(data))
    since_at, until_at = parse_time(since), parse_time(until)
    spans = store.spans(since=since_at, until=until_at)
    if progressive:
        from tracelens.canary.rules import parse_duration_seconds

        result = progressive_rollout(
            spans, baseline=baseline, canary=canary, rules=rules, service=service, start=parse_time(start),
            schedule=schedule, interval_seconds=parse_duration_seconds(interval, "--interval") if interval else None,
            entry_only=not all_spans,
        )
        payload = result.to_dict()
        verdict = result.verdict
        if as_json:
            echo_json(payload)
        else:
            _render_steps(payload)
    else:
        from tracelens.canary.rules import parse_fraction

        canary_weight = parse_fraction(weight, "--weight") * 100.0 if weight else None
        outcome = compare_cohorts(
            spans, baseline=baseline, canary=canary, rules=rules, service=service, since=since_at, until=until_at,
            canary_weight=canary_weight, entry_only=not all_spans,
        )
        payload = outcome.to_dict()
        verdict = outcome.verdict
        if as_json:
            echo_json(payload)
        else:
            _render_verdict(payload)
    sys.exit(0 if verdict == "Successful" else 1)


def _render_verdict(payload: dict[str, Any], title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=title or f"canary {payload['canary']} vs baseline {payload['baseline']} ({payload['service']})")
    for column in ("rule", "verdict", "canary", "baseline", "limit", "p-value", "n canary/baseline"):
        table.add_column(column, justify="left" if column in ("rule", "verdict") else "right")
    for r in payload["results"]:
        unit = r["unit"]
        table.add_row(
            r["metric"],
            f"[{_STYLE[r['status']]}]{r['status']}[/]",
            _value(r["canary_value"], unit),
            _value(r["baseline_value"], unit),
            _value(r["bound"], unit),
            "" if r["pvalue"] is None else f"{r['pvalue']:.2g}",
            f"{r['n_canary']}/{r['n_baseline']}",
        )
    console.print(table)
    for r in payload["results"]:
        console.print(f"• [bold]{r['metric']}[/]: {r['summary']}", highlight=False)
    score = "n/a" if payload["score"] is None else f"{payload['score']:.0f}"
    rollback = " -> rollback" if payload["rollback"] else ""
    console.print(
        f"\n[{_STYLE[payload['verdict']]}]{payload['verdict'].upper()}[/]  score {score}: {payload['reason']}{rollback}",
        highlight=False,
    )


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "%":
        return f"{value:.2f}%"
    if unit == "ms":
        return f"{value:.0f} ms" if value >= 100 else f"{value:.1f} ms"
    return f"{value:.3g} {unit}"


def _render_steps(payload: dict[str, Any]) -> None:
    from rich.console import Console

    console = Console()
    console.print("[bold]Progressive rollout[/]", highlight=False)
    console.print(payload["summary"], highlight=False)
    judged = [s for s in payload["steps"] if s["checks"]]
    if judged:
        last = judged[-1]
        check = last["checks"][-1]
        detail = {**check, "baseline": "", "canary": "", "service": "", "rollback": payload["rollback_at"] is not None}
        console.print()
        _render_verdict(detail, title=f"step {last['step']} ({last['weight']:g}%), check at {check['at']}")
    when = f" (rollback at {payload['rollback_at']})" if payload["rollback_at"] else ""
    console.print(f"\nrollout: [{_STYLE.get(payload['verdict'], 'bold')}]{payload['verdict'].upper()}[/]{when}", highlight=False)
