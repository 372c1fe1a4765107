"""``tracelens status``: what the receiver accepted, rejected and refused, and the store's state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tracelens.cli.common import data_option, echo_json, existing_data_dir, handle_errors, json_option
from tracelens.config import AUTH_TOKEN_ENV


def _collect(data: Path, auth_token: str | None) -> dict[str, Any]:
    import tracelens
    from tracelens.receiver import read_status

    receiver = read_status(data, auth_token)
    store = (receiver or {}).get("store") if receiver and receiver.get("live") else None
    if store is None:
        store = tracelens.open(data).stats()
    return {"receiver": receiver, "store": store}


def _render(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    receiver = report["receiver"]
    store = report["store"]
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    if receiver is None:
        table.add_row("receiver", "never ran on this data directory")
    else:
        state = "running" if receiver.get("running") else "stopped"
        freshness = "live" if receiver.get("live") else f"from status file, {receiver.get('age_seconds', '?')}s old"
        table.add_row("receiver", f"{state} (pid {receiver.get('pid')}; {freshness})")
        for kind, where in (receiver.get("endpoints") or {}).items():
            table.add_row(f"  {kind}", str(where))
        table.add_row("accepted", f"{receiver.get('accepted_spans', 0)} span(s) in {receiver.get('accepted_requests', 0)} request(s)")
        table.add_row("rejected spans", _by_reason(receiver.get("rejected_spans") or {}))
        table.add_row("refused requests", _by_reason(receiver.get("refused_requests") or {}))
        if receiver.get("overloaded"):
            table.add_row("overloaded", str(receiver["overloaded"]))
    table.add_row("WAL backlog", f"{store.get('wal_backlog_bytes', 0)} bytes")
    for key in ("table_files", "table_bytes", "table_rows", "wal_corrupt_tails"):
        if key in store:
            table.add_row(key.replace("_", " "), str(store[key]))
    Console().print(table)


def _by_reason(counts: dict[str, int]) -> str:
    if not counts:
        return "0"
    return f"{sum(counts.values())} (" + ", ".join(f"{reason} {n}" for reason, n in sorted(counts.items())) + ")"


@click.command("status")
@data_option
@click.option("--auth-token", envvar=AUTH_TOKEN_ENV, default=None, help=f"Bearer token of the running server (or ${AUTH_TOKEN_ENV}).")
@json_option
@handle_errors
def status(data: Path, auth_token: str | None, as_json: bool) -> None:
    """Receiver counters (accepted, rejected spans and refused requests by reason) and store state.

    Asks the running server (its status endpoint) and falls back to the status file it
    writes into the data directory every second, so it also works after the server stopped.

    \b
    Example:
      tracelens status --data ./tracelens-data
      tracelens status --json | jq '.receiver.refused_requests'
    """
    report = _collect(existing_data_dir(data), auth_token)
    if as_json:
        echo_json(report)
    else:
        _render(report)
