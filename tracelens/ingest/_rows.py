"""The slow, obviously-correct path shared by the reference and file decoders.

Decoders call :meth:`SpanRows.add` once per span with plain Python values; :meth:`SpanRows.result`
builds the contract frame. The fast OTLP protobuf decoder builds the same frame from Arrow
buffers instead, but shares the id checks, the error sentences and :func:`promoted_column`,
so both paths agree exactly (tests compare them frame for frame).
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from tracelens import schema as s
from tracelens.ingest._assemble import (
    RESOURCE_PROMOTED,
    SPAN_PROMOTED,
    TYPE_CODES,
    TYPE_BOOL,
    TYPE_DOUBLE,
    TYPE_INT,
    AttrTable,
    SpanColumns,
    assemble,
    attr_table_from_lists,
)
from tracelens.ingest.result import (
    INVALID_PARENT_SPAN_ID,
    INVALID_SPAN_ID,
    INVALID_TRACE_ID,
    MAX_ERRORS,
    DecodeResult,
    Validation,
)

TRACE_ID_BYTES = 16
SPAN_ID_BYTES = 8
SERVICE_NAME_KEY = "service.name"
_DOUBLE = struct.Struct("<d")
_DOUBLE_BITS = struct.Struct("<q")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1

Attr = dict[str, Any]


# --- id validation (G5) -------------------------------------------------------------------
def id_problem(trace_id: bytes, span_id: bytes, parent_span_id: bytes) -> tuple[str, str] | None:
    """(reason, sentence fragment) if the span's ids make it unusable, else None."""
    if len(trace_id) != TRACE_ID_BYTES:
        return INVALID_TRACE_ID, f"trace_id must be {TRACE_ID_BYTES} bytes, got {len(trace_id)}"
    if not any(trace_id):
        return INVALID_TRACE_ID, "trace_id must not be all zero"
    if len(span_id) != SPAN_ID_BYTES:
        return INVALID_SPAN_ID, f"span_id must be {SPAN_ID_BYTES} bytes, got {len(span_id)}"
    if not any(span_id):
        return INVALID_SPAN_ID, "span_id must not be all zero"
    if len(parent_span_id) not in (0, SPAN_ID_BYTES):
        return INVALID_PARENT_SPAN_ID, f"parent_span_id must be empty or {SPAN_ID_BYTES} bytes, got {len(parent_span_id)}"
    return None


def rejection_sentence(name: str, index: int, fragment: str) -> str:
    return f"span {name!r} #{index}: {fragment}"


class Rejections:
    """Counts rejected spans by reason and keeps the first few sentences."""

    def __init__(self) -> None:
        self.by_reason: dict[str, int] = {}
        self.errors: list[str] = []

    def add(self, reason: str, sentence: str) -> None:
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(sentence)

    @property
    def count(self) -> int:
        return sum(self.by_reason.values())

    def result(self, frame: pl.DataFrame) -> DecodeResult:
        return DecodeResult(spans=frame, rejected=self.count, rejected_by_reason=dict(self.by_reason), errors=tuple(self.errors))

    def validation(self, accepted: int) -> Validation:
        return Validation(accepted=accepted, rejected=self.count, rejected_by_reason=dict(self.by_reason), errors=tuple(self.errors))


# --- attribute values -----------------------------------------------------------------------
def plain_nested(value: Any) -> Any:
    """A nested value as JSON-able Python (bytes inside arrays/kvlists become base64 text)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(k): plain_nested(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_nested(v) for v in value]
    return value


def typed(key: str, value: Any) -> Attr:
    """One typed attribute struct; arrays/kvlists become JSON (schema.typed_attribute rules)."""
    if isinstance(value, Mapping | list | tuple):
        value = plain_nested(value)
    elif isinstance(value, int) and not isinstance(value, bool) and not _INT64_MIN <= value <= _INT64_MAX:
        value = str(value)  # beyond int64: keep the digits rather than fail
    return s.typed_attribute(key, value)


def last_index(attrs: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> int | None:
    """Index of the attribute that feeds a promoted column: the first key (in priority
    order) that is present; if it occurs several times, its last occurrence (later
    duplicates win, as in OTLP SDKs)."""
    for key in keys:
        found = None
        for i, a in enumerate(attrs):
            if a["key"] == key:
                found = i
        if found is not None:
            return found
    return None


def kind_name(kind: int) -> str:
    return s.SPAN_KINDS[kind] if 0 <= kind < len(s.SPAN_KINDS) else s.SPAN_KINDS[0]


def status_name(code: int) -> str:
    return s.STATUS_CODES[code] if 0 <= code < len(s.STATUS_CODES) else s.STATUS_CODES[0]


def signed64(value: int) -> int:
    """uint64 (fixed64 nanos) reinterpreted as int64, as the fast decoder does."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value


