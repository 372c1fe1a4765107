"""Canary rule files: the seed's YAML format, accepted literally, plus a few optional keys.

The seed's file loads as is::

    canary_rules:
      - metric: error_rate
        threshold: 1%          # max 1% errors
        comparison: old_version
      - metric: latency_p95
        threshold: 10%         # max 10% slower than old version
        comparison: old_version
      - metric: payment_success_rate
        threshold: 99%         # min 99% success
        comparison: absolute
    auto_rollback:
      enabled: true
      if: any_rule_fails
      notification: slack + pagerduty

Optional keys (all documented in docs/canary.md):

* per rule: ``direction`` (increase | decrease | either: which change is bad),
  ``critical`` (a failure fails the whole run, score 0), ``must_have_data`` (no data is a
  failure rather than Inconclusive), ``group`` and ``min_samples``;
* ``metrics:`` ratio metrics defined by span filter expressions, e.g.
  ``payment_success_rate: {good: 'name = "charge" and status != error', total: 'name = "charge"'}``
  (or ``bad:`` instead of ``good:``). A ``*_success_rate`` metric without a definition is
  the fraction of the cohort's entry spans without error (said so in its verdict);
* ``analysis:`` ``alpha`` (significance level, default 0.05), ``pass_score`` (95),
  ``marginal_score`` (75), ``group_weights``, ``interval`` (how often a step is checked,
  default 5m), ``steps`` (``[{weight: 5%, window: 30m}, ...]``) and ``start`` (when the
  first step began), ``service``, ``baseline`` and ``canary`` (filter expressions).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from tracelens.errors import SpecError

MetricKind = Literal["error_rate", "latency_percentile", "latency_mean", "request_rate", "ratio"]
Comparison = Literal["old_version", "absolute"]
Direction = Literal["increase", "decrease", "either"]
RollbackCondition = Literal["any_rule_fails", "critical_rule_fails", "score_below_marginal", "score_below_pass"]

COMPARISONS: Final = ("old_version", "absolute")
DIRECTIONS: Final = ("increase", "decrease", "either")
ROLLBACK_CONDITIONS: Final = ("any_rule_fails", "critical_rule_fails", "score_below_marginal", "score_below_pass")
DEFAULT_ALPHA: Final = 0.05
DEFAULT_PASS_SCORE: Final = 95.0
DEFAULT_MARGINAL_SCORE: Final = 75.0
DEFAULT_INTERVAL_SECONDS: Final = 300.0  # the seed checks a step after a few minutes
DEFAULT_MIN_SAMPLES: Final = 20
#: The seed's schedule: 5 % -> 25 % -> 50 % -> 100 %, 30 minutes each.
DEFAULT_STEPS: Final = ((5.0, 1800.0), (25.0, 1800.0), (50.0, 1800.0), (100.0, 1800.0))

_RULE_KEYS: Final = frozenset(
    {"metric", "threshold", "comparison", "direction", "critical", "must_have_data", "group", "min_samples", "description"}
)
_TOP_KEYS: Final = frozenset({"canary_rules", "auto_rollback", "metrics", "analysis"})
_ANALYSIS_KEYS: Final = frozenset(
    {"alpha", "pass_score", "marginal_score", "group_weights", "interval", "steps", "start", "service", "baseline", "canary"}
)
_ROLLBACK_KEYS: Final = frozenset({"enabled", "if", "notification"})
_RATIO_KEYS: Final = frozenset({"good", "bad", "total", "direction", "description"})
_DURATION_UNITS_S: Final = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ns|us|µs|ms|s|m|h|d)\s*$")
_PERCENT = re.compile(r"^\s*([+-]?[0-9]+(?:\.[0-9]+)?)\s*%\s*$")
_PER_TIME = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*/\s*(s|m|h)\s*$")
_LATENCY_PERCENTILE = re.compile(r"^latency_p([0-9]{1,2}(?:\.[0-9]+)?|100)$")


@dataclass(frozen=True, slots=True)
class RatioMetric:
    """good/total (or 1 - bad/total) over spans chosen by filter expressions."""

    name: str
    total: str | None
    good: str | None = None
    bad: str | None = None
    builtin: bool = False  # a *_success_rate with no definition: entry spans without error

    @property
    def higher_is_better(self) -> bool:
        return self.bad is None


@dataclass(frozen=True, slots=True)
class Rule:
    """One canary rule. ``threshold`` is in the unit ``threshold_unit`` says:
    ``fraction`` (rates, 0.01 = 1 %), ``relative`` (allowed relative change, 0.1 = 10 %),
    ``seconds`` (latency, or allowed latency increase) or ``per_second`` (request rate)."""

    metric: str
    kind: MetricKind
    threshold: float
    threshold_unit: Literal["fraction", "relative", "seconds", "per_second"]
    threshold_text: str
    comparison: Comparison
    direction: Direction
    critical: bool = False
    must_have_data: bool = False
    group: str = "default"
    min_samples: int = DEFAULT_MIN_SAMPLES
    percentile: float | None = None
    ratio: RatioMetric | None = None
    description: str = ""


@dataclass(frozen=True, slots=True)
class AutoRollback:
    enabled: bool = False
    condition: RollbackCondition = "any_rule_fails"
    notification: str | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """A progressive-delivery step: ``weight`` % of traffic on the canary for ``window`` s."""

    weight: float
    window_seconds: float


SEED_STEPS: Final = tuple(Step(weight, window) for weight, window in DEFAULT_STEPS)


@dataclass(frozen=True, slots=True)
class CanarySpec:
    rules: tuple[Rule, ...]
    auto_rollback: AutoRollback = field(default_factory=AutoRollback)
    alpha: float = DEFAULT_ALPHA
    pass_score: float = DEFAULT_PASS_SCORE
    marginal_score: float = DEFAULT_MARGINAL_SCORE
    group_weights: Mapping[str, float] = field(default_factory=dict)
    interval_seconds: float = DEFAULT_INTERVAL_SECONDS
    steps: tuple[Step, ...] = SEED_STEPS
    start: datetime | None = None
    service: str | None = None
    baseline: str | None = None
    canary: str | None = None


# --- small parsers -------------------------------------------------------------------------


def _where(index: int | None, metric: object = None) -> str:
    if index is None:
        return ""
    label = f" ({metric})" if metric else ""
    return f"canary_rules[{index}]{label}: "


def parse_duration_seconds(value: object, what: str) -> float:
    """``"30m"`` -> 1800.0; numbers are seconds."""
    if isinstance(value, bool):
        raise SpecError(f"{what}: expected a duration like 30m, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise SpecError(f"{what}: expected a duration like 500ms, 30s, 5m or 1h, got {value!r}")
    return float(match.group(1)) * _DURATION_UNITS_S[match.group(2)]


def parse_fraction(value: object, what: str) -> float:
    """``"1%"`` or ``0.01`` -> 0.01 (a rate between 0 and 1)."""
    if isinstance(value, bool):
        raise SpecError(f"{what}: expected a rate like 1% or 0.01, got {value!r}")
    match = _PERCENT.match(str(value))
    if match:
        fraction = float(match.group(1)) / 100.0
    elif isinstance(value, int | float):
        fraction = float(value)
        if fraction > 1.0:
            raise SpecError(f"{what}: {value!r} is more than 1; write a rate as a percentage (like {value}%) or a fraction (like 0.01)")
    else:
        raise SpecError(f"{what}: expected a rate like 1% or 0.01, got {value!r}")
    if not 0.0 <= fraction <= 1.0:
        raise SpecError(f"{what}: a rate must be between 0% and 100%, got {value!r}")
    return fraction


def _parse_percent_only(value: object, what: str) -> float:
    match = _PERCENT.match(str(value))
    if not match or isinstance(value, bool):
        raise SpecError(f"{what}: expected a percentage like 10%, got {value!r}")
    return float(match.group(1)) / 100.0


def parse_time(value: object, what: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise SpecError(f"{what}: expected an ISO 8601 time like 2026-01-01T10:00:00Z, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _parse_bool(value: object, what: str) -> bool:
    if isinstance(value, bool):
        return value
    raise SpecError(f"{what}: expected true or false, got {value!r}")


def _check_keys(mapping: Mapping[str, Any], allowed: frozenset[str], what: str) -> None:
    unknown = sorted(set(map(str, mapping)) - allowed)
    if unknown:
        raise SpecError(f"{what}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


# --- metrics ---------------------------------------------------------------------------------


def _check_filter(text: str, what: str) -> None:
    """Parse a filter expression now, so a typo is reported with the key that holds it."""
    from tracelens.errors import ExpressionError
    from tracelens.filters import parse_filter

    try:
        parse_filter(text)
    except ExpressionError as exc:
        raise SpecError(f"{what}: {exc}\n{exc.caret()}") from None


def _parse_ratio_metrics(raw: object) -> dict[str, RatioMetric]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise SpecError("metrics: expected a mapping of metric name -> {good|bad, total}")
    found: dict[str, RatioMetric] = {}
    for name, body in raw.items():
        what = f"metrics.{name}"
        if not isinstance(body, Mapping):
            raise SpecError(f"{what}: expected {{good: <filter>, total: <filter>}} (or bad: instead of good:)")
        _check_keys(body, _RATIO_KEYS, what)
        good, bad, total = body.get("good"), body.get("bad"), body.get("total")
        if (good is None) == (bad is None):
            raise SpecError(f"{what}: give exactly one of good: or bad: (a span filter expression)")
        for key, text in (("good", good), ("bad", bad), ("total", total)):
            if text is not None and not isinstance(text, str):
                raise SpecError(f"{what}.{key}: expected a filter expression string, got {text!r}")
            if text is not None:
                _check_filter(text, f"{what}.{key}")
        found[str(name)] = RatioMetric(str(name), total=total, good=good, bad=bad)
    return found


def metric_kind(metric: str, ratios: Mapping[str, RatioMetric]) -> tuple[MetricKind, float | None, RatioMetric | None]:
    """What a metric name means: (kind, percentile, ratio definition)."""
    if metric in ratios:
        return "ratio", None, ratios[metric]
    if metric == "error_rate":
        return "error_rate", None, None
    if metric == "latency_mean":
        return "latency_mean", None, None
    if metric == "request_rate":
        return "request_rate", None, None
    match = _LATENCY_PERCENTILE.match(metric)
    if match:
        return "latency_percentile", float(match.group(1)), None
    if metric.endswith("_success_rate"):
        return "ratio", None, RatioMetric(metric, total=None, builtin=True)
    known = "error_rate, latency_pNN (e.g. latency_p95, latency_p99.9), latency_mean, request_rate, *_success_rate"
    defined = f", or one defined under metrics: ({', '.join(sorted(ratios))})" if ratios else ", or a ratio metric defined under metrics:"
    raise SpecError(f"unknown metric {metric!r}; known: {known}{defined}")


def _default_direction(kind: MetricKind, ratio: RatioMetric | None) -> Direction:
    if kind == "request_rate":
        return "decrease"
    if kind == "ratio" and ratio is not None and ratio.higher_is_better:
        return "decrease"
    return "increase"


def _parse_threshold(raw: object, kind: MetricKind, comparison: Comparison, what: str) -> tuple[float, str]:
    """(value, unit) for a rule's threshold."""
    if raw is None:
        raise SpecError(f"{what}threshold is required")
    if kind in ("error_rate", "ratio"):
        return parse_fraction(raw, f"{what}threshold"), "fraction"
    if kind in ("latency_percentile", "latency_mean"):
        if comparison == "old_version" and _PERCENT.match(str(raw)):
            return _parse_percent_only(raw, f"{what}threshold"), "relative"
        if isinstance(raw, int | float) and not isinstance(raw, bool):
            hint = "10% (allowed slowdown vs the old version) or 50ms (allowed increase)" if comparison == "old_version" else "500ms"
            raise SpecError(f"{what}threshold {raw!r} has no unit; write e.g. {hint}")
        return parse_duration_seconds(raw, f"{what}threshold"), "seconds"
    # request_rate
    if comparison == "old_version":
        return _parse_percent_only(raw, f"{what}threshold"), "relative"
    match = _PER_TIME.match(str(raw))
    if match:
        return float(match.group(1)) / _DURATION_UNITS_S[match.group(2)], "per_second"
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw), "per_second"
    raise SpecError(f"{what}threshold: expected requests per second like 20 or 20/s or 600/m, got {raw!r}")


