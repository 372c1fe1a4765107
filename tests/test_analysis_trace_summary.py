import random

import polars as pl
from tracelens import schema as s
from tracelens.analysis.latency_share import bottlenecks
from tracelens.analysis.trace_summary import summarize_trace
from tracelens.testing import make_trace, span_id_for


def test_checkout_trace_bottleneck_line(checkout_spans):
    summary = summarize_trace(checkout_spans)
    assert summary.bottleneck_line() == "credit-card-api (82% of total time)"
    assert summary.duration_ns == 2_190_000_000


def _random_trace(rng: random.Random, n: int) -> pl.DataFrame:
    rows = [{"span": "s0", "service": "svc0", "start": 0, "end": rng.randint(50, 500)}]
    for i in range(1, n):
        parent = rng.randrange(i)
        start = rng.randint(0, 500)
        rows.append({"span": f"s{i}", "parent": f"s{parent}", "service": f"svc{rng.randrange(4)}",
                     "start": start, "end": start + rng.randint(0, 200)})
    return make_trace(rows, trace=f"t{n}-{rng.random()}")


def test_single_trace_summary_agrees_with_bulk_bottlenecks():
    rng = random.Random(7)
    for _ in range(40):
        spans = _random_trace(rng, rng.randint(1, 25))
        summary = summarize_trace(spans)
        bulk = bottlenecks(spans).row(0, named=True)
        assert summary.bottleneck == bulk[s.SERVICE_NAME]
        assert abs(summary.bottleneck_share - bulk["share"]) < 1e-12
        assert summary.critical_span_ids <= set(spans[s.SPAN_ID].to_list())
    assert span_id_for("s0") in summarize_trace(make_trace([{"span": "s0", "start": 0, "end": 5}])).critical_span_ids
