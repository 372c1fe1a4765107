"""tracelens.store: durable span storage (write-ahead log + Delta Lake table) and its read API.

    store = Store.open("tracelens-data")          # writer (one process per data dir)
    store.append(frame)                            # returns once fsync'd in the WAL
    tracelens.open("tracelens-data").spans(since="1h", service="checkout")   # reader
"""

from __future__ import annotations

from tracelens.config import StoreConfig
from tracelens.store.store import Store, open_store
from tracelens.store.summary import trace_summaries

__all__ = ["Store", "StoreConfig", "open_store", "trace_summaries"]
