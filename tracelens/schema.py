"""The span contract: one row per span, the same columns from every producer.

Every decoder, importer and the demo emits exactly these columns; every consumer reads them
by the constants below, never by string literals scattered around.

Design choices (see docs/span-contract.md for the user-facing table):

* Ids are lowercase hex strings in every public frame (what users paste from Jaeger, Tempo
  and logs). ``parent_span_id`` is null for roots (an all-zero or empty parent id is null).
* Times are ``Datetime(ns, UTC)``; ``duration`` is ``Duration(ns)`` and always ``end - start``.
* ``kind`` and ``status_code`` are polars Enums with the lowercase OTLP names.
* Semantic-convention attributes that analyses need are *promoted* to dedicated columns
  (accepting their legacy names), but every attribute is also kept, typed, in
  ``attributes``: promotion is a projection, never a move, so nothing is lost and a span
  can be exported back to OTLP exactly as it arrived.
* A typed attribute is ``Struct{key, type, str, int, float, bool}``: exactly one of the
  value fields is set, chosen by ``type``. Bytes are kept base64 in ``str``; arrays and
  key-value lists are kept as JSON in ``str``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import polars as pl

from tracelens.errors import SchemaError

# --- column names ---------------------------------------------------------------------
TRACE_ID: Final = "trace_id"
SPAN_ID: Final = "span_id"
PARENT_SPAN_ID: Final = "parent_span_id"
NAME: Final = "name"
KIND: Final = "kind"
SERVICE_NAME: Final = "service_name"
START: Final = "start"
END: Final = "end"
DURATION: Final = "duration"
STATUS_CODE: Final = "status_code"
STATUS_MESSAGE: Final = "status_message"
TRACE_STATE: Final = "trace_state"
FLAGS: Final = "flags"
SCOPE_NAME: Final = "scope_name"
SCOPE_VERSION: Final = "scope_version"
ATTRIBUTES: Final = "attributes"
RESOURCE_ATTRIBUTES: Final = "resource_attributes"
EVENTS: Final = "events"
LINKS: Final = "links"

# dedicated (promoted) attribute columns
SERVICE_VERSION: Final = "service_version"
DEPLOYMENT_ENVIRONMENT: Final = "deployment_environment"
HOST_NAME: Final = "host_name"
HTTP_ROUTE: Final = "http_route"
HTTP_REQUEST_METHOD: Final = "http_request_method"
HTTP_RESPONSE_STATUS_CODE: Final = "http_response_status_code"
RPC_SYSTEM: Final = "rpc_system"
RPC_SERVICE: Final = "rpc_service"
RPC_METHOD: Final = "rpc_method"
DB_SYSTEM_NAME: Final = "db_system_name"
DB_NAMESPACE: Final = "db_namespace"
PEER_SERVICE: Final = "peer_service"
SERVER_ADDRESS: Final = "server_address"
NETWORK_PEER_ADDRESS: Final = "network_peer_address"
MESSAGING_SYSTEM: Final = "messaging_system"
MESSAGING_DESTINATION_NAME: Final = "messaging_destination_name"

UNKNOWN_SERVICE: Final = "unknown_service"

# --- enums ------------------------------------------------------------------------------
#: Index = the OTLP enum number (SpanKind), so decoders can map ints by position.
SPAN_KINDS: Final = ("unspecified", "internal", "server", "client", "producer", "consumer")
#: Index = the OTLP enum number (Status.StatusCode).
STATUS_CODES: Final = ("unset", "ok", "error")
#: Index = the tag a decoder writes for an AnyValue variant.
ATTRIBUTE_TYPES: Final = ("string", "bool", "int", "double", "bytes", "array", "kvlist", "empty")

KindEnum: Final = pl.Enum(list(SPAN_KINDS))
StatusEnum: Final = pl.Enum(list(STATUS_CODES))
AttributeTypeEnum: Final = pl.Enum(list(ATTRIBUTE_TYPES))

TIME_DTYPE: Final = pl.Datetime("ns", "UTC")
DURATION_DTYPE: Final = pl.Duration("ns")

ATTRIBUTE_DTYPE: Final = pl.Struct(
    {
        "key": pl.String,
        "type": AttributeTypeEnum,
        "str": pl.String,
        "int": pl.Int64,
        "float": pl.Float64,
        "bool": pl.Boolean,
    }
)
ATTRIBUTES_DTYPE: Final = pl.List(ATTRIBUTE_DTYPE)
EVENT_DTYPE: Final = pl.Struct({"time": TIME_DTYPE, "name": pl.String, "attributes": ATTRIBUTES_DTYPE})
LINK_DTYPE: Final = pl.Struct(
    {
        "trace_id": pl.String,
        "span_id": pl.String,
        "trace_state": pl.String,
        "attributes": ATTRIBUTES_DTYPE,
    }
)


@dataclass(frozen=True, slots=True)
class PromotedAttribute:
    """A semantic-convention attribute copied into a dedicated column.

    ``keys`` are tried in order (current name first, legacy names after); ``resource``
    says whether it is read from the resource rather than the span.
    """

    column: str
    keys: tuple[str, ...]
    dtype: pl.DataType
    resource: bool = False


PROMOTED_ATTRIBUTES: Final[tuple[PromotedAttribute, ...]] = (
    PromotedAttribute(SERVICE_VERSION, ("service.version",), pl.String(), resource=True),
    PromotedAttribute(
        DEPLOYMENT_ENVIRONMENT,
        ("deployment.environment.name", "deployment.environment"),
        pl.String(),
        resource=True,
    ),
    PromotedAttribute(HOST_NAME, ("host.name",), pl.String(), resource=True),
    PromotedAttribute(HTTP_ROUTE, ("http.route",), pl.String()),
    PromotedAttribute(HTTP_REQUEST_METHOD, ("http.request.method", "http.method"), pl.String()),
    PromotedAttribute(
        HTTP_RESPONSE_STATUS_CODE, ("http.response.status_code", "http.status_code"), pl.Int64()
    ),
    PromotedAttribute(RPC_SYSTEM, ("rpc.system",), pl.String()),
    PromotedAttribute(RPC_SERVICE, ("rpc.service",), pl.String()),
    PromotedAttribute(RPC_METHOD, ("rpc.method",), pl.String()),
    PromotedAttribute(DB_SYSTEM_NAME, ("db.system.name", "db.system"), pl.String()),
    PromotedAttribute(DB_NAMESPACE, ("db.namespace", "db.name"), pl.String()),
    PromotedAttribute(PEER_SERVICE, ("peer.service",), pl.String()),
    PromotedAttribute(SERVER_ADDRESS, ("server.address", "net.peer.name"), pl.String()),
    PromotedAttribute(
        NETWORK_PEER_ADDRESS, ("network.peer.address", "net.sock.peer.addr", "net.peer.ip"), pl.String()
    ),
    PromotedAttribute(MESSAGING_SYSTEM, ("messaging.system",), pl.String()),
    PromotedAttribute(
        MESSAGING_DESTINATION_NAME,
        ("messaging.destination.name", "messaging.destination"),
        pl.String(),
    ),
)

#: attribute key (current or legacy) -> dedicated column
ATTRIBUTE_KEY_TO_COLUMN: Final[Mapping[str, str]] = {
    key: p.column for p in PROMOTED_ATTRIBUTES for key in p.keys
} | {"service.name": SERVICE_NAME}

SPAN_SCHEMA: Final = pl.Schema(
    {
        TRACE_ID: pl.String(),
        SPAN_ID: pl.String(),
        PARENT_SPAN_ID: pl.String(),
        NAME: pl.String(),
        KIND: KindEnum,
        SERVICE_NAME: pl.String(),
        START: TIME_DTYPE,
        END: TIME_DTYPE,
        DURATION: DURATION_DTYPE,
        STATUS_CODE: StatusEnum,
        STATUS_MESSAGE: pl.String(),
        **{p.column: p.dtype for p in PROMOTED_ATTRIBUTES},
        TRACE_STATE: pl.String(),
        FLAGS: pl.Int64(),
        SCOPE_NAME: pl.String(),
        SCOPE_VERSION: pl.String(),
        ATTRIBUTES: ATTRIBUTES_DTYPE,
        RESOURCE_ATTRIBUTES: ATTRIBUTES_DTYPE,
        EVENTS: pl.List(EVENT_DTYPE),
        LINKS: pl.List(LINK_DTYPE),
    }
)
COLUMNS: Final = tuple(SPAN_SCHEMA.names())
REQUIRED_NON_NULL: Final = (TRACE_ID, SPAN_ID, NAME, KIND, SERVICE_NAME, START, END, DURATION, STATUS_CODE)
TRACE_ID_HEX_LEN: Final = 32
SPAN_ID_HEX_LEN: Final = 16


def empty_frame() -> pl.DataFrame:
    """A zero-row frame in the span contract."""
    return pl.DataFrame(schema=SPAN_SCHEMA)


def conform(frame: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Select the contract's columns in order, adding missing optional ones as nulls and
    casting the rest. Extra columns are dropped. Used at boundaries (store reads, imports)."""
    lf = frame.lazy()
    present = set(lf.collect_schema().names())
    exprs = []
    for name, dtype in SPAN_SCHEMA.items():
        if name in present:
            exprs.append(pl.col(name).cast(dtype))
        elif name == DURATION and {START, END} <= present:
            exprs.append((pl.col(END).cast(TIME_DTYPE) - pl.col(START).cast(TIME_DTYPE)).alias(name))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return lf.select(exprs)


