"""tracelens: a distributed-tracing analyzer.

Public API (imported lazily so that ``tracelens --help`` starts fast)::

    store = tracelens.open("tracelens-data")
    spans = store.spans(since="1h", service="checkout")   # polars LazyFrame, span contract
    tracelens.critical_path(spans)                         # frames in, frames out

Every name in ``__all__`` is importable from here; tests/test_public_api.py checks it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> "module:attribute". Add a line when a capability lands (keep sorted).
_LAZY: dict[str, str] = {
    "Receiver": "tracelens.receiver:Receiver",
    "SPAN_SCHEMA": "tracelens.schema:SPAN_SCHEMA",
    "ServiceGraph": "tracelens.analysis.service_graph:ServiceGraph",
    "Store": "tracelens.store:Store",
    "TraceTree": "tracelens.model.tree:TraceTree",
    "TracelensError": "tracelens.errors:TracelensError",
    "bottlenecks": "tracelens.analysis.latency_share:bottlenecks",
    "compare_cohorts": "tracelens.canary.api:compare_cohorts",
    "critical_path": "tracelens.analysis.critical_path:critical_path",
    "decode_file": "tracelens.ingest:decode_file",
    "diff_cohorts": "tracelens.analysis.diff:diff_cohorts",
    "diff_traces": "tracelens.analysis.diff:diff_traces",
    "excluded_spans": "tracelens.analysis.critical_path:excluded_spans",
    "latency_bands": "tracelens.analysis.latency_share:latency_bands",
    "latency_share": "tracelens.analysis.latency_share:latency_share",
    "make_trace": "tracelens.testing:make_trace",
    "open": "tracelens.store:open_store",
    "parse_filter": "tracelens.filters:parse_filter",
    "progressive_rollout": "tracelens.canary.api:progressive_rollout",
    "self_time": "tracelens.analysis.self_time:self_time",
    "service_graph": "tracelens.analysis.service_graph:service_graph",
    "trees": "tracelens.model.tree:trees",
    "validate": "tracelens.schema:validate",
    "what_if": "tracelens.analysis.what_if:what_if",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    try:
        target = _LAZY[name]
    except KeyError:
        msg = f"module 'tracelens' has no attribute {name!r}"
        raise AttributeError(msg) from None
    module_name, _, attribute = target.partition(":")
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value  # cache: the next lookup is a plain attribute read
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
