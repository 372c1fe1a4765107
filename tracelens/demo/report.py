"""The story `tracelens demo` tells, computed from the stored spans by tracelens' analyses.

Two halves: ``compute_*`` functions run analyses over the span store and return plain data
(frames, dataclasses) that tests assert on; ``render`` turns them into rich renderables.
Nothing printed is known in advance: the simulator only knows what it broke and when (the
scenario timeline); every figure, bottleneck and alert is found in the spans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tracelens import schema as s
from tracelens.demo.run import DemoRun
from tracelens.demo.timeline import ScenarioWindow, format_duration

TOP: Final = 5
NOTABLE_GROWTH: Final = 0.10  # critical-path share points an edge must gain to be called out
SLO_FILE: Final = "demo-slos.yaml"

#: The SLOs the demo judges the shop by (inputs, like any user's spec file).
DEMO_SLOS: Final = """\
# written by `tracelens demo`: the shop's SLOs (tracelens native form)
slos:
  - name: shop-availability
    service: web-frontend
    objective: 99.9
    window: 30d
    sli: {kind: availability}
    alerting: {mode: auto, min_bad_events: 5}   # a lone error in a quiet hour pages nobody
  - name: checkout-latency
    service: web-frontend
    operation: "POST /checkout"
    objective: 99
    window: 30d
    sli: {kind: latency, threshold: 1s}
    alerting: {mode: auto, min_bad_events: 5}
