"""``tracelens slo``: check SLOs (exit 1 when breached or paging), replay alert history,
list violating traces. Thin adapters over tracelens.slo."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TypeVar

import click

from tracelens.cli.common import data_option, echo_json, existing_data_dir, frame_records, handle_errors, json_option

F = TypeVar("F", bound=Callable[..., Any])

spec_argument = click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
at_option = click.option("--at", "at", default=None,
                         help="Evaluate at this moment (ISO 8601 or 'now'); default: the end of the newest data minute.")


def _spec_errors_are_usage_errors(func: F) -> F:
    """A broken spec is the user's mistake: exit 2 with the file:line message."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from tracelens.errors import SpecError

        try:
            return func(*args, **kwargs)
        except SpecError as exc:
            raise click.UsageError(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def _parse_at(value: str | None) -> datetime | None:
    if value is None:
        return None
    if value.strip().lower() == "now":
        return datetime.now(timezone.utc)
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not ISO 8601 (e.g. 2026-01-31T12:00:00Z) or 'now'", param_hint="--at") from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _load(spec: Path, names: tuple[str, ...] = ()) -> Any:
    import tracelens.slo as slo_api

    slos = slo_api.load(spec)
    if names:
        known = {s.name for s in slos}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise click.BadParameter(f"no SLO named {unknown[0]!r} in {spec} (have: {', '.join(sorted(known))})",
                                     param_hint="--slo")
        slos = tuple(s for s in slos if s.name in names)
    return slos


def _spans(data: Path) -> Any:
    import tracelens

    return tracelens.open(existing_data_dir(data)).spans()


def _console() -> Any:
    from rich.console import Console

    return Console()


@click.group("slo")
def slo() -> None:
    """Service level objectives from spans: budgets, burn-rate alerts, violating traces.

    SPEC is a YAML file in tracelens' compact form or the OpenSLO v1 subset
    (see docs/cli.md and fixtures/slo/).

    \b
    Example:
      tracelens slo check fixtures/slo/checkout.yaml --data ./tracelens-data
      tracelens slo history slos.yaml --json
      tracelens slo violations slos.yaml --slo checkout-latency --explain
    """


@slo.command("check")
@spec_argument
@data_option
@at_option
@click.option("--slo", "names", multiple=True, help="Only this SLO (repeatable).")
@click.option("--per", type=click.Choice(["day", "week"]), default=None,
              help="Also show the budget used per day or per week of the window (share of the window's budget).")
@json_option
@handle_errors
@_spec_errors_are_usage_errors
def check(spec: Path, data: Path, at: str | None, names: tuple[str, ...], per: str | None, as_json: bool) -> None:
    """Evaluate every SLO in SPEC; exit 1 when one is breached or a page alert fires.

    Shows the SLI, bad/total events, the error budget left (events, and minutes for
    availability), burn rates, time to exhaustion, firing alerts and spec lint findings.

    \b
    Example:
      tracelens slo check fixtures/slo/checkout.yaml --data ./tracelens-data
      tracelens slo check slos.yaml --at 2026-01-31T12:00:00Z --json | jq '.slos[].remaining_percent'
      tracelens slo check slos.yaml --per week      # budget used per week of the window
    """
    import polars as pl

    import tracelens.slo as slo_api

    when = _parse_at(at)
    slos = _load(spec, names)
    # one read of just the columns the SLOs need, shared by the rollup and the linter
    spans = _spans(data).select(slo_api.columns_for(slos)).collect()
    rollup = slo_api.rollup(spans, slos)
    statuses = slo_api.evaluate(rollup, at=when)
    alerts = slo_api.alerts(rollup, at=when)
    findings = [str(f) for f in slo_api.lint(slos, spans, rollup)]
    periods = {}
    if per is not None:
        every = "1d" if per == "day" else "1w"
        periods = {st.slo.name: slo_api.consumption(rollup, st.slo, at=when, every=every).filter(
            pl.col("total") > 0) for st in statuses}
    breached = [st.slo.name for st in statuses if st.state == "breached"]
    paging = sorted({a.slo for a in alerts if a.firing and a.severity == "page"})
    if as_json:
        alert_dicts = [a.as_dict() for a in alerts]
        echo_json({
            "at": statuses[0].at.isoformat() if statuses else None,
            "ok": not breached and not paging,
            "breached": breached,
            "paging": paging,
            "slos": [
                st.as_dict()
                | {"alerts": [a for a in alert_dicts if a["slo"] == st.slo.name]}
                | ({f"per_{per}": frame_records(periods[st.slo.name])} if per else {})
                for st in statuses
            ],
            "lint": findings,
        })
    else:
        from tracelens.views.slo import slo_report

        console = _console()
        console.print(slo_report([st.as_dict() for st in statuses], [a.as_dict() for a in alerts], findings))
        if per is not None:
            from tracelens.views.tables import frame_table

            for name, frame in periods.items():
                shown = frame.select("period", "bad", "total", pl.col("consumed").alias("used_pct"),
                                     pl.col("consumed_cumulative").alias("cumulative_pct"))
                console.print(frame_table(shown, title=f"{name}: budget used per {per} (share of the window's budget)"))
        if breached or paging:
            click.echo(f"FAILED: breached: {', '.join(breached) or '-'}; paging: {', '.join(paging) or '-'}", err=True)
    if breached or paging:
        raise SystemExit(1)


@slo.command("history")
@spec_argument
@data_option
@click.option("--since", default=None, help="Replay from this moment (ISO 8601); default: the start of the data.")
@click.option("--until", default=None, help="Replay until this moment (ISO 8601 or 'now'); default: the end of the data.")
@click.option("--slo", "names", multiple=True, help="Only this SLO (repeatable).")
@json_option
@handle_errors
@_spec_errors_are_usage_errors
def history(spec: Path, data: Path, since: str | None, until: str | None, names: tuple[str, ...], as_json: bool) -> None:
    """Replay the burn-rate alerts minute by minute over the stored spans: when each
    page/ticket alert would have fired and reset (for tuning thresholds).

    \b
    Example:
      tracelens slo history fixtures/slo/checkout.yaml --data ./tracelens-data
      tracelens slo history slos.yaml --since 2026-01-01T00:00:00Z --json
    """
    import tracelens.slo as slo_api

    slos = _load(spec, names)
    rollup = slo_api.rollup(_spans(data).select(slo_api.columns_for(slos)).collect(), slos)
    events = slo_api.history(rollup, since=_parse_at(since), until=_parse_at(until))
    if as_json:
        echo_json({"events": frame_records(events), "fires": events.filter(events["event"] == "fire").height})
        return
    from tracelens.views.tables import frame_table

    fires = events.filter(events["event"] == "fire").height
    caption = f"{fires} fire event(s) for {len(slos)} SLO(s); burn = long/short window burn rate at the event"
    _console().print(frame_table(events, title="Alert history", caption=caption,
                                 columns=["time", "slo", "severity", "event", "tiers", "burn_long", "burn_short", "threshold"]))


@slo.command("violations")
@spec_argument
@data_option
@at_option
@click.option("--slo", "names", multiple=True, help="Only this SLO (repeatable; default: every SLO).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="Traces per SLO.")
@click.option("--order", type=click.Choice(["newest", "worst"]), default="newest", show_default=True)
@click.option("--explain", is_flag=True, help="Also compare bad and good traces: critical-path share per service and "
                                               "over-represented attribute values.")
@click.option("--sample", default=100, show_default=True, type=click.IntRange(min=1),
              help="With --explain: bad and good traces compared (each, sampled reproducibly).")
@json_option
@handle_errors
@_spec_errors_are_usage_errors
def violations(spec: Path, data: Path, at: str | None, names: tuple[str, ...], limit: int, order: str, explain: bool,
               sample: int, as_json: bool) -> None:
    """Traces whose entry span broke the SLI, with the bottleneck of each from its
    critical path; --explain says which service ate the budget and which attribute values
    are over-represented among the bad traces.

    \b
    Example:
      tracelens slo violations fixtures/slo/checkout.yaml --slo checkout-latency --order worst
      tracelens slo violations slos.yaml --explain --json
    """
    import tracelens.slo as slo_api

    when = _parse_at(at)
    slos = _load(spec, names)
    import polars as pl

    import tracelens

    store = tracelens.open(existing_data_dir(data))
    spans = store.spans()

    def load_traces(ids: list[str]) -> pl.DataFrame:
        # by id through the store's trace lookup: far cheaper than filtering every span
        frames = [store.spans(trace_id=trace_id).collect() for trace_id in ids]
        return pl.concat(frames) if frames else spans.head(0).collect()

    results = []
    for item in slos:
        found = slo_api.violations(spans, item, when, limit=limit, order=order, load_traces=load_traces)
        explanation = (
            slo_api.explain(spans, item, when, sample=sample, load_traces=load_traces) if explain else None
        )
        results.append((item, found, explanation))
    if as_json:
        echo_json({"slos": [
            {"slo": item.name, "traces": frame_records(found),
             **({"explain": _explanation_records(explanation)} if explanation is not None else {})}
            for item, found, explanation in results
        ]})
        return
    from tracelens.views.tables import frame_table

    console = _console()
    for item, found, explanation in results:
        columns = ["trace_id", "end", "duration", "status_code", "bottleneck_service", "bottleneck_share",
                   "bottleneck_operation"]
        console.print(frame_table(found, title=f"{item.name}: violating traces ({order} first)", columns=columns,
                                  caption=f"{found.height} shown (limit {limit})"))
        if explanation is not None:
            console.print(frame_table(explanation.by_service.head(10),
                                      title=f"critical-path share: {explanation.bad_traces} bad vs "
                                            f"{explanation.good_traces} good traces"))
            console.print(frame_table(explanation.attributes.head(10), title="over-represented in bad traces"))


def _explanation_records(explanation: Any) -> dict[str, Any]:
    return {
        "bad_traces": explanation.bad_traces,
        "good_traces": explanation.good_traces,
        "by_service": frame_records(explanation.by_service),
        "by_operation": frame_records(explanation.by_operation),
        "attributes": frame_records(explanation.attributes),
    }


@slo.command("lint")
@spec_argument
@data_option
@click.option("--no-data", is_flag=True, help="Check the spec alone, without reading the span store.")
@handle_errors
@_spec_errors_are_usage_errors
def lint(spec: Path, data: Path, no_data: bool) -> None:
    """Report impossible or suspicious settings in SPEC; exit 1 on errors.

    \b
    Example:
      tracelens slo lint fixtures/slo/checkout.yaml --no-data
    """
    import tracelens.slo as slo_api

    slos = _load(spec)
    if no_data:
        findings = slo_api.lint(slos)
    else:
        spans = _spans(data).select(slo_api.columns_for(slos)).collect()
        findings = slo_api.lint(slos, spans, slo_api.rollup(spans, slos))
    for finding in findings:
        click.echo(str(finding))
    if not findings:
        click.echo(f"{spec}: {len(slos)} SLO(s), no findings")
    if any(f.level == "error" for f in findings):
        raise SystemExit(1)
