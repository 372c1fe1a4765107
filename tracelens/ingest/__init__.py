"""tracelens.ingest: OTLP protobuf, OTLP/JSON, Jaeger JSON and Zipkin v2 -> span frames, and back.

Every decoder returns a :class:`DecodeResult` (accepted spans in the span contract plus the
spans rejected one by one, by reason) and raises :class:`tracelens.errors.DecodeError` only
for inputs that cannot be decoded at all.
"""

from __future__ import annotations

from tracelens.ingest.otlp_json import decode_otlp_json
from tracelens.ingest.otlp_protobuf import decode_otlp_protobuf
from tracelens.ingest.result import DecodeResult

__all__ = [
    "DecodeResult",
    "decode_otlp_json",
    "decode_otlp_protobuf",
]
