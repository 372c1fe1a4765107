"""SLO specifications: the compact native YAML form and an OpenSLO v1 subset, loaded into
frozen dataclasses. Every mistake is a SpecError naming ``file:line: field: problem``.

Native form (one file, a person writes it in a minute)::

    slos:
      - name: payment-availability
        service: payment-api
        objective: 99.9            # percent
        window: 30d
        sli: {kind: availability}  # good = status != error
      - name: checkout-latency
        service: web-frontend
        operation: "POST /checkout"
        objective: 95
        sli: {kind: latency, threshold: 500ms}
      - name: search-ratio
        service: search
        objective: 99
        sli: {kind: ratio, good: 'http.response.status_code < 500', total: 'kind = server'}

Optional per SLO: ``filter`` (replaces the entry-span rule), ``description``,
``budgeting: occurrences | timeslices | ratio_timeslices`` with ``time_slice: {target: 95,
window: 1m}``, and ``alerting: {mode: rate | volume | auto, min_bad_events: 5,
tiers: [{severity: page, long: 1h, short: 5m, budget: 2}]}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

from tracelens.errors import ExpressionError, SpecError
from tracelens.filters import parse_filter
from tracelens.slo.yamlsource import load_documents, read_text

SLI_KINDS: Final = ("availability", "latency", "ratio")
BUDGETING_METHODS: Final = ("occurrences", "timeslices", "ratio_timeslices")
ALERT_MODES: Final = ("rate", "volume", "auto")
SEVERITIES: Final = ("page", "ticket")
DEFAULT_WINDOW: Final = timedelta(days=30)
DEFAULT_MIN_BAD_EVENTS: Final = 5


@dataclass(frozen=True, slots=True)
class BurnTier:
    """One multi-window burn-rate condition: fire when both windows burn faster than the
    threshold. The threshold is ``budget_fraction * period / long`` unless ``burn_rate``
    fixes it (OpenSLO alert conditions give the burn rate directly)."""

    severity: str
    long: timedelta
    short: timedelta
    budget_fraction: float | None = None
    burn_rate: float | None = None

    def threshold(self, period: timedelta) -> float:
        if self.burn_rate is not None:
            return self.burn_rate
        assert self.budget_fraction is not None
        return self.budget_fraction * (period / self.long)

    def budget_spent(self, period: timedelta) -> float:
        """The fraction of the period's budget spent in ``long`` when the tier just fires."""
        if self.budget_fraction is not None:
            return self.budget_fraction
        assert self.burn_rate is not None
        return self.burn_rate * (self.long / period)

    @property
    def label(self) -> str:
        return f"{format_duration(self.long)}/{format_duration(self.short)}"


#: Google SRE workbook ch. 5, table 5-8: thresholds scale with the period (14.4 at 30 d).
DEFAULT_TIERS: Final = (
    BurnTier("page", timedelta(hours=1), timedelta(minutes=5), 0.02),
    BurnTier("page", timedelta(hours=6), timedelta(minutes=30), 0.05),
    BurnTier("ticket", timedelta(hours=24), timedelta(hours=2), 0.10),
    BurnTier("ticket", timedelta(days=3), timedelta(hours=6), 0.10),
)


@dataclass(frozen=True, slots=True)
class SLI:
    """What makes an event good. ``kind`` availability: status != error; latency:
    duration <= threshold (``strict``: <); ratio: the ``good`` (or not ``bad``) filter."""

    kind: str
    threshold: timedelta | None = None
    strict: bool = False
    good: str | None = None
    bad: str | None = None
    total: str | None = None


