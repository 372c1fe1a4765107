"""Load the shared golden cases (../shared/testdata) as span frames."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from tracelens.testing import make_trace, span_id_for

# copies of ../shared/testdata (Jaeger's unit-test cases), kept in the repository
TESTDATA = Path(__file__).resolve().parents[2] / "fixtures" / "testdata"


def load(name: str) -> dict:
    return json.loads((TESTDATA / name).read_text())


def jaeger_frame(spans: list[dict]) -> pl.DataFrame:
    """A case's spans (times in microseconds) as a span frame; labels are span ids."""
    rows = [
        {"span": sp["id"], "parent": sp.get("parent"), "start": sp["start"], "dur": sp["dur"],
         "kind": sp.get("kind", "internal"), "service": "svc", "name": sp["id"]}
        for sp in spans
    ]
    return make_trace(rows, unit="us")


def expected_sections(expect: list[list]) -> list[tuple[str, int, int]]:
    return [(span_id_for(label), start, end) for label, start, end in expect]
