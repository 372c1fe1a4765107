"""The transport-independent part of an Export: overload check, decode, store, count.

Both transports hand an already-decompressed body here and turn the ``Outcome`` into
their own status codes, so gRPC and HTTP accept, reject and refuse exactly alike. The
acknowledgement is sent only after ``store.append`` returned, i.e. after the spans are
durable in the write-ahead log (R2); the store deduplicates on (trace_id, span_id), so a
retried request is stored once (R1).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import polars as pl

from tracelens import schema as s
from tracelens.errors import DecodeError, StoreError
from tracelens.receiver.counters import Counters, Reason
from tracelens.receiver.wire import Encoding

logger = logging.getLogger("tracelens.receiver")

MEMORY_CHECK_INTERVAL_SECONDS = 0.1
STORE_ERROR = "store_error"


class SpanSink(Protocol):
    """What the receiver needs of a store (tracelens.store.Store provides it)."""

    def append(self, frame: pl.DataFrame) -> None: ...

    def backlog_bytes(self) -> int: ...


class Verdict(Protocol):
    rejected: int
    rejected_by_reason: dict[str, int]
    errors: tuple[str, ...]


class Decoded(Verdict, Protocol):
    spans: pl.DataFrame


Decoder = Callable[[bytes], Decoded]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one Export request. ``refusal`` is None when it was stored."""

    refusal: str | None = None
    accepted: int = 0
    rejected: int = 0
    message: str = ""
    retry_after_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class HeaderAttribute:
    """R4: copy request header ``header`` into resource attribute ``key`` of every span."""

    header: str
    key: str

    @classmethod
    def parse(cls, text: str) -> HeaderAttribute:
        """``"x-tenant"`` (attribute named like the header) or ``"x-tenant=tenant.id"``."""
        header, _, key = text.partition("=")
        header = header.strip().lower()
        return cls(header, key.strip() or header)


def default_decoders() -> dict[Encoding, Decoder]:
    from tracelens.ingest import decode_otlp_json, decode_otlp_protobuf

    return {Encoding.PROTOBUF: decode_otlp_protobuf, Encoding.JSON: decode_otlp_json}


def raw_protobuf_sink(store: SpanSink, decoder: Decoder | None) -> Callable[[bytes, int], None] | None:
    """``store.append_otlp`` when the store can keep raw OTLP requests in its WAL and the
    protobuf decoder is the one the store uses on replay (any other decoder, e.g. one
    given in a test, could accept different spans than replay would), else None."""
    from tracelens.ingest import decode_otlp_protobuf

    append_otlp = getattr(store, "append_otlp", None)
    return append_otlp if decoder is decode_otlp_protobuf and callable(append_otlp) else None


