"""Builders for tests and users: span frames from a few readable rows.

    >>> from tracelens.testing import make_trace
    >>> frame = make_trace([
    ...     {"span": "root", "service": "web", "name": "GET /", "start": 0, "end": 100},
    ...     {"span": "db", "parent": "root", "service": "db", "start": 10, "end": 60, "kind": "client"},
    ... ])

Labels that are not already hex ids of the right width are turned into stable hex ids
(``span_id_for`` / ``trace_id_for`` give the same mapping, so tests can refer to spans by
label). Times are numbers in ``unit`` (default ms) after ``epoch``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

import polars as pl

from tracelens import schema as s

DEFAULT_EPOCH = datetime(2026, 1, 1, tzinfo=timezone.utc)
_UNIT_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000}
_HEX = re.compile(r"^[0-9a-f]+$")


def _hex_id(label: object, width: int) -> str:
    text = str(label)
    if len(text) == width and _HEX.match(text):
        return text
    digest = hashlib.blake2b(text.encode(), digest_size=width // 2).hexdigest()
    return digest if set(digest) != {"0"} else "1" * width


def span_id_for(label: object) -> str:
    """The 16-hex span id make_trace gives ``label``."""
    return _hex_id(label, s.SPAN_ID_HEX_LEN)


def trace_id_for(label: object) -> str:
    """The 32-hex trace id make_trace gives ``label``."""
    return _hex_id(label, s.TRACE_ID_HEX_LEN)


def make_spans(rows: Iterable[Mapping[str, Any]], *, unit: str = "ms", epoch: datetime = DEFAULT_EPOCH) -> pl.DataFrame:
    """A span frame in the contract from rows (each may carry its own ``trace``).

    Row keys: span, parent, trace, service, name, kind, start, end | dur, status,
    status_message, attrs (dict), resource (dict), events [(time, name, attrs)],
    links [(trace, span, attrs)], scope. Promoted columns are filled from attrs/resource.
    """
    scale = _UNIT_NS[unit]
    base = int(epoch.timestamp()) * 1_000_000_000
    records = []
    for i, row in enumerate(rows):
        start = base + int(round(row.get("start", 0) * scale))
        end = base + int(round(row["end"] * scale)) if "end" in row else start + int(round(row.get("dur", 0) * scale))
        attrs = dict(row.get("attrs") or {})
        resource = {"service.name": row.get("service", "svc"), **dict(row.get("resource") or {})}
        record: dict[str, Any] = {
            s.TRACE_ID: trace_id_for(row.get("trace", "trace-1")),
            s.SPAN_ID: span_id_for(row.get("span", f"span-{i}")),
            s.PARENT_SPAN_ID: span_id_for(row["parent"]) if row.get("parent") is not None else None,
            s.NAME: row.get("name", str(row.get("span", f"span-{i}"))),
            s.KIND: row.get("kind", "internal"),
            s.SERVICE_NAME: resource["service.name"],
            s.START: start,
            s.END: end,
            s.STATUS_CODE: row.get("status", "unset"),
            s.STATUS_MESSAGE: row.get("status_message", ""),
            s.TRACE_STATE: "",
            s.FLAGS: 1,
            s.SCOPE_NAME: row.get("scope", "tracelens.testing"),
            s.SCOPE_VERSION: "",
            s.ATTRIBUTES: s.typed_attributes(attrs),
            s.RESOURCE_ATTRIBUTES: s.typed_attributes(resource),
            s.EVENTS: [
                {"time": base + int(round(t * scale)), "name": n, "attributes": s.typed_attributes(a)}
                for t, n, a in row.get("events", [])
            ],
            s.LINKS: [
                {"trace_id": trace_id_for(t), "span_id": span_id_for(sp), "trace_state": "", "attributes": s.typed_attributes(a)}
                for t, sp, a in row.get("links", [])
            ],
        }
        for p in s.PROMOTED_ATTRIBUTES:
            source = resource if p.resource else attrs
            record[p.column] = next((source[k] for k in p.keys if k in source), None)
        records.append(record)
    raw_schema = dict(s.SPAN_SCHEMA) | {s.START: pl.Int64, s.END: pl.Int64}
    raw_schema.pop(s.DURATION)
    frame = pl.DataFrame(records, schema=raw_schema, orient="row" if not records else None)
    frame = frame.with_columns(
        pl.col(s.START).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"),
        pl.col(s.END).cast(pl.Datetime("ns")).dt.replace_time_zone("UTC"),
    )
    return s.conform(frame).collect()


def make_trace(rows: Iterable[Mapping[str, Any]], *, trace: object = "trace-1", unit: str = "ms", epoch: datetime = DEFAULT_EPOCH) -> pl.DataFrame:
    """A span frame for one trace (every row gets ``trace`` unless it names its own)."""
    return make_spans(({"trace": trace, **row} for row in rows), unit=unit, epoch=epoch)
