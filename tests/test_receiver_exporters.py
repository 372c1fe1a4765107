"""Acceptance: the real OpenTelemetry SDK (BatchSpanProcessor + OTLP gRPC / HTTP exporters)
sends 5,000 spans over 500 traces, with attributes, events, links and error statuses; the
store then holds every one exactly once, equal to what was sent (captured alongside with an
InMemorySpanExporter). Also: the exporters' OTEL_EXPORTER_OTLP_* environment variables."""

from __future__ import annotations

import random
from typing import Any

import polars as pl
import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from receiver_support import running_receiver, stored_spans

from tracelens import schema as s

SERVICES = ("web-frontend", "payment", "inventory")
TRACES = 500
SPANS_PER_TRACE = 10


def grpc_exporter(port: int | None = None, **kwargs: Any) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    if port is None:
        return OTLPSpanExporter(**kwargs)
    return OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}", insecure=True, **kwargs)


def http_exporter(port: int | None = None, **kwargs: Any) -> SpanExporter:
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if port is None:
        return OTLPSpanExporter(**kwargs)
    return OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", compression=Compression.Gzip, **kwargs)


def send_workload(make_exporter: Any, traces: int = TRACES, seed: int = 7) -> list[ReadableSpan]:
    """Emit ``traces`` traces of SPANS_PER_TRACE spans across three services through real
    providers; returns what the SDK ended (captured in memory next to the OTLP exporter)."""
    rng = random.Random(seed)
    captured = InMemorySpanExporter()
    providers = {}
    for service in SERVICES:
        provider = TracerProvider(resource=Resource.create({"service.name": service, "service.version": "1.2.3"}))
        provider.add_span_processor(BatchSpanProcessor(make_exporter(), max_queue_size=20_000, schedule_delay_millis=200))
        provider.add_span_processor(SimpleSpanProcessor(captured))
        providers[service] = provider
    tracers = {service: providers[service].get_tracer("tests.receiver", "0.1") for service in SERVICES}
    previous_root: trace.SpanContext | None = None
    for t in range(traces):
        root = tracers["web-frontend"].start_span("GET /checkout", kind=SpanKind.SERVER, attributes={"http.route": "/checkout", "http.request.method": "GET", "trace.number": t})
        root_context = trace.set_span_in_context(root)
        for k in range(SPANS_PER_TRACE - 1):
            service = SERVICES[1 + k % 2]
            attributes = {
                "peer.service": service,
                "attempt": k,
                "ratio": k / 7,
                "cached": k % 3 == 0,
                "tags": ("a", "b", str(k)),
                "db.system": "postgresql",
            }
            links = [Link(previous_root, {"link.kind": "follows"})] if previous_root is not None and k == 0 else []
            span = tracers[service].start_span(
                f"op-{k}", context=root_context, kind=[SpanKind.CLIENT, SpanKind.INTERNAL, SpanKind.PRODUCER][k % 3], attributes=attributes, links=links
            )
            if rng.random() < 0.2:
                span.add_event("retry", {"attempt": k, "reason": "timeout"})
            if rng.random() < 0.1:
                span.record_exception(ValueError(f"bad value {k}"))
                span.set_status(Status(StatusCode.ERROR, "bad value"))
            elif k == 0:
                span.set_status(Status(StatusCode.OK))
            span.end()
        root.set_status(Status(StatusCode.ERROR, "checkout failed") if t % 10 == 0 else Status(StatusCode.UNSET))
        root.end()
        previous_root = root.get_span_context()
    for provider in providers.values():
        provider.shutdown()  # flushes the BatchSpanProcessor: every span exported (or failed)
    return list(captured.get_finished_spans())


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def expected_frame(spans: list[ReadableSpan]) -> pl.DataFrame:
    rows = []
    for span in spans:
        context = span.get_span_context()
        rows.append(
            {
                s.TRACE_ID: f"{context.trace_id:032x}",
                s.SPAN_ID: f"{context.span_id:016x}",
                s.PARENT_SPAN_ID: f"{span.parent.span_id:016x}" if span.parent else None,
                s.NAME: span.name,
                s.KIND: span.kind.name.lower(),
                s.SERVICE_NAME: span.resource.attributes["service.name"],
                "start_ns": span.start_time,
                "end_ns": span.end_time,
                s.STATUS_CODE: span.status.status_code.name.lower(),
                s.STATUS_MESSAGE: span.status.description,
                "attrs": {k: _plain(v) for k, v in span.attributes.items()},
                "events": [(e.name, e.timestamp, {k: _plain(v) for k, v in e.attributes.items()}) for e in span.events],
                "links": [(f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in span.links],
            }
        )
    return rows  # type: ignore[return-value]


def stored_rows(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    # nanoseconds as integers before leaving polars: Python datetimes stop at microseconds
    frame = frame.select(
        s.TRACE_ID, s.SPAN_ID, s.PARENT_SPAN_ID, s.NAME, s.KIND, s.SERVICE_NAME, s.STATUS_CODE, s.STATUS_MESSAGE, s.ATTRIBUTES, s.LINKS,
        pl.col(s.START).cast(pl.Int64).alias("start_ns"),
        pl.col(s.END).cast(pl.Int64).alias("end_ns"),
        pl.col(s.EVENTS).list.eval(pl.element().struct.with_fields(pl.field("time").cast(pl.Int64))),
    )
    out = {}
    for row in frame.iter_rows(named=True):
        out[row[s.SPAN_ID]] = {
            s.TRACE_ID: row[s.TRACE_ID],
            s.SPAN_ID: row[s.SPAN_ID],
            s.PARENT_SPAN_ID: row[s.PARENT_SPAN_ID],
            s.NAME: row[s.NAME],
            s.KIND: row[s.KIND],
            s.SERVICE_NAME: row[s.SERVICE_NAME],
            "start_ns": row["start_ns"],
            "end_ns": row["end_ns"],
            s.STATUS_CODE: row[s.STATUS_CODE],
            s.STATUS_MESSAGE: row[s.STATUS_MESSAGE] or None,
            "attrs": s.plain_attributes(row[s.ATTRIBUTES]),
            "events": [(e["name"], e["time"], s.plain_attributes(e["attributes"])) for e in row[s.EVENTS] or []],
            "links": [(link["trace_id"], link["span_id"]) for link in row[s.LINKS] or []],
        }
    return out


def assert_stored_exactly(frame: pl.DataFrame, sent: list[ReadableSpan]) -> None:
    assert frame.height == len(sent) == TRACES * SPANS_PER_TRACE
    assert frame.select(s.TRACE_ID, s.SPAN_ID).is_duplicated().sum() == 0  # each exactly once
    assert frame[s.TRACE_ID].n_unique() == TRACES
    stored = stored_rows(frame)
    mismatches = [row[s.SPAN_ID] for row in expected_frame(sent) if stored.get(row[s.SPAN_ID]) != row]
    if mismatches:
        first = mismatches[0]
        expected = next(r for r in expected_frame(sent) if r[s.SPAN_ID] == first)
        pytest.fail(f"{len(mismatches)} span(s) differ; first {first}:\nsent   {expected}\nstored {stored.get(first)}")
    # the promoted columns are filled from the (legacy) semantic-convention names too
    assert set(frame[s.DB_SYSTEM_NAME].drop_nulls()) == {"postgresql"}
    assert set(frame[s.SERVICE_VERSION]) == {"1.2.3"}
    assert (frame[s.STATUS_CODE] == "error").sum() == sum(1 for span in sent if span.status.status_code is StatusCode.ERROR)


def test_grpc_exporter_5000_spans_stored_exactly_once(tmp_path):
    with running_receiver(tmp_path) as (rx, store):
        sent = send_workload(lambda: grpc_exporter(rx.grpc_port))
        assert_stored_exactly(stored_spans(store), sent)
        assert rx.counters["accepted_spans"] == len(sent)
        assert rx.counters["refused_requests"] == {} and rx.counters["rejected_spans"] == {}
        store.flush()  # and the same once everything is in the table
        assert_stored_exactly(stored_spans(store), sent)


def test_http_exporter_gzip_5000_spans_stored_exactly_once(tmp_path):
    with running_receiver(tmp_path) as (rx, store):
        sent = send_workload(lambda: http_exporter(rx.http_port))
        assert_stored_exactly(stored_spans(store), sent)
        assert rx.counters["content_encodings"] == {"gzip": rx.counters["requests"]["http"]}
        assert rx.counters["refused_requests"] == {}


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_exporter_environment_variables_are_honoured(tmp_path, monkeypatch, transport):
    with running_receiver(tmp_path, auth_token="s3cret") as (rx, store):
        port = rx.grpc_port if transport == "grpc" else rx.http_port
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20s3cret")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
        if transport == "grpc":
            monkeypatch.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
        make = grpc_exporter if transport == "grpc" else http_exporter
        sent = send_workload(lambda: make(), traces=20)
        frame = stored_spans(store)
        assert frame.height == len(sent) == 20 * SPANS_PER_TRACE
        assert rx.counters["refused_requests"] == {}
        if transport == "http":
            assert set(rx.counters["content_encodings"]) == {"gzip"}


def test_wrong_token_from_the_environment_is_refused_and_counted(tmp_path, monkeypatch):
    with running_receiver(tmp_path, auth_token="s3cret") as (rx, store):
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20wrong")
        sent = send_workload(lambda: http_exporter(rx.http_port), traces=2)
        assert len(sent) == 2 * SPANS_PER_TRACE
        assert stored_spans(store).height == 0
        assert rx.counters["refused_requests"]["unauthenticated"] >= 1
