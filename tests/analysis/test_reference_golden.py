"""The per-trace reference implementations against Jaeger's golden cases."""

from __future__ import annotations

import pytest

from analysis_golden import expected_sections, jaeger_frame, load
from tracelens.analysis.critical_path import critical_path_of_tree
from tracelens.analysis.self_time import span_self_time
from tracelens.model import TraceTree
from tracelens.testing import DEFAULT_EPOCH

EPOCH_US = int(DEFAULT_EPOCH.timestamp()) * 1_000_000
CP = load("critical_path/jaeger_ui_cases.json")
DEFECTS = CP["known_jaeger_defects_tracelens_fixes"]


def sections_us(frame) -> list[tuple[str, int, int]]:
    tree = TraceTree(frame)
    return [(sec.span_id, sec.start // 1000 - EPOCH_US, sec.end // 1000 - EPOCH_US) for sec in critical_path_of_tree(tree)]


@pytest.mark.parametrize("name", sorted(CP["cases"]))
def test_jaeger_ui_case(name):
    case = CP["cases"][name]
    assert sections_us(jaeger_frame(case["spans"])) == expected_sections(case["expect"])


@pytest.mark.parametrize("name", ["touching_siblings", "start_at_zero"])
def test_jaeger_defect_fixed(name):
    case = DEFECTS[name]
    assert sections_us(jaeger_frame(case["spans"])) == expected_sections(case["tracelens"])


@pytest.mark.parametrize("case", load("self_time_cases.json")["cases"])
def test_self_time_case(case):
    (start, end), children, expected = case
    assert span_self_time((start, end), [tuple(c) for c in children]) == expected
