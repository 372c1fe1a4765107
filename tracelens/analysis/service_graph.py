"""Service dependency graphs from whole traces: exact pairing, virtual peers, critical path.

Streaming connectors (the Collector's servicegraph connector, Tempo's metrics generator)
pair a CLIENT span with its SERVER span by waiting a few seconds for both to arrive and
guess the rest. With whole traces in hand the pairing is exact: a span and its parent are
joined on (trace_id, parent_span_id = span_id) for every span at once.

What becomes an edge (one *call* per row of ``ServiceGraph.calls``):

=================  ======================================================================
connection_type    derived from
=================  ======================================================================
direct             a span whose parent is in another service (CLIENT -> SERVER normally;
                   any cross-service parent/child pair counts, so a missing CLIENT span
                   does not hide a dependency -- the accuracy report counts those)
messaging          PRODUCER -> CONSUMER, as parent/child or through a span link on the
                   consumer (the producer may be in another trace); a producer nobody
                   consumed points at its queue (``messaging.destination.name``)
database           a CLIENT span with no callee span below it, and ``db.system.name``
                   (legacy ``db.system``): the node is ``peer.service``, else
                   ``<db.system.name>/<db.namespace>``
virtual_node       a CLIENT span with no callee below it, named by ``peer.service`` ->
                   ``server.address`` -> ``network.peer.address`` (an external API); and
                   the ``user`` node in front of every root SERVER span
=================  ======================================================================

Same-service calls (a service calling itself over HTTP, or a PRODUCER/CONSUMER pair in one
service) are not drawn unless ``self_loops=True`` -- Jaeger draws them as self-loops, which
hides real dependencies in noise (jaegertracing/jaeger#1573).

Critical-path time through an edge: every critical-path section (from
:func:`tracelens.analysis.critical_path.critical_path`) belongs to the nearest *entry* span
at or above it -- the callee span of a call, the CLIENT span of a call to a virtual peer,
the unconsumed PRODUCER span, or the root SERVER span (the ``user`` edge). An edge's
critical-path time is the time of the sections its calls own: the callee-side subtree
entered via the edge, *excluding* subtrees entered through further edges, so nothing is
counted twice. Hence, per trace, the critical-path times of the edges (other than
``user -> root``) add up to the trace's critical-path time spent outside the root service:
the time the root service waits on other services, databases and external peers (a call to
a virtual peer is time spent in that peer). With the ``user`` edge they add up to the whole
critical path of traces whose root is a SERVER span.

Percentiles are observed values (``nearest``), like :mod:`tracelens.analysis.red`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Final

import networkx as nx
import numpy as np
import numpy.typing as npt
import polars as pl

from tracelens import schema as s
from tracelens.analysis.owners import critical_time_by_owner, factorize

# connection types
DIRECT: Final = "direct"
MESSAGING: Final = "messaging"
DATABASE: Final = "database"
VIRTUAL_NODE: Final = "virtual_node"
CONNECTION_TYPES: Final = (DIRECT, MESSAGING, DATABASE, VIRTUAL_NODE)

# node kinds
SERVICE: Final = "service"
DATABASE_NODE: Final = "database"
EXTERNAL: Final = "external"
USER: Final = "user"
QUEUE: Final = "queue"
NODE_KINDS: Final = (SERVICE, DATABASE_NODE, EXTERNAL, QUEUE, USER)

#: the virtual node in front of root SERVER spans
USER_NODE: Final = "user"

_KIND_CODE: Final = {name: code for code, name in enumerate(s.SPAN_KINDS)}
_SERVER, _CLIENT = _KIND_CODE["server"], _KIND_CODE["client"]
_PRODUCER, _CONSUMER = _KIND_CODE["producer"], _KIND_CODE["consumer"]
_UNSPECIFIED = _KIND_CODE["unspecified"]
_ERROR_CODE: Final = s.STATUS_CODES.index("error")
_NS_PER_MS: Final = 1e6

#: span columns the graph reads (the critical-path kernels need a subset of them)
GRAPH_COLUMNS: Final = (
    s.TRACE_ID,
    s.SPAN_ID,
    s.PARENT_SPAN_ID,
    s.KIND,
    s.SERVICE_NAME,
    s.NAME,
    s.START,
    s.END,
    s.STATUS_CODE,
    s.PEER_SERVICE,
    s.SERVER_ADDRESS,
    s.NETWORK_PEER_ADDRESS,
    s.DB_SYSTEM_NAME,
    s.DB_NAMESPACE,
    s.MESSAGING_SYSTEM,
    s.MESSAGING_DESTINATION_NAME,
    s.LINKS,
)

#: columns of ``ServiceGraph.calls``: one row per call
CALL_COLUMNS: Final = (
    "trace", "source", "target", "connection_type", "start",
    "client_ns", "server_ns", "gap_ns", "error", "entry_row", "critical_path_ns",
)


@dataclass(frozen=True, slots=True)
class GraphAccuracy:
    """How much to trust the picture: what could not be paired or named.

    ``client_without_server``: CLIENT spans with no callee span below them (drawn as calls
    to virtual peers when a peer is named, else ``client_without_peer`` and not drawn).
    ``server_without_client``: non-root SERVER spans whose parent is not a CLIENT span.
    ``cross_service_without_kinds``: cross-service parent/child pairs that are neither
    CLIENT->SERVER nor PRODUCER->CONSUMER (drawn, but the instrumentation is incomplete).
    ``orphans``: spans whose parent is not in the data. ``self_calls``: same-service calls
    (drawn only with ``self_loops=True``).
    """

    spans: int = 0
    traces: int = 0
    client_spans: int = 0
    client_without_server: int = 0
    client_without_peer: int = 0
    server_spans: int = 0
    server_without_client: int = 0
    producer_spans: int = 0
    producer_without_consumer: int = 0
    consumer_spans: int = 0
    consumer_without_producer: int = 0
    cross_service_without_kinds: int = 0
    spans_without_kind: int = 0
    spans_without_service: int = 0
    orphans: int = 0
    duplicate_span_ids: int = 0
    self_calls: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def placed_fraction(self) -> float:
        """Share of CLIENT and SERVER spans the graph places exactly: paired with their
        counterpart, or (a CLIENT span) calling a named virtual peer. 1.0 = all."""
        total = self.client_spans + self.server_spans
        lost = self.client_without_peer + self.server_without_client
        return 1.0 if total == 0 else max(0.0, 1.0 - lost / total)

    def warnings(self) -> list[str]:
        """The non-zero problems as readable sentences."""
        sentences = {
            "client_without_server": "CLIENT span(s) have no SERVER span below them (drawn to virtual peers)",
            "client_without_peer": "CLIENT span(s) name no peer (peer.service/server.address/db.*) and are not drawn",
            "server_without_client": "non-root SERVER span(s) have no CLIENT parent",
            "producer_without_consumer": "PRODUCER span(s) have no consumer in the data",
            "consumer_without_producer": "CONSUMER span(s) have no producer (as parent or link) in the data",
            "cross_service_without_kinds": "cross-service parent/child pair(s) are not CLIENT->SERVER or PRODUCER->CONSUMER",
            "spans_without_kind": "span(s) have kind 'unspecified'",
            "spans_without_service": "span(s) have no service.name",
            "orphans": "span(s) have a parent that is not in the data",
            "duplicate_span_ids": "span id(s) occur more than once in a trace (first one used)",
        }
        values = self.as_dict()
        return [f"{values[key]} {text}" for key, text in sentences.items() if values[key]]


@dataclass(frozen=True, repr=False)
class ServiceGraph:
    """A service dependency graph: ``graph`` (networkx.DiGraph with the node and edge
    columns as attributes, nulls left out), the same data as polars frames ``nodes`` and
    ``edges``, one row per call in ``calls``, and the ``accuracy`` report."""

    graph: nx.DiGraph
    nodes: pl.DataFrame
    edges: pl.DataFrame
    calls: pl.DataFrame
    accuracy: GraphAccuracy
    critical_path_ns: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    trace_first_row: npt.NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64), repr=False)
    trace_id_column: pl.Series = field(default_factory=lambda: pl.Series(s.TRACE_ID, [], pl.String), repr=False)

    @property
    def trace_ids(self) -> pl.Series:
        """trace_id of each trace index (the ``trace`` column of ``calls``)."""
        # first rows are increasing (traces are numbered by first appearance): a boolean
        # filter keeps them in trace order without gathering from a many-chunk column
        keep = np.zeros(self.trace_id_column.len(), dtype=np.bool_)
        keep[self.trace_first_row] = True
        return self.trace_id_column.filter(pl.Series(keep))

    def __repr__(self) -> str:
        return (
            f"<ServiceGraph nodes={self.nodes.height} edges={self.edges.height} "
            f"traces={self.accuracy.traces} spans={self.accuracy.spans} "
            f"placed={self.accuracy.placed_fraction:.0%}>"
        )

    def trace_edges(self) -> pl.DataFrame:
        """Per trace and edge: calls and critical-path time (ms), the edges each trace walks."""
        per_trace = (
            self.calls.group_by("trace", "source", "target")
            .agg(pl.len().cast(pl.Int64).alias("calls"), (pl.col("critical_path_ns").sum() / _NS_PER_MS).alias("critical_path_ms"))
        )
        ids = self.trace_ids
        return (
            per_trace.with_columns(ids.gather(per_trace["trace"]).alias(s.TRACE_ID))
            .select(s.TRACE_ID, pl.col("source").cast(pl.String), pl.col("target").cast(pl.String), "calls", "critical_path_ms")
            .sort([s.TRACE_ID, "critical_path_ms", "source", "target"], descending=[False, True, False, False])
        )

    def _repr_html_(self) -> str:
        from tracelens.views.html import service_graph_html  # display hook: the notebook facade

        return service_graph_html(self)


# --- cohort ------------------------------------------------------------------------------


def cohort(spans: pl.DataFrame | pl.LazyFrame, where: str | pl.Expr | None) -> pl.LazyFrame:
    """The whole traces that have at least one span matching ``where`` (a filter expression
    as text, see :mod:`tracelens.filters`, or a polars expression), plus the traces whose
    spans link to them (a consumer in its own trace is part of the walk); all if None."""
    lf = spans.lazy()
    if where is None:
        return lf
    from tracelens.filters import as_expression

    matching = lf.filter(as_expression(where)).select(s.TRACE_ID).unique()
    linked = (
        lf.filter(pl.col(s.LINKS).list.len() > 0)
        .select(s.TRACE_ID, pl.col(s.LINKS).list.eval(pl.element().struct.field("trace_id")).alias("_linked"))
        .explode("_linked")
        .join(matching.rename({s.TRACE_ID: "_linked"}), on="_linked", how="semi")
        .select(s.TRACE_ID)
    )
    return lf.join(pl.concat([matching, linked]).unique(), on=s.TRACE_ID, how="semi")


# --- building blocks -------------------------------------------------------------------


@dataclass(frozen=True)
class _Spans:
    """The graph's view of the span rows as numpy arrays (index = row)."""

    frame: pl.DataFrame
    parent: npt.NDArray[np.int64]  # parent row, -1 for roots, orphans, cut loops, duplicates
    has_parent_id: npt.NDArray[np.bool_]  # the span names a parent (found or not)
    trace: npt.NDArray[np.int64]  # dense trace index, order of first appearance
    trace_first_row: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]  # -1 for duplicate rows: they take part in nothing
    service: npt.NDArray[np.int32]  # code into service_names
    service_names: pl.Series
    start: npt.NDArray[np.int64]
    duration: npt.NDArray[np.int64]
    error: npt.NDArray[np.bool_]
    critical: npt.NDArray[np.int64]  # critical-path ns of the row
    orphans: int
    duplicates: int
    # parsed ids by row (trace hi, trace lo, span) when every id was lowercase hex
    ids: tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.uint64]] | None = None