def process_rss_bytes() -> int:
    """Resident memory of this process (0 where /proc is unavailable)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class LoadGauge:
    """Decides whether the receiver is overloaded: WAL backlog, memory, bytes in flight."""

    def __init__(
        self,
        store: SpanSink,
        max_backlog_bytes: int,
        max_memory_bytes: int | None = None,
        max_inflight_bytes: int | None = None,
    ) -> None:
        self._store = store
        self._max_backlog = max_backlog_bytes
        self._max_memory = max_memory_bytes
        self._max_inflight = max_inflight_bytes
        self._inflight = 0
        self._lock = threading.Lock()
        self._rss = 0
        self._rss_checked = 0.0

    def overload(self) -> str | None:
        """Why we are overloaded right now, or None."""
        backlog = self._store.backlog_bytes()
        if backlog > self._max_backlog:
            return f"write-ahead-log backlog {backlog} bytes > {self._max_backlog}"
        if self._max_memory is not None:
            now = time.monotonic()
            if now - self._rss_checked > MEMORY_CHECK_INTERVAL_SECONDS:
                self._rss, self._rss_checked = process_rss_bytes(), now
            if self._rss > self._max_memory:
                return f"process memory {self._rss} bytes > {self._max_memory}"
        return None

    def admit(self, size: int) -> bool:
        """Reserve ``size`` bytes of in-flight work; False if that would exceed the bound.
        A single request is always admitted when nothing else is in flight."""
        with self._lock:
            if self._max_inflight is not None and self._inflight and self._inflight + size > self._max_inflight:
                return False
            self._inflight += size
            return True

    def release(self, size: int) -> None:
        with self._lock:
            self._inflight -= size


def add_resource_attributes(frame: pl.DataFrame, values: Mapping[str, str]) -> pl.DataFrame:
    """``frame`` with string resource attributes set (replacing same-named ones), vectorised."""
    if not values or frame.height == 0:
        return frame
    extra = pl.Series(
        [[{"key": k, "type": "string", "str": v, "int": None, "float": None, "bool": None} for k, v in values.items()]],
        dtype=s.ATTRIBUTES_DTYPE,
    )
    keys = list(values)
    empty = pl.lit(pl.Series([[]], dtype=s.ATTRIBUTES_DTYPE))
    present = pl.coalesce(pl.col(s.RESOURCE_ATTRIBUTES), empty)
    kept = present.list.eval(pl.element().filter(~pl.element().struct.field("key").is_in(keys)))
    return frame.with_columns(kept.list.concat(pl.lit(extra)).alias(s.RESOURCE_ATTRIBUTES))


def partial_success_message(rejected_by_reason: Mapping[str, int], errors: tuple[str, ...]) -> str:
    """An English sentence for partial_success.error_message (G5)."""
    total = sum(rejected_by_reason.values())
    reasons = ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in sorted(rejected_by_reason.items()))
    text = f"{total} span(s) rejected ({reasons})"
    if errors:
        text += ": " + "; ".join(errors)
    return text


class Pipeline:
    """Accepts decompressed Export bodies into the store and counts what happened."""

    def __init__(
        self,
        store: SpanSink,
        counters: Counters,
        gauge: LoadGauge,
        retry_after_seconds: float,
        header_attributes: tuple[HeaderAttribute, ...] = (),
        decoders: Mapping[Encoding, Decoder] | None = None,
    ) -> None:
        self._store = store
        self.counters = counters
        self.gauge = gauge
        self._retry_after = retry_after_seconds
        self._header_attributes = header_attributes
        self._decoders = dict(decoders) if decoders is not None else default_decoders()
        self._raw_protobuf_sink = raw_protobuf_sink(store, self._decoders.get(Encoding.PROTOBUF))

    def warm_up(self) -> None:
        """Decode one tiny request per encoding, so that compiling the decoders' kernels
        (seconds on a busy machine) happens at start, not while a client waits."""
        from tracelens.ingest import warm_up
        from tracelens.receiver.wire import warm_up_request

        warm_up()  # the protobuf kernels with attributes, events and links
        for encoding, decoder in self._decoders.items():
            try:
                decoder(warm_up_request(encoding))
            except Exception as exc:  # the server still starts; requests will say what fails
                logger.warning("warm-up of the %s decoder failed: %s", encoding.name.lower(), exc)

    def overloaded(self, peer: str) -> Outcome | None:
        """The overload refusal to send before even reading a body, or None."""
        why = self.gauge.overload()
        if why is None:
            return None
        return self.refuse(Reason.OVERLOADED, f"overloaded: {why}; retry in {self._retry_after:g}s", peer, retry=True)

    def refuse(self, reason: str, message: str, peer: str, *, retry: bool = False) -> Outcome:
        """Count and log a refused request; the Outcome carries the retry delay if any."""
        self.counters.refused(reason, message, peer)
        return Outcome(refusal=reason, message=message, retry_after_seconds=self._retry_after if retry else None)

    def export(self, body: bytes, encoding: Encoding, headers: Mapping[str, Any], peer: str) -> Outcome:
        """Decode, store durably, count. Never raises for bad input or overload."""
        refusal = self.overloaded(peer)
        if refusal is not None:
            return refusal
        if not self.gauge.admit(len(body)):
            return self.refuse(Reason.OVERLOADED, f"too many bytes in flight; retry in {self._retry_after:g}s", peer, retry=True)
        try:
            return self._decode_and_store(body, encoding, headers, peer)
        finally:
            self.gauge.release(len(body))

    def _decode_and_store(self, body: bytes, encoding: Encoding, headers: Mapping[str, Any], peer: str) -> Outcome:
        values = self._header_values(headers)
        if encoding is Encoding.PROTOBUF and not values and self._raw_protobuf_sink is not None:
            return self._validate_and_store_raw(body, peer)
        try:
            result = self._decoders[encoding](body)
        except DecodeError as exc:
            return self.refuse(Reason.UNDECODABLE, f"cannot decode {encoding.name.lower()} request: {exc}", peer)
        spans = result.spans
        if spans.height:
            spans = add_resource_attributes(spans, values)
            try:
                self._store.append(spans)
            except StoreError as exc:
                return self._store_refusal(exc, peer)
        return self._stored(spans.height, result, peer)

    def _validate_and_store_raw(self, body: bytes, peer: str) -> Outcome:
        """The protobuf path: validate (what the decoder would accept and reject, without
        building the frame), then let the WAL keep the request bytes; the flusher decodes
        acknowledged requests many at a time, and replay decodes them to the same spans."""
        from tracelens.ingest import validate_otlp_protobuf

        try:
            verdict = validate_otlp_protobuf(body)
        except DecodeError as exc:
            return self.refuse(Reason.UNDECODABLE, f"cannot decode protobuf request: {exc}", peer)
        if verdict.accepted:
            try:
                self._raw_protobuf_sink(body, verdict.accepted)  # type: ignore[misc]
            except StoreError as exc:
                return self._store_refusal(exc, peer)
        return self._stored(verdict.accepted, verdict, peer)

    def _store_refusal(self, exc: StoreError, peer: str) -> Outcome:
        # Not the client's fault and possibly transient (disk full): ask for a retry rather
        # than a 500, which exporters treat as permanent (H8).
        return self.refuse(STORE_ERROR, f"the span store cannot accept writes: {exc}", peer, retry=True)

    def _stored(self, accepted: int, result: Verdict, peer: str) -> Outcome:
        message = partial_success_message(result.rejected_by_reason, result.errors) if result.rejected else ""
        self.counters.accepted(accepted, dict(result.rejected_by_reason), message, peer)
        return Outcome(accepted=accepted, rejected=result.rejected, message=message)

    def _header_values(self, headers: Mapping[str, Any]) -> dict[str, str]:
        values: dict[str, str] = {}
        for attribute in self._header_attributes:
            value = headers.get(attribute.header)
            if value:
                values[attribute.key] = str(value)
        return values
