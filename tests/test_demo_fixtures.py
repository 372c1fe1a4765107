"""The demo fixtures in fixtures/demo/: decodable by tracelens, true to their manifest,
showing what they claim, and reproducible by fixtures/generate.py."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest

from tracelens import schema as s
from tracelens.ingest import decode_otlp_json

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "demo"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
TRACES = [e for e in MANIFEST if "trace_id" in e]


def _spans(name: str) -> pl.DataFrame:
    result = decode_otlp_json((FIXTURES / name).read_bytes())
    assert result.rejected == 0, result.errors
    return result.spans


def _attr(frame: pl.DataFrame, key: str) -> pl.Series:
    return frame.select(s.attribute_value(pl.col(s.ATTRIBUTES), key)).to_series()


@pytest.mark.parametrize("entry", TRACES, ids=[e["file"] for e in TRACES])
def test_fixture_matches_its_manifest(entry):
    spans = _spans(entry["file"])
    s.validate(spans)
    assert spans[s.TRACE_ID].unique().to_list() == [entry["trace_id"]]
    assert spans.height == entry["spans"]
    root = spans.filter(pl.col(s.PARENT_SPAN_ID).is_null())
    assert root.height == 1 and root[s.NAME][0] == entry["root"]
    assert root[s.DURATION].dt.total_nanoseconds()[0] == entry["duration_ns"]
    assert sorted(spans[s.SERVICE_NAME].unique()) == entry["services"]
    assert (spans[s.STATUS_CODE] == "error").sum() == entry["errors"]


def test_trace_ids_are_distinct_across_fixtures():
    ids = [e["trace_id"] for e in TRACES]
    assert len(set(ids)) == len(ids)


def test_db_slowdown_fixture_bottleneck_is_the_database():
    from tracelens.analysis.latency_share import bottlenecks
    from tracelens.analysis.service_graph import service_graph

    spans = _spans("db_slowdown.json")
    top = bottlenecks(spans, by="operation").row(0, named=True)
    assert top[s.SERVICE_NAME] == "inventory-service" and "inventory.stock" in top[s.NAME]
    edges = service_graph(spans).edges.filter(pl.col("source") != "user")
    assert edges.row(0, named=True)["target"] == "postgresql/inventory"


def test_kill_pod_fixture_has_refused_connections_and_a_retry():
    spans = _spans("kill_pod.json")
    refused = spans.filter(_attr(spans, "error.type") == "connection_refused")
    assert refused.height == 2 and (refused[s.KIND] == "client").all()
    assert spans.join(refused.select(pl.col(s.SPAN_ID).alias(s.PARENT_SPAN_ID)), on=s.PARENT_SPAN_ID).height == 0
    assert (_attr(spans, "http.request.resend_count") == "1").sum() == 1


def test_canary_and_breaker_fixtures():
    canary = _spans("canary.json")
    payment = canary.filter((pl.col(s.SERVICE_NAME) == "payment-service") & (pl.col(s.KIND) == "server"))
    assert payment[s.SERVICE_VERSION].to_list() == ["2.0.0"]
    outage = _spans("payment_outage.json")
    fast = outage.filter(_attr(outage, "error.type") == "circuit_breaker_open")
    assert fast.height == 1 and fast[s.DURATION][0] < timedelta(milliseconds=1)
    assert _attr(fast, "circuit_breaker.state").to_list() == ["open"]


def test_partition_fixtures_with_and_without_cache():
    failed = _spans("network_partition.json")
    cached = _spans("network_partition_cached.json")
    assert (failed.filter(pl.col(s.PARENT_SPAN_ID).is_null())[s.STATUS_CODE] == "error").all()
    assert cached.filter(pl.col(s.DB_SYSTEM_NAME) == "redis").height == 1
    assert (cached.filter(pl.col(s.PARENT_SPAN_ID).is_null())[s.STATUS_CODE] == "unset").all()


def test_slo_dataset_pages_during_the_sustained_errors():
    from tracelens import slo

    entry = next(e for e in MANIFEST if e["file"].startswith("slo_"))
    spans = _spans(entry["file"])
    assert spans.height == entry["spans"] and (spans[s.STATUS_CODE] == "error").sum() == entry["errors"]
    slos = slo.loads(
        "slos:\n  - {name: avail, service: web-frontend, objective: 99.9, window: 30d, sli: {kind: availability}}\n"
    )
    fired = slo.history(spans, slos).filter((pl.col("event") == "fire") & (pl.col("severity") == "page"))
    assert fired.height
    start = spans[s.START].min()
    assert start + timedelta(hours=1) <= fired["time"][0] <= start + timedelta(hours=2, minutes=1)


@pytest.mark.parametrize("name", ["kill_pod.json", "canary.json"])
def test_generator_reproduces_a_fixture_byte_for_byte(name):
    """If this fails the shop model changed: rerun fixtures/generate.py and review the diff."""
    from tracelens.demo.fixtures import SCENARIO_FIXTURES, SEED, dump, otlp_json, pick_trace

    index = next(i for i, spec in enumerate(SCENARIO_FIXTURES) if spec.file == name)
    again = dump(otlp_json(pick_trace(SCENARIO_FIXTURES[index], SEED + index)))
    assert again == (FIXTURES / name).read_text()