def _service_codes(codes: npt.NDArray[np.int64], values: pl.Series) -> tuple[npt.NDArray[np.int32], pl.Series]:
    """Service codes in sorted order of the names from first-appearance codes and their
    distinct values (nulls named ``unknown_service``): a remap of the few distinct
    values, not a pass over the strings of every row."""
    filled = values.fill_null(s.UNKNOWN_SERVICE)
    names = filled.unique().sort()
    rank = {name: code for code, name in enumerate(names.to_list())}
    remap = np.array([rank[name] for name in filled.to_list()], dtype=np.int32)
    return (remap[codes] if codes.size else np.zeros(0, np.int32)), names


def _span_arrays(frame: pl.DataFrame) -> _Spans:
    """One pass of the bulk trace kernels (tracelens.analysis.columnar) gives, per span,
    its parent (ids parsed from the Arrow buffers, duplicates dropped, loops cut, exactly
    as the critical path sees the tree) and its critical-path time; both are mapped back
    from the kernels' trace-grouped positions to rows in one compiled pass."""
    from tracelens.analysis._kernels import C_DUPLICATES, C_ORPHANS
    from tracelens.analysis.columnar import analyze

    analysis = analyze(frame, sections=False, clipped=False)  # critical time per span is all it reads
    parent, trace, critical, duplicate = analysis.row_arrays()
    kind = frame[s.KIND].to_physical().cast(pl.Int8).to_numpy().copy()
    kind[duplicate] = -1
    service, names = _service_codes(*analysis.codes(s.SERVICE_NAME))
    start = analysis.start_ns
    return _Spans(
        frame=frame,
        parent=parent,
        has_parent_id=frame[s.PARENT_SPAN_ID].is_not_null().to_numpy(),
        trace=trace,
        trace_first_row=analysis.order[analysis.offsets[:-1]],
        kind=kind,
        service=service,
        service_names=names,
        start=start,
        duration=analysis.end_ns - start,
        error=(frame[s.STATUS_CODE].to_physical().cast(pl.Int8) == _ERROR_CODE).to_numpy(),
        critical=critical,
        orphans=int(analysis.counts[:, C_ORPHANS].sum()),
        duplicates=int(analysis.counts[:, C_DUPLICATES].sum()),
        ids=(*analysis.trace_u64, analysis.span_u64) if analysis.trace_u64 is not None and analysis.span_u64 is not None else None,
    )