@dataclass(frozen=True, slots=True)
class SLO:
    name: str
    service: str | None
    objective: float  # fraction, e.g. 0.999
    window: timedelta
    sli: SLI
    operation: str | None = None
    filter: str | None = None  # replaces the default entry-span rule
    description: str = ""
    budgeting: str = "occurrences"
    time_slice_target: float | None = None  # fraction, for timeslices
    time_slice_window: timedelta = timedelta(minutes=1)
    tiers: tuple[BurnTier, ...] = DEFAULT_TIERS
    alert_mode: str = "rate"
    min_bad_events: int = DEFAULT_MIN_BAD_EVENTS
    source: str = ""  # file:line where it was defined

    @property
    def error_budget(self) -> float:
        return round(1.0 - self.objective, 12)

    @property
    def budget_time(self) -> timedelta:
        """(1 - T) * P: the time view of the budget (43.2 min for 99.9 % over 30 d)."""
        return self.window * self.error_budget


@dataclass(frozen=True, slots=True)
class SpecFile:
    path: str
    slos: tuple[SLO, ...] = field(default_factory=tuple)


# --- small parsers --------------------------------------------------------------------------

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ns|us|µs|ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS: Final = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800,
}


def parse_duration(text: object) -> timedelta:
    """``"30d"`` -> timedelta; ValueError on anything else."""
    if isinstance(text, timedelta):
        return text
    m = _DURATION.match(str(text))
    if m is None or isinstance(text, bool):
        msg = f"expected a duration such as 5m, 1h or 30d, got {text!r}"
        raise ValueError(msg)
    return timedelta(seconds=float(m.group(1)) * _UNIT_SECONDS[m.group(2)])


def format_duration(value: timedelta) -> str:
    """The shortest exact unit form: 1h, 30m, 3d, 500ms."""
    us = round(value.total_seconds() * 1e6)
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1000)):
        if us and us % size == 0:
            return f"{us // size}{unit}"
    return f"{us}us"


class _Node:
    """A value in the YAML tree with its location, for precise errors."""

    def __init__(self, source: str, path: str, value: Any, line: int) -> None:
        self.source = source
        self.path = path
        self.value = value
        self.line = line

    def error(self, message: str) -> SpecError:
        return SpecError(f"{self.source}:{self.line}: {self.path}: {message}")

    def child(self, key: str) -> _Node | None:
        if not isinstance(self.value, dict) or key not in self.value:
            return None
        lines = getattr(self.value, "lines", {})
        path = f"{self.path}.{key}" if self.path else key
        return _Node(self.source, path, self.value[key], lines.get(key, self.line))

    def items(self) -> list[_Node]:
        assert isinstance(self.value, list)
        lines = getattr(self.value, "lines", [self.line] * len(self.value))
        return [_Node(self.source, f"{self.path}[{i}]", v, lines[i]) for i, v in enumerate(self.value)]

    def require(self, key: str) -> _Node:
        found = self.child(key)
        if found is None or found.value is None:
            raise self.error(f"missing required field {key!r}")
        return found

    def mapping(self, allowed: tuple[str, ...]) -> _Node:
        if not isinstance(self.value, dict):
            raise self.error(f"expected a mapping, got {_kind(self.value)}")
        unknown = [k for k in self.value if k not in allowed]
        if unknown:
            bad = self.child(unknown[0])
            assert bad is not None
            raise bad.error(f"unknown field (expected one of: {', '.join(allowed)})")
        return self

    def text(self) -> str:
        if not isinstance(self.value, str | int | float) or isinstance(self.value, bool) or self.value == "":
            raise self.error(f"expected text, got {_kind(self.value)}")
        return str(self.value)

    def duration(self) -> timedelta:
        try:
            value = parse_duration(self.value)
        except ValueError as exc:
            raise self.error(str(exc)) from None
        if value <= timedelta(0):
            raise self.error("must be longer than zero")
        return value

    def _percent_number(self, example: str) -> tuple[object, float]:
        """The value without a trailing ``%`` and as a number (``99.9`` or ``"99.9%"``)."""
        raw = self.value
        if isinstance(raw, str) and raw.strip().endswith("%"):
            raw = raw.strip()[:-1]
        try:
            return raw, float(raw)
        except (TypeError, ValueError):
            raise self.error(f"expected a percentage such as {example}, got {self.value!r}") from None

    def percent(self) -> float:
        """A percentage 0 < x < 100 (``99.9`` or ``"99.9%"``) as a fraction."""
        raw, number = self._percent_number("99.9")
        if isinstance(raw, bool) or not 0 < number < 100:
            raise self.error(f"must be a percentage between 0 and 100 (exclusive), got {self.value!r}")
        if number <= 1:
            raise self.error(f"is a percentage: write 99.9 for 99.9 %, got {self.value!r}")
        return round(number / 100.0, 12)  # 99.9 / 100 is 0.9990000000000001 in binary

    def budget_share(self) -> float:
        """A tier's share of the period budget: a percent (2 = 2 %) in (0, 100]."""
        raw, number = self._percent_number("2")
        if isinstance(raw, bool) or not 0 < number <= 100:
            raise self.error(f"must be a percentage in (0, 100], got {self.value!r}")
        return number / 100.0

    def fraction(self) -> float:
        try:
            number = float(self.value)
        except (TypeError, ValueError):
            raise self.error(f"expected a number between 0 and 1, got {self.value!r}") from None
        if isinstance(self.value, bool) or not 0 < number < 1:
            raise self.error(f"must be between 0 and 1 (exclusive), got {self.value!r}")
        return number

    def choice(self, choices: tuple[str, ...]) -> str:
        word = self.text().lower()
        if word not in choices:
            raise self.error(f"expected one of {', '.join(choices)}, got {self.value!r}")
        return word

    def filter_text(self) -> str:
        text = self.text()
        try:
            parse_filter(text)
        except ExpressionError as exc:
            raise self.error(f"{exc} (at character {exc.position + 1})\n{exc.caret()}") from None
        return text


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return repr(value)


