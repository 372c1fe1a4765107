"""Canary analysis as library calls: spans + cohorts + rules -> Verdict / ProgressiveResult.

    >>> spans = tracelens.open("tracelens-data").spans(since="2h")          # doctest: +SKIP
    >>> verdict = compare_cohorts(spans, baseline='service.version = "1.4"',
    ...                           canary='service.version = "2.0"', rules="canary.yaml")
    >>> verdict.verdict, verdict.score                                      # doctest: +SKIP
    ('Failed', 33.3)

:func:`canary_verdict_json` is the pure function behind ``GET /api/v1/canary``: a store
and the request's query parameters in, the JSON verdict out (the receiver mounts it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from tracelens.canary.cohort import CohortData, FilterLike, RatioDefinition, cohort_data, infer_service, to_ns
from tracelens.canary.judge import Verdict, judge
from tracelens.canary.rules import CanarySpec, load_spec, loads_spec, parse_schedule
from tracelens.canary.steps import ProgressiveResult, judge_steps
from tracelens.errors import SpecError

#: The seed's rule file, used when no rules are given.
SEED_RULES_YAML = """\
canary_rules:
  - metric: error_rate
    threshold: 1%        # max 1% errors
    comparison: old_version
  - metric: latency_p95
    threshold: 10%       # max 10% slower than old version
    comparison: old_version
  - metric: payment_success_rate
    threshold: 99%       # min 99% success
    comparison: absolute
auto_rollback:
  enabled: true
  if: any_rule_fails
