"""Consumers linked to producers: the join on parsed integer ids gives exactly the pairs
of the join on the id strings (including duplicate and non-hex ids)."""

from __future__ import annotations

import polars as pl

from tracelens import schema as s
from tracelens.analysis.service_graph import _linked_producers, _span_arrays, GRAPH_COLUMNS
from tracelens.demo.topology import synthetic_topology


def test_integer_and_string_link_joins_agree():
    spans = synthetic_topology(400, seed=7).select(GRAPH_COLUMNS)
    # a duplicated producer row, and a link naming a span that is not in the data
    producer = spans.filter(pl.col(s.KIND) == "producer").head(1)
    bent = spans.filter(pl.col(s.KIND) == "consumer").head(1).with_columns(
        pl.col(s.LINKS).list.eval(pl.element().struct.with_fields(pl.lit("NOT-HEX").alias("span_id"))))
    frame = pl.concat([spans, producer, bent])
    sp = _span_arrays(frame)
    assert sp.ids is not None
    by_ints = _linked_producers(frame, sp)
    by_strings = _linked_producers(frame)
    assert by_ints.height == by_strings.height > 400
    assert by_ints.sort("consumer", "producer").equals(by_strings.sort("consumer", "producer"))
