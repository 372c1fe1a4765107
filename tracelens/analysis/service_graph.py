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
from tracelens.analysis.owners import owning_entries

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
    "trace", "source", "target", "connection_type", "target_kind", "start",
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
    def paired_fraction(self) -> float:
        """Share of CLIENT and SERVER spans that found their counterpart (1.0 = all)."""
        total = self.client_spans + self.server_spans
        unpaired = self.client_without_server + self.server_without_client
        return 1.0 if total == 0 else max(0.0, 1.0 - unpaired / total)

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


@dataclass(frozen=True)
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
        return self.trace_id_column.gather(self.trace_first_row)

    def trace_edges(self) -> pl.DataFrame:
        """Per trace and edge: calls and critical-path time (ms), the edges each trace walks."""
        per_trace = (
            self.calls.group_by("trace", "source", "target")
            .agg(pl.len().cast(pl.Int64).alias("calls"), (pl.col("critical_path_ns").sum() / _NS_PER_MS).alias("critical_path_ms"))
        )
        ids = self.trace_ids
        return (
            per_trace.with_columns(ids.gather(per_trace["trace"]).alias(s.TRACE_ID))
            .select(s.TRACE_ID, "source", "target", "calls", "critical_path_ms")
            .sort([s.TRACE_ID, "critical_path_ms", "source", "target"], descending=[False, True, False, False])
        )

    def _repr_html_(self) -> str:
        from tracelens.views.html import service_graph_html  # display hook: the notebook facade

        return service_graph_html(self)


# --- cohort ------------------------------------------------------------------------------


def cohort(spans: pl.DataFrame | pl.LazyFrame, where: str | pl.Expr | None) -> pl.LazyFrame:
    """The whole traces that have at least one span matching ``where`` (a filter expression
    as text, see :mod:`tracelens.filters`, or a polars expression); all traces if None."""
    lf = spans.lazy()
    if where is None:
        return lf
    if isinstance(where, str):
        from tracelens.filters import parse_filter

        where = parse_filter(where)
    matching = lf.filter(where).select(s.TRACE_ID).unique()
    return lf.join(matching, on=s.TRACE_ID, how="semi")


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
    service: npt.NDArray[np.int64]  # code into service_names
    service_names: pl.Series
    start: npt.NDArray[np.int64]
    duration: npt.NDArray[np.int64]
    error: npt.NDArray[np.bool_]
    critical: npt.NDArray[np.int64]  # critical-path ns of the row
    orphans: int
    duplicates: int


def _codes(column: pl.Series) -> tuple[npt.NDArray[np.int64], pl.Series]:
    """Dense codes (0..k-1, in sorted order of the values) and the sorted distinct values
    (hash-based: a handful of service names over millions of rows)."""
    filled = column.fill_null(s.UNKNOWN_SERVICE)
    names = filled.unique().sort()
    codes = filled.cast(pl.Enum(names.to_list())).to_physical().cast(pl.Int64).to_numpy()
    return codes, names


def _span_arrays(frame: pl.DataFrame) -> _Spans:
    """One pass of the bulk trace kernels (tracelens.analysis.columnar) gives, per span,
    its parent (ids parsed from the Arrow buffers, duplicates dropped, loops cut, exactly
    as the critical path sees the tree) and its critical-path time; both are mapped back
    from the kernels' trace-grouped positions to rows."""
    from tracelens.analysis._kernels import C_DUPLICATES, C_ORPHANS, DUPLICATE
    from tracelens.analysis.columnar import analyze

    analysis = analyze(frame)
    order = analysis.order
    n = frame.height
    parent = np.full(n, -1, dtype=np.int64)
    found = analysis.parent >= 0
    parent[order[found]] = order[analysis.parent[found]]
    trace = np.empty(n, dtype=np.int64)
    trace[order] = np.repeat(np.arange(analysis.n_traces, dtype=np.int64), np.diff(analysis.offsets))
    critical = np.empty(n, dtype=np.int64)
    critical[order] = analysis.critical_ns
    duplicate = np.zeros(n, dtype=np.bool_)
    duplicate[order[analysis.status == DUPLICATE]] = True
    kind = frame[s.KIND].to_physical().cast(pl.Int8).to_numpy().copy()
    kind[duplicate] = -1
    critical[duplicate] = 0
    service, names = _codes(frame[s.SERVICE_NAME])
    start = frame[s.START].dt.epoch("ns").to_numpy()
    end = frame[s.END].dt.epoch("ns").to_numpy()
    return _Spans(
        frame=frame,
        parent=parent,
        has_parent_id=frame[s.PARENT_SPAN_ID].is_not_null().to_numpy(),
        trace=trace,
        trace_first_row=order[analysis.offsets[:-1]],
        kind=kind,
        service=service,
        service_names=names,
        start=start,
        duration=end - start,
        error=(frame[s.STATUS_CODE].to_physical().cast(pl.Int8) == _ERROR_CODE).to_numpy(),
        critical=critical,
        orphans=int(analysis.counts[:, C_ORPHANS].sum()),
        duplicates=int(analysis.counts[:, C_DUPLICATES].sum()),
    )


