"""tracelens.model: traces assembled into trees (TraceTree) and the adjusters that clean
span frames before analysis."""

from tracelens.model.problems import TraceWarning, WarningKind
from tracelens.model.tree import Link, TraceTree, trees

__all__ = ["Link", "TraceTree", "TraceWarning", "WarningKind", "trees"]