"""


# --- shared frames ---------------------------------------------------------------------


def roots(spans: pl.DataFrame) -> pl.DataFrame:
    """One row per trace: its root span (trace_id, service, name, start, duration, error)."""
    return spans.filter(pl.col(s.PARENT_SPAN_ID).is_null()).select(
        s.TRACE_ID,
        s.SERVICE_NAME,
        s.NAME,
        s.START,
        s.DURATION,
        (pl.col(s.STATUS_CODE) == "error").alias("error"),
    )


def active_scenarios(run: DemoRun, at: datetime) -> list[str]:
    """Names of the scenarios whose window contains ``at`` (for labelling findings)."""
    offset = (at - run.config.start).total_seconds()
    return [w.name for w in run.config.scenarios if w.active(offset)]


# --- 1. run summary ----------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    data: Path
    start: datetime
    end: datetime
    requests: int
    spans_ended: int
    spans_stored: int
    failed_requests: int
    wall_seconds: float
    scenarios: tuple[tuple[str, datetime, datetime], ...]


def compute_summary(run: DemoRun, spans: pl.DataFrame) -> Summary:
    cfg = run.config
    root_frame = roots(spans)
    return Summary(
        data=run.data,
        start=cfg.start,
        end=cfg.at(cfg.duration_seconds),
        requests=root_frame.height,
        spans_ended=run.result.spans_ended,
        spans_stored=spans.height,
        failed_requests=int(root_frame["error"].sum()),
        wall_seconds=run.result.wall_seconds,
        scenarios=tuple((w.label(), cfg.at(w.start), cfg.at(w.end)) for w in cfg.scenarios),
    )


# --- 2. slowest traces -------------------------------------------------------------------


def compute_slowest(spans: pl.DataFrame, top: int = TOP) -> pl.DataFrame:
    """The slowest traces with their bottleneck operation (largest critical-path owner)."""
    from tracelens.analysis.latency_share import bottlenecks

    slowest = roots(spans).sort(s.DURATION, descending=True).head(top)
    chosen = spans.join(slowest.select(s.TRACE_ID), on=s.TRACE_ID, how="semi")
    found = bottlenecks(chosen, by="operation").rename({s.SERVICE_NAME: "bottleneck_service", s.NAME: "bottleneck"})
    return slowest.join(found.select(s.TRACE_ID, "bottleneck_service", "bottleneck", "share"), on=s.TRACE_ID, how="left").sort(
        s.DURATION, descending=True
    )


# --- 3. chaos windows: before vs during ----------------------------------------------------


@dataclass(frozen=True)
class Period:
    label: str
    since: datetime
    until: datetime
    requests: int
    errors: int
    p50_ms: float | None
    p95_ms: float | None
    edges: pl.DataFrame  # source, target, critical_path_share, errors, calls
    origins: pl.DataFrame  # service_name, name, errors: where failures start
    services: pl.DataFrame  # service_name, share: critical-path attribution per service

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True)
class ChaosFinding:
    window: ScenarioWindow
    before: Period
    during: Period

    def top_edge(self) -> tuple[str, str, float, float] | None:
        """The edge whose share of the critical path grew most against the baseline:
        (source, target, baseline share, share during)."""
        if self.during.edges.is_empty():
            return None
        best = None
        for row in self.during.edges.iter_rows(named=True):
            before = self.edge_share(self.before, row["source"], row["target"])
            growth = row["critical_path_share"] - before
            if best is None or growth > best[0]:
                best = (growth, row["source"], row["target"], before, row["critical_path_share"])
        assert best is not None
        return best[1], best[2], best[3], best[4]

    def edge_share(self, period: Period, source: str, target: str) -> float:
        hit = period.edges.filter((pl.col("source") == source) & (pl.col("target") == target))
        return float(hit["critical_path_share"][0]) if hit.height else 0.0

    def top_error_origin(self) -> tuple[str, str, int] | None:
        """The operation where most failures of the window start."""
        if self.during.origins.is_empty():
            return None
        row = self.during.origins.row(0, named=True)
        return row[s.SERVICE_NAME], row[s.NAME], row["errors"]

    def top_error_peers(self) -> list[str]:
        """The instances the failing calls of the top origin went to, if recorded."""
        if self.during.origins.is_empty():
            return []
        return list(self.during.origins["peers"][0])

    def top_error_edge(self) -> tuple[str, str, int] | None:
        """The edge with the most failed calls during the window (where errors start)."""
        failing = self.during.edges.filter(pl.col("errors") > 0).sort("errors", descending=True)
        if failing.is_empty():
            return None
        row = failing.row(0, named=True)
        return row["source"], row["target"], row["errors"]


def error_origins(spans: pl.DataFrame) -> pl.DataFrame:
    """Where failed requests start failing, counted per (service, operation): in each trace
    whose root failed, the failed span none of whose children failed (a failure that merely
    propagates up has a failed child) that ended last -- an earlier one was survived (a
    retried call, a read answered from a cache) or the request would have stopped there."""
    failed = spans.filter(pl.col(s.STATUS_CODE) == "error")
    propagated = failed.select(s.TRACE_ID, pl.col(s.PARENT_SPAN_ID).alias(s.SPAN_ID)).drop_nulls().unique()
    failed_requests = failed.filter(pl.col(s.PARENT_SPAN_ID).is_null()).select(s.TRACE_ID)
    origins = (
        failed.join(propagated, on=[s.TRACE_ID, s.SPAN_ID], how="anti")
        .join(failed_requests, on=s.TRACE_ID, how="semi")
        .sort(s.END, s.SPAN_ID)
        .group_by(s.TRACE_ID, maintain_order=True)
        .last()
    )
    peer = s.attribute_value(pl.col(s.ATTRIBUTES), "network.peer.address")
    return (
        origins.with_columns(peer.alias("peer"))
        .group_by(s.SERVICE_NAME, s.NAME)
        .agg(
            pl.len().cast(pl.Int64).alias("errors"),
            # which instance answered (or refused): names the dead pods in kill-pod
            pl.col("peer").drop_nulls().unique().sort().alias("peers"),
        )
        .sort(["errors", s.SERVICE_NAME, s.NAME], descending=[True, False, False])
    )


def compute_period(spans: pl.DataFrame, root_frame: pl.DataFrame, label: str, since: datetime, until: datetime) -> Period:
    """The traces whose root started in [since, until)."""
    mine = root_frame.filter((pl.col(s.START) >= since) & (pl.col(s.START) < until))
    return _period(spans, mine, label, since, until)


def calm_period(run: DemoRun, spans: pl.DataFrame, root_frame: pl.DataFrame) -> Period:
    """The traces that started outside every chaos window: the baseline."""
    cfg = run.config
    offset = (pl.col(s.START) - pl.lit(cfg.start)).dt.total_nanoseconds() / 1e9
    inside = pl.lit(False)
    for w in cfg.scenarios:
        inside = inside | ((offset >= w.start) & (offset < w.end))
    mine = root_frame.filter(~inside)
    return _period(spans, mine, "calm", cfg.start, cfg.at(cfg.duration_seconds))


def _period(spans: pl.DataFrame, mine: pl.DataFrame, label: str, since: datetime, until: datetime) -> Period:
    from tracelens.analysis.service_graph import USER_NODE, service_graph

    chosen = spans.join(mine.select(s.TRACE_ID), on=s.TRACE_ID, how="semi")
    ms = mine[s.DURATION].dt.total_nanoseconds() / 1e6
    edges = pl.DataFrame(schema={"source": pl.String, "target": pl.String, "critical_path_share": pl.Float64, "errors": pl.Int64, "calls": pl.Int64})
    if chosen.height:
        graph = service_graph(chosen)
        # the user -> frontend edge owns the frontend's own time; keep the dependencies
        edges = graph.edges.filter(pl.col("source") != USER_NODE).select(edges.columns)
    return Period(
        label=label,
        since=since,
        until=until,
        requests=mine.height,
        errors=int(mine["error"].sum()),
        p50_ms=float(ms.quantile(0.5, "nearest")) if mine.height else None,  # type: ignore[arg-type]
        p95_ms=float(ms.quantile(0.95, "nearest")) if mine.height else None,  # type: ignore[arg-type]
        edges=edges,
        origins=error_origins(chosen),
        services=_service_shares(chosen),
    )


def _service_shares(spans: pl.DataFrame) -> pl.DataFrame:
    from tracelens.analysis.latency_share import latency_share

    if spans.is_empty():
        return pl.DataFrame(schema={s.SERVICE_NAME: pl.String, "share": pl.Float64})
    return latency_share(spans, by="service").select(s.SERVICE_NAME, "share").sort("share", descending=True)


def compute_chaos(run: DemoRun, spans: pl.DataFrame) -> list[ChaosFinding]:
    """For each scenario window: the traces during it against the calm traces (those that
    started outside every window), so overlapping or neighbouring chaos never pollutes
    the baseline."""
    cfg = run.config
    if not cfg.scenarios:
        return []
    root_frame = roots(spans)
    calm = calm_period(run, spans, root_frame)
    return [
        ChaosFinding(w, calm, compute_period(spans, root_frame, "during", cfg.at(w.start), cfg.at(w.end)))
        for w in cfg.scenarios
    ]


# --- 4. SLOs and burn-rate alerts ------------------------------------------------------------


@dataclass(frozen=True)
class SLOReport:
    spec_path: Path
    statuses: list[Any]  # tracelens.slo.SLOStatus
    history: pl.DataFrame  # fire/reset events


def compute_slos(run: DemoRun, spans: pl.DataFrame) -> SLOReport:
    from tracelens import slo

    spec_path = run.data / SLO_FILE
    spec_path.write_text(DEMO_SLOS)
    slos = slo.load(spec_path)
    rolled = slo.rollup(spans, slos)
    return SLOReport(spec_path, slo.evaluate(rolled), slo.history(rolled))


# --- 5. dependency graph ------------------------------------------------------------------------


def compute_graph(spans: pl.DataFrame) -> pl.DataFrame:
    from tracelens.analysis.service_graph import service_graph

    return service_graph(spans).edges


# --- 6. circuit breaker -------------------------------------------------------------------------

BREAKER_STATE: Final = "circuit_breaker.state"


@dataclass(frozen=True)
class BreakerEpisode:
    opened: datetime
    closed: datetime
    rejected: int
    trials: int


def compute_breaker(spans: pl.DataFrame, gap: timedelta = timedelta(minutes=2)) -> tuple[dict[str, int], list[BreakerEpisode]]:
    """Calls per breaker state seen by the payment client, and the episodes in which it
    rejected calls (fail-fast spans closer than ``gap`` belong to one episode)."""
    calls = spans.filter(pl.col(s.KIND) == "client").with_columns(
        s.attribute_value(pl.col(s.ATTRIBUTES), BREAKER_STATE).alias("state")
    ).filter(pl.col("state").is_not_null())
    counts = {str(k): int(v) for k, v in calls.group_by("state").len().iter_rows()}
    fail_fast = s.attribute_value(pl.col(s.ATTRIBUTES), "error.type").fill_null("") == "circuit_breaker_open"
    calls = calls.with_columns(fail_fast.alias("rejected"))
    rejected = calls.filter(pl.col("rejected")).sort(s.START)
    episodes: list[BreakerEpisode] = []
    if rejected.height:
        marked = rejected.with_columns((pl.col(s.START).diff() > gap).fill_null(True).cum_sum().alias("episode"))
        for (_,), group in marked.group_by(["episode"], maintain_order=True):
            since, until = group[s.START].min(), group[s.END].max()
            trials = calls.filter(
                (pl.col("state") == "half_open") & ~pl.col("rejected") & (pl.col(s.START) >= since) & (pl.col(s.START) <= until + gap)
            )
            episodes.append(BreakerEpisode(since, until, group.height, trials.height))  # type: ignore[arg-type]
    return counts, episodes


# --- 7. canary verdict ---------------------------------------------------------------------------

CANARY_BASELINE: Final = 'service.version = "1.0.0"'
CANARY_COHORT: Final = 'service.version = "2.0.0"'
CANARY_SERVICE: Final = "payment-service"


@dataclass(frozen=True)
class CanaryReport:
    window: ScenarioWindow
    since: datetime
    until: datetime
    schedule: str
    verdict: Any  # tracelens.canary.judge.Verdict over the whole rollout window
    steps: Any  # tracelens.canary.steps.ProgressiveResult, step by step


def canary_schedule(window: ScenarioWindow) -> str:
    """The rollout steps the canary scenario ran, as tracelens' schedule syntax."""
    from tracelens.demo.timeline import CANARY_STEPS

    step = window.length / len(CANARY_STEPS)
    return ",".join(f"{share * 100:g}%:{format_duration(step)}" for share in CANARY_STEPS)