def _linked_producers(frame: pl.DataFrame) -> pl.DataFrame:
    """(consumer row, producer row) for CONSUMER spans linked to a PRODUCER span in the
    data (any trace). A join of the few consumers with links against the producers."""
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
    producers = rows.filter(pl.col(s.KIND) == "producer").select(s.TRACE_ID, s.SPAN_ID, pl.col("row").alias("producer"))
    return links.join(producers, on=[s.TRACE_ID, s.SPAN_ID], how="inner").select("consumer", "producer").unique(maintain_order=True).collect()


def _peer_names(frame: pl.DataFrame, rows: npt.NDArray[np.int64]) -> pl.DataFrame:
    """Name, node kind and connection type of the virtual peer of CLIENT spans ``rows``
    (name null when the span names no peer)."""
    db_name = (
        pl.when(pl.col(s.DB_NAMESPACE).is_not_null())
        .then(pl.concat_str(pl.col(s.DB_SYSTEM_NAME), pl.lit("/"), pl.col(s.DB_NAMESPACE)))
        .otherwise(pl.col(s.DB_SYSTEM_NAME))
    )
    is_db = pl.col(s.DB_SYSTEM_NAME).is_not_null()
    return frame.select(s.PEER_SERVICE, s.SERVER_ADDRESS, s.NETWORK_PEER_ADDRESS, s.DB_SYSTEM_NAME, s.DB_NAMESPACE)[rows].select(
        pl.when(is_db)
        .then(pl.coalesce(pl.col(s.PEER_SERVICE), db_name))
        .otherwise(pl.coalesce(s.PEER_SERVICE, s.SERVER_ADDRESS, s.NETWORK_PEER_ADDRESS))
        .alias("target"),
        pl.when(is_db).then(pl.lit(DATABASE_NODE)).otherwise(pl.lit(EXTERNAL)).alias("target_kind"),
        pl.when(is_db).then(pl.lit(DATABASE)).otherwise(pl.lit(VIRTUAL_NODE)).alias("connection_type"),
    )


def _nullable(values: npt.NDArray[np.int64], valid: npt.NDArray[np.bool_]) -> pl.Series:
    series = pl.Series(values, dtype=pl.Int64)
    return series if valid.all() else pl.select(pl.when(pl.Series(valid)).then(series)).to_series()


