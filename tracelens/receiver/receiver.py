"""The Receiver: OTLP/gRPC and OTLP/HTTP in front of one span store.

    with Store.open(path) as store, Receiver(store, ReceiverConfig(grpc_port=0, http_port=0)) as rx:
        print(rx.grpc_port, rx.http_port, rx.counters)

The receiver never opens or closes the store it is given: whoever opened it flushes and
closes it after ``stop()`` (see ``tracelens.receiver.serve``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from tracelens.config import ReceiverConfig
from tracelens.receiver.counters import Counters
from tracelens.receiver.grpc_transport import GrpcTransport
from tracelens.receiver.http_transport import HttpTransport, QueryRoute
from tracelens.receiver.pipeline import Decoder, HeaderAttribute, LoadGauge, Pipeline, SpanSink
from tracelens.receiver.wire import Encoding

logger = logging.getLogger("tracelens.receiver")


class Receiver:
    """OTLP trace receiver: ``start()``, ``grpc_port``/``http_port``, ``counters``, ``stop()``."""

    def __init__(
        self,
        store: SpanSink,
        config: ReceiverConfig | None = None,
        *,
        decoders: Mapping[Encoding, Decoder] | None = None,
        query_routes: Mapping[str, QueryRoute] | None = None,
    ) -> None:
        self.config = config or ReceiverConfig()
        self.store = store
        self._counters = Counters()
        gauge = LoadGauge(
            store,
            self.config.max_wal_backlog_bytes,
            max_memory_bytes=self.config.max_memory_bytes,
            max_inflight_bytes=self.config.max_inflight_bytes,
        )
        self.pipeline = Pipeline(
            store,
            self._counters,
            gauge,
            retry_after_seconds=self.config.retry_after_seconds,
            header_attributes=tuple(HeaderAttribute.parse(h) for h in self.config.header_attributes),
            decoders=decoders,
        )
        self._grpc = GrpcTransport(self.pipeline, self.config) if self.config.grpc_port is not None else None
        self._http = HttpTransport(self.pipeline, self.config, self.status, query_routes) if self.config.http_port is not None else None
        self._started = False

    @property
    def grpc_port(self) -> int | None:
        return self._grpc.port if self._grpc else None

    @property
    def http_port(self) -> int | None:
        return self._http.port if self._http else None

    @property
    def counters(self) -> dict[str, Any]:
        """A snapshot of accepted / rejected-by-reason / refused-by-reason counts (R3)."""
        return self._counters.snapshot()

    def endpoints(self) -> dict[str, str]:
        scheme = "https" if self.config.tls_cert else "http"
        found = {}
        if self.grpc_port:
            found["grpc"] = f"{self.config.host}:{self.grpc_port}"
        if self.http_port:
            found["http"] = f"{scheme}://{self.config.host}:{self.http_port}"
        return found

    def status(self, *, store_stats: bool = True) -> dict[str, Any]:
        """Counters plus the live store figures, as served on ``GET /api/v1/status``.
        ``store_stats=False`` skips the table statistics (they read the Delta log)."""
        snapshot = self.counters
        snapshot["endpoints"] = self.endpoints()
        snapshot["wal_backlog_bytes"] = self.store.backlog_bytes()
        snapshot["overloaded"] = self.pipeline.gauge.overload()
        stats = getattr(self.store, "stats", None)
        if store_stats and callable(stats):
            try:
                snapshot["store"] = stats()
            except Exception as exc:  # status must answer even if the store is unwell
                snapshot["store"] = {"error": str(exc)}
        snapshot["time"] = time.time()
        return snapshot

    def start(self) -> Receiver:
        """Bind and start both transports (ReceiverError if a port is taken)."""
        if self._started:
            return self
        self.pipeline.warm_up()
        try:
            if self._grpc:
                self._grpc.start()
            if self._http:
                self._http.start()
        except BaseException:
            self.stop(grace=0)
            raise
        self._started = True
        logger.info("tracelens receiver listening: %s", ", ".join(f"{k} {v}" for k, v in self.endpoints().items()))
        return self

    def stop(self, grace: float = 5.0) -> None:
        """Stop accepting, wait up to ``grace`` seconds for requests in flight (idempotent)."""
        if self._http:
            self._http.stop(grace)
        if self._grpc:
            self._grpc.stop(grace)
        if self._started:
            logger.info("tracelens receiver stopped: %s", self.counters)
        self._started = False

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