# --- native form ----------------------------------------------------------------------------

_SLO_FIELDS: Final = (
    "name", "service", "operation", "objective", "window", "sli", "filter", "description",
    "budgeting", "time_slice", "alerting",
)


def _parse_sli(node: _Node) -> SLI:
    node.mapping(("kind", "threshold", "strict", "good", "bad", "total"))
    kind = node.require("kind").choice(SLI_KINDS)
    threshold_node = node.child("threshold")
    good, bad, total = node.child("good"), node.child("bad"), node.child("total")
    if kind == "latency":
        if threshold_node is None:
            raise node.error("a latency SLI needs a threshold, e.g. threshold: 500ms")
        strict_node = node.child("strict")
        strict = bool(strict_node.value) if strict_node is not None else False
        return SLI(kind, threshold=threshold_node.duration(), strict=strict,
                   total=total.filter_text() if total else None)
    if threshold_node is not None:
        raise threshold_node.error(f"only latency SLIs take a threshold, this one is {kind}")
    if kind == "ratio":
        if (good is None) == (bad is None):
            raise node.error("a ratio SLI needs exactly one of good: or bad: (a span filter)")
        return SLI(kind, good=good.filter_text() if good else None, bad=bad.filter_text() if bad else None,
                   total=total.filter_text() if total else None)
    for extra in (good, bad):
        if extra is not None:
            raise extra.error("only ratio SLIs take good:/bad: filters")
    return SLI(kind, total=total.filter_text() if total else None)


def _parse_tiers(node: _Node) -> tuple[BurnTier, ...]:
    if not isinstance(node.value, list) or not node.value:
        raise node.error("expected a non-empty list of tiers")
    tiers = []
    for item in node.items():
        item.mapping(("severity", "long", "short", "budget", "burn_rate"))
        severity = item.require("severity").choice(SEVERITIES)
        long = item.require("long").duration()
        short_node = item.child("short")
        short = short_node.duration() if short_node else long / 12
        budget, burn = item.child("budget"), item.child("burn_rate")
        if (budget is None) == (burn is None):
            raise item.error("give exactly one of budget: (percent of the budget spent in the long window) or burn_rate:")
        if budget is not None:
            tiers.append(BurnTier(severity, long, short, budget_fraction=budget.budget_share()))
        else:
            assert burn is not None
            tiers.append(BurnTier(severity, long, short, burn_rate=_positive(burn)))
        if short > long:
            raise item.error(f"short window {format_duration(short)} is longer than the long window {format_duration(long)}")
    return tuple(tiers)


