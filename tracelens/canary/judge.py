"""Judge a canary against its baseline, rule by rule, on per-request samples.

Each rule yields Successful, Failed or Inconclusive with the numbers behind it in plain
words. The decision needs *both* evidence and size:

* **Failed** = the canary is significantly worse than the old version *and* significantly
  beyond what the rule allows (the effect-size gate: above the rate ceiling, slower than
  the allowed percentile/mean increase). Both null hypotheses must be rejected at
  ``alpha`` (an intersection-union test, whose p-value is the larger of the two), so a
  trivial but "significant" shift on 10^5 requests passes, and a few unlucky requests
  cannot fail a step even when it is checked every few minutes;
* **Inconclusive** = too few requests (or none), or the canary looks worse than allowed
  but the evidence is not significant yet (keep watching / ask a human);
* **Successful** otherwise.

Tests: rates use Fisher's exact test against the baseline and an exact binomial test
against the ceiling/floor (``absolute`` rules: the binomial test only). Latency uses
Mann-Whitney U on the request durations (reported with the Hodges-Lehmann shift and its
confidence interval) and, for the gate, a distribution-free tail test for percentiles
(are more than 1 - q of the canary's requests beyond the allowed bound? exact binomial)
or a z-test for the mean. Request rate uses exact Poisson/binomial tests on counts.

Scoring follows Kayenta: per group 100 * passed / counted (Inconclusive is not counted),
weighted over groups; pass >= 95, marginal >= 75; a failed critical rule scores 0.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from tracelens.analysis import stats
from tracelens.canary.cohort import CohortData
from tracelens.canary.rules import CanarySpec, Rule

Status = Literal["Successful", "Failed", "Inconclusive"]
Classification = Literal["pass", "marginal", "fail", "no data"]


@dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule's judgement. Values are in ``unit`` (``%`` for rates, ``ms``, ``req/s``)."""

    metric: str
    status: Status
    summary: str
    baseline_value: float | None
    canary_value: float | None
    bound: float | None
    unit: str
    n_baseline: int
    n_canary: int
    pvalue: float | None
    test: str
    critical: bool
    group: str
    comparison: str
    threshold: str
    shift: float | None = None
    shift_low: float | None = None
    shift_high: float | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def counted(self) -> bool:
        return self.status != "Inconclusive"


