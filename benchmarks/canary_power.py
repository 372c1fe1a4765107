"""False alarms and detection of the progressive canary judgement, over many seeds.

    .venv/bin/python benchmarks/canary_power.py [--identical 60 --identical-rps 2] [--regressed 20 --regressed-rps 5]

Generates the seed's rollout (5 % -> 25 % -> 50 %, 30 min each, checks every 5 min, the
seed's rules) with identical versions and with v2.0's regression from the 50 % step, and
prints how the rollouts end: verdict, rollback time, and which rules failed at the
failing check. Baseline for comparison in the same run: the per-check false-alarm rate
if the latency rule used Mann-Whitney alone (no effect-size gate), counted on the same
checks.
"""

from __future__ import annotations

import argparse
from collections import Counter

from tracelens.canary.api import progressive_rollout
from tracelens.canary.synthetic import CanaryScenario, generate_canary_spans

BASELINE, CANARY = 'service.version = "1.4"', 'service.version = "2.0"'


def run(seeds: range, rps: float, regression: bool) -> tuple[Counter, int, int]:
    endings: Counter = Counter()
    checks = mw_only_alarms = 0
    for seed in seeds:
        result = progressive_rollout(
            generate_canary_spans(CanaryScenario(seed=seed, regression=regression, requests_per_second=rps)),
            baseline=BASELINE, canary=CANARY,
        )
        failing = ()
        if result.first_failed_step is not None:
            final = result.steps[result.first_failed_step].final
            failing = tuple(r.metric for r in final.results if r.status == "Failed") if final else ()
        endings[(result.verdict, result.rollback_at.strftime("%H:%M") if result.rollback_at else "-", failing)] += 1
        for step in result.steps:
            for check in step.checks:
                for r in check.verdict.results:
                    if r.metric == "latency_p95" and "mann_whitney_p" in r.details:
                        checks += 1
                        mw_only_alarms += r.details["mann_whitney_p"] < 0.05
    return endings, checks, mw_only_alarms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--identical", type=int, default=60)
    parser.add_argument("--identical-rps", type=float, default=2.0)
    parser.add_argument("--regressed", type=int, default=20)
    parser.add_argument("--regressed-rps", type=float, default=5.0)
    args = parser.parse_args()
    endings, checks, mw = run(range(1000, 1000 + args.identical), args.identical_rps, regression=False)
    print(f"identical versions, {args.identical} seeds at {args.identical_rps} req/s: {dict(endings)}")
    print(f"  latency checks: {checks}; Mann-Whitney alone (p < 0.05, canary slower) would have alarmed on {mw} "
          f"({100 * mw / max(checks, 1):.1f}%); the gated rules: the Failed count above")
    endings, _, _ = run(range(2000, 2000 + args.regressed), args.regressed_rps, regression=True)
    print(f"v2.0 regression from the 50% step, {args.regressed} seeds at {args.regressed_rps} req/s: {dict(endings)}")


if __name__ == "__main__":
    main()