def _positive(node: _Node) -> float:
    try:
        number = float(node.value)
    except (TypeError, ValueError):
        raise node.error(f"expected a positive number, got {node.value!r}") from None
    if isinstance(node.value, bool) or number <= 0:
        raise node.error(f"expected a positive number, got {node.value!r}")
    return number




def _parse_native_slo(node: _Node) -> SLO:
    node.mapping(_SLO_FIELDS)
    name = node.require("name").text()
    service_node = node.child("service")
    filter_node = node.child("filter")
    if service_node is None and filter_node is None:
        raise node.error("needs a service: (or a filter: selecting the spans that count)")
    objective = node.require("objective").percent()
    window_node = node.child("window")
    window = window_node.duration() if window_node else DEFAULT_WINDOW
    sli = _parse_sli(node.require("sli"))
    operation_node = node.child("operation")
    description_node = node.child("description")
    budgeting_node = node.child("budgeting")
    budgeting = budgeting_node.choice(BUDGETING_METHODS) if budgeting_node else "occurrences"
    slice_target: float | None = None
    slice_window = timedelta(minutes=1)
    slice_node = node.child("time_slice")
    if budgeting != "occurrences":
        if budgeting == "timeslices":
            if slice_node is None:
                raise node.error("timeslices budgeting needs time_slice: {target: 95, window: 1m}")
            slice_node.mapping(("target", "window"))
            slice_target = slice_node.require("target").percent()
        elif slice_node is not None:
            slice_node.mapping(("window",))
        window_child = slice_node.child("window") if slice_node else None
        if window_child is not None:
            slice_window = _slice_window(window_child)
    elif slice_node is not None:
        raise slice_node.error("time_slice only applies with budgeting: timeslices or ratio_timeslices")
    tiers, mode, min_bad = DEFAULT_TIERS, "rate", DEFAULT_MIN_BAD_EVENTS
    alerting = node.child("alerting")
    if alerting is not None:
        alerting.mapping(("mode", "min_bad_events", "tiers"))
        mode_node, min_node, tiers_node = alerting.child("mode"), alerting.child("min_bad_events"), alerting.child("tiers")
        mode = mode_node.choice(ALERT_MODES) if mode_node else mode
        if min_node is not None:
            if not isinstance(min_node.value, int) or isinstance(min_node.value, bool) or min_node.value < 1:
                raise min_node.error(f"expected a whole number >= 1, got {min_node.value!r}")
            min_bad = min_node.value
        tiers = _parse_tiers(tiers_node) if tiers_node else tiers
    return SLO(
        name=name,
        service=service_node.text() if service_node else None,
        objective=objective,
        window=window,
        sli=sli,
        operation=operation_node.text() if operation_node else None,
        filter=filter_node.filter_text() if filter_node else None,
        description=description_node.text() if description_node else "",
        budgeting=budgeting,
        time_slice_target=slice_target,
        time_slice_window=slice_window,
        tiers=tiers,
        alert_mode=mode,
        min_bad_events=min_bad,
        source=f"{node.source}:{node.line}",
    )


def _slice_window(node: _Node) -> timedelta:
    value = node.duration()
    if value % timedelta(minutes=1):
        raise node.error(f"time slices are whole minutes (rollups are per minute), got {node.value!r}")
    return value


def _parse_native(doc: _Node) -> list[SLO]:
    doc.mapping(("slos",))
    slos_node = doc.require("slos")
    if not isinstance(slos_node.value, list) or not slos_node.value:
        raise slos_node.error("expected a non-empty list of SLOs")
    return [_parse_native_slo(item) for item in slos_node.items()]


