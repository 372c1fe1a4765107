"""What the receiver did, counted by reason (R3), plus one log line per event.

A *refused request* is a whole request answered with an error (nothing stored); a
*rejected span* is one bad span dropped from an otherwise accepted request (partial
success). Both are keyed by a reason (the ``Reason`` constants, or the decoder's reasons
such as ``invalid_trace_id``). Logging is per request, never per span, and a burst of the
same refusal is folded into one line per second with a count, so an overload cannot turn
the log into a second firehose.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from typing import Any, Final

logger = logging.getLogger("tracelens.receiver")


class Reason:
    """Why a whole request was refused (keys of ``refused_requests``)."""

    UNAUTHENTICATED: Final = "unauthenticated"
    UNSUPPORTED_MEDIA_TYPE: Final = "unsupported_media_type"
    UNSUPPORTED_ENCODING: Final = "unsupported_encoding"
    METHOD_NOT_ALLOWED: Final = "method_not_allowed"
    NOT_FOUND: Final = "not_found"
    TOO_LARGE: Final = "too_large"
    UNDECODABLE: Final = "undecodable"
    OVERLOADED: Final = "overloaded"
    INTERNAL: Final = "internal"


class Counters:
    """Thread-safe counters of a running receiver; ``snapshot()`` is what status shows."""

    def __init__(self, log_interval_seconds: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[str] = Counter()
        self._content_encodings: Counter[str] = Counter()
        self._accepted_requests = 0
        self._accepted_spans = 0
        self._received_bytes = 0
        self._rejected_spans: Counter[str] = Counter()
        self._refused_requests: Counter[str] = Counter()
        self._unsupported_signal_requests: Counter[str] = Counter()
        self._log_interval = log_interval_seconds
        self._last_logged: dict[str, float] = {}
        self._suppressed: Counter[str] = Counter()
        self.started_at = time.time()

    def request(self, transport: str, size: int, content_encoding: str = "identity") -> None:
        """A request whose body (``size`` bytes after decompression) reached decoding."""
        with self._lock:
            self._requests[transport] += 1
            self._received_bytes += size
            self._content_encodings[content_encoding] += 1

    def accepted(self, spans: int, rejected_by_reason: dict[str, int], detail: str, peer: str) -> None:
        """A stored request: ``spans`` durable, ``rejected_by_reason`` dropped one by one."""
        with self._lock:
            self._accepted_requests += 1
            self._accepted_spans += spans
            self._rejected_spans.update(rejected_by_reason)
        if rejected_by_reason:
            reasons = ", ".join(f"{reason}={n}" for reason, n in sorted(rejected_by_reason.items()))
            self._log(f"rejected:{reasons}", f"partial success from {peer}: kept {spans} span(s), rejected {reasons}: {detail}")

    def refused(self, reason: str, detail: str, peer: str) -> None:
        """A whole request refused for ``reason``."""
        with self._lock:
            self._refused_requests[reason] += 1
        self._log(reason, f"refused request from {peer}: {reason}: {detail}")

    def unsupported_signal(self, signal: str) -> None:
        with self._lock:
            self._unsupported_signal_requests[signal] += 1

    def _log(self, key: str, line: str) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last_logged.get(key)
            if last is not None and now - last < self._log_interval:
                self._suppressed[key] += 1
                return
            self._last_logged[key] = now
            folded = self._suppressed.pop(key, 0)
        suffix = f" (and {folded} more like it in the last {now - last:.1f}s)" if folded and last is not None else ""
        logger.warning("%s%s", line, suffix)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-ready copy of every counter."""
        with self._lock:
            return {
                "started_at": self.started_at,
                "uptime_seconds": round(time.time() - self.started_at, 3),
                "requests": dict(self._requests),
                "content_encodings": dict(self._content_encodings),
                "received_bytes": self._received_bytes,
                "accepted_requests": self._accepted_requests,
                "accepted_spans": self._accepted_spans,
                "rejected_spans": dict(self._rejected_spans),
                "rejected_spans_total": sum(self._rejected_spans.values()),
                "refused_requests": dict(self._refused_requests),
                "refused_requests_total": sum(self._refused_requests.values()),
                "unsupported_signal_requests": dict(self._unsupported_signal_requests),
            }