def compute_canary(run: DemoRun, spans: pl.DataFrame) -> CanaryReport | None:
    """The seed's canary rules (error rate <= 1 %, p95 at most 10 % slower, success >= 99 %)
    applied to payment-service v2.0 against v1.0, over the rollout and step by step."""
    from tracelens.canary.api import compare_cohorts, progressive_rollout

    window = next((w for w in run.config.scenarios if w.name == "canary"), None)
    if window is None:
        return None
    since, until = run.config.at(window.start), run.config.at(window.end)
    schedule = canary_schedule(window)
    verdict = compare_cohorts(
        spans, baseline=CANARY_BASELINE, canary=CANARY_COHORT, service=CANARY_SERVICE, since=since, until=until
    )
    steps = progressive_rollout(
        spans, baseline=CANARY_BASELINE, canary=CANARY_COHORT, service=CANARY_SERVICE, start=since, schedule=schedule
    )
    return CanaryReport(window, since, until, schedule, verdict, steps)


# --- the whole story -------------------------------------------------------------------------------


@dataclass
class Story:
    run: DemoRun
    summary: Summary
    slowest: pl.DataFrame
    chaos: list[ChaosFinding]
    slos: SLOReport
    graph: pl.DataFrame
    breaker_counts: dict[str, int]
    breaker_episodes: list[BreakerEpisode]
    canary: CanaryReport | None = None
    commands: dict[str, str] = field(default_factory=dict)  # section -> what to type to dig further
    extras: dict[str, Any] = field(default_factory=dict)