# --- OpenSLO v1 subset ----------------------------------------------------------------------

_OPENSLO_KINDS: Final = ("SLO", "SLI", "AlertPolicy", "AlertCondition", "Service")
_OPENSLO_OPS: Final = {"lt": True, "lte": False}


def _metadata_name(doc: _Node) -> str:
    meta = doc.require("metadata")
    return meta.require("name").text()


def _annotation(doc: _Node, key: str) -> _Node | None:
    meta = doc.child("metadata")
    annotations = meta.child("annotations") if meta else None
    return annotations.child(key) if annotations else None


def _ratio_filters(spec: _Node) -> tuple[str | None, str | None, str | None]:
    """(good, bad, total) filter texts of an OpenSLO ratioMetric."""
    ratio = spec.require("ratioMetric")
    ratio.mapping(("counter", "good", "bad", "total", "rawType", "raw"))
    if ratio.child("raw") is not None:
        raise ratio.error("raw ratio metrics are not supported: give good: or bad: and total:")

    def source_filter(node: _Node | None) -> str | None:
        if node is None:
            return None
        source = node.mapping(("metricSource",)).require("metricSource")
        source.mapping(("type", "metricSourceRef", "spec"))
        kind = source.require("type").text()
        if kind.lower() != "tracelens":
            raise source.child("type").error(f"only metricSource type tracelens is supported, got {kind!r}")  # type: ignore[union-attr]
        return source.require("spec").mapping(("filter",)).require("filter").filter_text()

    good, bad = source_filter(ratio.child("good")), source_filter(ratio.child("bad"))
    if (good is None) == (bad is None):
        raise ratio.error("needs exactly one of good: or bad:")
    return good, bad, source_filter(ratio.child("total"))


def _threshold_filter(spec: _Node) -> str | None:
    metric = spec.require("thresholdMetric").mapping(("metricSource",)).require("metricSource")
    metric.mapping(("type", "metricSourceRef", "spec"))
    spec_node = metric.child("spec")
    if spec_node is None:
        return None
    spec_node.mapping(("filter",))
    filter_node = spec_node.child("filter")
    return filter_node.filter_text() if filter_node else None


def _opensli(sli_doc: _Node, objective: _Node) -> SLI:
    spec = sli_doc.require("spec").mapping(("description", "thresholdMetric", "ratioMetric"))
    if spec.child("ratioMetric") is not None:
        good, bad, total = _ratio_filters(spec)
        return SLI("ratio", good=good, bad=bad, total=total)
    if spec.child("thresholdMetric") is not None:
        total = _threshold_filter(spec)
        op_node = objective.require("op")
        op = op_node.text().lower()
        if op not in _OPENSLO_OPS:
            raise op_node.error(f"span durations take op lt or lte, got {op!r}")
        value_node = objective.require("value")
        value = value_node.value
        threshold = (
            timedelta(seconds=float(value)) if isinstance(value, int | float) and not isinstance(value, bool)
            else value_node.duration()
        )
        if threshold <= timedelta(0):
            raise value_node.error("must be longer than zero")
        return SLI("latency", threshold=threshold, strict=_OPENSLO_OPS[op], total=total)
    raise spec.error("needs ratioMetric or thresholdMetric")


def _openslo_tier(condition: _Node, period: timedelta) -> BurnTier:
    spec = condition.require("spec").mapping(("description", "severity", "condition"))
    severity_raw = spec.require("severity").text().lower()
    severity = "page" if severity_raw in ("page", "critical", "high") else "ticket"
    cond = spec.require("condition").mapping(("kind", "op", "threshold", "lookbackWindow", "alertAfter"))
    kind = cond.require("kind").text().lower()
    if kind != "burnrate":
        raise cond.error(f"only kind: burnrate conditions are supported, got {kind!r}")
    op_node = cond.child("op")
    if op_node is not None and op_node.text().lower() not in ("gt", "gte"):
        raise op_node.error(f"burn-rate conditions fire above the threshold: op gt or gte, got {op_node.value!r}")
    long = cond.require("lookbackWindow").duration()
    short_node = _annotation(condition, "tracelens/short-window")
    short = short_node.duration() if short_node else long / 12
    return BurnTier(severity, long, short, burn_rate=_positive(cond.require("threshold")))