def _linked_producers(frame: pl.DataFrame, sp: _Spans | None = None) -> pl.DataFrame:
    """(consumer row, producer row) for CONSUMER spans linked to a PRODUCER span in the
    data (any trace). A join of the few consumers with links against the producers: on
    the parsed integer ids when the spans' ids were all hex (``sp.ids``), else on the
    strings."""
    rows = frame.lazy().with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    links = (
        rows.filter((pl.col(s.KIND) == "consumer") & (pl.col(s.LINKS).list.len() > 0))
        .select(pl.col("row").alias("consumer"), pl.col(s.LINKS))
        .explode(s.LINKS)
        .select(
            "consumer",
            pl.col(s.LINKS).struct.field("trace_id").alias(s.TRACE_ID),
            pl.col(s.LINKS).struct.field("span_id").alias(s.SPAN_ID),
        )
    )
    if sp is None or sp.ids is None:
        producers = rows.filter(pl.col(s.KIND) == "producer").select(s.TRACE_ID, s.SPAN_ID, pl.col("row").alias("producer"))
        return links.join(producers, on=[s.TRACE_ID, s.SPAN_ID], how="inner", maintain_order="left").select(
            "consumer", "producer").unique(maintain_order=True).collect()
    from tracelens.analysis.columnar import _hex_ids

    linked = links.collect()
    t_hi, t_lo, t_ok = _hex_ids(linked[s.TRACE_ID], s.TRACE_ID_HEX_LEN)
    _, span, s_ok = _hex_ids(linked[s.SPAN_ID], s.SPAN_ID_HEX_LEN)
    good = t_ok & s_ok  # a link that is not hex names no span of this data
    keyed_links = pl.DataFrame({"consumer": linked["consumer"].to_numpy()[good], "h": t_hi[good], "l": t_lo[good], "s": span[good]})
    producer_rows = np.flatnonzero((frame[s.KIND].to_physical() == _PRODUCER).to_numpy())  # duplicates too, as above
    all_hi, all_lo, all_span = sp.ids
    producers = pl.DataFrame({"producer": producer_rows, "h": all_hi[producer_rows], "l": all_lo[producer_rows],
                              "s": all_span[producer_rows]})
    return (
        keyed_links.join(producers, on=["h", "l", "s"], how="inner", maintain_order="left")
        .select("consumer", "producer")
        .unique(maintain_order=True)
    )