def compute_commands(story: Story) -> dict[str, str]:
    """Per section, the command a user types to dig further, filled with this run's values."""
    data = story.run.data
    first = story.slowest[s.TRACE_ID][0] if story.slowest.height else "<trace-id>"
    calm_p95 = story.chaos[0].before.p95_ms if story.chaos else None
    slow = f"{int(calm_p95) + 1}ms" if calm_p95 else "1s"
    spec = story.slos.spec_path
    found = {
        "run": f"tracelens services --data {data}",
        "slowest": f"tracelens show {first} --data {data}",
        # the graph walked by the traces slower than the calm p95
        "chaos": f"tracelens deps --data {data} --where 'kind = server and duration > {slow}'",
        "slos": f"tracelens slo history {spec} --data {data}",
        "graph": f"tracelens deps --data {data}",
        "breaker": f"tracelens traces --where 'circuit_breaker.state = \"open\"' --data {data}",
    }
    if story.canary is not None:
        report = story.canary
        found["canary"] = (
            f"tracelens canary --baseline '{CANARY_BASELINE}' --canary '{CANARY_COHORT}' --service {CANARY_SERVICE} --steps "
            f"--start {report.since:%Y-%m-%dT%H:%M:%SZ} --schedule '{report.schedule}' --data {data}"
        )
    return found


