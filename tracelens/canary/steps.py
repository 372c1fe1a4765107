"""Progressive delivery: judge each traffic step in turn, as a rollout controller would.

The schedule is the seed's by default: 5 % -> 25 % -> 50 % -> 100 %, each step observed for
a window (30 min). Within a step the canary is checked every ``interval`` (5 min) on the
requests of that step so far; the first Failed check triggers the rollback (the seed:
the 50 % step starts at 11:00, the first check at 11:05 fails, rollback at 11:05). A step
whose last check is Successful promotes to the next; an Inconclusive end pauses the
rollout for a human (Argo Rollouts' behaviour). The 100 % step is the promotion itself:
there is no baseline left to compare with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import polars as pl

from tracelens.canary.cohort import CohortData, to_ns
from tracelens.canary.judge import Status, Verdict, judge
from tracelens.canary.rules import CanarySpec

StepOutcome = Literal["passed", "failed", "inconclusive", "promoted", "not reached", "no data"]


@dataclass(frozen=True, slots=True)
class Check:
    at: datetime
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class StepResult:
    index: int
    weight: float
    start: datetime
    end: datetime
    outcome: StepOutcome
    checks: tuple[Check, ...]
    canary_requests: int
    baseline_requests: int

    @property
    def canary_share(self) -> float:
        total = self.canary_requests + self.baseline_requests
        return self.canary_requests / total if total else math.nan

    @property
    def final(self) -> Verdict | None:
        return self.checks[-1].verdict if self.checks else None


@dataclass(frozen=True, slots=True)
class ProgressiveResult:
    verdict: Status
    summary: str
    steps: tuple[StepResult, ...]
    first_failed_step: int | None
    rollback_at: datetime | None
    promoted_at: datetime | None
    start: datetime

    def steps_frame(self) -> pl.DataFrame:
        """One row per step: step, weight, start, end, outcome, canary/baseline requests,
        observed canary share, checks, last check's verdict and score."""
        rows = [
            {
                "step": st.index + 1, "weight": st.weight, "start": st.start, "end": st.end, "outcome": st.outcome,
                "canary_requests": st.canary_requests, "baseline_requests": st.baseline_requests,
                "canary_share": None if math.isnan(st.canary_share) else st.canary_share, "checks": len(st.checks),
                "verdict": st.final.verdict if st.final else None, "score": st.final.score if st.final else None,
            }
            for st in self.steps
        ]
        schema = {"step": pl.Int64, "weight": pl.Float64, "start": pl.Datetime("us", "UTC"), "end": pl.Datetime("us", "UTC"),
                  "outcome": pl.String, "canary_requests": pl.Int64, "baseline_requests": pl.Int64, "canary_share": pl.Float64,
                  "checks": pl.Int64, "verdict": pl.String, "score": pl.Float64}
        return pl.DataFrame(rows, schema=schema)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "summary": self.summary,
            "start": self.start.isoformat(),
            "first_failed_step": self.first_failed_step,
            "rollback_at": self.rollback_at.isoformat() if self.rollback_at else None,
            "promoted_at": self.promoted_at.isoformat() if self.promoted_at else None,
            "steps": [
                {
                    "step": s.index + 1,
                    "weight": s.weight,
                    "start": s.start.isoformat(),
                    "end": s.end.isoformat(),
                    "outcome": s.outcome,
                    "canary_requests": s.canary_requests,
                    "baseline_requests": s.baseline_requests,
                    "canary_share": None if math.isnan(s.canary_share) else s.canary_share,
                    "checks": [{"at": c.at.isoformat(), **_check_dict(c.verdict)} for c in s.checks],
                }
                for s in self.steps
            ],
        }


def _check_dict(verdict: Verdict) -> dict[str, Any]:
    payload = verdict.to_dict()
    return {k: payload[k] for k in ("verdict", "score", "classification", "reason", "results")}


