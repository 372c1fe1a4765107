"""Typed records for problems found in trace data.

Problems in data are data (DESIGN.md, habit 2): a trace with a missing parent, a
duplicated span id or a cycle is still assembled and analysed; what was wrong, and what
tracelens did about it, is kept as a :class:`TraceWarning` next to the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class WarningKind(StrEnum):
    """What went wrong; the value is what frames and JSON output show."""

    MISSING_PARENT = "missing_parent"  # parent id not in the trace: the span became a root
    DUPLICATE_SPAN_ID = "duplicate_span_id"  # a later row with the same span id was dropped
    CYCLE = "cycle"  # parent pointers loop: one member was cut loose and became a root
    SEVERAL_ROOTS = "several_roots"  # more than one root: the primary one is analysed
    ZERO_DURATION = "zero_duration"
    NEGATIVE_DURATION = "negative_duration"  # end < start: treated as zero length
    OUTSIDE_PARENT = "outside_parent"  # child entirely outside its parent: off the critical path
    CLOCK_SKEW = "clock_skew"  # a clock-skew adjustment was applied, or refused


@dataclass(frozen=True, slots=True)
class TraceWarning:
    """One problem in one trace. ``span_id`` is None when it concerns the whole trace."""

    kind: WarningKind
    trace_id: str
    span_id: str | None
    message: str

    def __str__(self) -> str:
        where = f" span {self.span_id}" if self.span_id else ""
        return f"trace {self.trace_id}{where}: {self.kind.value}: {self.message}"
