"""Adjusters composed in order (Jaeger's adjuster pipeline is the model)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial

import polars as pl

from tracelens.model.adjust.clock_skew import DEFAULT_MAX_DELTA, correct_clock_skew
from tracelens.model.adjust.dedup import deduplicate

Adjuster = Callable[[pl.LazyFrame], pl.LazyFrame]


def run_sequence(frame: pl.DataFrame | pl.LazyFrame, adjusters: Sequence[Adjuster]) -> pl.LazyFrame:
    """Apply each adjuster to the output of the previous one."""
    lf = frame.lazy()
    for adjuster in adjusters:
        lf = adjuster(lf)
    return lf


def standard_adjusters(*, clock_skew: bool = False, max_delta: timedelta = DEFAULT_MAX_DELTA) -> list[Adjuster]:
    """The default pipeline. Order matters: deduplicate first, because clock-skew
    correction links each span to *one* parent row."""
    adjusters: list[Adjuster] = [deduplicate]
    if clock_skew:
        adjusters.append(partial(correct_clock_skew, max_delta=max_delta))
    return adjusters


def adjust(
    frame: pl.DataFrame | pl.LazyFrame, clock_skew: bool = False, max_delta: timedelta = DEFAULT_MAX_DELTA
) -> pl.LazyFrame:
    """Clean a span frame before analysis: deduplicate; with ``clock_skew=True`` also
    correct clock skew (bounded by ``max_delta``; shifts and warnings kept in columns)."""
    return run_sequence(frame, standard_adjusters(clock_skew=clock_skew, max_delta=max_delta))