"""

RulesLike = CanarySpec | str | Path | None


def resolve_rules(rules: RulesLike) -> CanarySpec:
    """A CanarySpec from a spec, a path to a YAML file, YAML text, or None (the seed's rules)."""
    if isinstance(rules, CanarySpec):
        return rules
    if rules is None:
        return loads_spec(SEED_RULES_YAML)
    if isinstance(rules, Path) or ("\n" not in str(rules) and not str(rules).lstrip().startswith("canary_rules")):
        return load_spec(rules)
    return loads_spec(str(rules))


def ratio_definitions(spec: CanarySpec) -> list[RatioDefinition]:
    """What the cohorts must count for the spec's ratio metrics."""
    found = {}
    for rule in spec.rules:
        if rule.ratio is not None:
            found[rule.metric] = RatioDefinition(rule.metric, rule.ratio.total, rule.ratio.good, rule.ratio.bad)
    return list(found.values())


def prepare_cohorts(
    spans: pl.LazyFrame | pl.DataFrame,
    spec: CanarySpec,
    *,
    baseline: FilterLike | None,
    canary: FilterLike | None,
    service: str | None = None,
    entry_only: bool = True,
) -> tuple[str, CohortData, CohortData]:
    """(service, baseline data, canary data). Filters and service default to the spec's
    ``analysis:`` values; the service to the one whose entry spans dominate the canary."""
    baseline = baseline if baseline is not None else spec.baseline
    canary = canary if canary is not None else spec.canary
    if baseline is None or canary is None:
        raise SpecError("both a baseline and a canary filter expression are needed (e.g. service.version = \"1.4\")")
    service = service or spec.service or infer_service(spans, canary)
    ratios = ratio_definitions(spec)
    base = cohort_data(spans, baseline, name="baseline", service=service, ratios=ratios, entry_only=entry_only)
    can = cohort_data(spans, canary, name="canary", service=service, ratios=ratios, entry_only=entry_only)
    return service, base, can


def compare_cohorts(
    spans: pl.LazyFrame | pl.DataFrame,
    *,
    baseline: FilterLike | None = None,
    canary: FilterLike | None = None,
    rules: RulesLike = None,
    service: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    canary_weight: float | None = None,
    entry_only: bool = True,
) -> Verdict:
    """Judge the canary cohort against the baseline cohort on requests in [since, until).
    ``canary_weight`` (percent of traffic on the canary) lets request_rate rules compare
    rates per share of traffic."""
    spec = resolve_rules(rules)
    if canary_weight is not None and not 0 < canary_weight < 100:
        raise SpecError(f"the canary weight must be between 0% and 100% (exclusive), got {canary_weight:g}%")
    ratio = canary_weight / (100.0 - canary_weight) if canary_weight is not None else 1.0
    service, base, can = prepare_cohorts(spans, spec, baseline=baseline, canary=canary, service=service, entry_only=entry_only)
    lo, hi = to_ns(since), to_ns(until)
    window = (until - since).total_seconds() if since and until else None
    return judge(base.window(lo, hi), can.window(lo, hi), spec, service=service, window_seconds=window, traffic_ratio=ratio)


def progressive_rollout(
    spans: pl.LazyFrame | pl.DataFrame,
    *,
    baseline: FilterLike | None = None,
    canary: FilterLike | None = None,
    rules: RulesLike = None,
    service: str | None = None,
    start: datetime | None = None,
    schedule: str | None = None,
    interval_seconds: float | None = None,
    entry_only: bool = True,
) -> ProgressiveResult:
    """Judge the spec's progressive steps (5 % -> 25 % -> 50 % -> 100 % by default) in
    turn from ``start``; report the first failing step and when rollback would trigger.
    ``schedule`` ("5%:10m,25%:10m,50%:10m,100%") and ``interval_seconds`` override the
    spec's ``analysis.steps`` / ``analysis.interval``."""
    spec = resolve_rules(rules)
    if schedule is not None:
        spec = replace(spec, steps=parse_schedule(schedule))
    if interval_seconds is not None:
        if interval_seconds <= 0:
            raise SpecError("the check interval must be positive")
        spec = replace(spec, interval_seconds=interval_seconds)
    service, base, can = prepare_cohorts(spans, spec, baseline=baseline, canary=canary, service=service, entry_only=entry_only)
    return judge_steps(base, can, spec, start=start, service=service)


# --- the HTTP endpoint, as a pure function --------------------------------------------------------


class SpanSource(Protocol):
    def spans(self, since: Any = None, until: Any = None, service: Any = None, trace_id: Any = None) -> pl.LazyFrame: ...


def _param(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        value = value[-1] if value else None  # parse_qs gives lists; the last one wins
    if value is None or value == "":
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def canary_verdict_json(
    store: SpanSource, query_params: Mapping[str, Any], *, default_rules: RulesLike = None
) -> dict[str, Any]:
    """The JSON body of ``GET /api/v1/canary?baseline=...&canary=...``.

    Parameters: ``baseline`` and ``canary`` (filter expressions, required unless the rules
    name them), ``service``, ``since``/``until`` (as store.spans accepts: "1h", ISO times),
    ``rules`` (inline YAML; default ``default_rules``, else the seed's rules), ``steps``
    ("true": judge the progressive steps instead of one window). Never raises for bad
    input: errors come back as ``{"verdict": "Error", "error": ..., "status": 400}``.

    The body always has ``verdict`` (Successful | Failed | Inconclusive | Error) and
    ``ok`` (true only for Successful), so an Argo Rollouts ``web`` metric can use
    ``successCondition: result.verdict == "Successful"`` and a server answering a Flagger
    webhook can map ``ok`` to HTTP 200 vs 412 (``status`` holds that suggestion).
    """
    from tracelens.errors import TracelensError

    try:
        text = _param(query_params, "rules")
        spec = loads_spec(text) if text else resolve_rules(default_rules)
        since, until = _param(query_params, "since"), _param(query_params, "until")
        spans = store.spans(since=since, until=until)
        kwargs = {
            "baseline": _param(query_params, "baseline"),
            "canary": _param(query_params, "canary"),
            "rules": spec,
            "service": _param(query_params, "service"),
        }
        if (_param(query_params, "steps") or "").lower() in ("1", "true", "yes"):
            result = progressive_rollout(spans, **kwargs).to_dict()  # type: ignore[arg-type]
        else:
            result = compare_cohorts(spans, **kwargs).to_dict()  # type: ignore[arg-type]
    except TracelensError as exc:
        return {"verdict": "Error", "ok": False, "status": 400, "error": str(exc)}
    ok = result["verdict"] == "Successful"
    return {**result, "ok": ok, "status": 200 if ok else 412}
