"""Trace search agrees with the same query written by hand (property test on random data)."""

from datetime import timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracelens import schema as s
from tracelens.analysis.search import TraceQuery, search_traces
from tracelens.testing import make_spans

SERVICES = ["web", "api", "db"]
NAMES = ["GET /", "query", "call"]


@st.composite
def span_frames(draw):
    rows = []
    for t in range(draw(st.integers(1, 12))):
        n = draw(st.integers(1, 6))
        root_dur = draw(st.integers(1, 500))
        rows.append({"trace": t, "span": "s0", "service": draw(st.sampled_from(SERVICES)), "name": draw(st.sampled_from(NAMES)),
                     "start": t * 1000, "dur": root_dur, "status": draw(st.sampled_from(["unset", "error"]))})
        for i in range(1, n):
            rows.append({"trace": t, "span": f"s{i}", "parent": f"s{draw(st.integers(0, i - 1))}",
                         "service": draw(st.sampled_from(SERVICES)), "name": draw(st.sampled_from(NAMES)),
                         "start": t * 1000 + draw(st.integers(0, 100)), "dur": draw(st.integers(0, 400)),
                         "status": draw(st.sampled_from(["unset", "unset", "error"]))})
    return make_spans(rows)


queries = st.builds(
    TraceQuery,
    service=st.none() | st.sampled_from(SERVICES),
    operation=st.none() | st.sampled_from(NAMES),
    min_span_duration=st.none() | st.integers(0, 400).map(lambda ms: timedelta(milliseconds=ms)),
    error=st.booleans(),
    min_duration=st.none() | st.integers(0, 500).map(lambda ms: timedelta(milliseconds=ms)),
    max_duration=st.none() | st.integers(0, 500).map(lambda ms: timedelta(milliseconds=ms)),
)


def _by_hand(frame: pl.DataFrame, q: TraceQuery) -> set[str]:
    matched = set()
    for trace_id, spans in frame.group_by(s.TRACE_ID):
        ok_span = any(
            (q.service is None or r[s.SERVICE_NAME] == q.service)
            and (q.operation is None or r[s.NAME] == q.operation)
            and (q.min_span_duration is None or r[s.DURATION] >= q.min_span_duration)
            and (not q.error or r[s.STATUS_CODE] == "error")
            for r in spans.to_dicts()
        )
        root = spans.filter(pl.col(s.PARENT_SPAN_ID).is_null()).row(0, named=True)
        ok_root = (q.min_duration is None or root[s.DURATION] >= q.min_duration) and (
            q.max_duration is None or root[s.DURATION] <= q.max_duration)
        if ok_span and ok_root:
            matched.add(trace_id[0])
    return matched


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=span_frames(), query=queries, limit=st.integers(1, 5))
def test_search_matches_hand_written_query(frame, query, limit):
    table, total = search_traces(frame, query, sort="duration", limit=limit)
    expected = _by_hand(frame, query)
    assert total == len(expected)
    everything, _ = search_traces(frame, query, sort="duration")
    assert set(everything[s.TRACE_ID].to_list()) == expected
    durations = everything[s.DURATION].to_list()
    assert durations == sorted(durations, reverse=True)
    assert table.height == min(limit, len(expected))
    counts = dict(frame.group_by(s.TRACE_ID).len().iter_rows())
    assert all(row["span_count"] == counts[row[s.TRACE_ID]] for row in everything.to_dicts())


def test_where_expression_and_bad_sort():
    frame = make_spans([{"trace": 1, "span": "a", "start": 0, "dur": 5, "attrs": {"http.route": "/pay"}},
                        {"trace": 2, "span": "b", "start": 0, "dur": 5, "attrs": {"http.route": "/home"}}])
    table, total = search_traces(frame, TraceQuery(where='http.route = "/pay"'))
    assert total == 1 and table[s.TRACE_ID].to_list() == frame[s.TRACE_ID].head(1).to_list()
    try:
        search_traces(frame, sort="bogus")
    except ValueError as exc:
        assert "choose one of" in str(exc)
    else:
        raise AssertionError("bad sort accepted")
