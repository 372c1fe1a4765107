"""Which spans an SLO counts (its events) and which of them are good, as polars expressions.

By default an SLO counts the *entry spans* of its service: SERVER and CONSUMER spans, and
root spans (a request that starts in the service), because those are the requests the
service answers; client and internal spans would count the same request several times.
``operation`` narrows to one span name (or http.route); ``filter`` replaces the entry rule.
"""

from __future__ import annotations

import polars as pl

from tracelens import schema as s
from tracelens.filters import parse_filter
from tracelens.slo.spec import SLO

ENTRY_KINDS = ("server", "consumer")


def entry_spans() -> pl.Expr:
    """SERVER/CONSUMER spans and roots."""
    return pl.col(s.KIND).is_in(ENTRY_KINDS) | pl.col(s.PARENT_SPAN_ID).is_null()


def total_expr(slo: SLO) -> pl.Expr:
    """True for the spans that are events of ``slo``."""
    parts: list[pl.Expr] = []
    if slo.service is not None:
        parts.append(pl.col(s.SERVICE_NAME) == slo.service)
    parts.append(parse_filter(slo.filter) if slo.filter else entry_spans())
    if slo.operation is not None:
        parts.append((pl.col(s.NAME) == slo.operation) | (pl.col(s.HTTP_ROUTE) == slo.operation).fill_null(False))
    if slo.sli.total is not None:
        parts.append(parse_filter(slo.sli.total))
    expr = parts[0]
    for part in parts[1:]:
        expr = expr & part
    return expr


def good_expr(slo: SLO) -> pl.Expr:
    """True for the events that meet the SLI (evaluate only where total_expr holds)."""
    sli = slo.sli
    if sli.kind == "availability":
        return pl.col(s.STATUS_CODE) != "error"
    if sli.kind == "latency":
        assert sli.threshold is not None
        limit = pl.lit(round(sli.threshold.total_seconds() * 1e9), dtype=pl.Int64).cast(s.DURATION_DTYPE)
        return pl.col(s.DURATION) < limit if sli.strict else pl.col(s.DURATION) <= limit
    if sli.good is not None:
        return parse_filter(sli.good)
    assert sli.bad is not None
    return ~parse_filter(sli.bad)