def parse_rule(raw: object, index: int, ratios: Mapping[str, RatioMetric]) -> Rule:
    if not isinstance(raw, Mapping):
        raise SpecError(f"canary_rules[{index}]: expected a mapping with metric, threshold, comparison")
    what = _where(index, raw.get("metric"))
    _check_keys(raw, _RULE_KEYS, what.rstrip(": "))
    metric = raw.get("metric")
    if not isinstance(metric, str) or not metric:
        raise SpecError(f"{what}metric is required (e.g. error_rate, latency_p95)")
    try:
        kind, percentile, ratio = metric_kind(metric, ratios)
    except SpecError as exc:
        raise SpecError(f"{what}{exc}") from None
    comparison = raw.get("comparison", "old_version")
    if comparison not in COMPARISONS:
        raise SpecError(f"{what}comparison must be old_version or absolute, got {comparison!r}")
    direction = raw.get("direction", _default_direction(kind, ratio))
    if direction not in DIRECTIONS:
        raise SpecError(f"{what}direction must be increase, decrease or either, got {direction!r}")
    if direction == "either" and comparison == "absolute":
        raise SpecError(f"{what}direction either needs comparison old_version (an absolute threshold is a ceiling or a floor)")
    threshold, unit = _parse_threshold(raw.get("threshold"), kind, comparison, what)
    min_samples = raw.get("min_samples", DEFAULT_MIN_SAMPLES)
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise SpecError(f"{what}min_samples must be a positive integer, got {min_samples!r}")
    return Rule(
        metric=metric,
        kind=kind,
        threshold=threshold,
        threshold_unit=unit,  # type: ignore[arg-type]
        threshold_text=str(raw.get("threshold")),
        comparison=comparison,
        direction=direction,
        critical=_parse_bool(raw.get("critical", False), f"{what}critical"),
        must_have_data=_parse_bool(raw.get("must_have_data", False), f"{what}must_have_data"),
        group=str(raw.get("group", "default")),
        min_samples=min_samples,
        percentile=percentile,
        ratio=ratio,
        description=str(raw.get("description", "")),
    )