class _NodeNames:
    """Node names as integer codes: the services first (code = service code), then virtual
    peers and queues as they are found, then the user. Calls carry codes; names are
    attached once, at the end (group-bys on small integers, not strings)."""

    def __init__(self, services: pl.Series) -> None:
        self.names: list[str] = services.to_list()
        self.kinds: list[str] = [SERVICE] * len(self.names)
        self._code = {name: code for code, name in enumerate(self.names)}

    def code(self, name: str, kind: str) -> int:
        if name not in self._code:  # an instrumented service of that name keeps kind "service"
            self._code[name] = len(self.names)
            self.names.append(name)
            self.kinds.append(kind)
        return self._code[name]

    def enum_series(self) -> pl.Series:
        return pl.Series("node", self.names, dtype=pl.Enum(self.names))


_PEER_COLUMNS: Final = (s.PEER_SERVICE, s.SERVER_ADDRESS, s.NETWORK_PEER_ADDRESS, s.DB_SYSTEM_NAME, s.DB_NAMESPACE)
_QUEUE_COLUMNS: Final = (s.MESSAGING_DESTINATION_NAME, s.MESSAGING_SYSTEM)


def _peer_name_expr() -> tuple[pl.Expr, pl.Expr]:
    """(name, is_database) of the virtual peer of a CLIENT span: a database is
    ``peer.service`` or ``<db.system.name>/<db.namespace>``; anything else is named by
    ``peer.service`` -> ``server.address`` -> ``network.peer.address``."""
    db_name = (
        pl.when(pl.col(s.DB_NAMESPACE).is_not_null())
        .then(pl.concat_str(pl.col(s.DB_SYSTEM_NAME), pl.lit("/"), pl.col(s.DB_NAMESPACE)))
        .otherwise(pl.col(s.DB_SYSTEM_NAME))
    )
    is_db = pl.col(s.DB_SYSTEM_NAME).is_not_null()
    name = pl.when(is_db).then(pl.coalesce(pl.col(s.PEER_SERVICE), db_name)).otherwise(
        pl.coalesce(s.PEER_SERVICE, s.SERVER_ADDRESS, s.NETWORK_PEER_ADDRESS)
    )
    return name.alias("name"), is_db.alias("is_db")


def _name_rows(
    frame: pl.DataFrame, rows: npt.NDArray[np.int64], columns: tuple[str, ...], exprs: tuple[pl.Expr, ...]
) -> tuple[npt.NDArray[np.int64], pl.DataFrame]:
    """Group ``rows`` by their values of ``columns`` and evaluate ``exprs`` once per group.
    Returns the group of each row (aligned with ``rows``) and the per-group results.

    Rows are grouped by a 64-bit hash of the value combination: one pass over the
    strings, several times cheaper than grouping on the strings or gathering them row by
    row from a many-chunk frame. Only distinct combinations can collide -- a handful of
    peers, so the chance is ~k^2/2^64."""
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64), frame.head(0).select(*exprs)
    mask = np.zeros(frame.height, dtype=np.bool_)
    mask[rows] = True
    hashes = (
        frame.lazy().select(columns).filter(pl.Series(mask)).select(pl.struct(columns).hash().alias("h")).collect()["h"].to_numpy()
    )
    group, first = factorize(hashes)
    # a boolean filter, not a gather: gathering rows of a many-chunk frame rechunks it.
    # Groups are numbered by first appearance, so their first rows come out in group order.
    representative = np.zeros(frame.height, dtype=np.bool_)
    representative[rows[first]] = True
    return group, frame.lazy().select(columns).filter(pl.Series(representative)).select(*exprs).collect()