def _calls(
    sp: _Spans,
    *,
    caller: npt.NDArray[np.int64],
    callee: npt.NDArray[np.int64] | None,
    target: pl.Series,
    target_kind: pl.Series | str,
    connection_type: pl.Series | str,
    client: npt.NDArray[np.bool_] | bool,
    queue: npt.NDArray[np.bool_] | bool,
    entry_row: npt.NDArray[np.int64],
) -> pl.DataFrame:
    """Call rows from caller rows (-1 = the user) and callee rows (None = a virtual peer).

    ``client`` marks callers whose duration is the client-side latency (CLIENT and PRODUCER
    spans, not e.g. a SERVER span that called out without a CLIENT span). The gap is
    client - server latency (network, queueing in the server), except where ``queue`` is
    set (messaging): there it is the time the message waited, consumer start - producer end.
    """
    n = caller.size
    has_caller = caller >= 0
    safe_caller = np.where(has_caller, caller, 0)
    client_valid = has_caller & np.broadcast_to(np.asarray(client, dtype=np.bool_), (n,))
    is_queue = np.broadcast_to(np.asarray(queue, dtype=np.bool_), (n,))
    client_ns = sp.duration[safe_caller]
    error = np.where(has_caller, sp.error[safe_caller], False)
    if callee is not None:
        server_ns = pl.Series(sp.duration[callee], dtype=pl.Int64)
        error = error | sp.error[callee]
        gap = np.where(is_queue, sp.start[callee] - (sp.start[safe_caller] + client_ns), client_ns - sp.duration[callee])
        gap_series = _nullable(gap, np.where(is_queue, has_caller, client_valid))
        start = sp.start[callee]
        trace_row = callee
    else:
        server_ns = pl.Series([None] * n, dtype=pl.Int64)
        gap_series = pl.Series([None] * n, dtype=pl.Int64)
        start = sp.start[safe_caller]
        trace_row = safe_caller
    source = sp.service_names.gather(sp.service[safe_caller])
    if not has_caller.all():
        source = pl.select(pl.when(pl.Series(has_caller)).then(source).otherwise(pl.lit(USER_NODE))).to_series()

    def column(value: pl.Series | str, name: str) -> pl.Series:
        return value.alias(name) if isinstance(value, pl.Series) else pl.Series(name, [value] * n, dtype=pl.String)

    return pl.DataFrame(
        {
            "trace": pl.Series(sp.trace[trace_row], dtype=pl.Int64),
            "source": source,
            "target": target.alias("target"),
            "connection_type": column(connection_type, "connection_type"),
            "target_kind": column(target_kind, "target_kind"),
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
    calls: pl.DataFrame
    is_entry: npt.NDArray[np.bool_]
    accuracy: dict[str, int]


def _resolve(sp: _Spans, links: pl.DataFrame, self_loops: bool) -> _Resolved:
    n = sp.parent.size
    has_parent = sp.parent >= 0
    safe_parent = np.where(has_parent, sp.parent, 0)
    parent_kind = np.where(has_parent, sp.kind[safe_parent], -1)
    same_service = has_parent & (sp.service[safe_parent] == sp.service)
    kind = sp.kind
    client_server = has_parent & (parent_kind == _CLIENT) & (kind == _SERVER)
    producer_consumer = has_parent & (parent_kind == _PRODUCER) & (kind == _CONSUMER)
    crossing = has_parent & (client_server | producer_consumer | ~same_service)
    kept = crossing & (self_loops | ~same_service)

    # CLIENT / PRODUCER spans that have a callee below them (kept or not)
    has_callee = np.zeros(n, dtype=np.bool_)
    has_callee[sp.parent[crossing]] = True

    # consumers linked to producers (possibly in other traces), not already a child pair
    pairs = links.filter(pl.Series(sp.parent[links["consumer"].to_numpy()] != links["producer"].to_numpy()))
    link_consumer = pairs["consumer"].to_numpy().astype(np.int64)
    link_producer = pairs["producer"].to_numpy().astype(np.int64)
    has_callee[link_producer] = True
    consumer_linked = np.zeros(n, dtype=np.bool_)
    consumer_linked[link_consumer] = True
    link_same = sp.service[link_consumer] == sp.service[link_producer]
    link_keep = self_loops | ~link_same

    is_entry = kept.copy()
    frames: list[pl.DataFrame] = []

    # direct and messaging parent/child calls
    callee_rows = np.flatnonzero(kept)
    caller_rows = sp.parent[callee_rows]
    is_messaging = producer_consumer[callee_rows]
    frames.append(
        _calls(
            sp,
            caller=caller_rows,
            callee=callee_rows,
            target=sp.service_names.gather(sp.service[callee_rows]),
            target_kind=SERVICE,
            connection_type=pl.Series(np.where(is_messaging, MESSAGING, DIRECT)),
            client=np.isin(parent_kind[callee_rows], (_CLIENT, _PRODUCER)),
            queue=is_messaging,
            entry_row=callee_rows,
        )
    )

    # messaging through span links: never on a critical path (links are non-blocking)
    keep_pairs = link_keep
    frames.append(
        _calls(
            sp,
            caller=link_producer[keep_pairs],
            callee=link_consumer[keep_pairs],
            target=sp.service_names.gather(sp.service[link_consumer[keep_pairs]]),
            target_kind=SERVICE,
            connection_type=MESSAGING,
            client=True,
            queue=True,
            entry_row=np.full(int(keep_pairs.sum()), -1, dtype=np.int64),
        )
    )

    # CLIENT spans with no callee: calls to virtual peers (databases, external APIs)
    virtual_rows = np.flatnonzero((kind == _CLIENT) & ~has_callee)
    peers = _peer_names(sp.frame, virtual_rows)
    named = peers["target"].is_not_null().to_numpy()
    peer_self = named & (peers["target"] == sp.service_names.gather(sp.service[virtual_rows])).fill_null(False).to_numpy()
    peer_keep = named & (self_loops | ~peer_self)
    rows = virtual_rows[peer_keep]
    is_entry[rows] = True
    kept_peers = peers.filter(pl.Series(peer_keep))
    frames.append(
        _calls(
            sp,
            caller=rows,
            callee=None,
            target=kept_peers["target"],
            target_kind=kept_peers["target_kind"],
            connection_type=kept_peers["connection_type"],
            client=True,
            queue=False,
            entry_row=rows,
        )
    )

    # PRODUCER spans nobody consumed: calls to their queue
    lonely = np.flatnonzero((kind == _PRODUCER) & ~has_callee)
    queue_names = sp.frame.select(s.MESSAGING_DESTINATION_NAME, s.MESSAGING_SYSTEM)[lonely].select(
        pl.coalesce(s.MESSAGING_DESTINATION_NAME, s.MESSAGING_SYSTEM).alias("target")
    )["target"]
    queue_named = queue_names.is_not_null().to_numpy()
    rows = lonely[queue_named]
    is_entry[rows] = True
    frames.append(
        _calls(
            sp,
            caller=rows,
            callee=None,
            target=queue_names.filter(pl.Series(queue_named)),
            target_kind=QUEUE,
            connection_type=MESSAGING,
            client=True,
            queue=False,
            entry_row=rows,
        )
    )

    # the user in front of root SERVER spans (roots, not orphans)
    roots = np.flatnonzero(~sp.has_parent_id & (kind == _SERVER))
    is_entry[roots] = True
    frames.append(
        _calls(
            sp,
            caller=np.full(roots.size, -1, dtype=np.int64),
            callee=roots,
            target=sp.service_names.gather(sp.service[roots]),
            target_kind=SERVICE,
            connection_type=VIRTUAL_NODE,
            client=True,
            queue=False,
            entry_row=roots,
        )
    )

    calls = pl.concat([f for f in frames if f.height], how="vertical") if any(f.height for f in frames) else frames[0]
    names = sp.service_names
    missing_names = ((names == "") | names.str.starts_with(s.UNKNOWN_SERVICE)).to_numpy()
    service_missing = int(missing_names[sp.service].sum()) if n else 0
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
        "spans_without_service": service_missing,
        "orphans": sp.orphans,
        "duplicate_span_ids": sp.duplicates,
        "self_calls": int((crossing & same_service).sum() + (link_same.sum() if link_same.size else 0) + peer_self.sum()),
    }
    return _Resolved(calls=calls, is_entry=is_entry, accuracy=accuracy)


# --- critical path -----------------------------------------------------------------------


def _attribute_critical_path(sp: _Spans, is_entry: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.float64], pl.DataFrame]:
    """Critical-path ns owned by each entry row, and ns owned by no entry per service."""
    critical = sp.critical
    owner = owning_entries(sp.parent, is_entry)
    on_path = critical > 0
    owned = on_path & (owner >= 0)
    by_entry = np.bincount(owner[owned], weights=critical[owned], minlength=sp.parent.size)
    unowned = on_path & (owner < 0)
    # time no entry owns (top-level work of a root that is not a SERVER span, orphan
    # fragments) stays with the service of the span
    codes = sp.service[unowned]
    by_code = np.bincount(codes, weights=critical[unowned], minlength=sp.service_names.len())
    present = np.flatnonzero(np.bincount(codes, minlength=sp.service_names.len()))
    by_service = pl.DataFrame(
        {"node": sp.service_names.gather(present), "ns": np.rint(by_code[present]).astype(np.int64)},
        schema={"node": pl.String, "ns": pl.Int64},
    )
    return by_entry, by_service