def _parse_auto_rollback(raw: object) -> AutoRollback:
    if raw is None:
        return AutoRollback()
    if not isinstance(raw, Mapping):
        raise SpecError("auto_rollback: expected a mapping with enabled and if")
    _check_keys(raw, _ROLLBACK_KEYS, "auto_rollback")
    condition = raw.get("if", "any_rule_fails")
    if condition not in ROLLBACK_CONDITIONS:
        raise SpecError(f"auto_rollback.if must be one of {', '.join(ROLLBACK_CONDITIONS)}, got {condition!r}")
    notification = raw.get("notification")
    return AutoRollback(
        enabled=_parse_bool(raw.get("enabled", True), "auto_rollback.enabled"),
        condition=condition,
        notification=None if notification is None else str(notification),
    )


def _parse_steps(raw: object) -> tuple[Step, ...]:
    if not isinstance(raw, list) or not raw:
        raise SpecError("analysis.steps: expected a list like [{weight: 5%, window: 30m}, ...]")
    steps = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping) or set(item) - {"weight", "window"} or "weight" not in item:
            raise SpecError(f"analysis.steps[{i}]: expected {{weight: 5%, window: 30m}}, got {item!r}")
        weight = parse_fraction(item["weight"], f"analysis.steps[{i}].weight") * 100.0
        window = parse_duration_seconds(item.get("window", "30m"), f"analysis.steps[{i}].window")
        if window <= 0:
            raise SpecError(f"analysis.steps[{i}].window must be positive")
        steps.append(Step(weight, window))
    weights = [s.weight for s in steps]
    if weights != sorted(weights):
        raise SpecError(f"analysis.steps: weights must not decrease, got {weights}")
    return tuple(steps)