def load_spans(data: Path) -> pl.DataFrame:
    from tracelens.store import Store

    return Store.open(data, read_only=True).spans().collect()


def compute_story(run: DemoRun, spans: pl.DataFrame | None = None) -> Story:
    spans = load_spans(run.data) if spans is None else spans
    counts, episodes = compute_breaker(spans)
    story = Story(
        run=run,
        summary=compute_summary(run, spans),
        slowest=compute_slowest(spans),
        chaos=compute_chaos(run, spans),
        slos=compute_slos(run, spans),
        graph=compute_graph(spans),
        breaker_counts=counts,
        breaker_episodes=episodes,
        canary=compute_canary(run, spans),
    )
    story.commands = compute_commands(story)
    return story


# --- rendering ------------------------------------------------------------------------------------


def _t(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%H:%M:%S")


def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f} %"


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _section(title: str, body: Sequence[RenderableType], hint: str) -> RenderableType:
    return Group(
        Text(""),
        Text(title, style="bold underline"),
        *body,
        Text.assemble(("  dig further: ", "dim"), (hint, "cyan")),
    )


def _table(*columns: str) -> Table:
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), header_style="bold")
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i == 0 else "right")
    return table


def render_summary(story: Story) -> RenderableType:
    m = story.summary
    lines = [
        Text(
            f"Simulated {format_duration((m.end - m.start).total_seconds())} of shop traffic "
            f"({m.start:%Y-%m-%d %H:%M} - {m.end:%H:%M} UTC) in {m.wall_seconds:.1f} s: "
            f"{m.requests} requests, {m.spans_ended} spans ended by the OpenTelemetry SDK, "
            f"{m.spans_stored} stored by tracelens via OTLP/gRPC; {m.failed_requests} requests failed."
        )
    ]
    missing = m.spans_ended - m.spans_stored
    if missing > 0:
        lines.append(
            Text(
                f"Warning: {missing} spans ended by the SDK are not in the store ({story.run.result.spans_failed} failed to "
                f"export; slowest export {story.run.result.slowest_export_seconds:.1f} s): the figures below cover what arrived.",
                style="bold red",
            )
        )
    if m.scenarios:
        lines.append(Text("Chaos timeline: " + "; ".join(f"{label} ({_t(a)}-{_t(b)})" for label, a, b in m.scenarios)))
    else:
        lines.append(Text("No chaos scenario ran: a calm day."))
    return _section("The run", lines, story.commands["run"])


def render_slowest(story: Story) -> RenderableType:
    table = _table("trace", "started", "request", "duration", "bottleneck", "share", "chaos then")
    for row in story.slowest.iter_rows(named=True):
        chaos = ", ".join(active_scenarios(story.run, row[s.START])) or "-"
        table.add_row(
            row[s.TRACE_ID],
            _t(row[s.START]),
            row[s.NAME],
            _ms(row[s.DURATION].total_seconds() * 1000),
            f"{row['bottleneck_service']}: {row['bottleneck']}" if row["bottleneck"] else "-",
            _pct(row["share"], 0),
            chaos,
        )
    hint = story.commands["slowest"]
    return _section(f"The {story.slowest.height} slowest traces and their bottleneck (largest share of the critical path)", [table], hint)


