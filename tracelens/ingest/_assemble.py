"""Columns -> span-contract frame, through Arrow, shared by every decoder.

Decoders produce flat columns (Arrow arrays / numpy) plus, for every promoted column, the
index of the attribute that feeds it; :func:`assemble` builds the nested Arrow arrays
(attributes, events, links), converts the promoted values and hands one RecordBatch to
polars. The fast protobuf scanner and the slow reference path both end here, so they
cannot disagree about the frame's shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl
import pyarrow as pa

from tracelens import schema as s

#: promoted columns read from span attributes / from the resource (service.name first)
SPAN_PROMOTED: Final = tuple(p for p in s.PROMOTED_ATTRIBUTES if not p.resource)
RESOURCE_PROMOTED: Final = (
    s.PromotedAttribute(s.SERVICE_NAME, ("service.name",), pl.String(), resource=True),
    *(p for p in s.PROMOTED_ATTRIBUTES if p.resource),
)

TYPE_CODES: Final = {name: i for i, name in enumerate(s.ATTRIBUTE_TYPES)}
TYPE_STRING, TYPE_BOOL, TYPE_INT, TYPE_DOUBLE, TYPE_BYTES, TYPE_ARRAY, TYPE_KVLIST, TYPE_EMPTY = range(8)

_ARROW_SCHEMA: Final = s.empty_frame().to_arrow().schema


def _enum_field(name: str, field: pa.Field) -> pa.Field:
    return pa.field(name, field.type, metadata=field.metadata)


_KIND_FIELD = _ARROW_SCHEMA.field(s.KIND)
_STATUS_FIELD = _ARROW_SCHEMA.field(s.STATUS_CODE)
_ATTR_TYPE_FIELD = _ARROW_SCHEMA.field(s.ATTRIBUTES).type.value_type.field("type")
_KIND_VALUES = pa.array(s.SPAN_KINDS, pa.large_string())
_STATUS_VALUES = pa.array(s.STATUS_CODES, pa.large_string())
_ATTR_TYPE_VALUES = pa.array(s.ATTRIBUTE_TYPES, pa.large_string())
_TIME = pa.timestamp("ns", tz="UTC")


@dataclass
class AttrTable:
    """Typed attributes of several owners, flat; owner i has rows offsets[i]:offsets[i+1]."""

    offsets: np.ndarray  # int64, owners + 1
    key: pa.Array
    type: np.ndarray  # uint8 codes, index into schema.ATTRIBUTE_TYPES
    str: pa.Array
    int: pa.Array
    float: pa.Array
    bool: pa.Array

    def struct_array(self) -> pa.StructArray:
        types = pa.DictionaryArray.from_arrays(pa.array(self.type, pa.uint8()), _ATTR_TYPE_VALUES, ordered=True)
        fields = [
            pa.field("key", self.key.type),
            _enum_field("type", _ATTR_TYPE_FIELD),
            pa.field("str", self.str.type),
            pa.field("int", pa.int64()),
            pa.field("float", pa.float64()),
            pa.field("bool", pa.bool_()),
        ]
        return pa.StructArray.from_arrays([self.key, types, self.str, self.int, self.float, self.bool], fields=fields)

    def list_array(self) -> pa.Array:
        return pa.LargeListArray.from_arrays(pa.array(self.offsets, pa.int64()), self.struct_array())


@dataclass
class SpanColumns:
    """Everything assemble() needs; n spans, R resources, E events, L links."""

    trace_id: pa.Array
    span_id: pa.Array
    parent_span_id: pa.Array
    name: pa.Array
    kind: np.ndarray  # uint8 (unknown values already mapped to 0)
    start: np.ndarray  # int64 ns
    end: np.ndarray  # int64 ns
    status_code: np.ndarray  # uint8
    status_message: pa.Array
    trace_state: pa.Array
    flags: pa.Array  # int64, nullable
    scope_name: pa.Array
    scope_version: pa.Array
    attributes: AttrTable  # owners: spans
    resources: AttrTable  # owners: resources
    span_resource: np.ndarray  # int64, n
    event_offsets: np.ndarray  # int64, n + 1
    event_time: np.ndarray  # int64, E
    event_name: pa.Array
    event_attributes: AttrTable  # owners: events
    link_offsets: np.ndarray  # int64, n + 1
    link_trace_id: pa.Array
    link_span_id: pa.Array
    link_trace_state: pa.Array
    link_attributes: AttrTable  # owners: links
    span_winners: np.ndarray  # int64 (n, len(SPAN_PROMOTED)): flat attribute index or -1
    resource_winners: np.ndarray  # int64 (R, len(RESOURCE_PROMOTED)): flat resource attribute index or -1


def _dictionary(codes: np.ndarray, values: pa.Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes, pa.uint8()), values, ordered=True)


def _times(values: np.ndarray) -> pa.Array:
    return pa.Array.from_buffers(_TIME, len(values), [None, pa.py_buffer(np.ascontiguousarray(values, np.int64))])


def promoted_frame(table: pl.DataFrame, winners: np.ndarray, promoted: tuple[s.PromotedAttribute, ...]) -> pl.DataFrame:
    """One column per promoted attribute: the winning attribute's value in the column's dtype.

    Strings: non-string scalars rendered as text (bytes/arrays/kvlists: their text form);
    Int64: ints as they are, decimal strings parsed, doubles truncated, else null.
    """
    n = winners.shape[0]
    if table.height == 0 or n == 0:
        return pl.DataFrame([pl.Series(p.column, [None] * n, p.dtype) for p in promoted])
    idx = pl.DataFrame({f"i{j}": pl.Series(winners[:, j], dtype=pl.Int64) for j in range(len(promoted))})
    idx = idx.select(pl.when(pl.all() >= 0).then(pl.all()).name.keep())  # -1 -> null: gather gives null
    exprs = []
    for j, p in enumerate(promoted):
        def col(field: str, j: int = j) -> pl.Expr:
            return pl.lit(table[field]).gather(pl.col(f"i{j}"))
        t = col("type")
        if p.dtype == pl.Int64:
            expr = (
                pl.when(t == "int").then(col("int"))
                .when(t == "string").then(col("str").str.strip_chars().cast(pl.Int64, strict=False))
                .when(t == "double").then(col("float").cast(pl.Int64, strict=False))
                .otherwise(pl.lit(None, pl.Int64))
            )
        else:
            expr = (
                pl.when(t == "int").then(col("int").cast(pl.String))
                .when(t == "double").then(col("float").cast(pl.String))
                .when(t == "bool").then(col("bool").cast(pl.String))
                .when(t == "empty").then(pl.lit(None, pl.String))
                .otherwise(col("str"))
            )
        exprs.append(expr.alias(p.column))
    return idx.select(exprs)


def assemble(c: SpanColumns) -> pl.DataFrame:
    """The span-contract frame of ``c``."""
    n = len(c.start)
    attrs = c.attributes.struct_array()
    resource_attrs = c.resources.struct_array()
    resource_lists = pa.LargeListArray.from_arrays(pa.array(c.resources.offsets, pa.int64()), resource_attrs)
    span_resource = pa.array(c.span_resource, pa.int64())
    event_structs = pa.StructArray.from_arrays(
        [_times(c.event_time), c.event_name, c.event_attributes.list_array()],
        names=["time", "name", s.ATTRIBUTES],
    )
    link_structs = pa.StructArray.from_arrays(
        [c.link_trace_id, c.link_span_id, c.link_trace_state, c.link_attributes.list_array()],
        names=["trace_id", "span_id", "trace_state", s.ATTRIBUTES],
    )
    start = c.start.astype(np.int64, copy=False)
    end = c.end.astype(np.int64, copy=False)
    columns: dict[str, pa.Array] = {
        s.TRACE_ID: c.trace_id,
        s.SPAN_ID: c.span_id,
        s.PARENT_SPAN_ID: c.parent_span_id,
        s.NAME: c.name,
        s.KIND: _dictionary(c.kind, _KIND_VALUES),
        s.START: _times(start),
        s.END: _times(end),
        s.DURATION: pa.Array.from_buffers(pa.duration("ns"), n, [None, pa.py_buffer(end - start)]),
        s.STATUS_CODE: _dictionary(c.status_code, _STATUS_VALUES),
        s.STATUS_MESSAGE: c.status_message,
        s.TRACE_STATE: c.trace_state,
        s.FLAGS: c.flags,
        s.SCOPE_NAME: c.scope_name,
        s.SCOPE_VERSION: c.scope_version,
        s.ATTRIBUTES: pa.LargeListArray.from_arrays(pa.array(c.attributes.offsets, pa.int64()), attrs),
        s.RESOURCE_ATTRIBUTES: resource_lists.take(span_resource) if n else pa.LargeListArray.from_arrays(pa.array([0], pa.int64()), resource_attrs.slice(0, 0)),
        s.EVENTS: pa.LargeListArray.from_arrays(pa.array(c.event_offsets, pa.int64()), event_structs),
        s.LINKS: pa.LargeListArray.from_arrays(pa.array(c.link_offsets, pa.int64()), link_structs),
    }
    fields = [
        _enum_field(name, _KIND_FIELD) if name == s.KIND
        else _enum_field(name, _STATUS_FIELD) if name == s.STATUS_CODE
        else pa.field(name, arr.type)
        for name, arr in columns.items()
    ]
    frame = pl.DataFrame(pa.RecordBatch.from_arrays(list(columns.values()), schema=pa.schema(fields)))
    span_table = pl.DataFrame(pa.RecordBatch.from_struct_array(attrs)) if len(attrs) else pl.DataFrame()
    res_table = pl.DataFrame(pa.RecordBatch.from_struct_array(resource_attrs)) if len(resource_attrs) else pl.DataFrame()
    res_winners = c.resource_winners[c.span_resource] if n else np.zeros((0, len(RESOURCE_PROMOTED)), np.int64)
    promoted = pl.concat(
        [promoted_frame(span_table, c.span_winners, SPAN_PROMOTED), promoted_frame(res_table, res_winners, RESOURCE_PROMOTED)],
        how="horizontal",
    )
    service = promoted[s.SERVICE_NAME]
    promoted = promoted.with_columns(
        pl.when(service.is_null() | (service == "")).then(pl.lit(s.UNKNOWN_SERVICE)).otherwise(service).alias(s.SERVICE_NAME)
    )
    frame = pl.concat([frame, promoted], how="horizontal")
    return frame.select(s.COLUMNS)