@dataclass(frozen=True, slots=True)
class Verdict:
    """The overall judgement: per-rule results, Kayenta score and the verdict a deploy
    tool gates on (Successful / Failed / Inconclusive)."""

    verdict: Status
    score: float | None
    classification: Classification
    rollback: bool
    reason: str
    results: tuple[RuleResult, ...]
    n_baseline: int
    n_canary: int
    service: str | None = None
    baseline: str = ""
    canary: str = ""
    alpha: float = 0.05

    @property
    def passed(self) -> bool:
        return self.verdict == "Successful"

    def results_frame(self) -> pl.DataFrame:
        """One row per rule: metric, status, canary/baseline value, bound, unit, n, p-value,
        test, shift and CI (ms, latency rules), critical, group, summary."""
        columns = ("metric", "status", "canary_value", "baseline_value", "bound", "unit", "n_canary", "n_baseline",
                   "pvalue", "test", "shift", "shift_low", "shift_high", "critical", "group", "summary")
        rows = [{c: _clean(getattr(r, c)) for c in columns} for r in self.results]
        schema = {c: pl.Float64 for c in ("canary_value", "baseline_value", "bound", "pvalue", "shift", "shift_low", "shift_high")}
        schema |= {"n_canary": pl.Int64, "n_baseline": pl.Int64, "critical": pl.Boolean}
        return pl.DataFrame(rows, schema={c: schema.get(c, pl.String) for c in columns})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN/inf become None)."""
        payload = asdict(self)
        payload["results"] = [_clean(asdict(r)) for r in self.results]
        return _clean(payload)


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


# --- wording ---------------------------------------------------------------------------------


def fmt_p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "n/a"
    if p < 1e-4:
        return f"{p:.1e}"
    return f"{p:.4f}".rstrip("0").rstrip(".") if p < 0.1 else f"{p:.2f}"


def fmt_pct(rate: float) -> str:
    if math.isnan(rate):
        return "n/a"
    pct = rate * 100.0
    return f"{pct:.2f}%" if pct < 10 else f"{pct:.1f}%"


def fmt_ms(ms: float) -> str:
    if math.isnan(ms):
        return "n/a"
    if abs(ms) >= 10_000:
        return f"{ms / 1000:.1f} s"
    if abs(ms) >= 100:
        return f"{ms:.0f} ms"
    return f"{ms:.1f} ms"


def _worse(direction: str, value: float, bound: float) -> bool:
    """Is ``value`` beyond ``bound`` in the bad direction?"""
    return value > bound if direction == "increase" else value < bound


def _alternative(direction: str) -> stats.Alternative:
    return {"increase": "greater", "decrease": "less"}.get(direction, "two-sided")  # type: ignore[return-value]


def _decide(beyond: bool, significant: bool, baseline_also_beyond: bool = False) -> Status:
    if beyond and significant:
        return "Failed"
    if beyond and not baseline_also_beyond:
        return "Inconclusive"
    return "Successful"


def _no_data(rule: Rule, n_base: int, n_canary: int, unit: str, need_baseline: bool) -> RuleResult | None:
    """A result when there is too little data to judge, else None."""
    missing = n_canary == 0 or (need_baseline and n_base == 0)
    few = n_canary < rule.min_samples or (need_baseline and n_base < rule.min_samples)
    if not (missing or few):
        return None
    who = "canary" if n_canary < rule.min_samples else "baseline"
    if missing:
        text = f"no {who} requests to judge"
        status: Status = "Failed" if rule.must_have_data else "Inconclusive"
        if rule.must_have_data:
            text += " (the rule says must_have_data)"
    else:
        text = f"too few requests to judge: {n_canary} canary, {n_base} baseline (at least {rule.min_samples} each needed)"
        status = "Inconclusive"
    return RuleResult(
        rule.metric, status, text, None, None, None, unit, n_base, n_canary, None, "none",
        rule.critical, rule.group, rule.comparison, rule.threshold_text,
    )


# --- rates ------------------------------------------------------------------------------------


def _rate_counts(rule: Rule, cohort: CohortData) -> tuple[int, int, str]:
    """(numerator, total, what the numerator counts) for error_rate and ratio rules."""
    if rule.kind == "error_rate":
        return int(cohort.error.sum()), cohort.n, "errors"
    assert rule.ratio is not None
    data = cohort.ratios.get(rule.metric)
    if data is None:
        return 0, 0, "good"
    good = int(data.good.sum())
    if rule.ratio.higher_is_better:
        return good, int(data.good.size), "good"
    return int(data.good.size) - good, int(data.good.size), "bad"


def judge_rate(rule: Rule, baseline: CohortData, canary: CohortData, alpha: float) -> RuleResult:
    """error_rate and ratio metrics (payment_success_rate ...)."""
    x_b, n_b, what = _rate_counts(rule, baseline)
    x_c, n_c, _ = _rate_counts(rule, canary)
    need_baseline = rule.comparison == "old_version"
    early = _no_data(rule, n_b, n_c, "%", need_baseline)
    rate_b = x_b / n_b if n_b else math.nan
    rate_c = x_c / n_c if n_c else math.nan
    note = ""
    if rule.ratio is not None and rule.ratio.builtin:
        note = f" ({rule.metric} has no definition under metrics:, so it is the share of requests without error)"
    if early is not None:
        return _with(early, baseline_value=_pct(rate_b), canary_value=_pct(rate_c), summary=early.summary + note)
    label = rule.metric.replace("_", " ")
    bound = rule.threshold
    words = "ceiling" if rule.direction == "increase" else "floor"
    canary_words = f"canary {label} {fmt_pct(rate_c)} ({x_c} {what} of {n_c} requests)"
    baseline_words = f"baseline {fmt_pct(rate_b)} ({x_b} of {n_b})"
    if rule.comparison == "old_version":
        test = stats.fisher_exact(x_c, n_c, x_b, n_b, alternative=_alternative(rule.direction))
        p_vs_old = test.pvalue
        if rule.direction == "either":
            beyond = abs(rate_c - rate_b) > bound
            baseline_beyond = False
            limit_words = f"allowed difference {fmt_pct(bound)}"
            p_vs_limit = 0.0 if beyond else 1.0
            limit_evidence = ""
        else:
            beyond = _worse(rule.direction, rate_c, bound)
            baseline_beyond = _worse(rule.direction, rate_b, bound)
            limit_words = f"{words} {fmt_pct(bound)}"
            p_vs_limit = stats.binomial_test(x_c, n_c, bound, alternative=_alternative(rule.direction))
            limit_evidence = f"; exact binomial test (canary beyond the {words}) p = {fmt_p(p_vs_limit)}"
        # intersection-union test: fail only when both null hypotheses are rejected, so the
        # combined p-value is the larger one and repeated looks rarely fail on noise
        p = max(p_vs_old, p_vs_limit)
        significant = p < alpha
        status = _decide(beyond, significant, baseline_beyond)
        evidence = f"Fisher exact test (canary worse than baseline) p = {fmt_p(p_vs_old)}{limit_evidence}"
        if status == "Failed":
            why = f"significantly worse than the old version and significantly beyond the {words}"
        elif status == "Inconclusive":
            why = f"beyond the {words}, but not yet significantly (needs p < {alpha:g} on both tests); keep watching"
        elif beyond:
            why = f"both versions are beyond the {words}; the canary is no worse than the old version"
        elif p_vs_old < alpha:
            why = f"significantly different from the old version but within the {words}"
        else:
            why = f"within the {words}"
        summary = f"{status}: {canary_words} vs {baseline_words}; {limit_words}. {evidence}: {why}.{note}"
        return RuleResult(
            rule.metric, status, summary, _pct(rate_b), _pct(rate_c), _pct(bound), "%", n_b, n_c, p, "fisher_exact+binomial",
            rule.critical, rule.group, rule.comparison, rule.threshold_text,
            details={"baseline_count": x_b, "canary_count": x_c, "counts": what, "odds_ratio": test.odds_ratio,
                     "p_vs_old_version": p_vs_old, "p_vs_limit": p_vs_limit},
        )
    # absolute: is the canary's rate beyond the threshold (exact binomial test)?
    p = stats.binomial_test(x_c, n_c, bound, alternative=_alternative(rule.direction))
    beyond = abs(rate_c - bound) > 0 if rule.direction == "either" else _worse(rule.direction, rate_c, bound)
    status = _decide(beyond, p < alpha)
    target = "at most" if rule.direction == "increase" else "at least"
    if status == "Failed":
        why = f"significantly beyond the {words}"
    elif status == "Inconclusive":
        why = f"beyond the {words}, but with {n_c} requests that could be chance (p >= {alpha:g}); keep watching"
    else:
        why = f"within the {words}"
    summary = (
        f"{status}: {canary_words}; required {target} {fmt_pct(bound)}. Exact binomial test p = {fmt_p(p)}: {why}."
        + (f" For comparison, the {baseline_words}." if n_b else "")
        + note
    )
    return RuleResult(
        rule.metric, status, summary, _pct(rate_b), _pct(rate_c), _pct(bound), "%", n_b, n_c, p, "binomial",
        rule.critical, rule.group, rule.comparison, rule.threshold_text,
        details={"baseline_count": x_b, "canary_count": x_c, "counts": what},
    )


def _pct(rate: float) -> float | None:
    return None if math.isnan(rate) else rate * 100.0


def _with(result: RuleResult, **changes: Any) -> RuleResult:
    payload = {f: getattr(result, f) for f in result.__dataclass_fields__}
    payload.update(changes)
    return RuleResult(**payload)


# --- latency ----------------------------------------------------------------------------------


def _latency_value(rule: Rule, durations: np.ndarray) -> float:
    if rule.kind == "latency_mean":
        return float(durations.mean()) if durations.size else math.nan
    assert rule.percentile is not None
    return stats.percentile(durations, rule.percentile)


def _stat_name(rule: Rule) -> str:
    if rule.kind == "latency_mean":
        return "mean latency"
    q = rule.percentile
    return f"p{q:g} latency"


def _latency_bound(rule: Rule, baseline_value: float) -> float:
    if rule.comparison == "absolute":
        return rule.threshold * 1000.0
    if rule.threshold_unit == "relative":
        factor = 1.0 + rule.threshold if rule.direction != "decrease" else 1.0 - rule.threshold
        return baseline_value * factor
    delta = rule.threshold * 1000.0
    return baseline_value + delta if rule.direction != "decrease" else baseline_value - delta


def _tail_test(rule: Rule, durations: np.ndarray, bound: float) -> tuple[float, int, float]:
    """Is the canary's q-th percentile beyond ``bound``? H0: at most (1 - q) of the
    requests are slower than bound (or at most q faster, for direction decrease).
    Returns (p, count beyond, fraction allowed)."""
    assert rule.percentile is not None
    q = rule.percentile / 100.0
    if rule.direction == "decrease":
        k, allowed = int((durations < bound).sum()), q
    else:
        k, allowed = int((durations > bound).sum()), 1.0 - q
    if allowed <= 0.0:
        return (0.0 if k else 1.0), k, allowed
    return stats.binomial_test(k, int(durations.size), allowed, alternative="greater"), k, allowed


def _mean_test(durations: np.ndarray, bound: float, direction: str) -> float:
    """Normal-approximation test of the mean against a fixed bound (CLT; n >= min_samples)."""
    n = durations.size
    sd = float(durations.std(ddof=1)) if n > 1 else 0.0
    if sd == 0.0:
        mean = float(durations.mean())
        return 0.0 if _worse(direction if direction != "either" else "increase", mean, bound) else 1.0
    z = (float(durations.mean()) - bound) / (sd / math.sqrt(n))
    if direction == "decrease":
        return stats.normal_sf(-z)
    if direction == "either":
        return min(1.0, 2.0 * stats.normal_sf(abs(z)))
    return stats.normal_sf(z)


def judge_latency(rule: Rule, baseline: CohortData, canary: CohortData, alpha: float) -> RuleResult:
    """latency_pNN and latency_mean."""
    xb, xc = baseline.duration_ms, canary.duration_ms
    need_baseline = rule.comparison == "old_version"
    early = _no_data(rule, xb.size, xc.size, "ms", need_baseline)
    v_b = _latency_value(rule, xb)
    v_c = _latency_value(rule, xc)
    if early is not None:
        return _with(early, baseline_value=_num(v_b), canary_value=_num(v_c))
    name = _stat_name(rule)
    bound = _latency_bound(rule, v_b)
    direction = rule.direction
    if direction == "either":
        beyond = abs(v_c - v_b) > abs(bound - v_b)
    else:
        beyond = _worse(direction, v_c, bound)
    details: dict[str, Any] = {}
    shift = shift_low = shift_high = None
    evidence: list[str] = []
    if xb.size and xc.size:
        mw = stats.mann_whitney_u(xc, xb, alternative=_alternative(direction))
        hl = stats.hodges_lehmann(xb, xc, confidence=1.0 - alpha)
        shift, shift_low, shift_high = hl.shift, hl.low, hl.high
        details |= {"mann_whitney_u": mw.statistic, "mann_whitney_p": mw.pvalue, "prob_canary_slower": mw.effect}
        slower = "slower" if hl.shift > 0 else "faster"
        moved = f"{fmt_ms(abs(hl.shift))} {slower}" if hl.shift != 0 else "not shifted"
        evidence.append(
            f"the canary is {moved} (Hodges-Lehmann shift, {100 * (1 - alpha):g}% CI "
            f"{fmt_ms(hl.low)} to {fmt_ms(hl.high)}); Mann-Whitney p = {fmt_p(mw.pvalue)}"
        )
    if rule.comparison == "old_version":
        if rule.kind == "latency_percentile" and direction != "either":
            tail_p, k, allowed = _tail_test(rule, xc, bound)
            details |= {"tail_p": tail_p, "tail_count": k}
            side = "longer" if direction == "increase" else "shorter"
            evidence.append(
                f"{fmt_pct(k / xc.size)} of canary requests took {side} than {fmt_ms(bound)} "
                f"(at most {fmt_pct(allowed)} would if its p{rule.percentile:g} were within the limit; binomial p = {fmt_p(tail_p)})"
            )
            # intersection-union: slower than the old version (Mann-Whitney) AND the
            # percentile beyond the allowed bound (tail test); both must be significant
            p = max(details["mann_whitney_p"], tail_p)
            test = "mann_whitney+tail_binomial"
        elif rule.kind == "latency_mean" and direction != "either":
            z_p = _mean_test(xc, bound, direction)
            details["mean_p"] = z_p
            evidence.append(f"z-test of the canary mean against {fmt_ms(bound)} p = {fmt_p(z_p)}")
            p = max(details["mann_whitney_p"], z_p)
            test = "mann_whitney+z_mean"
        else:
            p = details["mann_whitney_p"]
            test = "mann_whitney"
        ratio = v_c / v_b - 1.0 if v_b else math.nan
        if rule.threshold_unit == "relative":
            limit = f"allowed {'+' if direction != 'decrease' else '-'}{rule.threshold * 100:g}% ({fmt_ms(bound)})"
        else:
            limit = f"allowed change {rule.threshold_text} ({fmt_ms(bound)})"
        head = f"canary {name} {fmt_ms(v_c)} vs baseline {fmt_ms(v_b)} ({ratio * 100:+.0f}%); {limit}"
    else:  # absolute: a ceiling or a floor (direction either is refused by the rule parser)
        if rule.kind == "latency_percentile":
            tail_p, k, allowed = _tail_test(rule, xc, bound)
            p, test = tail_p, "tail_binomial"
            details |= {"tail_p": tail_p, "tail_count": k}
            evidence.append(
                f"{fmt_pct(k / xc.size)} of canary requests were beyond {fmt_ms(bound)} (at most {fmt_pct(allowed)} allowed; binomial p = {fmt_p(tail_p)})"
            )
        else:
            p, test = _mean_test(xc, bound, direction), "z_mean"
            evidence.append(f"z-test of the mean against {fmt_ms(bound)} p = {fmt_p(p)}")
        target = "at most" if direction != "decrease" else "at least"
        head = f"canary {name} {fmt_ms(v_c)} ({xc.size} requests); required {target} {fmt_ms(bound)}"
        if xb.size:
            head += f"; baseline {fmt_ms(v_b)}"
    significant = p < alpha if not math.isnan(p) else False
    status = _decide(beyond, significant)
    if status == "Failed":
        why = {
            "increase": "slower than allowed, and significantly so",
            "decrease": "faster than the allowed level, significantly",
            "either": "further from the old version than allowed, and significantly so",
        }[direction]
    elif status == "Inconclusive":
        why = f"beyond the limit but not significant (p = {fmt_p(p)} >= {alpha:g}); keep watching"
    elif significant and rule.comparison == "old_version":
        why = "a significant but allowed change"
    else:
        why = "within the limit"
    summary = f"{status}: {head}. Evidence: " + "; ".join(evidence) + f". Verdict: {why}."
    return RuleResult(
        rule.metric, status, summary, _num(v_b), _num(v_c), _num(bound), "ms", xb.size, xc.size, p, test,
        rule.critical, rule.group, rule.comparison, rule.threshold_text, shift, shift_low, shift_high, details,
    )


def _num(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


# --- request rate ------------------------------------------------------------------------------


def judge_request_rate(
    rule: Rule, baseline: CohortData, canary: CohortData, alpha: float, window_seconds: float | None,
    traffic_ratio: float = 1.0,
) -> RuleResult:
    """Requests per second (windows: the judged window, else each cohort's own span).
    ``traffic_ratio``: the canary/baseline request ratio the traffic split implies
    (weight / (100 - weight) in a progressive step): vs the old version, the canary's
    rate is compared with the baseline's scaled by it, so 5 % of traffic is not a drop."""
    w_b = window_seconds or baseline.span_seconds()
    w_c = window_seconds or canary.span_seconds()
    n_b, n_c = baseline.n, canary.n
    rate_b = n_b / w_b if w_b > 0 else math.nan
    rate_c = n_c / w_c if w_c > 0 else math.nan
    need_baseline = rule.comparison == "old_version"
    early = _no_data(rule, n_b, n_c, "req/s", need_baseline)
    if early is None and (w_c <= 0 or (need_baseline and w_b <= 0)):
        early = RuleResult(
            rule.metric, "Inconclusive", "no time window to measure a rate in", None, None, None, "req/s", n_b, n_c, None,
            "none", rule.critical, rule.group, rule.comparison, rule.threshold_text,
        )
    if early is not None:
        return _with(early, baseline_value=_num(rate_b), canary_value=_num(rate_c))
    if rule.comparison == "old_version":
        factor = 1.0 - rule.threshold if rule.direction == "decrease" else 1.0 + rule.threshold
        bound = rate_b * traffic_ratio * factor
        # given n_b + n_c requests, under H0 (rate_c = ratio * factor * rate_b) n_c ~ Binomial
        p0 = w_c * traffic_ratio * factor / (w_c * traffic_ratio * factor + w_b)
        p = stats.binomial_test(n_c, n_b + n_c, p0, alternative=_alternative(rule.direction))
        test = "conditional_binomial"
    else:
        bound = rule.threshold
        p = stats.poisson_test(n_c, bound * w_c, alternative=_alternative(rule.direction))
        test = "poisson"
    beyond = abs(rate_c - bound) > 0 if rule.direction == "either" else _worse(rule.direction, rate_c, bound)
    status = _decide(beyond, p < alpha)
    summary = (
        f"{status}: canary {rate_c:.3g} req/s ({n_c} in {w_c:.0f} s) vs baseline {rate_b:.3g} req/s; "
        f"limit {bound:.3g} req/s. Exact {test.replace('_', ' ')} test p = {fmt_p(p)}."
    )
    return RuleResult(
        rule.metric, status, summary, _num(rate_b), _num(rate_c), bound, "req/s", n_b, n_c, p, test,
        rule.critical, rule.group, rule.comparison, rule.threshold_text,
    )


# --- rules -> verdict --------------------------------------------------------------------------


def judge_rule(
    rule: Rule, baseline: CohortData, canary: CohortData, *, alpha: float, window_seconds: float | None = None,
    traffic_ratio: float = 1.0,
) -> RuleResult:
    if rule.kind in ("error_rate", "ratio"):
        return judge_rate(rule, baseline, canary, alpha)
    if rule.kind in ("latency_percentile", "latency_mean"):
        return judge_latency(rule, baseline, canary, alpha)
    return judge_request_rate(rule, baseline, canary, alpha, window_seconds, traffic_ratio)


def kayenta_score(results: tuple[RuleResult, ...], group_weights: dict[str, float] | None = None) -> float | None:
    """100 * passed / counted per group, weighted over groups (equal weights unless
    given); 0 when a critical rule failed; None when nothing could be counted."""
    if any(r.critical and r.status == "Failed" for r in results):
        return 0.0
    passed: dict[str, int] = defaultdict(int)
    counted: dict[str, int] = defaultdict(int)
    for r in results:
        if r.counted:
            counted[r.group] += 1
            passed[r.group] += r.status == "Successful"
    if not counted:
        return None
    weights = {g: (group_weights or {}).get(g, 1.0) for g in counted}
    total = sum(weights.values())
    if total <= 0:
        return None
    return sum(weights[g] * 100.0 * passed[g] / counted[g] for g in counted) / total


def classify(score: float | None, pass_score: float, marginal_score: float) -> Classification:
    if score is None:
        return "no data"
    if score >= pass_score:
        return "pass"
    if score >= marginal_score:
        return "marginal"
    return "fail"


def overall_verdict(results: tuple[RuleResult, ...], spec: CanarySpec) -> tuple[Status, float | None, Classification, bool, str]:
    """(verdict, score, classification, rollback, reason)."""
    score = kayenta_score(results, dict(spec.group_weights))
    classification = classify(score, spec.pass_score, spec.marginal_score)
    failed = [r.metric for r in results if r.status == "Failed"]
    critical = [r.metric for r in results if r.status == "Failed" and r.critical]
    inconclusive = [r.metric for r in results if r.status == "Inconclusive"]
    score_words = "no score (nothing could be judged)" if score is None else f"score {score:.0f} ({classification})"
    rollback_rule = spec.auto_rollback
    if critical:
        verdict: Status = "Failed"
        reason = f"critical rule(s) failed: {', '.join(critical)}; score 0"
    elif failed and rollback_rule.condition == "any_rule_fails":
        verdict = "Failed"
        reason = f"rule(s) failed: {', '.join(failed)}; {score_words}"
    elif classification == "fail" and rollback_rule.condition != "critical_rule_fails":
        verdict = "Failed"
        reason = f"{score_words} is below the marginal score {spec.marginal_score:g}"
    elif classification == "no data":
        verdict = "Inconclusive"
        reason = score_words
    elif classification == "marginal" or inconclusive:
        verdict = "Inconclusive"
        parts = [score_words]
        if inconclusive:
            parts.append(f"inconclusive: {', '.join(inconclusive)}")
        reason = "; ".join(parts)
    else:
        verdict = "Successful"
        reason = score_words if not failed else f"{score_words}; failed but tolerated: {', '.join(failed)}"
    rollback = verdict == "Failed" and rollback_rule.enabled
    return verdict, score, classification, rollback, reason


def judge(
    baseline: CohortData,
    canary: CohortData,
    spec: CanarySpec,
    *,
    service: str | None = None,
    window_seconds: float | None = None,
    traffic_ratio: float = 1.0,
) -> Verdict:
    """Judge every rule of ``spec`` on the two cohorts and combine them."""
    results = tuple(
        judge_rule(r, baseline, canary, alpha=spec.alpha, window_seconds=window_seconds, traffic_ratio=traffic_ratio)
        for r in spec.rules
    )
    verdict, score, classification, rollback, reason = overall_verdict(results, spec)
    return Verdict(
        verdict, score, classification, rollback, reason, results, baseline.n, canary.n, service,
        baseline.filter_text, canary.filter_text, spec.alpha,
    )
