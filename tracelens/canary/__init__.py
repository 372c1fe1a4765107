"""tracelens.canary: is the new version worse than the old one, judged from spans.

Modules, in the order data flows through them:

* ``rules``: the rule file (the seed's ``canary_rules`` YAML, literally) -> CanarySpec;
* ``cohort``: baseline/canary filter expressions -> per-request arrays (entry spans);
* ``judge``: per-rule Successful/Failed/Inconclusive with the numbers in words, Kayenta
  score, overall verdict (statistics from tracelens.analysis.stats);
* ``steps``: progressive delivery, step by step, first failing step and rollback time;
* ``api``: the library calls (compare_cohorts, progressive_rollout) and the pure function
  behind ``GET /api/v1/canary`` (canary_verdict_json);
* ``synthetic``: a vectorised generator of the seed's rollout as spans (tests, benchmarks).

See docs/canary.md.
"""
