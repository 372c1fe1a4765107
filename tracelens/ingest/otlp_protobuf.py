"""OTLP protobuf (ExportTraceServiceRequest bytes) -> span frame.

First version: delegates to the reference decoder; replaced by the numba wire scanner.
"""

from __future__ import annotations

from tracelens.ingest.otlp_reference import decode_otlp_protobuf_reference
from tracelens.ingest.result import DecodeResult


def decode_otlp_protobuf(data: bytes) -> DecodeResult:
    """ExportTraceServiceRequest bytes (decompressed) -> DecodeResult; DecodeError if invalid."""
    return decode_otlp_protobuf_reference(data)
