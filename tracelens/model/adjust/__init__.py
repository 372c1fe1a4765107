"""tracelens.model.adjust: pure LazyFrame -> LazyFrame adjusters, one per module,
composed by tracelens.model.adjust.sequence."""

from tracelens.model.adjust.clock_skew import (
    CLOCK_SKEW_SHIFT,
    CLOCK_SKEW_WARNING,
    DEFAULT_MAX_DELTA,
    clock_skew_warnings,
    correct_clock_skew,
)
from tracelens.model.adjust.dedup import deduplicate
from tracelens.model.adjust.sequence import adjust, run_sequence, standard_adjusters

__all__ = [
    "CLOCK_SKEW_SHIFT",
    "CLOCK_SKEW_WARNING",
    "DEFAULT_MAX_DELTA",
    "adjust",
    "clock_skew_warnings",
    "correct_clock_skew",
    "deduplicate",
    "run_sequence",
    "standard_adjusters",
]
