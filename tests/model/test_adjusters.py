"""Adjusters: deduplication, and clock skew against Jaeger's clockskew_test cases."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from tracelens import schema as s
from tracelens.model.adjust import CLOCK_SKEW_SHIFT, CLOCK_SKEW_WARNING, adjust, clock_skew_warnings, deduplicate
from tracelens.model.problems import WarningKind
from tracelens.testing import DEFAULT_EPOCH, make_trace, span_id_for

CASES = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "testdata" / "clock_skew_cases.json").read_text())["cases"]
EPOCH_MS = int(DEFAULT_EPOCH.timestamp()) * 1000


def case_frame(spans) -> pl.DataFrame:
    rows = []
    for sid, parent, start, dur, host, _ in spans:
        event = [(start + 5, "e1", {}), (start + 10, "e2", {})] if sid == 2 else []
        rows.append({"span": str(sid), "parent": str(parent) if parent else None, "start": start, "dur": dur,
                     "resource": {"host.name": host}, "events": event})
    return make_trace(rows)


@pytest.mark.parametrize("case", CASES, ids=[c["d"] for c in CASES])
def test_jaeger_clock_skew_case(case):
    max_delta = timedelta(milliseconds=case.get("max_delta", 1000))
    out = adjust(case_frame(case["spans"]), clock_skew=True, max_delta=max_delta).collect()
    starts = dict(zip(out[s.SPAN_ID], (out[s.START].dt.epoch("ms") - EPOCH_MS).to_list(), strict=True))
    for sid, _, start, dur, _, expected in case["spans"]:
        assert starts[span_id_for(str(sid))] == expected
        row = out.filter(pl.col(s.SPAN_ID) == span_id_for(str(sid))).row(0, named=True)
        assert row[CLOCK_SKEW_SHIFT] == timedelta(milliseconds=expected - start)
        assert row[s.DURATION] == timedelta(milliseconds=dur)
    warnings = clock_skew_warnings(out)
    assert all(w.kind == WarningKind.CLOCK_SKEW for w in warnings)
    text = " | ".join(w.message for w in warnings)
    if "warning mentions a delta of 35ms" in case["d"]:
        assert "35ms" in text and "max delta" in text
    if "delta of -45ms" in case["d"]:
        assert "-45ms" in text
    if "disabled" in case["d"]:
        assert "disabled" in text
    if "not in trace" in case["d"]:
        assert "not in the trace" in text
    moved = [sid for sid, _, start, _, _, expected in case["spans"] if expected != start]
    assert len([w for w in warnings if "adjusted by" in w.message]) == len(moved)


def test_events_move_with_their_span():
    case = next(c for c in CASES if c["d"].startswith("starts before"))
    out = adjust(case_frame(case["spans"]), clock_skew=True).collect()
    events = out.filter(pl.col(s.SPAN_ID) == span_id_for("2"))[s.EVENTS].to_list()[0]
    times = [int((e["time"].timestamp() * 1000)) - EPOCH_MS for e in events]
    assert times == [40, 45]


def test_clock_skew_is_opt_in_and_dedup_keeps_first():
    frame = make_trace([
        {"span": "a", "start": 0, "end": 10, "name": "first"},
        {"span": "a", "start": 0, "end": 20, "name": "again"},
        {"span": "b", "parent": "a", "start": -5, "end": 1, "resource": {"host.name": "other"}},
    ])
    out = adjust(frame).collect()
    assert out[s.NAME].to_list() == ["first", "b"] and CLOCK_SKEW_SHIFT not in out.columns
    assert deduplicate(frame.lazy()).collect().height == 2
    skewed = adjust(frame, clock_skew=True).collect()
    assert skewed[CLOCK_SKEW_WARNING].null_count() == 1