# --- the row builder ------------------------------------------------------------------------
class AttrBuilder:
    """Flat typed-attribute columns for several owners (see _assemble.AttrTable)."""

    def __init__(self) -> None:
        self.offsets = [0]
        self.key: list[str] = []
        self.type: list[int] = []
        self.str: list[str | None] = []
        self.num: list[int] = []

    def add_owner(self, attrs: Sequence[Mapping[str, Any]]) -> int:
        """Append one owner's attributes; returns the flat index of its first attribute."""
        first = len(self.key)
        for a in attrs:
            code = TYPE_CODES[a["type"]]
            self.key.append(a["key"])
            self.type.append(code)
            self.str.append(a["str"])
            if code == TYPE_INT:
                self.num.append(a["int"])
            elif code == TYPE_DOUBLE:
                self.num.append(_DOUBLE_BITS.unpack(_DOUBLE.pack(a["float"]))[0])
            elif code == TYPE_BOOL:
                self.num.append(int(bool(a["bool"])))
            else:
                self.num.append(0)
        self.offsets.append(len(self.key))
        return first

    def table(self) -> AttrTable:
        return attr_table_from_lists(self.offsets, self.key, self.type, self.str, self.num)


def winner_row(attrs: Sequence[Mapping[str, Any]], first: int, promoted: Sequence[s.PromotedAttribute]) -> list[int]:
    """Flat index of the attribute feeding each promoted column (-1 = none); see last_index."""
    position = {a["key"]: i for i, a in enumerate(attrs)}  # later duplicates win
    row = []
    for p in promoted:
        i = next((position[k] for k in p.keys if k in position), None)
        row.append(-1 if i is None else first + i)
    return row