def parse_schedule(text: str) -> tuple[Step, ...]:
    """Steps from ``"5%:30m,25%:30m,50%:30m,100%"`` (a missing window means 30m)."""
    items = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        weight, _, window = part.partition(":")
        items.append({"weight": weight.strip(), "window": window.strip() or "30m"})
    try:
        return _parse_steps(items)
    except SpecError as exc:
        raise SpecError(f"step schedule {text!r}: {exc}") from None


def parse_spec(raw: object) -> CanarySpec:
    """A CanarySpec from parsed YAML (a mapping). Raises SpecError naming the bad key."""
    if not isinstance(raw, Mapping):
        raise SpecError("a canary rule file must be a mapping with a canary_rules: list")
    _check_keys(raw, _TOP_KEYS, "rule file")
    rules_raw = raw.get("canary_rules")
    if not isinstance(rules_raw, list) or not rules_raw:
        raise SpecError("canary_rules: expected a non-empty list of rules (metric, threshold, comparison)")
    ratios = _parse_ratio_metrics(raw.get("metrics"))
    rules = tuple(parse_rule(r, i, ratios) for i, r in enumerate(rules_raw))
    analysis = raw.get("analysis") or {}
    if not isinstance(analysis, Mapping):
        raise SpecError("analysis: expected a mapping")
    _check_keys(analysis, _ANALYSIS_KEYS, "analysis")
    alpha = analysis.get("alpha", DEFAULT_ALPHA)
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 0.5:
        raise SpecError(f"analysis.alpha must be a number between 0 and 0.5 (e.g. 0.05), got {alpha!r}")
    scores = {}
    for key, default in (("pass_score", DEFAULT_PASS_SCORE), ("marginal_score", DEFAULT_MARGINAL_SCORE)):
        value = analysis.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
            raise SpecError(f"analysis.{key} must be a number from 0 to 100, got {value!r}")
        scores[key] = float(value)
    if scores["marginal_score"] > scores["pass_score"]:
        raise SpecError("analysis.marginal_score must not exceed analysis.pass_score")
    weights = analysis.get("group_weights") or {}
    if not isinstance(weights, Mapping) or any(isinstance(w, bool) or not isinstance(w, int | float) or w < 0 for w in weights.values()):
        raise SpecError("analysis.group_weights: expected a mapping of group -> non-negative number")
    unknown_groups = sorted(set(weights) - {r.group for r in rules})
    if unknown_groups:
        raise SpecError(f"analysis.group_weights names group(s) no rule uses: {', '.join(map(str, unknown_groups))}")
    for key in ("service", "baseline", "canary"):
        if analysis.get(key) is not None and not isinstance(analysis.get(key), str):
            raise SpecError(f"analysis.{key}: expected a string")
        if key != "service" and analysis.get(key) is not None:
            _check_filter(analysis[key], f"analysis.{key}")
    interval = parse_duration_seconds(analysis.get("interval", DEFAULT_INTERVAL_SECONDS), "analysis.interval")
    if interval <= 0:
        raise SpecError("analysis.interval must be positive")
    return CanarySpec(
        rules=rules,
        auto_rollback=_parse_auto_rollback(raw.get("auto_rollback")),
        alpha=float(alpha),
        pass_score=scores["pass_score"],
        marginal_score=scores["marginal_score"],
        group_weights={str(k): float(v) for k, v in weights.items()},
        interval_seconds=interval,
        steps=_parse_steps(analysis["steps"]) if "steps" in analysis else SEED_STEPS,
        start=parse_time(analysis["start"], "analysis.start") if analysis.get("start") is not None else None,
        service=analysis.get("service"),
        baseline=analysis.get("baseline"),
        canary=analysis.get("canary"),
    )


def loads_spec(text: str) -> CanarySpec:
    """A CanarySpec from YAML text."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"rule file is not valid YAML: {exc}") from None
    return parse_spec(raw)


def load_spec(path: str | Path) -> CanarySpec:
    """A CanarySpec from a YAML file."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecError(f"cannot read rule file {path}: {exc.strerror or exc}") from None
    try:
        return loads_spec(text)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None