def problems(frame: pl.DataFrame) -> list[str]:
    """Everything that makes ``frame`` break the contract, as readable sentences."""
    found: list[str] = []
    schema = frame.schema
    for name, dtype in SPAN_SCHEMA.items():
        if name not in schema:
            found.append(f"missing column {name!r} ({dtype})")
        elif schema[name] != dtype:
            found.append(f"column {name!r} has dtype {schema[name]}, expected {dtype}")
    extra = [c for c in schema.names() if c not in SPAN_SCHEMA]
    if extra:
        found.append(f"unexpected columns {extra}")
    if found:
        return found  # value checks need the right columns
    for name in REQUIRED_NON_NULL:
        nulls = frame[name].null_count()
        if nulls:
            found.append(f"column {name!r} has {nulls} null value(s)")
    for name, width in ((TRACE_ID, TRACE_ID_HEX_LEN), (SPAN_ID, SPAN_ID_HEX_LEN), (PARENT_SPAN_ID, SPAN_ID_HEX_LEN)):
        bad = frame.filter(
            pl.col(name).is_not_null() & ~pl.col(name).str.contains(f"^[0-9a-f]{{{width}}}$")
        )
        if bad.height:
            found.append(
                f"column {name!r} has {bad.height} value(s) that are not {width} lowercase hex "
                f"digits, e.g. {bad[name][0]!r}"
            )
    zero = frame.filter((pl.col(TRACE_ID) == "0" * TRACE_ID_HEX_LEN) | (pl.col(SPAN_ID) == "0" * SPAN_ID_HEX_LEN))
    if zero.height:
        found.append(f"{zero.height} span(s) have an all-zero trace_id or span_id")
    wrong_duration = frame.filter(pl.col(DURATION) != (pl.col(END) - pl.col(START)))
    if wrong_duration.height:
        found.append(f"{wrong_duration.height} span(s) have duration != end - start")
    return found


