"""A synthetic shop with a known topology, generated column-wise (millions of spans in
seconds) for benchmarks, notebooks and tests.

Every checkout is the same tree of spans with random timings; each checkout's order
message is consumed in a second trace linked to the producer by a span link::

    user -> frontend --direct--> cart --database--> redis
                     --direct--> payments --virtual_node--> api.stripe.com (slow in incidents)
                                          --database--> postgresql/payments
                     --messaging (span link)--> fulfillment --database--> postgresql/fulfillment

Latencies are log-normal; ``incident_share`` of checkouts hit a slow, error-prone
``api.stripe.com`` (the bottleneck the notebooks find). ``TEMPLATE`` is the tree, so tests
can derive the expected graph from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa

from tracelens import schema as s

_MS: Final = 1_000_000


@dataclass(frozen=True, slots=True)
class TemplateSpan:
    """One span of the template: ``median_ms`` is the span's own work (before children),
    ``attrs`` are promoted columns; children run one after another."""

    label: str
    parent: str | None
    service: str
    name: str
    kind: str
    median_ms: float
    attrs: tuple[tuple[str, str], ...] = ()


CHECKOUT: Final[tuple[TemplateSpan, ...]] = (
    TemplateSpan("fe", None, "frontend", "GET /checkout", "server", 4.0, ((s.HTTP_ROUTE, "/checkout"),)),
    TemplateSpan("render", "fe", "frontend", "render", "internal", 6.0),
    TemplateSpan("fe-cart", "fe", "frontend", "GET /cart", "client", 1.0, ((s.SERVER_ADDRESS, "cart"),)),
    TemplateSpan("cart", "fe-cart", "cart", "GET /cart", "server", 3.0, ((s.HTTP_ROUTE, "/cart"),)),
    TemplateSpan("cart-redis", "cart", "cart", "GET", "client", 1.5, ((s.DB_SYSTEM_NAME, "redis"),)),
    TemplateSpan("fe-pay", "fe", "frontend", "POST /charge", "client", 1.0, ((s.SERVER_ADDRESS, "payments"),)),
    TemplateSpan("pay", "fe-pay", "payments", "POST /charge", "server", 5.0, ((s.HTTP_ROUTE, "/charge"),)),
    TemplateSpan("pay-stripe", "pay", "payments", "POST /v1/charges", "client", 120.0, ((s.SERVER_ADDRESS, "api.stripe.com"),)),
    TemplateSpan("pay-db", "pay", "payments", "INSERT payments", "client", 8.0,
                 ((s.DB_SYSTEM_NAME, "postgresql"), (s.DB_NAMESPACE, "payments"))),
    TemplateSpan("fe-publish", "fe", "frontend", "orders publish", "producer", 2.0,
                 ((s.MESSAGING_SYSTEM, "kafka"), (s.MESSAGING_DESTINATION_NAME, "orders"))),
)
FULFILMENT: Final[tuple[TemplateSpan, ...]] = (
    TemplateSpan("consume", None, "fulfillment", "orders process", "consumer", 15.0,
                 ((s.MESSAGING_SYSTEM, "kafka"), (s.MESSAGING_DESTINATION_NAME, "orders"))),
    TemplateSpan("ful-db", "consume", "fulfillment", "UPDATE orders", "client", 12.0,
                 ((s.DB_SYSTEM_NAME, "postgresql"), (s.DB_NAMESPACE, "fulfillment"))),
)
TEMPLATE: Final = CHECKOUT + FULFILMENT
#: (source, target) -> connection_type of the graph the template draws
EXPECTED_EDGES: Final = {
    ("user", "frontend"): "virtual_node",
    ("frontend", "cart"): "direct",
    ("cart", "redis"): "database",
    ("frontend", "payments"): "direct",
    ("payments", "api.stripe.com"): "virtual_node",
    ("payments", "postgresql/payments"): "database",
    ("frontend", "fulfillment"): "messaging",
    ("fulfillment", "postgresql/fulfillment"): "database",
}
SPANS_PER_CHECKOUT: Final = len(TEMPLATE)
_HEX_PAIRS: Final = np.array([int.from_bytes(f"{i:02x}".encode(), "little") for i in range(256)], dtype=np.uint16)


def _hex_ids(rng: np.random.Generator, n: int, nbytes: int) -> pl.Series:
    """``n`` random lowercase-hex ids of ``nbytes`` bytes (never all zero), built as one
    Arrow string buffer (no Python string per id)."""
    raw = rng.integers(0, 256, (n, nbytes), dtype=np.uint8)
    raw[:, 0] |= 1  # never all zero
    chars = _HEX_PAIRS[raw]
    offsets = np.arange(0, 2 * nbytes * n + 1, 2 * nbytes, dtype=np.int64)
    array = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(chars)])
    return pl.Series(pl.from_arrow(array))


def _lognormal_ns(rng: np.random.Generator, median_ms: float, n: int, sigma: float = 0.4) -> npt.NDArray[np.int64]:
    return (median_ms * _MS * rng.lognormal(0.0, sigma, n)).astype(np.int64) + 1


def synthetic_topology(
    checkouts: int,
    *,
    seed: int = 0,
    start: datetime | None = None,
    per_second: float = 50.0,
    incident_share: float = 0.1,
    error_share: float = 0.02,
) -> pl.DataFrame:
    """Spans (span contract) of ``checkouts`` checkouts and their fulfilment traces,
    ``SPANS_PER_CHECKOUT`` spans each, arriving ``per_second`` after ``start``."""
    rng = np.random.default_rng(seed)
    n = checkouts
    start = start or datetime(2026, 1, 1, tzinfo=timezone.utc)
    t0 = int(start.timestamp() * 1e9) + np.sort(rng.uniform(0, n / per_second, n) * 1e9).astype(np.int64)
    incident = rng.random(n) < incident_share
    stripe_error = rng.random(n) < np.where(incident, 0.25, error_share)
    labels = [t.label for t in TEMPLATE]
    children: dict[str, list[str]] = {label: [] for label in labels}
    for t in TEMPLATE:
        if t.parent is not None:
            children[t.parent].append(t.label)
    own = {t.label: _lognormal_ns(rng, t.median_ms, n) for t in TEMPLATE}
    own["pay-stripe"] = np.where(incident, own["pay-stripe"] * 8, own["pay-stripe"])
    gap = {t.label: (rng.random(n) * 0.5 * _MS).astype(np.int64) for t in TEMPLATE}  # network/queue slack

    duration: dict[str, npt.NDArray[np.int64]] = {}
    for t in reversed(TEMPLATE):  # children are defined after their parents: bottom-up
        kids = children[t.label]
        duration[t.label] = own[t.label] + sum((duration[c] + 2 * gap[c] for c in kids), np.zeros(n, np.int64))
    begin: dict[str, npt.NDArray[np.int64]] = {"fe": t0, "consume": t0 + duration["fe"] + (rng.exponential(50, n) * _MS).astype(np.int64)}
    for t in TEMPLATE:  # top-down: own work first, then children one after another
        cursor = begin[t.label] + own[t.label] // 2
        for c in children[t.label]:
            begin[c] = cursor + gap[c]
            cursor = begin[c] + duration[c] + gap[c]

    checkout_trace, fulfil_trace = _hex_ids(rng, n, 16), _hex_ids(rng, n, 16)
    span_ids = {label: _hex_ids(rng, n, 8) for label in labels}
    error_labels = {"pay-stripe", "pay", "fe-pay"}
    parts = []
    for t in TEMPLATE:
        trace = fulfil_trace if t in FULFILMENT else checkout_trace
        columns: dict[str, pl.Series | pl.Expr] = {
            s.TRACE_ID: trace,
            s.SPAN_ID: span_ids[t.label],
            s.PARENT_SPAN_ID: span_ids[t.parent] if t.parent else pl.Series([None] * n, dtype=pl.String),
            s.START: pl.Series(begin[t.label]),
            s.END: pl.Series(begin[t.label] + duration[t.label]),
        }
        frame = pl.DataFrame(columns).with_columns(
            pl.lit(t.name).alias(s.NAME),
            pl.lit(t.kind).cast(s.KindEnum).alias(s.KIND),
            pl.lit(t.service).alias(s.SERVICE_NAME),
            (pl.when(pl.Series(stripe_error)).then(pl.lit("error")).otherwise(pl.lit("unset")) if t.label in error_labels
             else pl.lit("unset")).cast(s.StatusEnum).alias(s.STATUS_CODE),
            *[pl.lit(value).alias(column) for column, value in t.attrs],
        )
        if t.label == "consume":
            frame = frame.with_columns(
                pl.concat_list(
                    pl.struct(
                        checkout_trace.alias("trace_id"),
                        span_ids["fe-publish"].alias("span_id"),
                        pl.lit("").alias("trace_state"),
                        pl.lit(None, s.ATTRIBUTES_DTYPE).alias("attributes"),
                    )
                ).alias(s.LINKS)
            )
        parts.append(s.conform(frame.with_columns(
            pl.col(s.START).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"),
            pl.col(s.END).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"),
        )))
    return pl.concat(parts).collect()
