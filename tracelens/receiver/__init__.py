"""tracelens.receiver: OTLP/gRPC (:4317) and OTLP/HTTP (:4318) in front of the span store.

    from tracelens.receiver import Receiver
    with Store.open(path) as store, Receiver(store, ReceiverConfig(grpc_port=0, http_port=0)) as rx:
        ...  # export to 127.0.0.1:rx.grpc_port / http://127.0.0.1:rx.http_port/v1/traces

Conformance (docs/receiver.md, /work/shared/otlp-conformance.md): a request is acknowledged
only after its spans are durable in the write-ahead log; invalid spans are rejected one by
one (partial success); overload answers UNAVAILABLE + RetryInfo / 503 + Retry-After so that
exporters retry; every refusal is counted by reason (``Receiver.counters``).
"""

from __future__ import annotations

from tracelens.config import ReceiverConfig
from tracelens.receiver.receiver import Receiver
from tracelens.receiver.serve import read_status, serve

__all__ = ["Receiver", "ReceiverConfig", "read_status", "serve"]