def _nullable(values: npt.NDArray[np.int64], valid: npt.NDArray[np.bool_]) -> pl.Series:
    series = pl.Series(values, dtype=pl.Int64)
    return series if valid.all() else pl.select(pl.when(pl.Series(valid)).then(series)).to_series()


_CONNECTION_CODE: Final = {name: code for code, name in enumerate(CONNECTION_TYPES)}


def _calls(
    sp: _Spans,
    *,
    caller: npt.NDArray[np.int64],
    callee: npt.NDArray[np.int64] | None,
    target: npt.NDArray[np.int64],
    connection: npt.NDArray[np.int64] | str,
    client: npt.NDArray[np.bool_] | bool,
    queue: npt.NDArray[np.bool_] | bool,
    entry_row: npt.NDArray[np.int64],
    user: int,
    caller_trace: bool = False,
) -> pl.DataFrame:
    """Call rows from caller rows (-1 = the user, node code ``user``) and callee rows
    (None = a virtual peer); ``target`` and the result's source/target are node codes.

    ``client`` marks callers whose duration is the client-side latency (CLIENT and PRODUCER
    spans, not e.g. a SERVER span that called out without a CLIENT span). The gap is
    client - server latency (network, queueing in the server), except where ``queue`` is
    set (messaging): there it is the time the message waited, consumer start - producer end.
    A call belongs to the callee's trace, or the caller's with ``caller_trace`` (a consumer
    in its own trace, linked to the producer, is a step of the producer's trace).
    """
    from tracelens.analysis import _graph_kernels as gk

    n = caller.size
    trace, source, start, client_ns, client_valid, server, gap, gap_valid, error = gk.call_columns(
        np.ascontiguousarray(caller, np.int64),
        np.ascontiguousarray(callee if callee is not None else caller, np.int64),
        callee is not None,
        np.ascontiguousarray(np.broadcast_to(np.asarray(queue, dtype=np.bool_), (n,))),
        np.ascontiguousarray(np.broadcast_to(np.asarray(client, dtype=np.bool_), (n,))),
        caller_trace, sp.trace, sp.service, sp.duration, sp.start, sp.error, user,
    )
    if callee is not None:
        server_ns = pl.Series(server, dtype=pl.Int64)
        gap_series = _nullable(gap, gap_valid)
    else:
        server_ns = pl.repeat(None, n, dtype=pl.Int64, eager=True)
        gap_series = pl.repeat(None, n, dtype=pl.Int64, eager=True)
    codes = (
        np.full(n, _CONNECTION_CODE[connection], dtype=np.int8) if isinstance(connection, str) else connection.astype(np.int8)
    )
    return pl.DataFrame(
        {
            "trace": pl.Series(trace, dtype=pl.Int64),
            "source": pl.Series(source, dtype=pl.UInt32),
            "target": pl.Series(target, dtype=pl.UInt32),
            "connection_type": pl.Series(codes, dtype=pl.UInt8),
            "start": pl.Series(start, dtype=pl.Int64),
            "client_ns": _nullable(client_ns, client_valid),
            "server_ns": server_ns,
            "gap_ns": gap_series,
            "error": pl.Series(error, dtype=pl.Boolean),
            "entry_row": pl.Series(entry_row, dtype=pl.Int64),
        }
    )


@dataclass(frozen=True)
class _Resolved:
    calls: pl.DataFrame  # source/target/connection_type as integer codes
    names: _NodeNames
    is_entry: npt.NDArray[np.bool_]
    accuracy: dict[str, int]


