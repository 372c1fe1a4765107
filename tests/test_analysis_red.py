from datetime import datetime, timezone

import polars as pl

from tracelens.analysis.red import red
from tracelens.testing import make_spans


def _frame():
    rows = []
    for t in range(10):  # 10 requests to web, one second apart, 3 of them errors
        rows.append({"trace": t, "span": f"r{t}", "service": "web", "name": "GET /", "kind": "server",
                     "start": t * 1000, "dur": 100 + t, "status": "error" if t % 4 == 0 else "unset"})
        rows.append({"trace": t, "span": f"c{t}", "parent": f"r{t}", "service": "web", "name": "call db",
                     "kind": "client", "start": t * 1000 + 1, "dur": 50})
        rows.append({"trace": t, "span": f"d{t}", "parent": f"c{t}", "service": "db", "name": "query",
                     "kind": "server", "start": t * 1000 + 2, "dur": 40})
    return make_spans(rows)


def test_red_per_service_counts_entry_spans_only():
    out = red(_frame())
    web = out.filter(pl.col("service_name") == "web").row(0, named=True)
    assert web["calls"] == 10 and web["errors"] == 3  # the client spans are not entries
    assert web["error_rate"] == 0.3
    assert abs(web["rate_per_s"] - 10 / 9.002) < 1e-9  # entry spans start from 0 s to 9.002 s
    assert web["p99"].total_seconds() * 1000 == 109
    assert out["service_name"].to_list() == ["web", "db"]  # higher impact first


def test_red_with_window_and_all_spans():
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    end = datetime(2026, 1, 1, 0, 0, 20, tzinfo=timezone.utc)
    out = red(_frame(), by=("service_name", "name"), entry_only=False, window=(start, end))
    call = out.filter(pl.col("name") == "call db").row(0, named=True)
    assert call["calls"] == 10 and call["rate_per_s"] == 0.5