def render_chaos(story: Story) -> RenderableType:
    body: list[RenderableType] = []
    for f in story.chaos:
        table = _table("", f.before.label, "during")
        table.add_row("requests", str(f.before.requests), str(f.during.requests))
        table.add_row("failed", _pct(f.before.error_rate, 2), _pct(f.during.error_rate, 2))
        table.add_row("p50 latency", _ms(f.before.p50_ms), _ms(f.during.p50_ms))
        table.add_row("p95 latency", _ms(f.before.p95_ms), _ms(f.during.p95_ms))
        for row in f.during.edges.head(4).iter_rows(named=True):
            before = f.edge_share(f.before, row["source"], row["target"])
            table.add_row(f"critical path {row['source']} -> {row['target']}", _pct(before), _pct(row["critical_path_share"]))
        body.append(Text(f"{f.window.label()}  ({_t(f.during.since)}-{_t(f.during.until)})", style="bold"))
        body.append(table)
        body.append(Text("  critical path by service during (calm): " + _service_line(f, 3)))
        top = f.top_edge()
        if top is not None and top[3] - top[2] >= NOTABLE_GROWTH:
            body.append(Text(f"  -> {top[0]} -> {top[1]} grew most: {_pct(top[2])} of the critical path when calm, {_pct(top[3])} during."))
        origin = f.top_error_origin()
        if origin is not None and (f.during.error_rate or 0) > (f.before.error_rate or 0):
            peers = f.top_error_peers()
            where = f", calling {', '.join(peers)}" if peers else ""
            body.append(Text(f"  -> failed requests start failing at {origin[0]}: {origin[1]} ({origin[2]} of them{where})."))
    if not body:
        body.append(Text("No chaos scenario ran (try --scenario db-slowdown,kill-pod,canary)."))
    hint = story.commands["chaos"]
    return _section("Critical-path attribution before and during each chaos window", body, hint)


def _service_line(f: ChaosFinding, top: int) -> str:
    calm = dict(f.before.services.iter_rows())
    return ", ".join(
        f"{service} {_pct(share, 0)} ({_pct(calm.get(service, 0.0), 0)})" for service, share in f.during.services.head(top).iter_rows()
    )


def render_slos(story: Story) -> RenderableType:
    report = story.slos
    table = _table("SLO", "objective", "SLI", "budget left", "burn 1h", "burn 6h", "state")
    for st in report.statuses:
        burn = st.burn_rates
        table.add_row(
            st.slo.name,
            f"{st.slo.objective * 100:g} %",
            _pct(st.sli, 3),
            _pct(st.remaining),
            _fmt_burn(burn.get("1h")),
            _fmt_burn(burn.get("6h")),
            st.state,
        )
    body: list[RenderableType] = [table]
    fired = report.history
    if fired.height:
        alerts = _table("time", "SLO", "alert", "event", "burn (long/short)", "threshold", "chaos then")
        for row in fired.iter_rows(named=True):
            alerts.add_row(
                _t(row["time"]),
                row["slo"],
                f"{row['severity']} ({row['tiers']})",
                row["event"],
                f"{row['burn_long']:.1f} / {row['burn_short']:.1f}" if row["burn_long"] is not None else "-",
                f"{row['threshold']:.1f}" if row["threshold"] is not None else "-",
                ", ".join(active_scenarios(story.run, row["time"] - timedelta(minutes=1))) or "-",
            )
        body += [Text("Burn-rate alerts, replayed minute by minute:"), alerts]
    else:
        body.append(Text("No burn-rate alert fired."))
    hint = story.commands["slos"]
    return _section("SLOs and multi-window burn-rate alerts", body, hint)


def _fmt_burn(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}x"


def render_graph(story: Story) -> RenderableType:
    table = _table("caller -> callee", "type", "calls", "failed", "p95", "critical path")
    for row in story.graph.iter_rows(named=True):
        p95 = row["server_p95_ms"] if row["server_p95_ms"] is not None else row["client_p95_ms"]
        table.add_row(
            f"{row['source']} -> {row['target']}",
            row["connection_type"],
            str(row["calls"]),
            _pct(row["error_rate"], 2),
            _ms(p95),
            _pct(row["critical_path_share"]),
        )
    hint = story.commands["graph"]
    return _section("The dependency graph, as the traces walked it", [table], hint)


def render_breaker(story: Story) -> RenderableType:
    counts = story.breaker_counts
    by_state = ", ".join(f"{state} {counts[state]}" for state in ("closed", "open", "half_open") if state in counts)
    body: list[RenderableType] = [Text(f"payment client calls by breaker state: {by_state or 'no payment calls'}")]
    if story.breaker_episodes:
        table = _table("opened", "last rejection", "rejected calls (fail fast)", "half-open trials", "chaos then")
        for e in story.breaker_episodes:
            table.add_row(_t(e.opened), _t(e.closed), str(e.rejected), str(e.trials), ", ".join(active_scenarios(story.run, e.opened)) or "-")
        body.append(table)
    else:
        body.append(Text("The breaker never opened."))
    hint = story.commands["breaker"]
    return _section("The circuit breaker in web-frontend's payment client", body, hint)


