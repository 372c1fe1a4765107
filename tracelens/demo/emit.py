"""Replays simulated :class:`~tracelens.demo.shop.Call` trees through the real OpenTelemetry SDK.

One ``TracerProvider`` per pod (the Resource carries service.name, service.version,
deployment.environment.name and host.name, and a Resource belongs to a provider), all sharing
one ``BatchSpanProcessor`` in front of the real OTLP gRPC exporter, so every pod's spans
travel in the same large export requests. Span and trace ids come from a seeded generator,
times are the simulated ones: the same seed gives byte-identical spans.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from tracelens.demo.shop import INSTANCES, Call, Instance

SCOPE_NAME: Final = "tracelens.demo"
SCOPE_VERSION: Final = "0.1.0"

_KINDS: Final = {
    1: SpanKind.INTERNAL,
    2: SpanKind.SERVER,
    3: SpanKind.CLIENT,
    4: SpanKind.PRODUCER,
    5: SpanKind.CONSUMER,
}


class SeededIdGenerator(IdGenerator):
    """Trace and span ids from a seeded PRNG: reproducible runs, never the invalid id 0."""

    def __init__(self, seed: int | str) -> None:
        self._random = random.Random(seed)

    def generate_span_id(self) -> int:
        return self._random.getrandbits(64) or 1

    def generate_trace_id(self) -> int:
        return self._random.getrandbits(128) or 1


class HashOnceResource(Resource):
    """A Resource that computes its hash once. The OTLP encoder groups spans by resource,
    hashing each span's resource, and ``Resource.__hash__`` serialises every attribute to
    JSON on each call: about a tenth of the export CPU in this demo (benchmarks/demo.py)."""

    def __init__(self, attributes: Any, schema_url: str | None = None) -> None:
        super().__init__(attributes, schema_url)
        self._hash = super().__hash__()

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return super().__eq__(other)


def resource_for(instance: Instance) -> Resource:
    """The pod's Resource: its attributes merged with the SDK's defaults (telemetry.sdk.*)."""
    created = Resource.create(instance.resource_attributes())
    return HashOnceResource(created.attributes, created.schema_url)


class CountingProcessor(SpanProcessor):
    """Counts the spans the SDK ended: what the receiver must end up holding."""

    def __init__(self) -> None:
        self.ended = 0

    def on_end(self, span: ReadableSpan) -> None:
        self.ended += 1  # on_end runs on the emitting thread only; no lock needed


class CountingExporter(SpanExporter):
    """Wraps the real exporter to count what was acknowledged, so the emitter can apply
    backpressure (the batch processor drops spans when its queue is full)."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.exported = 0
        self.failed = 0
        self.requests = 0
        self.slowest_seconds = 0.0  # the longest export call, retries included
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        began = time.perf_counter()
        result = self.inner.export(spans)
        took = time.perf_counter() - began
        with self._lock:
            self.requests += 1
            self.slowest_seconds = max(self.slowest_seconds, took)
            if result is SpanExportResult.SUCCESS:
                self.exported += len(spans)
            else:
                self.failed += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


@dataclass
class Pipeline:
    """The SDK objects of a run: one provider per pod, shared processors."""

    providers: dict[Instance, TracerProvider]
    tracers: dict[Instance, trace.Tracer]
    counter: CountingProcessor
    exporter: CountingExporter | None
    batch: SpanProcessor | None

    def in_flight(self) -> int:
        """Spans ended but not yet acknowledged (or failed) by the receiver."""
        if self.exporter is None:
            return 0
        return self.counter.ended - self.exporter.exported - self.exporter.failed

    def shutdown(self) -> None:
        """Export everything still queued, then stop (the shared processor once, then the
        providers, whose second shutdown of a shared processor is a no-op)."""
        if self.batch is not None:
            self.batch.force_flush()
            self.batch.shutdown()
        for provider in self.providers.values():
            provider.shutdown()


def build_pipeline(
    seed: int | str,
    exporter: SpanExporter | None,
    *,
    extra_processors: Sequence[SpanProcessor] = (),
    max_export_batch_size: int = 2048,
    max_queue_size: int = 1 << 17,
    schedule_delay_millis: int = 200,
) -> Pipeline:
    """Providers for every pod of the shop, exporting through ``exporter`` (batched)."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    counter = CountingProcessor()
    counting = CountingExporter(exporter) if exporter is not None else None
    processors: list[SpanProcessor] = [counter, *extra_processors]
    batch: SpanProcessor | None = None
    if counting is not None:
        batch = BatchSpanProcessor(
            counting,
            max_queue_size=max_queue_size,
            max_export_batch_size=max_export_batch_size,
            schedule_delay_millis=schedule_delay_millis,
        )
        processors.append(batch)
    ids = SeededIdGenerator(seed)
    providers: dict[Instance, TracerProvider] = {}
    tracers: dict[Instance, trace.Tracer] = {}
    for instance in INSTANCES:
        provider = TracerProvider(resource=resource_for(instance), id_generator=ids)
        for processor in processors:
            provider.add_span_processor(processor)
        providers[instance] = provider
        tracers[instance] = provider.get_tracer(SCOPE_NAME, SCOPE_VERSION)
    return Pipeline(providers, tracers, counter, counting, batch)


def emit(pipeline: Pipeline, root: Call) -> None:
    """Create, time and end every span of one simulated trace with the SDK."""
    _emit(pipeline.tracers, root, Context(), None)


def _emit(tracers: dict[Instance, trace.Tracer], call: Call, parent: Context, parent_span: Any) -> None:
    links = [Link(parent_span.get_span_context())] if call.link_to_parent and parent_span is not None else None
    span = tracers[call.instance].start_span(
        call.name,
        context=parent,
        kind=_KINDS[call.kind],
        attributes=call.attributes,
        links=links,
        start_time=call.start,
    )
    if call.children:
        context = trace.set_span_in_context(span, parent)
        for child in call.children:
            _emit(tracers, child, context, span)
    for at, name, attributes in call.events:
        span.add_event(name, attributes, timestamp=at)
    if call.error is not None:
        span.set_status(Status(StatusCode.ERROR, call.error))
    span.end(end_time=call.end)
