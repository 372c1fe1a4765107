"""Acceptance: overload. With the store's flusher deliberately throttled and a tiny WAL
backlog bound, the real exporters are told to retry (UNAVAILABLE + RetryInfo / 503 +
Retry-After), back off, and in the end every span arrives, exactly once."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from receiver_support import running_receiver, stored_spans
from test_receiver_exporters import grpc_exporter, http_exporter

from tracelens import schema as s

SPANS = 600


class RecordingExporter(SpanExporter):
    """Delegates to a real OTLP exporter and records each export's result."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_throttled_flusher_makes_exporters_back_off_and_nothing_is_lost(tmp_path, transport):
    throttled = {"flush_delay_seconds": 0.5, "flush_interval_seconds": 0.1}
    with running_receiver(tmp_path, store_overrides=throttled, max_wal_backlog_bytes=8_000, retry_after_seconds=1) as (rx, store):
        port = rx.grpc_port if transport == "grpc" else rx.http_port
        exporter = RecordingExporter(grpc_exporter(port) if transport == "grpc" else http_exporter(port))
        provider = TracerProvider(resource=Resource.create({"service.name": f"load-{transport}"}))
        provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=100, schedule_delay_millis=50))
        tracer = provider.get_tracer("overload")
        sent = set()
        for i in range(SPANS):
            with tracer.start_as_current_span(f"op-{i % 7}", attributes={"i": i, "payload": "x" * 40}) as span:
                sent.add(f"{span.get_span_context().span_id:016x}")
        provider.shutdown()

        counters = rx.counters
        assert counters["refused_requests"].get("overloaded", 0) >= 1, counters  # the signal was sent
        assert exporter.results and all(r is SpanExportResult.SUCCESS for r in exporter.results)
        frame = stored_spans(store)
        assert set(frame[s.SPAN_ID]) == sent  # every span arrived ...
        assert frame.height == SPANS  # ... once
        assert counters["accepted_spans"] == SPANS
