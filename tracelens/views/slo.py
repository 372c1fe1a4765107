"""SLO report renderables. They take the plain dicts the SLO API produces (``as_dict()``),
so views stay independent of the analysis layer and never compute anything."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text

_STATE_STYLE = {"ok": "green", "breached": "bold red", "no data": "yellow"}


def _pct(value: float | None, digits: int = 2) -> str:
    return "no data" if value is None else f"{value:.{digits}f}%"


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _burn(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _hours(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 48:
        return f"{value / 24:.1f} d"
    return f"{value:.1f} h"


def alert_lines(alerts: Sequence[Mapping[str, Any]]) -> list[Text]:
    """One line per firing alert, with the tiers that fire and their burn rates."""
    lines = []
    for alert in alerts:
        if not alert["firing"]:
            continue
        tiers = [t for t in alert["tiers"] if t["firing"]]
        detail = "; ".join(
            f"{t['window']}: {_burn(t['burn_long'])}/{_burn(t['burn_short'])} > {t['threshold']:.3g}x"
            + (" (volume mode)" if t["volume_mode"] else "")
            for t in tiers
        )
        style = "bold red" if alert["severity"] == "page" else "yellow"
        lines.append(Text(f"{alert['severity'].upper()} firing since {_since(alert['since'])} — {detail}", style=style))
    return lines


def _since(value: str | None) -> str:
    return "?" if value is None else value.replace("T", " ").replace("+00:00", " UTC")


def slo_block(status: Mapping[str, Any], alerts: Sequence[Mapping[str, Any]]) -> list[Text]:
    """A few short lines per SLO (fits 80 columns): what it promises, where it stands,
    how fast it burns, and its firing alerts."""
    state = status["state"]
    mark = {"ok": "✓", "breached": "✗", "no data": "?"}.get(state, "·")
    title = Text()
    title.append(f"{mark} {status['slo']}", style="bold")
    title.append(f"  {status['service'] or 'filter'} · {status['objective_percent']:g}% over {status['window']}")
    title.append(f"  {state.upper()}", style=_STATE_STYLE.get(state, ""))
    lines = [title]
    if status["total"]:
        budget = f"budget {_num(status['budget_events'])} events"
        if status.get("budget_minutes") is not None:
            budget += f" ({status['budget_minutes']:.1f} min)"
        lines.append(Text(f"  SLI {_pct(status['sli_percent'], 3)} · bad {_num(status['bad'])} of "
                          f"{_num(status['total'])} · {budget}"))
        left = f"  budget left {_pct(status['remaining_percent'], 1)}"
        if status.get("remaining_minutes") is not None:
            left += f" ({status['remaining_minutes']:.1f} min)"
        rates = status["burn_rates"]
        left += f" · burn 1h {_burn(rates.get('1h'))} 6h {_burn(rates.get('6h'))}"
        left += f" · lasts {_hours(status['time_to_exhaustion_hours'])}"
        lines.append(Text(left))
    else:
        lines.append(Text("  no events in the window: budget unknown (no data)", style="yellow"))
    lines.extend(Text("  ") + line for line in alert_lines([a for a in alerts if a["slo"] == status["slo"]]))
    return lines


def slo_report(
    statuses: Sequence[Mapping[str, Any]],
    alerts: Sequence[Mapping[str, Any]],
    findings: Sequence[str] = (),
) -> RenderableType:
    """The `slo check` report: one block per SLO, then notes and lint findings."""
    parts: list[RenderableType] = []
    if statuses:
        parts.append(Text(f"SLOs at {_since(statuses[0]['at'])}", style="bold"))
    for status in statuses:
        parts.extend(slo_block(status, alerts))
    partial = [st["slo"] for st in statuses if st.get("data_since") and st["data_since"] > st["window_start"]]
    if partial:
        parts.append(Text(f"note: the data starts after the window start for {', '.join(partial)}: figures cover "
                          "the data present", style="dim"))
    for finding in findings:
        parts.append(Text(finding, style="yellow"))
    return Group(*parts)