# --- aggregation ---------------------------------------------------------------------------


def _percentiles(column: str, prefix: str) -> list[pl.Expr]:
    return [
        (pl.col(column).quantile(q, "nearest") / _NS_PER_MS).alias(f"{prefix}_p{int(q * 100)}_ms")
        for q in (0.50, 0.95, 0.99)
    ]


def _edge_frame(calls: pl.DataFrame, total_cp_ns: int) -> pl.DataFrame:
    share = pl.col("critical_path_ms") * _NS_PER_MS / total_cp_ns if total_cp_ns else pl.lit(0.0)
    return (
        calls.group_by("source", "target")
        .agg(
            # an edge reached in more than one way is labelled by its most common way
            pl.col("connection_type").mode().sort().first().alias("connection_type"),
            pl.len().cast(pl.Int64).alias("calls"),
            pl.col("error").sum().cast(pl.Int64).alias("errors"),
            pl.col("trace").n_unique().cast(pl.Int64).alias("traces"),
            *_percentiles("client_ns", "client"),
            *_percentiles("server_ns", "server"),
            (pl.col("gap_ns").quantile(0.5, "nearest") / _NS_PER_MS).alias("gap_p50_ms"),
            (pl.col("gap_ns").mean() / _NS_PER_MS).alias("gap_mean_ms"),
            (pl.col("critical_path_ns").sum() / _NS_PER_MS).alias("critical_path_ms"),
        )
        .with_columns(
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
    sp: _Spans, calls: pl.DataFrame, unowned_cp: pl.DataFrame, total_cp_ns: int, window_s: float
) -> pl.DataFrame:
    services = pl.DataFrame(
        {
            "node": sp.service_names,
            "kind": [SERVICE] * sp.service_names.len(),
            "spans": np.bincount(sp.service, minlength=sp.service_names.len()).astype(np.int64),
        },
        schema={"node": pl.String, "kind": pl.String, "spans": pl.Int64},
    )
    virtual = (
        calls.filter(pl.col("target_kind") != SERVICE)
        .group_by("target")
        .agg(pl.col("target_kind").first().alias("kind"))
        .rename({"target": "node"})
        .join(services.select("node"), on="node", how="anti")  # an instrumented name wins
        .with_columns(pl.lit(0, pl.Int64).alias("spans"))
    )
    users = pl.DataFrame(
        {"node": [USER_NODE], "kind": [USER], "spans": [0]}, schema={"node": pl.String, "kind": pl.String, "spans": pl.Int64}
    ).filter(pl.lit(bool(calls.filter(pl.col("source") == USER_NODE).height)))
    nodes = pl.concat([services, virtual.select("node", "kind", "spans"), users])
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
        .rename({"target": "node"})
    )
    cp_share = pl.col("critical_path_ms") * _NS_PER_MS / total_cp_ns if total_cp_ns else pl.lit(0.0)
    return (
        nodes.join(incoming, on="node", how="left")
        .join(unowned_cp.rename({"ns": "_cp_unowned"}), on="node", how="left")
        .with_columns(
            pl.col("requests").fill_null(0),
            pl.col("errors").fill_null(0),
            ((pl.col("_cp_owned").fill_null(0) + pl.col("_cp_unowned").fill_null(0)) / _NS_PER_MS).alias("critical_path_ms"),
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
    resolved = _resolve(sp, _linked_producers(frame), self_loops)
    calls = resolved.calls
    by_entry, unowned = _attribute_critical_path(sp, resolved.is_entry)
    entry = calls["entry_row"].to_numpy()
    owned = np.where(entry >= 0, by_entry[np.where(entry >= 0, entry, 0)], 0.0) if entry.size else np.zeros(0)
    total_cp = int(sp.critical.sum())
    calls = calls.with_columns(pl.Series("critical_path_ns", np.rint(owned).astype(np.int64)))
    edges = _edge_frame(calls, total_cp)
    nodes = _node_frame(sp, calls, unowned, total_cp, _window_seconds(sp.start))
    return ServiceGraph(
        graph=_networkx(nodes, edges),
        nodes=nodes,
        edges=edges,
        calls=calls,
        accuracy=GraphAccuracy(**resolved.accuracy),
        critical_path_ns=total_cp,
        trace_first_row=sp.trace_first_row,
        trace_id_column=frame[s.TRACE_ID],
        options={"where": where if isinstance(where, str | None) else str(where), "self_loops": self_loops},
    )
