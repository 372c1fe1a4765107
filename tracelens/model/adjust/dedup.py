"""Adjuster: one row per (trace_id, span_id).

The same span can arrive twice (exporter retries, a replayed WAL, overlapping imports).
The first row seen wins -- the same rule as TraceTree and the bulk analysis kernels, so
adjusting first or not gives the same analysis.
"""

from __future__ import annotations

import polars as pl

from tracelens import schema as s


def deduplicate(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Drop later rows repeating a (trace_id, span_id) already seen; order is kept."""
    return frame.unique(subset=[s.TRACE_ID, s.SPAN_ID], keep="first", maintain_order=True)
