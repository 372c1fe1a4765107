"""Configuration as frozen dataclasses; defaults are named constants."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"  # loopback by default: nothing exposed by accident (T1)
DEFAULT_GRPC_PORT = 4317
DEFAULT_HTTP_PORT = 4318
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024  # after decompression (G2, H4)
DEFAULT_MAX_RESPONSE_MESSAGE_BYTES = 4 * 1024 * 1024  # G9
DEFAULT_RETRY_AFTER_SECONDS = 1  # G7: Python exporter gives up after 10 s, keep it short
DEFAULT_MAX_WAL_BACKLOG_BYTES = 512 * 1024 * 1024  # overload threshold (unflushed WAL)
DEFAULT_GROUP_COMMIT_SECONDS = 0.002
DEFAULT_FLUSH_INTERVAL_SECONDS = 2.0
DEFAULT_FLUSH_BATCH_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_WAL_SEGMENT_BYTES = 64 * 1024 * 1024
DEFAULT_RETENTION_CHECK_SECONDS = 3600.0
DEFAULT_COMPACT_CHECK_SECONDS = 3600.0  # a running store compacts closed days this often
DEFAULT_DATA_DIR = Path("tracelens-data")
DATA_DIR_ENV = "TRACELENS_DATA"
AUTH_TOKEN_ENV = "TRACELENS_AUTH_TOKEN"


@dataclass(frozen=True, slots=True)
class StoreConfig:
    path: Path = DEFAULT_DATA_DIR
    group_commit_seconds: float = DEFAULT_GROUP_COMMIT_SECONDS
    flush_interval_seconds: float = DEFAULT_FLUSH_INTERVAL_SECONDS
    flush_batch_bytes: int = DEFAULT_FLUSH_BATCH_BYTES
    retention_seconds: float | None = None
    fsync: bool = True
    max_wal_segment_bytes: int = DEFAULT_MAX_WAL_SEGMENT_BYTES
    flush_delay_seconds: float = 0.0  # deliberate flusher throttle (overload tests)
    retention_check_seconds: float = DEFAULT_RETENTION_CHECK_SECONDS
    #: how often the flusher compacts closed days (None: never; ``Store.compact()`` still can)
    compact_check_seconds: float | None = DEFAULT_COMPACT_CHECK_SECONDS
    #: worker processes that decode and encode the flusher's batches of raw OTLP requests
    #: (tracelens.store.flush_worker); 0: threads of this process do it
    flush_processes: int = 0


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    host: str = DEFAULT_HOST
    grpc_port: int | None = DEFAULT_GRPC_PORT  # 0 = ephemeral, None = off
    http_port: int | None = DEFAULT_HTTP_PORT
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    auth_token: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # mTLS when set
    max_wal_backlog_bytes: int = DEFAULT_MAX_WAL_BACKLOG_BYTES
    retry_after_seconds: int = DEFAULT_RETRY_AFTER_SECONDS
    max_concurrent_streams: int = 100
    keepalive_seconds: float = 30.0
    max_connection_age_seconds: float | None = None
    header_attributes: tuple[str, ...] = field(default=())  # R4: headers copied to resource attrs
    keepalive_timeout_seconds: float = 20.0
    max_connection_age_grace_seconds: float = 5.0
    grpc_workers: int = 32  # enough concurrent Exports for the WAL's group commit to batch
    max_memory_bytes: int | None = None  # overload when the process RSS exceeds this
    max_inflight_bytes: int | None = 256 * 1024 * 1024  # overload when decoding more than this at once
    http_traces_path: str = "/v1/traces"