def default_start(canary: CohortData) -> datetime | None:
    """The minute the first canary request started in (when no start is given)."""
    if canary.n == 0:
        return None
    first = datetime.fromtimestamp(int(canary.start_ns[0]) // 1_000_000_000, tz=timezone.utc)
    return first.replace(second=0, microsecond=0)


def _hhmm(moment: datetime) -> str:
    return moment.strftime("%H:%M") if moment.second == 0 else moment.strftime("%H:%M:%S")


def judge_steps(
    baseline: CohortData,
    canary: CohortData,
    spec: CanarySpec,
    *,
    start: datetime | None = None,
    service: str | None = None,
) -> ProgressiveResult:
    """Judge ``spec.steps`` one after the other from ``start`` (spec.start, else the minute
    of the first canary request)."""
    begin = start or spec.start or default_start(canary)
    if begin is None:
        empty = datetime.fromtimestamp(0, tz=timezone.utc)
        return ProgressiveResult("Inconclusive", "no canary requests: nothing to judge", (), None, None, None, empty)
    interval = timedelta(seconds=spec.interval_seconds)
    steps: list[StepResult] = []
    t = begin
    verdict: Status = "Successful"
    first_failed: int | None = None
    rollback_at: datetime | None = None
    promoted_at: datetime | None = None
    stopped = False
    for index, step in enumerate(spec.steps):
        window = timedelta(seconds=step.window_seconds)
        end = t + window
        if stopped:
            steps.append(StepResult(index, step.weight, t, end, "not reached", (), 0, 0))
            t = end
            continue
        if step.weight >= 100.0:
            promoted_at = t
            steps.append(StepResult(index, step.weight, t, end, "promoted", (), 0, 0))
            stopped = True
            t = end
            continue
        checks: list[Check] = []
        outcome: StepOutcome = "no data"
        at = t
        while at < end:
            at = min(at + interval, end)
            since_ns, until_ns = to_ns(t), to_ns(at)
            seconds = (at - t).total_seconds()
            verdict_now = judge(
                baseline.window(since_ns, until_ns), canary.window(since_ns, until_ns), spec,
                service=service, window_seconds=seconds, traffic_ratio=step.weight / (100.0 - step.weight),
            )
            checks.append(Check(at, verdict_now))
            if verdict_now.verdict == "Failed":
                outcome = "failed"
                break
        whole_b = baseline.window(to_ns(t), to_ns(checks[-1].at))
        whole_c = canary.window(to_ns(t), to_ns(checks[-1].at))
        if outcome != "failed":
            last = checks[-1].verdict.verdict
            outcome = "passed" if last == "Successful" else ("no data" if whole_c.n == 0 else "inconclusive")
        steps.append(StepResult(index, step.weight, t, end, outcome, tuple(checks), whole_c.n, whole_b.n))
        if outcome == "failed":
            verdict, first_failed, rollback_at, stopped = "Failed", index, checks[-1].at, True
        elif outcome in ("inconclusive", "no data"):
            verdict, stopped = "Inconclusive", True
        t = end
    return ProgressiveResult(verdict, _summary(steps, first_failed, rollback_at, promoted_at), tuple(steps), first_failed, rollback_at, promoted_at, begin)


def _summary(steps: list[StepResult], first_failed: int | None, rollback_at: datetime | None, promoted_at: datetime | None) -> str:
    lines = []
    for s in steps:
        if s.outcome == "not reached":
            continue
        head = f"{_hhmm(s.start)} step {s.index + 1}: {s.weight:g}% of traffic"
        if s.outcome == "promoted":
            lines.append(f"{head}: promoted (every earlier step passed)")
            continue
        share = "" if math.isnan(s.canary_share) else f", observed {100 * s.canary_share:.1f}% ({s.canary_requests} canary requests)"
        final = s.final
        reason = f": {final.reason}" if final is not None else ""
        if s.outcome == "failed" and rollback_at is not None:
            failed = [r.metric for r in final.results if r.status == "Failed"] if final else []
            lines.append(f"{head}{share}: FAILED at {_hhmm(rollback_at)} on {', '.join(failed)} -> rollback at {_hhmm(rollback_at)}")
        else:
            lines.append(f"{head}{share}: {s.outcome}{reason}")
    if first_failed is None and promoted_at is None and steps and steps[-1].outcome == "passed":
        lines.append("every step passed")
    return "\n".join(lines)
