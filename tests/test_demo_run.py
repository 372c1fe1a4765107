"""The demo really goes through OTLP: SDK -> OTLP/gRPC exporter -> receiver -> store."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import polars as pl

from tracelens import schema as s
from tracelens.demo.run import run_demo
from tracelens.demo.simulate import SimulationConfig
from tracelens.demo.timeline import parse_scenarios
from tracelens.store import Store

START = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def _config(seed=11, duration=240.0, rps=1.0, scenarios="kill-pod@1m+2m"):
    return SimulationConfig(duration, START, rps=rps, seed=seed, scenarios=parse_scenarios(scenarios, duration))


def _stored(path) -> pl.DataFrame:
    return Store.open(path, read_only=True).spans().collect().sort(s.TRACE_ID, s.SPAN_ID)


@pytest.mark.slow
def test_every_span_the_sdk_ended_is_in_the_store(tmp_path):
    progress = []
    run = run_demo(_config(), tmp_path / "data", lambda f, r, n: progress.append((f, r, n)), in_process=True)
    stored = _stored(run.data)
    result = run.result
    assert result.spans_ended == result.spans == result.spans_exported > 0
    assert result.spans_failed == 0
    assert run.receiver_counters["accepted_spans"] == result.spans_ended
    assert stored.height == result.spans_ended
    assert stored.select(pl.struct(s.TRACE_ID, s.SPAN_ID).n_unique()).item() == stored.height
    assert stored[s.TRACE_ID].n_unique() == result.requests
    assert progress[-1][0] == 1.0 and progress[-1][1] == result.requests
    s.validate(stored)
    # the resource and semantic conventions survive the trip
    assert set(stored[s.SERVICE_NAME].unique()) >= {"web-frontend", "auth-service", "inventory-service", "payment-service"}
    assert stored[s.HOST_NAME].null_count() == 0 and stored[s.SERVICE_VERSION].null_count() == 0
    assert set(stored[s.DEPLOYMENT_ENVIRONMENT].unique()) == {"production"}
    db = stored.filter(pl.col(s.DB_SYSTEM_NAME) == "postgresql")
    assert db.height and set(db[s.DB_NAMESPACE].unique()) == {"inventory"} and set(db[s.KIND].unique()) == {"client"}
    consumers = stored.filter(pl.col(s.KIND) == "consumer")
    assert consumers.height and (consumers[s.LINKS].list.len() == 1).all()
    assert stored.filter(pl.col(s.MESSAGING_DESTINATION_NAME) == "order-confirmations").height == 2 * consumers.height
    # simulated time: the run starts where it was told to
    assert stored[s.START].min() >= START


@pytest.mark.slow
def test_child_process_run_is_reproducible(tmp_path):
    first = run_demo(_config(seed=3, duration=120.0), tmp_path / "a")
    second = run_demo(_config(seed=3, duration=120.0), tmp_path / "b", in_process=True)
    columns = [s.TRACE_ID, s.SPAN_ID, s.PARENT_SPAN_ID, s.NAME, s.START, s.END, s.STATUS_CODE, s.HOST_NAME, s.ATTRIBUTES, s.RESOURCE_ATTRIBUTES, s.LINKS]
    a, b = _stored(first.data).select(columns), _stored(second.data).select(columns)
    assert first.result.spans_ended == a.height > 0
    assert a.equals(b)
