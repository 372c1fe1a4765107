"""tracelens.ingest: OTLP protobuf, OTLP/JSON, Jaeger JSON and Zipkin v2 -> span frames, and back.

Every decoder returns a :class:`DecodeResult` (accepted spans in the span contract plus the
spans rejected one by one, by reason) and raises :class:`tracelens.errors.DecodeError` only
for inputs that cannot be decoded at all.
"""

from __future__ import annotations

from tracelens.ingest.encode import encode_jaeger_json, encode_otlp_json, encode_otlp_protobuf
from tracelens.ingest.files import decode_bytes, decode_file
from tracelens.ingest.jaeger import decode_jaeger_json
from tracelens.ingest.otlp_json import decode_otlp_json
from tracelens.ingest.otlp_protobuf import decode_otlp_protobuf, decode_otlp_protobuf_batch, validate_otlp_protobuf, warm_up
from tracelens.ingest.result import DecodeResult, Validation
from tracelens.ingest.zipkin import decode_zipkin_json

__all__ = [
    "DecodeResult",
    "Validation",
    "decode_bytes",
    "decode_file",
    "decode_jaeger_json",
    "decode_otlp_json",
    "decode_otlp_protobuf",
    "decode_otlp_protobuf_batch",
    "decode_zipkin_json",
    "encode_jaeger_json",
    "encode_otlp_json",
    "encode_otlp_protobuf",
    "validate_otlp_protobuf",
    "warm_up",
]