def _records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    converted = frame.with_columns(
        [(pl.col(n).dt.total_nanoseconds() / 1e6).alias(n) for n, d in frame.schema.items() if isinstance(d, pl.Duration)]
    )
    return converted.to_dicts()


def _period_json(p: Period) -> dict[str, Any]:
    return {
        "label": p.label,
        "requests": p.requests,
        "errors": p.errors,
        "error_rate": p.error_rate,
        "p50_ms": p.p50_ms,
        "p95_ms": p.p95_ms,
        "edges": _records(p.edges.head(TOP)),
        "error_origins": _records(p.origins.head(TOP)),
        "critical_path_by_service": _records(p.services),
    }


def story_json(story: Story) -> dict[str, Any]:
    """The story as the documented JSON shape of `tracelens demo --json`."""
    m = story.summary
    return {
        "data": str(m.data),
        "start": m.start,
        "end": m.end,
        "requests": m.requests,
        "spans_ended": m.spans_ended,
        "spans_stored": m.spans_stored,
        "failed_requests": m.failed_requests,
        "simulation_seconds": story.run.result.wall_seconds,
        "export_requests": story.run.result.export_requests,
        "slowest_export_seconds": story.run.result.slowest_export_seconds,
        "scenarios": [{"scenario": label, "start": a, "end": b} for label, a, b in m.scenarios],
        "slowest": _records(story.slowest),
        "chaos": [
            {
                "scenario": f.window.label(),
                "baseline": _period_json(f.before),
                "during": _period_json(f.during),
                "top_critical_path_edge": f.top_edge(),
                "top_error_edge": f.top_error_edge(),
                "top_error_origin": f.top_error_origin(),
            }
            for f in story.chaos
        ],
        "slos": [st.as_dict() for st in story.slos.statuses],
        "alerts": _records(story.slos.history),
        "graph": _records(story.graph),
        "circuit_breaker": {
            "calls_by_state": story.breaker_counts,
            "episodes": [asdict(e) for e in story.breaker_episodes],
        },
        "commands": story.commands,
        "canary": None
        if story.canary is None
        else {
            "scenario": story.canary.window.label(),
            "schedule": story.canary.schedule,
            "verdict": story.canary.verdict.to_dict(),
            "steps": story.canary.steps.to_dict(),
        },
        **{name: value for name, value in story.extras.items()},
    }


def render_canary(story: Story) -> RenderableType | None:
    report = story.canary
    if report is None:
        return None
    v = report.verdict
    body: list[RenderableType] = [
        Text(
            f"payment-service v2.0 vs v1.0 during {report.window.label()} ({_t(report.since)}-{_t(report.until)}): "
            f"{v.verdict}, score {'-' if v.score is None else f'{v.score:.0f}'}"
            f"{' -> roll back' if v.rollback else ''} ({v.n_canary} canary / {v.n_baseline} baseline requests)",
            style="bold red" if v.verdict == "Failed" else "bold",
        )
    ]
    table = _table("rule", "v1.0", "v2.0", "bound", "result", "test")
    for r in v.results:
        table.add_row(
            f"{r.metric} ({r.threshold})",
            _value(r.baseline_value, r.unit),
            _value(r.canary_value, r.unit),
            _value(r.bound, r.unit),
            r.status,
            r.test + ("" if r.pvalue is None else f" p={r.pvalue:.2g}"),
        )
    body.append(table)
    body.append(Text(f"Step by step ({report.schedule}): {report.steps.summary}"))
    hint = story.commands["canary"]
    return _section("The canary: payment-service v2.0 judged by the seed's rules", body, hint)


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.2f} {unit}".strip() if unit == "%" else f"{value:.0f} {unit}".strip()


def render(story: Story) -> list[RenderableType]:
    return [
        render_summary(story),
        render_slowest(story),
        render_chaos(story),
        render_slos(story),
        render_graph(story),
        render_breaker(story),
        *([canary] if (canary := render_canary(story)) is not None else []),
    ]
