"""The shop without a network: SDK spans encoded by the OTLP exporter's own protobuf encoder
and decoded by tracelens' OTLP decoder, i.e. the exact bytes the wire would carry, minus
gRPC and the store. For tests of the analyses and for writing fixtures."""

from __future__ import annotations

import polars as pl
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tracelens.demo.emit import build_pipeline
from tracelens.demo.simulate import SimulationConfig, SimulationResult, run
from tracelens.errors import DecodeError
from tracelens.ingest import decode_otlp_protobuf


def simulate_spans(config: SimulationConfig) -> tuple[pl.DataFrame, SimulationResult]:
    """Every span of a run as a span-contract frame, and the run's result."""
    memory = InMemorySpanExporter()
    result = run(config, build_pipeline(config.seed, None, extra_processors=[SimpleSpanProcessor(memory)]))
    decoded = decode_otlp_protobuf(encode_spans(memory.get_finished_spans()).SerializeToString())
    if decoded.rejected:
        msg = f"the shop produced {decoded.rejected} span(s) tracelens rejects: {decoded.errors[:3]}"
        raise DecodeError(msg)
    return decoded.spans, result
