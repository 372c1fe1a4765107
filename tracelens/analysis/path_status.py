"""Why a span is, or is not, on the tree the critical-path walk follows.

Shared vocabulary of the per-trace reference (critical_path.py) and the bulk kernels
(columnar.py): both must give every span the same status.
"""

from __future__ import annotations

from enum import IntEnum


class PathStatus(IntEnum):
    INSIDE = 0  # within its (clipped) parent: walkable as is
    CLIPPED = 1  # overflowed its parent: walkable after clipping to the parent
    OUTSIDE_PARENT = 2  # entirely outside its parent: off the path, reported
    NON_BLOCKING = 3  # CONSUMER child of a PRODUCER: async, never waited for
    UNDER_EXCLUDED = 4  # descendant of an OUTSIDE_PARENT or NON_BLOCKING span
    OTHER_ROOT = 5  # in the subtree of a root that is not the trace's primary root
    DUPLICATE = 6  # a later row repeating a span id already seen (dropped)


#: statuses of spans the walk can visit
WALKABLE = (PathStatus.INSIDE, PathStatus.CLIPPED)

STATUS_NAMES: tuple[str, ...] = tuple(status.name.lower() for status in PathStatus)

PRODUCER = "producer"
CONSUMER = "consumer"
