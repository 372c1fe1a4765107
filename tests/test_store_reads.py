"""Read-only readers of a store that is being written: the WAL part of each read."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

import tracelens
from tracelens import schema as s
from tracelens.store import Store
from tracelens.testing import make_spans


def test_a_reader_decodes_each_unflushed_wal_record_once(tmp_path, monkeypatch):
    frames = [
        make_spans([{"trace": f"t{n}", "span": f"s{n}", "service": "web", "start": n, "end": n + 1}],
                   epoch=datetime(2026, 3, 10, tzinfo=UTC))
        for n in range(3)
    ]
    with Store.open(tmp_path) as writer:
        writer.append(frames[0])
        writer.append(frames[1])
        reader = tracelens.open(tmp_path)
        decoded: list[int] = []
        original = Store._decode_or_count

        def counting(self, record):  # type: ignore[no-untyped-def]
            decoded.append(record.seq)
            return original(self, record)

        monkeypatch.setattr(Store, "_decode_or_count", counting)
        assert reader.spans().collect().height == 2
        assert reader.spans(service="web").collect().height == 2
        assert len(decoded) == 2  # the second read used the decoded frames
        writer.append(frames[2])
        assert sorted(reader.spans().collect()[s.SPAN_ID]) == sorted(pl.concat(frames)[s.SPAN_ID])
        assert len(decoded) == 3  # only the new record
        writer.flush()
        assert reader.spans().collect().height == 3  # now from the table
        assert reader._decoded == {}
