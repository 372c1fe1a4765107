"""Random span frames with every awkward shape, built straight into columns (fast)."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import polars as pl

from tracelens import schema as s
from tracelens.testing import span_id_for, trace_id_for

EPOCH_NS = int(datetime(2026, 1, 1, tzinfo=timezone.utc).timestamp()) * 1_000_000_000
SERVICES = ("web", "auth", "pay", "db")


def frame_from_columns(cols: dict[str, list]) -> pl.DataFrame:
    raw = pl.DataFrame(
        {
            s.TRACE_ID: cols["trace"], s.SPAN_ID: cols["span"], s.PARENT_SPAN_ID: cols["parent"],
            s.NAME: cols["name"], s.KIND: cols["kind"], s.SERVICE_NAME: cols["service"],
            s.START: cols["start"], s.END: cols["end"],
        },
        schema_overrides={s.PARENT_SPAN_ID: pl.String, s.START: pl.Int64, s.END: pl.Int64},
    ).with_columns(
        pl.col(s.START).cast(pl.Datetime("ns", "UTC")),
        pl.col(s.END).cast(pl.Datetime("ns", "UTC")),
        pl.lit("unset").alias(s.STATUS_CODE),
    )
    return s.conform(raw).collect()


def random_traces(n_traces: int, seed: int, max_spans: int = 14) -> pl.DataFrame:
    """Traces with overlapping, touching, overflowing, outside-parent, zero and negative
    length, producer/consumer children, several roots, orphans, loops and duplicate ids.
    Times are small integers (ms) so that ties are frequent."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list] = {k: [] for k in ("trace", "span", "parent", "name", "kind", "service", "start", "end")}
    for t in range(n_traces):
        trace = trace_id_for(f"r{seed}-{t}")
        n = int(rng.integers(1, max_spans + 1))
        starts = [0]
        ends = [int(rng.integers(0, 40))]
        labels = [f"{seed}-{t}-0"]
        parents: list[str | None] = [None]
        for i in range(1, n):
            r = rng.random()
            if r < 0.75:
                parent = labels[int(rng.integers(0, i))]
            elif r < 0.82:
                parent = None  # another root
            elif r < 0.9:
                parent = f"missing-{seed}-{t}-{i}"  # orphan
            else:
                parent = f"{seed}-{t}-{int(rng.integers(0, n))}"  # any span: loops, self-parents
            pi = labels.index(parent) if parent in labels else 0
            base = starts[pi]
            start = base + int(rng.integers(-8, 30))
            shape = rng.random()
            if shape < 0.1:
                end = start  # zero length
            elif shape < 0.15:
                end = start - int(rng.integers(1, 5))  # negative
            else:
                end = start + int(rng.integers(1, 30))
            label = labels[int(rng.integers(0, i))] if rng.random() < 0.05 else f"{seed}-{t}-{i}"  # duplicate id
            labels.append(label)
            parents.append(parent)
            starts.append(start)
            ends.append(end)
        for label, parent, start, end in zip(labels, parents, starts, ends, strict=True):
            cols["trace"].append(trace)
            cols["span"].append(span_id_for(label))
            cols["parent"].append(span_id_for(parent) if parent is not None else None)
            cols["name"].append(f"op{int(rng.integers(0, 3))}")
            cols["kind"].append(s.SPAN_KINDS[int(rng.choice([1, 2, 3, 4, 5, 4, 5]))])
            cols["service"].append(SERVICES[int(rng.integers(0, len(SERVICES)))])
            cols["start"].append(EPOCH_NS + start * 1_000_000)
            cols["end"].append(EPOCH_NS + end * 1_000_000)
    return frame_from_columns(cols)