def _resolve(sp: _Spans, links: pl.DataFrame, self_loops: bool) -> _Resolved:
    from tracelens.analysis import _graph_kernels as gk

    n = sp.parent.size
    names = _NodeNames(sp.service_names)
    kind = sp.kind
    # one pass: what each span is to its parent; CLIENT / PRODUCER spans that have a
    # callee below them (kept or not)
    flags, has_callee = gk.classify_rows(sp.parent, kind, sp.service, _CLIENT, _SERVER, _PRODUCER, _CONSUMER)
    same_service = (flags & gk.SAME_SERVICE) != 0
    client_server = (flags & gk.CLIENT_SERVER) != 0
    producer_consumer = (flags & gk.PRODUCER_CONSUMER) != 0
    crossing = (flags & gk.CROSSING) != 0
    kept = crossing & (self_loops | ~same_service)

    # consumers linked to producers (possibly in other traces), not already a child pair
    pairs = links.filter(pl.Series(sp.parent[links["consumer"].to_numpy()] != links["producer"].to_numpy()))
    link_consumer = pairs["consumer"].to_numpy().astype(np.int64)
    link_producer = pairs["producer"].to_numpy().astype(np.int64)
    has_callee[link_producer] = True
    consumer_linked = np.zeros(n, dtype=np.bool_)
    consumer_linked[link_consumer] = True
    link_same = sp.service[link_consumer] == sp.service[link_producer]
    link_keep = self_loops | ~link_same

    # CLIENT spans with no callee: calls to virtual peers (databases, external APIs)
    virtual_rows = np.flatnonzero((kind == _CLIENT) & ~has_callee)
    group, peers = _name_rows(sp.frame, virtual_rows, _PEER_COLUMNS, _peer_name_expr())
    peer_code = np.array(
        [-1 if name is None else names.code(name, DATABASE_NODE if db else EXTERNAL) for name, db in peers.iter_rows()],
        dtype=np.int64,
    )
    peer_db = peers["is_db"].to_numpy().astype(np.bool_) if peers.height else np.zeros(0, np.bool_)
    row_code = peer_code[group] if group.size else np.zeros(0, np.int64)
    named = row_code >= 0
    peer_self = named & (row_code == sp.service[virtual_rows])
    peer_keep = named & (self_loops | ~peer_self)

    # PRODUCER spans nobody consumed: calls to their queue
    lonely = np.flatnonzero((kind == _PRODUCER) & ~has_callee)
    qgroup, queues = _name_rows(
        sp.frame, lonely, _QUEUE_COLUMNS, (pl.coalesce(s.MESSAGING_DESTINATION_NAME, s.MESSAGING_SYSTEM).alias("name"),)
    )
    queue_code = np.array([-1 if q is None else names.code(q, QUEUE) for (q,) in queues.iter_rows()], dtype=np.int64)
    queue_row_code = queue_code[qgroup] if qgroup.size else np.zeros(0, np.int64)
    queue_named = queue_row_code >= 0

    roots = np.flatnonzero(~sp.has_parent_id & (kind == _SERVER))
    user = names.code(USER_NODE, USER) if roots.size else len(names.names)

    is_entry = kept.copy()
    frames: list[pl.DataFrame] = []
    # direct and messaging parent/child calls
    callee_rows = np.flatnonzero(kept)
    is_messaging = producer_consumer[callee_rows]
    frames.append(
        _calls(
            sp,
            caller=sp.parent[callee_rows],
            callee=callee_rows,
            target=sp.service[callee_rows],
            connection=np.where(is_messaging, _CONNECTION_CODE[MESSAGING], _CONNECTION_CODE[DIRECT]),
            client=np.isin(kind[sp.parent[callee_rows]], (_CLIENT, _PRODUCER)),
            queue=is_messaging,
            entry_row=callee_rows,
            user=user,
        )
    )
    # messaging through span links: never on a critical path (links are non-blocking)
    frames.append(
        _calls(
            sp,
            caller=link_producer[link_keep],
            callee=link_consumer[link_keep],
            target=sp.service[link_consumer[link_keep]],
            connection=MESSAGING,
            client=True,
            queue=True,
            entry_row=np.full(int(link_keep.sum()), -1, dtype=np.int64),
            user=user,
            caller_trace=True,
        )
    )
    rows = virtual_rows[peer_keep]
    is_entry[rows] = True
    frames.append(
        _calls(
            sp,
            caller=rows,
            callee=None,
            target=row_code[peer_keep],
            connection=np.where(peer_db[group[peer_keep]], _CONNECTION_CODE[DATABASE], _CONNECTION_CODE[VIRTUAL_NODE])
            if rows.size
            else VIRTUAL_NODE,
            client=True,
            queue=False,
            entry_row=rows,
            user=user,
        )
    )
    rows = lonely[queue_named]
    is_entry[rows] = True
    frames.append(
        _calls(
            sp, caller=rows, callee=None, target=queue_row_code[queue_named], connection=MESSAGING,
            client=True, queue=False, entry_row=rows, user=user,
        )
    )
    # the user in front of root SERVER spans (roots, not orphans)
    is_entry[roots] = True
    frames.append(
        _calls(
            sp, caller=np.full(roots.size, -1, dtype=np.int64), callee=roots, target=sp.service[roots],
            connection=VIRTUAL_NODE, client=True, queue=False, entry_row=roots, user=user,
        )
    )

    calls = pl.concat(frames, how="vertical")
    service_names = sp.service_names
    missing_names = ((service_names == "") | service_names.str.starts_with(s.UNKNOWN_SERVICE)).to_numpy()
    consumers = kind == _CONSUMER
    accuracy = {
        "spans": n,
        "traces": int(sp.trace_first_row.size),
        "client_spans": int((kind == _CLIENT).sum()),
        "client_without_server": int(virtual_rows.size),
        "client_without_peer": int((~named).sum()),
        "server_spans": int((kind == _SERVER).sum()),
        "server_without_client": int(((kind == _SERVER) & sp.has_parent_id & ~client_server).sum()),
        "producer_spans": int((kind == _PRODUCER).sum()),
        "producer_without_consumer": int(lonely.size),
        "consumer_spans": int(consumers.sum()),
        "consumer_without_producer": int((consumers & ~producer_consumer & ~consumer_linked).sum()),
        "cross_service_without_kinds": int((crossing & ~client_server & ~producer_consumer).sum()),
        "spans_without_kind": int((kind == _UNSPECIFIED).sum()),
        "spans_without_service": int(missing_names[sp.service].sum()) if n else 0,
        "orphans": sp.orphans,
        "duplicate_span_ids": sp.duplicates,
        "self_calls": int((crossing & same_service).sum() + link_same.sum() + peer_self.sum()),
    }
    return _Resolved(calls=calls, names=names, is_entry=is_entry, accuracy=accuracy)


