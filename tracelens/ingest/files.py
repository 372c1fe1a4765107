"""decode_file: OTLP JSON (or JSON lines), OTLP protobuf, Jaeger JSON, Zipkin v2 — sniffed.

The format is recognised from the content, not the file name: gzip by its magic bytes;
JSON by its first non-blank character, then by shape (``resourceSpans`` -> OTLP, ``data``
or ``spans`` -> Jaeger, a list of objects with ``traceId`` and ``id`` -> Zipkin); anything
else is tried as an OTLP protobuf ExportTraceServiceRequest. A file of one JSON document
per line (the Collector's file exporter writes that) is decoded line by line.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import Any

from tracelens.errors import DecodeError
from tracelens.ingest._jsonvalues import load_json
from tracelens.ingest.jaeger import decode_jaeger_fast, decode_jaeger_object
from tracelens.ingest.otlp_json import decode_otlp_json_object
from tracelens.ingest.otlp_protobuf import decode_otlp_protobuf
from tracelens.ingest.result import DecodeResult, combine
from tracelens.ingest.zipkin import decode_zipkin_object

_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, gunzipped if they are gzip (whatever the file name says)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror or exc}"
        raise DecodeError(msg) from exc
    if data.startswith(_GZIP_MAGIC):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            msg = f"{path}: corrupt gzip data: {exc}"
            raise DecodeError(msg) from exc
    return data


def sniff(data: bytes) -> str:
    """'json' or 'protobuf', from the first non-blank byte."""
    head = data.lstrip(b" \t\r\n\xef\xbb\xbf")[:1]
    return "json" if head in (b"{", b"[") else "protobuf"


def decode_document(document: Any) -> DecodeResult:
    """One parsed JSON document in any of the supported shapes."""
    if isinstance(document, dict):
        if "resourceSpans" in document or "resource_spans" in document:
            return decode_otlp_json_object(document)
        if "data" in document or "spans" in document:
            return decode_jaeger_object(document)
    if isinstance(document, list):
        if not document:
            return decode_zipkin_object(document)
        first = document[0]
        if isinstance(first, dict) and "spans" in first:
            return decode_jaeger_object(document)
        if isinstance(first, dict) and ("traceId" in first or "id" in first):
            return decode_zipkin_object(document)
    msg = "JSON is not OTLP (resourceSpans), Jaeger ({\"data\": [...]}) or Zipkin v2 (a list of spans)"
    raise DecodeError(msg)


def decode_json_bytes(data: bytes) -> DecodeResult:
    # Jaeger UI JSON ({"data": [...]}) skips json.loads: the columnar decoder reads the
    # bytes (about 10x faster); it returns None for anything else, or anything it does not
    # decode exactly like the reference, and the generic path below takes over
    fast = decode_jaeger_fast(data)
    if fast is not None:
        return fast
    try:
        document = json.loads(data)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise DecodeError(f"invalid JSON: {exc}") from exc
        lines = [line for line in data.splitlines() if line.strip()]
        return combine(decode_document(load_json(line)) for line in lines)
    except (ValueError, RecursionError) as exc:
        raise DecodeError(f"invalid JSON: {exc}") from exc
    return decode_document(document)


def decode_bytes(data: bytes) -> DecodeResult:
    """Bytes of any supported format (already gunzipped)."""
    if sniff(data) == "json":
        return decode_json_bytes(data)
    return decode_otlp_protobuf(data)


def decode_file(path: str | Path) -> DecodeResult:
    """Decode a trace file, whatever its supported format; DecodeError names the problem."""
    data = read_bytes(path)
    try:
        return decode_bytes(data)
    except DecodeError as exc:
        msg = f"{path}: {exc}"
        raise DecodeError(msg) from exc