def validate(frame: pl.DataFrame) -> pl.DataFrame:
    """Return ``frame`` unchanged if it meets the span contract, else raise SchemaError
    naming every problem."""
    found = problems(frame)
    if found:
        msg = "frame does not meet the span contract:\n  - " + "\n  - ".join(found)
        raise SchemaError(msg)
    return frame


def attribute_value(attrs: pl.Expr, key: str) -> pl.Expr:
    """Expression: the value of attribute ``key`` in a typed-attribute list column, as a
    string (null where absent). Useful for grouping by any attribute."""
    found = attrs.list.eval(
        pl.element().filter(pl.element().struct.field("key") == key).first()
    ).list.first()
    return (
        pl.when(found.struct.field("type") == "string")
        .then(found.struct.field("str"))
        .when(found.struct.field("type") == "int")
        .then(found.struct.field("int").cast(pl.String))
        .when(found.struct.field("type") == "double")
        .then(found.struct.field("float").cast(pl.String))
        .when(found.struct.field("type") == "bool")
        .then(found.struct.field("bool").cast(pl.String))
        .otherwise(found.struct.field("str"))
    )


def typed_attribute(key: str, value: object) -> dict[str, object]:
    """One typed attribute struct (as a Python dict) from a plain Python value.

    Slow path for importers, tests and the demo; the OTLP decoders build columns directly.
    """
    import base64
    import json

    row: dict[str, object] = {"key": key, "type": "empty", "str": None, "int": None, "float": None, "bool": None}
    if value is None:
        return row
    if isinstance(value, bool):
        row.update(type="bool", bool=value)
    elif isinstance(value, int):
        row.update(type="int", int=value)
    elif isinstance(value, float):
        row.update(type="double", float=value)
    elif isinstance(value, str):
        row.update(type="string", str=value)
    elif isinstance(value, bytes | bytearray):
        row.update(type="bytes", str=base64.b64encode(bytes(value)).decode("ascii"))
    elif isinstance(value, Mapping):
        row.update(type="kvlist", str=json.dumps(value, sort_keys=True, default=str))
    elif isinstance(value, list | tuple):
        row.update(type="array", str=json.dumps(list(value), default=str))
    else:
        row.update(type="string", str=str(value))
    return row


def typed_attributes(mapping: Mapping[str, object] | None) -> list[dict[str, object]]:
    """Typed attribute structs from a mapping, in the mapping's order."""
    return [typed_attribute(k, v) for k, v in (mapping or {}).items()]


def plain_value(attr: Mapping[str, object]) -> object:
    """The Python value of one typed attribute struct (inverse of typed_attribute)."""
    import base64
    import json

    kind = attr.get("type")
    if kind == "bool":
        return attr["bool"]
    if kind == "int":
        return attr["int"]
    if kind == "double":
        return attr["float"]
    if kind == "bytes":
        return base64.b64decode(str(attr["str"]))
    if kind in ("array", "kvlist"):
        return json.loads(str(attr["str"]))
    if kind == "empty":
        return None
    return attr["str"]


def plain_attributes(attrs: list[Mapping[str, object]] | None) -> dict[str, object]:
    """A dict from a typed attribute list (later duplicates win, as in OTLP SDKs)."""
    return {str(a["key"]): plain_value(a) for a in (attrs or [])}