# --- critical path -----------------------------------------------------------------------


def _attribute_critical_path(
    sp: _Spans, is_entry: npt.NDArray[np.bool_]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Critical-path ns owned by each entry row, and ns owned by no entry per service
    code (top-level work of a root that is not a SERVER span, orphan fragments: it stays
    with the service of the span)."""
    return critical_time_by_owner(sp.parent, is_entry, sp.critical, sp.service, sp.service_names.len())


# --- aggregation ---------------------------------------------------------------------------


def _percentiles(column: str, prefix: str) -> list[pl.Expr]:
    return [
        (pl.col(column).quantile(q, "nearest") / _NS_PER_MS).alias(f"{prefix}_p{int(q * 100)}_ms")
        for q in (0.50, 0.95, 0.99)
    ]


_CONNECTION_ENUM: Final = pl.Series("connection_type", CONNECTION_TYPES, dtype=pl.Enum(list(CONNECTION_TYPES)))


def _named_calls(calls: pl.DataFrame, names: _NodeNames) -> pl.DataFrame:
    """The calls with node names (Enum) and connection types (Enum) for their codes."""
    nodes = names.enum_series()
    return calls.with_columns(
        nodes.gather(calls["source"]).alias("source"),
        nodes.gather(calls["target"]).alias("target"),
        _CONNECTION_ENUM.gather(calls["connection_type"]).alias("connection_type"),
    )


def _edge_frame(calls: pl.DataFrame, names: _NodeNames, total_cp_ns: int) -> pl.DataFrame:
    """One row per (source, target), by critical-path time; ``calls`` carries codes."""
    share = pl.col("critical_path_ms") * _NS_PER_MS / total_cp_ns if total_cp_ns else pl.lit(0.0)
    nodes = pl.Series(names.names, dtype=pl.String)
    # one integer key per edge, and per (edge, way): group-bys on one UInt64 column are
    # several times faster than on two (n_unique, quantiles)
    k = len(names.names)
    keyed = calls.with_columns(
        (pl.col("source").cast(pl.UInt64) * k + pl.col("target").cast(pl.UInt64)).alias("_edge")
    ).with_columns((pl.col("_edge") * len(CONNECTION_TYPES) + pl.col("connection_type").cast(pl.UInt64)).alias("_way"))
    # an edge reached in more than one way is labelled by its most common way (ties: the
    # first in CONNECTION_TYPES) -- counted per (edge, way): cheaper than a mode per edge
    ways = (
        keyed.group_by("_way")
        .agg(pl.len().alias("_n"), pl.col("_edge").first(), pl.col("connection_type").first())
        .sort(["_n", "connection_type"], descending=[True, False])
        .group_by("_edge", maintain_order=True)
        .first()
        .select("_edge", "connection_type")
    )
    edges = (
        keyed.group_by("_edge")
        .agg(
            pl.col("source").first(),
            pl.col("target").first(),
            pl.len().cast(pl.Int64).alias("calls"),
            pl.col("error").sum().cast(pl.Int64).alias("errors"),
            pl.col("trace").n_unique().cast(pl.Int64).alias("traces"),
            *_percentiles("client_ns", "client"),
            *_percentiles("server_ns", "server"),
            (pl.col("gap_ns").quantile(0.5, "nearest") / _NS_PER_MS).alias("gap_p50_ms"),
            (pl.col("gap_ns").mean() / _NS_PER_MS).alias("gap_mean_ms"),
            (pl.col("critical_path_ns").sum() / _NS_PER_MS).alias("critical_path_ms"),
        )
        .join(ways, on="_edge", how="left")
    )
    return (
        edges.with_columns(
            nodes.gather(edges["source"]).alias("source"),
            nodes.gather(edges["target"]).alias("target"),
            pl.Series(CONNECTION_TYPES, dtype=pl.String).gather(edges["connection_type"]).alias("connection_type"),
            (pl.col("errors") / pl.col("calls")).alias("error_rate"),
            share.alias("critical_path_share"),
        )
        .select(
            "source", "target", "connection_type", "calls", "errors", "error_rate", "traces",
            "client_p50_ms", "client_p95_ms", "client_p99_ms",
            "server_p50_ms", "server_p95_ms", "server_p99_ms",
            "gap_p50_ms", "gap_mean_ms", "critical_path_ms", "critical_path_share",
        )
        .sort(["critical_path_ms", "calls", "source", "target"], descending=[True, True, False, False])
    )


def _node_frame(
    sp: _Spans, calls: pl.DataFrame, names: _NodeNames, unowned_cp: npt.NDArray[np.int64], total_cp_ns: int, window_s: float
) -> pl.DataFrame:
    """One row per node: RED of its incoming calls, critical-path time (owned through its
    incoming calls, plus time no call owns in a service's own spans)."""
    k = len(names.names)
    spans = np.zeros(k, dtype=np.int64)
    spans[: sp.service_names.len()] = np.bincount(sp.service, minlength=sp.service_names.len())
    cp_ns = np.zeros(k, dtype=np.int64)
    cp_ns[: unowned_cp.size] = unowned_cp
    incoming = (
        calls.group_by("target")
        .agg(
            pl.len().cast(pl.Int64).alias("requests"),
            pl.col("error").sum().cast(pl.Int64).alias("errors"),
            *[
                (pl.coalesce("server_ns", "client_ns").quantile(q, "nearest") / _NS_PER_MS).alias(f"p{int(q * 100)}_ms")
                for q in (0.50, 0.95, 0.99)
            ],
            pl.col("critical_path_ns").sum().alias("_cp_owned"),
        )
        .rename({"target": "code"})
    )
    cp_share = pl.col("critical_path_ms") * _NS_PER_MS / total_cp_ns if total_cp_ns else pl.lit(0.0)
    nodes = pl.DataFrame(
        {
            "code": pl.Series(np.arange(k), dtype=pl.UInt32),
            "node": pl.Series(names.names, dtype=pl.String),
            "kind": pl.Series(names.kinds, dtype=pl.String),
            "spans": spans,
            "_cp_unowned": cp_ns,
        }
    )
    return (
        nodes.join(incoming, on="code", how="left")
        .with_columns(
            pl.col("requests").fill_null(0),
            pl.col("errors").fill_null(0),
            ((pl.col("_cp_owned").fill_null(0) + pl.col("_cp_unowned")) / _NS_PER_MS).alias("critical_path_ms"),
        )
        .with_columns(
            (pl.col("requests") / window_s).alias("rate_per_s"),
            pl.when(pl.col("requests") > 0).then(pl.col("errors") / pl.col("requests")).alias("error_rate"),
            cp_share.alias("critical_path_share"),
        )
        .select(
            "node", "kind", "spans", "requests", "errors", "error_rate", "rate_per_s",
            "p50_ms", "p95_ms", "p99_ms", "critical_path_ms", "critical_path_share",
        )
        .sort(["critical_path_ms", "requests", "node"], descending=[True, True, False])
    )


def _networkx(nodes: pl.DataFrame, edges: pl.DataFrame) -> nx.DiGraph:
    """The frames as a DiGraph; null attributes are left out (GraphML has no null)."""
    graph = nx.DiGraph()
    for row in nodes.iter_rows(named=True):
        name = row.pop("node")
        graph.add_node(name, **{k: v for k, v in row.items() if v is not None})
    for row in edges.iter_rows(named=True):
        source, target = row.pop("source"), row.pop("target")
        graph.add_edge(source, target, **{k: v for k, v in row.items() if v is not None})
    return graph


def _window_seconds(start: npt.NDArray[np.int64]) -> float:
    if start.size == 0:
        return 1.0
    return max(float(start.max() - start.min()) / 1e9, 1.0)


def service_graph(
    spans: pl.DataFrame | pl.LazyFrame,
    *,
    where: str | pl.Expr | None = None,
    self_loops: bool = False,
) -> ServiceGraph:
    """The service dependency graph of ``spans`` (span contract, whole traces).

    ``where`` restricts it to the traces with at least one span matching a filter
    expression (text or polars Expr), e.g. ``"duration > 2s and kind = server"``, to see the
    graph those traces walk. ``self_loops`` draws same-service calls.
    """
    lf = cohort(spans, where)
    schema_names = lf.collect_schema().names()
    frame = lf.select([c for c in GRAPH_COLUMNS if c in schema_names]).collect()
    frame = s.conform(frame).select(GRAPH_COLUMNS).collect() if frame.columns != list(GRAPH_COLUMNS) else frame
    sp = _span_arrays(frame)
    resolved = _resolve(sp, _linked_producers(frame, sp), self_loops)
    calls = resolved.calls
    by_entry, unowned = _attribute_critical_path(sp, resolved.is_entry)
    entry = calls["entry_row"].to_numpy()
    owned = np.where(entry >= 0, by_entry[np.where(entry >= 0, entry, 0)], 0) if entry.size else np.zeros(0, np.int64)
    total_cp = int(sp.critical.sum())
    calls = calls.with_columns(pl.Series("critical_path_ns", owned, dtype=pl.Int64))
    edges = _edge_frame(calls, resolved.names, total_cp)
    nodes = _node_frame(sp, calls, resolved.names, unowned, total_cp, _window_seconds(sp.start))
    return ServiceGraph(
        graph=_networkx(nodes, edges),
        nodes=nodes,
        edges=edges,
        calls=_named_calls(calls, resolved.names),
        accuracy=GraphAccuracy(**resolved.accuracy),
        critical_path_ns=total_cp,
        trace_first_row=sp.trace_first_row,
        trace_id_column=frame[s.TRACE_ID],
        options={"where": where if isinstance(where, str | None) else str(where), "self_loops": self_loops},
    )
