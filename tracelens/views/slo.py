"""SLO report renderables. They take the plain dicts the SLO API produces (``as_dict()``),
so views stay independent of the analysis layer and never compute anything."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
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


def status_table(statuses: Sequence[Mapping[str, Any]], alerts: Sequence[Mapping[str, Any]]) -> Table:
    """One row per SLO: objective, SLI, events, budget remaining, burn rates, alerts, state."""
    firing: dict[str, list[str]] = {}
    for alert in alerts:
        if alert["firing"]:
            firing.setdefault(alert["slo"], []).append(alert["severity"].upper())
    table = Table(show_edge=False, header_style="bold", title="SLOs")
    for name, right in (
        ("SLO", False), ("objective", True), ("SLI", True), ("bad / total", True), ("budget left", True),
        ("burn 1h", True), ("burn 6h", True), ("exhausted in", True), ("alerts", False), ("state", False),
    ):
        table.add_column(name, justify="right" if right else "left")
    for st in statuses:
        left = _pct(st["remaining_percent"], 1)
        minutes = st.get("remaining_minutes")
        if minutes is not None:
            left += f" ({minutes:.1f} min)"
        rates = st["burn_rates"]
        table.add_row(
            f"{st['slo']} ({st['window']})",
            f"{st['objective_percent']:g}%",
            _pct(st["sli_percent"], 3),
            f"{_num(st['bad'])} / {_num(st['total'])}",
            left,
            _burn(rates.get("1h")),
            _burn(rates.get("6h")),
            _hours(st["time_to_exhaustion_hours"]),
            Text(", ".join(firing.get(st["slo"], [])) or "-", style="bold red" if st["slo"] in firing else ""),
            Text(st["state"], style=_STATE_STYLE.get(st["state"], "")),
        )
    return table


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
        since = alert["since"] or "?"
        style = "bold red" if alert["severity"] == "page" else "yellow"
        lines.append(Text(f"{alert['severity'].upper()} {alert['slo']}: firing since {since} — {detail}", style=style))
    return lines


def slo_report(
    statuses: Sequence[Mapping[str, Any]],
    alerts: Sequence[Mapping[str, Any]],
    findings: Sequence[str] = (),
) -> RenderableType:
    parts: list[RenderableType] = [status_table(statuses, alerts)]
    lines = alert_lines(alerts)
    if lines:
        parts.append(Text(""))
        parts.extend(lines)
    partial = [st["slo"] for st in statuses if st.get("data_since") and st["data_since"] > st["window_start"]]
    if partial:
        parts.append(Text(f"note: data starts after the window start for {', '.join(partial)}: figures cover the data "
                          "present", style="dim"))
    for finding in findings:
        parts.append(Text(finding, style="yellow"))
    return Group(*parts)