class SpanRows:
    """Accumulates accepted spans column by column; rejects spans with bad ids."""

    def __init__(self) -> None:
        self.rejections = Rejections()
        self.index = 0  # position of the next span in the input (for error sentences)
        self.span: dict[str, list[Any]] = {
            name: []
            for name in (
                s.TRACE_ID, s.SPAN_ID, s.PARENT_SPAN_ID, s.NAME, s.KIND, s.START, s.END,
                s.STATUS_CODE, s.STATUS_MESSAGE, s.TRACE_STATE, s.FLAGS, s.SCOPE_NAME, s.SCOPE_VERSION,
            )
        }
        self.attrs = AttrBuilder()
        self.span_winners: list[list[int]] = []
        self.resources = AttrBuilder()
        self.resource_winners: list[list[int]] = []
        self.resource_ids: dict[int, int] = {}
        self.resource_keep: list[Any] = []  # keeps the lists alive so id() stays unique
        self.span_resource: list[int] = []
        self.event_offsets = [0]
        self.event_time: list[int] = []
        self.event_name: list[str] = []
        self.event_attrs = AttrBuilder()
        self.link_offsets = [0]
        self.link_trace_id: list[str] = []
        self.link_span_id: list[str] = []
        self.link_trace_state: list[str] = []
        self.link_attrs = AttrBuilder()

    def add(
        self,
        *,
        trace_id: bytes,
        span_id: bytes,
        parent_span_id: bytes,
        name: str,
        kind: int,
        start: int,
        end: int,
        status_code: int = 0,
        status_message: str = "",
        trace_state: str = "",
        flags: int | None = 0,
        scope_name: str = "",
        scope_version: str = "",
        attributes: list[Attr],
        resource_attributes: list[Attr],
        events: Sequence[Mapping[str, Any]] = (),
        links: Sequence[Mapping[str, Any]] = (),
    ) -> bool:
        """Add one span; returns False (and counts the reason) if its ids are invalid.

        ``events``: mappings time (int ns), name, attributes; ``links``: mappings trace_id,
        span_id (bytes), trace_state, attributes. Pass the same ``resource_attributes`` list
        object for spans of one resource (it is stored once).
        """
        index = self.index
        self.index += 1
        problem = id_problem(trace_id, span_id, parent_span_id)
        if problem is not None:
            self.rejections.add(problem[0], rejection_sentence(name, index, problem[1]))
            return False
        c = self.span
        c[s.TRACE_ID].append(trace_id.hex())
        c[s.SPAN_ID].append(span_id.hex())
        c[s.PARENT_SPAN_ID].append(parent_span_id.hex() if any(parent_span_id) else None)
        c[s.NAME].append(name)
        c[s.KIND].append(kind if 0 <= kind < len(s.SPAN_KINDS) else 0)
        c[s.START].append(signed64(start))
        c[s.END].append(signed64(end))
        c[s.STATUS_CODE].append(status_code if 0 <= status_code < len(s.STATUS_CODES) else 0)
        c[s.STATUS_MESSAGE].append(status_message)
        c[s.TRACE_STATE].append(trace_state)
        c[s.FLAGS].append(flags)
        c[s.SCOPE_NAME].append(scope_name)
        c[s.SCOPE_VERSION].append(scope_version)
        first = self.attrs.add_owner(attributes)
        self.span_winners.append(winner_row(attributes, first, SPAN_PROMOTED))
        self.span_resource.append(self._resource(resource_attributes))
        for e in events:
            self.event_time.append(signed64(e["time"]))
            self.event_name.append(e["name"])
            self.event_attrs.add_owner(e["attributes"])
        self.event_offsets.append(len(self.event_time))
        for k in links:
            self.link_trace_id.append(bytes(k["trace_id"]).hex())
            self.link_span_id.append(bytes(k["span_id"]).hex())
            self.link_trace_state.append(k.get("trace_state", ""))
            self.link_attrs.add_owner(k["attributes"])
        self.link_offsets.append(len(self.link_trace_id))
        return True

    def _resource(self, attrs: list[Attr]) -> int:
        key = id(attrs)
        if key not in self.resource_ids:
            self.resource_ids[key] = len(self.resource_winners)
            self.resource_keep.append(attrs)
            first = self.resources.add_owner(attrs)
            self.resource_winners.append(winner_row(attrs, first, RESOURCE_PROMOTED))
        return self.resource_ids[key]

    def frame(self) -> pl.DataFrame:
        c = self.span
        text = pa.large_string()
        columns = SpanColumns(
            trace_id=pa.array(c[s.TRACE_ID], text),
            span_id=pa.array(c[s.SPAN_ID], text),
            parent_span_id=pa.array(c[s.PARENT_SPAN_ID], text),
            name=pa.array(c[s.NAME], text),
            kind=np.array(c[s.KIND], np.uint8),
            start=np.array(c[s.START], np.int64),
            end=np.array(c[s.END], np.int64),
            status_code=np.array(c[s.STATUS_CODE], np.uint8),
            status_message=pa.array(c[s.STATUS_MESSAGE], text),
            trace_state=pa.array(c[s.TRACE_STATE], text),
            flags=pa.array(c[s.FLAGS], pa.int64()),
            scope_name=pa.array(c[s.SCOPE_NAME], text),
            scope_version=pa.array(c[s.SCOPE_VERSION], text),
            attributes=self.attrs.table(),
            resources=self.resources.table(),
            span_resource=np.array(self.span_resource, np.int64),
            event_offsets=np.array(self.event_offsets, np.int64),
            event_time=np.array(self.event_time, np.int64),
            event_name=pa.array(self.event_name, text),
            event_attributes=self.event_attrs.table(),
            link_offsets=np.array(self.link_offsets, np.int64),
            link_trace_id=pa.array(self.link_trace_id, text),
            link_span_id=pa.array(self.link_span_id, text),
            link_trace_state=pa.array(self.link_trace_state, text),
            link_attributes=self.link_attrs.table(),
            span_winners=np.array(self.span_winners, np.int64).reshape(-1, len(SPAN_PROMOTED)),
            resource_winners=np.array(self.resource_winners, np.int64).reshape(-1, len(RESOURCE_PROMOTED)),
        )
        return assemble(columns)

    def result(self) -> DecodeResult:
        return self.rejections.result(self.frame())


def json_text(value: Any) -> str:
    return json.dumps(value, default=str)