def _openslo_tiers(spec: _Node, period: timedelta, by_kind: dict[str, dict[str, _Node]]) -> tuple[BurnTier, ...]:
    policies_node = spec.child("alertPolicies")
    if policies_node is None:
        return DEFAULT_TIERS
    tiers: list[BurnTier] = []
    for item in policies_node.items():
        policy = item
        ref = item.child("alertPolicyRef")
        if ref is not None:
            name = ref.text()
            if name not in by_kind["AlertPolicy"]:
                raise ref.error(f"no AlertPolicy named {name!r} in this file")
            policy = by_kind["AlertPolicy"][name]
        policy_spec = policy.require("spec")
        for cond_item in policy_spec.require("conditions").items():
            cond = cond_item
            cond_ref = cond_item.child("conditionRef")
            if cond_ref is not None:
                name = cond_ref.text()
                if name not in by_kind["AlertCondition"]:
                    raise cond_ref.error(f"no AlertCondition named {name!r} in this file")
                cond = by_kind["AlertCondition"][name]
            tiers.append(_openslo_tier(cond, period))
    return tuple(tiers) or DEFAULT_TIERS


def _parse_openslo(docs: list[_Node]) -> list[SLO]:
    by_kind: dict[str, dict[str, _Node]] = {k: {} for k in _OPENSLO_KINDS}
    order: list[_Node] = []
    for doc in docs:
        doc.mapping(("apiVersion", "kind", "metadata", "spec"))
        version = doc.require("apiVersion").text()
        if version != "openslo/v1":
            raise doc.require("apiVersion").error(f"only openslo/v1 is supported, got {version!r}")
        kind_node = doc.require("kind")
        kind = kind_node.text()
        if kind not in _OPENSLO_KINDS:
            raise kind_node.error(f"expected one of {', '.join(_OPENSLO_KINDS)}, got {kind!r}")
        by_kind[kind][_metadata_name(doc)] = doc
        if kind == "SLO":
            order.append(doc)
    if not order:
        raise SpecError(f"{docs[0].source}: no SLO documents (kind: SLO) found")
    slos: list[SLO] = []
    for doc in order:
        name = _metadata_name(doc)
        spec = doc.require("spec").mapping(
            ("description", "service", "indicator", "indicatorRef", "timeWindow", "budgetingMethod",
             "objectives", "alertPolicies")
        )
        service = spec.require("service").text()
        indicator = spec.child("indicator")
        if indicator is None:
            ref = spec.child("indicatorRef")
            if ref is None:
                raise spec.error("needs indicator: or indicatorRef:")
            if ref.text() not in by_kind["SLI"]:
                raise ref.error(f"no SLI named {ref.value!r} in this file")
            indicator = by_kind["SLI"][ref.text()]
        windows = spec.require("timeWindow")
        if not isinstance(windows.value, list) or len(windows.value) != 1:
            raise windows.error("expected a list with one time window")
        window_node = windows.items()[0].mapping(("duration", "isRolling", "calendar"))
        if window_node.child("calendar") is not None:
            raise window_node.child("calendar").error(  # type: ignore[union-attr]
                "calendar-aligned windows are not supported yet; use isRolling: true"
            )
        window = window_node.require("duration").duration()
        method_node = spec.child("budgetingMethod")
        method_raw = method_node.text() if method_node else "Occurrences"
        methods = {"occurrences": "occurrences", "timeslices": "timeslices", "ratiotimeslices": "ratio_timeslices"}
        if method_raw.lower() not in methods:
            raise method_node.error(f"expected Occurrences, Timeslices or RatioTimeslices, got {method_raw!r}")  # type: ignore[union-attr]
        budgeting = methods[method_raw.lower()]
        objectives = spec.require("objectives")
        if not isinstance(objectives.value, list) or not objectives.value:
            raise objectives.error("expected a non-empty list of objectives")
        tiers = _openslo_tiers(spec, window, by_kind)
        operation_node = _annotation(doc, "tracelens/operation")
        description_node = spec.child("description")
        items = objectives.items()
        for obj in items:
            obj.mapping(("displayName", "op", "value", "target", "targetPercent", "timeSliceTarget", "timeSliceWindow", "indicator", "indicatorRef"))
            target_node, percent_node = obj.child("target"), obj.child("targetPercent")
            if (target_node is None) == (percent_node is None):
                raise obj.error("give exactly one of target: (0-1) or targetPercent: (0-100)")
            objective = target_node.fraction() if target_node else percent_node.percent()  # type: ignore[union-attr]
            sli = _opensli(indicator, obj)
            slice_target: float | None = None
            slice_window = timedelta(minutes=1)
            if budgeting == "timeslices":
                slice_target = obj.require("timeSliceTarget").fraction()
            if budgeting != "occurrences":
                slice_window = _slice_window(obj.require("timeSliceWindow"))
            display = obj.child("displayName")
            slo_name = name if len(items) == 1 else f"{name}/{display.text() if display else obj.path.rsplit('[', 1)[1].rstrip(']')}"
            slos.append(
                SLO(
                    name=slo_name,
                    service=service,
                    objective=objective,
                    window=window,
                    sli=sli,
                    operation=operation_node.text() if operation_node else None,
                    description=description_node.text() if description_node else "",
                    budgeting=budgeting,
                    time_slice_target=slice_target,
                    time_slice_window=slice_window,
                    tiers=tiers,
                    source=f"{doc.source}:{doc.line}",
                )
            )
    return slos


