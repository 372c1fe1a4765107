"""Crash safety and cross-process reads, with real processes killed by SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
from deltalake import DeltaTable

import tracelens
from tracelens import schema as s
from tracelens.config import StoreConfig
from tracelens.store import Store
from tracelens.store.store import CRASH_POINT_ENV
from tracelens.testing import make_spans

CHILD_PRELUDE = """
import os, signal, sys
from tracelens.store import Store
from tracelens.testing import make_spans

def frame(prefix, n):
    rows = []
    for i in range(n):
        rows.append({"trace": f"{prefix}-{i}", "span": f"{prefix}-{i}/root", "service": "web", "start": i, "end": i + 10})
        rows.append({"trace": f"{prefix}-{i}", "span": f"{prefix}-{i}/child", "parent": f"{prefix}-{i}/root",
                     "service": "db", "start": i + 1, "end": i + 5, "kind": "client"})
    return make_spans(rows)
"""


def child_frame(prefix: str, n: int) -> pl.DataFrame:
    namespace: dict[str, object] = {}
    exec(CHILD_PRELUDE, namespace)  # the very same builder the child uses
    return namespace["frame"](prefix, n)  # type: ignore[operator]


def run_child(code: str, data: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD_PRELUDE + code, str(data)],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


def physical_rows(data: Path) -> pl.DataFrame:
    return pl.DataFrame(DeltaTable(str(data / "table")).to_pyarrow_table())


def test_kill_between_table_commit_and_wal_cleanup_stores_nothing_twice(tmp_path):
    code = """
store = Store.open(sys.argv[1])
store.append(frame("a", 20))
store.append(frame("b", 20))
store.flush()   # the crash point kills the process right after the table commit
print("not reached")
"""
    result = run_child(code, tmp_path, {CRASH_POINT_ENV: "after-table-commit"})
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert "not reached" not in result.stdout
    assert list((tmp_path / "wal").glob("*.wal")), "the WAL must still hold the flushed records"
    expected = pl.concat([child_frame("a", 20), child_frame("b", 20)])
    assert physical_rows(tmp_path).height == expected.height

    with Store.open(tmp_path) as store:
        assert store.stats()["replayed_records"] == 0  # the table's mark says: already there
        assert store.flush() == 0
        assert list((tmp_path / "wal").glob("*.wal")) == []  # cleanup finished on reopen
    assert physical_rows(tmp_path).height == expected.height  # physically once, not just on read
    read = tracelens.open(tmp_path).spans().collect()
    assert read.sort(s.SPAN_ID).equals(expected.sort(s.SPAN_ID))


def test_acknowledged_but_unflushed_spans_survive_sigkill(tmp_path):
    code = """
with Store.open(sys.argv[1]) as store:   # first life: flushed and cleaned up, WAL empty
    store.append(frame("first", 5))
store = Store.open(sys.argv[1])
store.append(frame("second", 5))          # acknowledged = durable in the WAL
print("acked", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    result = run_child(code, tmp_path)
    assert result.returncode == -signal.SIGKILL and result.stdout.strip() == "acked", result.stderr
    expected = pl.concat([child_frame("first", 5), child_frame("second", 5)])
    with Store.open(tmp_path) as store:
        assert store.stats()["replayed_spans"] == 10
        got = store.spans().collect()
    assert got.sort(s.SPAN_ID).equals(expected.sort(s.SPAN_ID))
    assert physical_rows(tmp_path).height == expected.height


def test_kill_during_a_write_leaves_a_torn_tail_that_is_reported_and_cut(tmp_path):
    code = """
store = Store.open(sys.argv[1])
store.append(frame("ok", 3))
segment = sorted(p for p in (store.path / "wal").glob("*.wal"))[-1]
with open(segment, "ab") as fh:               # the start of a record, then death
    fh.write(b"TLW1" + bytes(30))
os.kill(os.getpid(), signal.SIGKILL)
"""
    result = run_child(code, tmp_path)
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert tracelens.open(tmp_path).spans().collect().height == 6  # readers tolerate the torn tail
    with Store.open(tmp_path) as store:
        stats = store.stats()
        assert stats["wal_corrupt_tails"] == 1 and stats["replayed_spans"] == 6
        store.append(child_frame("after", 2))
    assert tracelens.open(tmp_path).spans().collect().height == 10


READER = """
import json, time
import polars as pl
import tracelens
from tracelens import schema as s
counts, dups, errors = [], 0, []
open(os.path.join(sys.argv[1], "reader-ready"), "w").close()
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        frame = tracelens.open(sys.argv[1]).spans().collect()
    except Exception as exc:
        errors.append(repr(exc))
        continue
    dups += frame.height - frame.select(s.TRACE_ID, s.SPAN_ID).n_unique()
    if s.problems(frame):
        errors.append(str(s.problems(frame)))
    counts.append(frame.height)
    if os.path.exists(os.path.join(sys.argv[1], "writer-done")) and counts[-1] == 200:
        break
print(json.dumps({"counts": counts, "dups": dups, "errors": errors[:5]}))
"""


def test_a_reader_process_sees_a_consistent_store_while_a_writer_writes(tmp_path):
    config = StoreConfig(path=tmp_path, flush_interval_seconds=0.02, flush_batch_bytes=30_000, max_wal_segment_bytes=20_000)
    store = Store.open(tmp_path, config)
    store.start_flusher()
    reader = subprocess.Popen(
        [sys.executable, "-c", CHILD_PRELUDE + READER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )

    def write() -> None:
        for i in range(20):  # 20 appends x 10 spans, racing flushes and segment deletions
            store.append(make_spans([{"trace": f"w{i}", "span": f"w{i}-{j}", "start": j, "end": j + 1} for j in range(10)]))
            time.sleep(0.05)

    for _ in range(600):  # the reader's imports take a while on a busy machine
        if (tmp_path / "reader-ready").exists():
            break
        time.sleep(0.1)
    writer = threading.Thread(target=write)
    writer.start()
    writer.join()
    store.close()
    (tmp_path / "writer-done").touch()
    out, _ = reader.communicate(timeout=90)
    report = json.loads(out)
    assert report["errors"] == [] and report["dups"] == 0
    counts = report["counts"]
    assert counts[-1] == 200
    assert counts == sorted(counts), "a span once visible must stay visible (no gap during a flush)"
    assert len(set(counts)) > 2, "the reader should have seen the store grow"
