"""SLOs from spans: exact error budgets, multi-window multi-burn-rate alerts with their
history, and SLO-violating traces explained by their critical path.

    >>> slos = tracelens.slo.load("fixtures/slo/checkout.yaml")          # doctest: +SKIP
    >>> spans = tracelens.open("tracelens-data").spans()                   # doctest: +SKIP
    >>> for status in tracelens.slo.evaluate(spans, slos):                 # doctest: +SKIP
    ...     print(status.slo.name, status.sli, status.remaining)
    >>> tracelens.slo.history(spans, slos)       # fire/reset timeline    # doctest: +SKIP
    >>> tracelens.slo.violations(spans, slos[1]) # breaking traces        # doctest: +SKIP

Every function takes spans (a DataFrame or LazyFrame in the span contract) or a Rollup
from :func:`rollup` (compute it once, reuse it for evaluate/alerts/history).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from tracelens.slo.alerts import AlertState, TierState, alert_history, alert_states, burn_timeline
from tracelens.slo.budget import SLOStatus, consumption, evaluate_rollup, statuses_frame
from tracelens.slo.lint import Finding, lint
from tracelens.slo.rollup import Rollup, columns_for, compute_rollup, floor_minute
from tracelens.slo.spec import DEFAULT_TIERS, SLI, SLO, BurnTier, load, loads
from tracelens.slo.violations import Explanation, explain, violations

SpansOrRollup = pl.DataFrame | pl.LazyFrame | Rollup


def rollup(
    spans: pl.DataFrame | pl.LazyFrame,
    slos: Sequence[SLO],
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Rollup:
    """Good/total events per SLO per minute, in one pass over ``spans``."""
    return compute_rollup(spans, slos, since=since, until=until)


def _as_rollup(spans: SpansOrRollup, slos: Sequence[SLO] | None, until: datetime | None = None) -> Rollup:
    if isinstance(spans, Rollup):
        return spans
    if slos is None:
        msg = "give the SLOs (from tracelens.slo.load) with spans"
        raise TypeError(msg)
    return compute_rollup(spans, slos, until=floor_minute(until) if until is not None else None)


def evaluate(spans: SpansOrRollup, slos: Sequence[SLO] | None = None, at: datetime | None = None) -> list[SLOStatus]:
    """Each SLO at ``at`` (default: the end of the newest minute with data): SLI, events,
    budget, remaining, burn rates, time to exhaustion."""
    return evaluate_rollup(_as_rollup(spans, slos, at), at)


def alerts(spans: SpansOrRollup, slos: Sequence[SLO] | None = None, at: datetime | None = None) -> list[AlertState]:
    """Each SLO's page and ticket alerts at ``at``."""
    return alert_states(_as_rollup(spans, slos, at), at)


def history(
    spans: SpansOrRollup,
    slos: Sequence[SLO] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> pl.DataFrame:
    """When each alert would have fired and reset over the data (one row per event)."""
    return alert_history(_as_rollup(spans, slos, until), since, until)


__all__ = [
    "DEFAULT_TIERS",
    "SLI",
    "SLO",
    "AlertState",
    "BurnTier",
    "Explanation",
    "Finding",
    "Rollup",
    "SLOStatus",
    "TierState",
    "alerts",
    "burn_timeline",
    "columns_for",
    "consumption",
    "evaluate",
    "explain",
    "history",
    "lint",
    "load",
    "loads",
    "rollup",
    "statuses_frame",
    "violations",
]