# --- entry points ---------------------------------------------------------------------------


def loads(text: str, source: str = "<spec>") -> tuple[SLO, ...]:
    """SLOs from YAML text in either form (detected by ``apiVersion: openslo/v1``)."""
    raw_docs = load_documents(text, source)
    if not raw_docs:
        raise SpecError(f"{source}: empty spec: expected `slos:` or OpenSLO documents")
    docs = [_Node(source, "", d, getattr(d, "line", 1)) for d in raw_docs]
    for doc in docs:
        if not isinstance(doc.value, dict):
            raise doc.error(f"expected a mapping at the top level, got {_kind(doc.value)}")
    is_openslo = any("apiVersion" in d.value for d in docs)
    slos = _parse_openslo(docs) if is_openslo else [s for d in docs for s in _parse_native(d)]
    seen: dict[str, str] = {}
    for slo in slos:
        if slo.name in seen:
            raise SpecError(f"{slo.source}: name: SLO {slo.name!r} is defined twice (first at {seen[slo.name]})")
        seen[slo.name] = slo.source
    return tuple(slos)


def load(path: str | Path) -> tuple[SLO, ...]:
    """SLOs from a YAML file (native form or OpenSLO v1 subset)."""
    return loads(read_text(path), str(path))


def as_dict(slo: SLO) -> Mapping[str, Any]:
    """A JSON-friendly description of an SLO (for --json output)."""
    return {
        "name": slo.name,
        "service": slo.service,
        "operation": slo.operation,
        "objective_percent": round(slo.objective * 100, 6),
        "window": format_duration(slo.window),
        "sli": {
            "kind": slo.sli.kind,
            "threshold": format_duration(slo.sli.threshold) if slo.sli.threshold else None,
            "good": slo.sli.good,
            "bad": slo.sli.bad,
            "total": slo.sli.total,
        },
        "filter": slo.filter,
        "budgeting": slo.budgeting,
        "source": slo.source,
    }


__all__ = ["BurnTier", "DEFAULT_TIERS", "SLI", "SLO", "as_dict", "format_duration", "load", "loads", "parse_duration"]
