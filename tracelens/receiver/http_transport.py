"""OTLP/HTTP: ``POST /v1/traces`` (protobuf or JSON by Content-Type), plus the status endpoint.

A threaded ``http.server``: one thread per connection, HTTP/1.1 keep-alive, which is what
the OTLP exporters (requests / urllib3 sessions) use. Each request is answered with the
encoding it came in (H1, H5, H6); errors carry a google.rpc.Status body (H2). The body is
read with a bound and inflated with a bound (H4), so neither a huge upload nor a gzip bomb
can make the process grow past the request limit.
"""

from __future__ import annotations

import gzip
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.rpc import code_pb2

from tracelens.config import ReceiverConfig
from tracelens.errors import DecodeError, ReceiverError
from tracelens.receiver.counters import Reason
from tracelens.receiver.inflate import TooLargeError, UnsupportedEncodingError, check_codings, content_codings, inflate
from tracelens.receiver.pipeline import STORE_ERROR, Outcome, Pipeline
from tracelens.receiver.security import TLSFiles, token_matches
from tracelens.receiver.wire import Encoding, Signal, not_supported_response, rpc_status, serialize, trace_response

logger = logging.getLogger("tracelens.receiver")

TRANSPORT = "http"
STATUS_PATH = "/api/v1/status"
#: A read-only JSON endpoint mounted by the caller (the receiver never reads spans itself):
#: query parameters -> (HTTP status, JSON body). `tracelens serve` mounts /api/v1/canary.
QueryRoute = Callable[[Mapping[str, list[str]]], tuple[int, dict[str, Any]]]
SIGNAL_PATHS = {"/v1/metrics": Signal.METRICS, "/v1/logs": Signal.LOGS}
MEDIA_TYPES = {
    "application/x-protobuf": Encoding.PROTOBUF,
    "application/protobuf": Encoding.PROTOBUF,
    "application/json": Encoding.JSON,
}
#: Bytes of an unwanted body we still read (and discard) so the client sees our answer
#: instead of a reset connection; past this we answer and close.
MAX_DRAIN_BYTES = 256 * 1024 * 1024
IDLE_CONNECTION_TIMEOUT_SECONDS = 60.0
_READ_CHUNK = 1 << 20
_DATE_CACHE: list[Any] = [0, ""]  # [second, formatted Date header]

_HTTP_BY_REFUSAL = {
    Reason.UNDECODABLE: (HTTPStatus.BAD_REQUEST, code_pb2.INVALID_ARGUMENT),
    Reason.TOO_LARGE: (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, code_pb2.RESOURCE_EXHAUSTED),
    Reason.UNAUTHENTICATED: (HTTPStatus.UNAUTHORIZED, code_pb2.UNAUTHENTICATED),
    Reason.UNSUPPORTED_MEDIA_TYPE: (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, code_pb2.INVALID_ARGUMENT),
    Reason.UNSUPPORTED_ENCODING: (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, code_pb2.INVALID_ARGUMENT),
    Reason.METHOD_NOT_ALLOWED: (HTTPStatus.METHOD_NOT_ALLOWED, code_pb2.UNIMPLEMENTED),
    Reason.NOT_FOUND: (HTTPStatus.NOT_FOUND, code_pb2.NOT_FOUND),
    # Transient: 503 + Retry-After, never 500, so exporters retry instead of dropping (H7, H8).
    Reason.OVERLOADED: (HTTPStatus.SERVICE_UNAVAILABLE, code_pb2.UNAVAILABLE),
    STORE_ERROR: (HTTPStatus.SERVICE_UNAVAILABLE, code_pb2.UNAVAILABLE),
    Reason.INTERNAL: (HTTPStatus.INTERNAL_SERVER_ERROR, code_pb2.INTERNAL),
}


def media_encoding(content_type: str | None) -> Encoding | None:
    """The OTLP encoding named by a Content-Type header; parameters are ignored (H1)."""
    if not content_type:
        return None
    return MEDIA_TYPES.get(content_type.split(";", 1)[0].strip().lower())


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True if the client listed gzip (without q=0) in Accept-Encoding (H9)."""
    for item in (accept_encoding or "").lower().split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip() in ("gzip", "x-gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


class _Refusal(Exception):
    """Raised inside a request handler to answer with an error Outcome."""

    def __init__(self, outcome: Outcome, encoding: Encoding = Encoding.JSON) -> None:
        self.outcome = outcome
        self.encoding = encoding
        super().__init__(outcome.message)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not block shutdown
    block_on_close = False
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], transport: HttpTransport) -> None:
        self.transport = transport
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, _Handler)


class HttpTransport:
    """The HTTP server of a Receiver."""

    def __init__(
        self,
        pipeline: Pipeline,
        config: ReceiverConfig,
        status: Callable[[], dict[str, Any]],
        query_routes: Mapping[str, QueryRoute] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.config = config
        self.status = status
        self.query_routes = dict(query_routes or {})
        self.port: int | None = None
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._ssl: ssl.SSLContext | None = None
        self._inflight = 0
        self._idle = threading.Condition()
        self.stopping = False

    def start(self) -> int:
        config = self.config
        if config.tls_cert and config.tls_key:
            self._ssl = TLSFiles(config.tls_cert, config.tls_key, config.tls_client_ca).server_context()
        try:
            server = _Server((config.host, config.http_port or 0), self)
        except OSError as exc:
            msg = f"cannot listen for OTLP/HTTP on {config.host}:{config.http_port}: {exc.strerror or exc}"
            raise ReceiverError(msg) from None
        if self._ssl is not None:
            # Handshake in the connection's own thread (do_handshake_on_connect would run it
            # in the accept loop, where one slow client would stall everyone).
            server.socket = self._ssl.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="tracelens-http", daemon=True)
        self._thread.start()
        return self.port

    def stop(self, grace: float) -> None:
        """Stop accepting connections, then wait up to ``grace`` s for requests in flight."""
        server = self._server
        if server is None:
            return
        self.stopping = True
        server.shutdown()
        server.server_close()
        with self._idle:
            self._idle.wait_for(lambda: self._inflight == 0, timeout=grace)
        self._server = None

    def begin(self) -> None:
        with self._idle:
            self._inflight += 1

    def end(self) -> None:
        with self._idle:
            self._inflight -= 1
            self._idle.notify_all()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tracelens"
    sys_version = ""
    timeout = IDLE_CONNECTION_TIMEOUT_SECONDS
    server: _Server

    # --- plumbing ---------------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def handle_one_request(self) -> None:
        transport = self.server.transport
        transport.begin()
        try:
            super().handle_one_request()
        except (ssl.SSLError, ConnectionError, TimeoutError):
            self.close_connection = True
        finally:
            transport.end()
        if transport.stopping:
            self.close_connection = True

    def handle(self) -> None:
        try:
            super().handle()
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError):
            pass  # a client that goes away mid-handshake or mid-request is not our error

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header, formatted once per second rather than once per response.
        if timestamp is not None:
            return super().date_time_string(timestamp)
        now = int(time.time())
        cached = _DATE_CACHE
        if cached[0] != now:
            cached[:] = [now, super().date_time_string(now)]
        return str(cached[1])

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s %s", self.address_string(), format % args)

    @property
    def _peer(self) -> str:
        return f"{TRANSPORT}:{self.client_address[0]}:{self.client_address[1]}"

    @property
    def _pipeline(self) -> Pipeline:
        return self.server.transport.pipeline

    @property
    def _config(self) -> ReceiverConfig:
        return self.server.transport.config

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    # --- methods ----------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        path = self._path()
        try:
            if path == self._config.http_traces_path:
                self._export_traces()
            elif path in SIGNAL_PATHS:
                self._export_unsupported(SIGNAL_PATHS[path])
            else:
                self._drain()
                raise _Refusal(self._pipeline.refuse(Reason.NOT_FOUND, f"no such endpoint: POST {path}", self._peer))
        except _Refusal as refusal:
            self._send_refusal(refusal.outcome, refusal.encoding)

    def do_GET(self) -> None:  # noqa: N802
        path = self._path()
        route = self.server.transport.query_routes.get(path)
        if path == STATUS_PATH or route is not None:
            if not token_matches(self.headers.get("Authorization"), self._config.auth_token):
                self._send_refusal(self._pipeline.refuse(Reason.UNAUTHENTICATED, "missing or wrong bearer token", self._peer), Encoding.JSON)
                return
            code, payload = (HTTPStatus.OK, self.server.transport.status()) if route is None else route(self._query())
            self._send(HTTPStatus(code), json.dumps(payload, default=str).encode("utf-8"), "application/json")
            return
        self._not_allowed_or_missing(path)

    def _query(self) -> dict[str, list[str]]:
        from urllib.parse import parse_qs, urlsplit

        return parse_qs(urlsplit(self.path).query)

    def _not_allowed_or_missing(self, path: str) -> None:
        self._drain()
        if path == self._config.http_traces_path or path in SIGNAL_PATHS:
            outcome = self._pipeline.refuse(Reason.METHOD_NOT_ALLOWED, f"{self.command} is not allowed on {path}; use POST", self._peer)
            self._send_refusal(outcome, Encoding.JSON, extra_headers={"Allow": "POST"})
        else:
            outcome = self._pipeline.refuse(Reason.NOT_FOUND, f"no such endpoint: {self.command} {path}", self._peer)
            self._send_refusal(outcome, Encoding.JSON)

    def do_PUT(self) -> None:  # noqa: N802
        self._not_allowed_or_missing(self._path())

    do_DELETE = do_PATCH = do_OPTIONS = do_PUT  # noqa: N815

    def do_HEAD(self) -> None:  # noqa: N802
        self._not_allowed_or_missing(self._path())

    # --- OTLP -------------------------------------------------------------------------
    def _check_auth(self, encoding: Encoding) -> None:
        if not token_matches(self.headers.get("Authorization"), self._config.auth_token):
            self._drain()
            outcome = self._pipeline.refuse(Reason.UNAUTHENTICATED, "missing or wrong bearer token", self._peer)
            raise _Refusal(outcome, encoding)

    def _request_encoding(self) -> Encoding:
        content_type = self.headers.get("Content-Type")
        encoding = media_encoding(content_type)
        if encoding is None:
            self._drain()
            message = f"unsupported Content-Type {content_type!r}: use application/x-protobuf or application/json"
            raise _Refusal(self._pipeline.refuse(Reason.UNSUPPORTED_MEDIA_TYPE, message, self._peer))
        return encoding

    def _request_body(self, encoding: Encoding) -> bytes:
        """The decompressed body, bounded while reading and while inflating (H3, H4)."""
        limit = self._config.max_request_bytes
        codings = content_codings(self.headers.get("Content-Encoding"))
        try:
            check_codings(codings)
        except UnsupportedEncodingError as exc:
            self._drain()
            raise _Refusal(self._pipeline.refuse(Reason.UNSUPPORTED_ENCODING, str(exc), self._peer), encoding) from None
        raw = self._read_body(limit, encoding)
        try:
            return inflate(raw, codings, limit)
        except TooLargeError as exc:
            raise _Refusal(self._pipeline.refuse(Reason.TOO_LARGE, str(exc), self._peer), encoding) from None
        except DecodeError as exc:
            raise _Refusal(self._pipeline.refuse(Reason.UNDECODABLE, str(exc), self._peer), encoding) from None

    def _too_large(self, encoding: Encoding, limit: int) -> _Refusal:
        message = f"request body exceeds the limit of {limit} bytes"
        return _Refusal(self._pipeline.refuse(Reason.TOO_LARGE, message, self._peer), encoding)

    def _read_body(self, limit: int, encoding: Encoding) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit, encoding)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise _Refusal(self._pipeline.refuse(Reason.UNDECODABLE, "invalid Content-Length", self._peer), encoding) from None
        if length > limit:
            self._discard(length)
            raise self._too_large(encoding, limit)
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            self.close_connection = True
            raise _Refusal(self._pipeline.refuse(Reason.UNDECODABLE, "body shorter than Content-Length", self._peer), encoding)
        return body

    def _read_chunked(self, limit: int, encoding: Encoding) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise _Refusal(self._pipeline.refuse(Reason.UNDECODABLE, "malformed chunked body", self._peer), encoding) from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > limit:
                self.close_connection = True
                raise self._too_large(encoding, limit)
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _discard(self, length: int) -> None:
        """Read and drop ``length`` body bytes (bounded) so the client can read our answer."""
        if length > MAX_DRAIN_BYTES:
            self.close_connection = True
            return
        remaining = length
        while remaining > 0:
            piece = self.rfile.read(min(_READ_CHUNK, remaining))
            if not piece:
                self.close_connection = True
                return
            remaining -= len(piece)

    def _drain(self) -> None:
        """Discard whatever body the request carries before answering early."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self.close_connection = True
            return
        try:
            self._discard(int(self.headers.get("Content-Length") or 0))
        except ValueError:
            self.close_connection = True

    def _export_traces(self) -> None:
        self._check_auth(media_encoding(self.headers.get("Content-Type")) or Encoding.JSON)
        encoding = self._request_encoding()
        if self.server.transport.stopping:  # a late request on a kept-alive connection
            self._drain()
            raise _Refusal(self._pipeline.refuse(Reason.OVERLOADED, "shutting down; retry later", self._peer, retry=True), encoding)
        refusal = self._pipeline.overloaded(self._peer)
        if refusal is not None:
            self._drain()
            raise _Refusal(refusal, encoding)
        body = self._request_body(encoding)
        coding = ",".join(content_codings(self.headers.get("Content-Encoding"))) or "identity"
        self._pipeline.counters.request(TRANSPORT, len(body), coding)
        try:
            # self.headers looks names up case-insensitively, as R4 header attributes need
            outcome = self._pipeline.export(body, encoding, self.headers, self._peer)
        except Exception:  # a bug of ours: a real internal failure, the one case for 500 (H8)
            logger.exception("internal error while handling an OTLP/HTTP export from %s", self._peer)
            outcome = self._pipeline.refuse(Reason.INTERNAL, "internal error (see the receiver log)", self._peer)
        if outcome.refusal is not None:
            raise _Refusal(outcome, encoding)
        response = trace_response(outcome.rejected, outcome.message)
        self._send(HTTPStatus.OK, serialize(response, encoding), encoding.value)

    def _export_unsupported(self, signal: Signal) -> None:
        encoding = media_encoding(self.headers.get("Content-Type")) or Encoding.JSON
        self._check_auth(encoding)
        encoding = self._request_encoding()
        self._request_body(encoding)
        self._pipeline.counters.unsupported_signal(signal.value)
        self._send(HTTPStatus.OK, serialize(not_supported_response(signal), encoding), encoding.value)

    # --- responses --------------------------------------------------------------------
    def _send_refusal(self, outcome: Outcome, encoding: Encoding, extra_headers: dict[str, str] | None = None) -> None:
        assert outcome.refusal is not None
        http_status, rpc_code = _HTTP_BY_REFUSAL.get(outcome.refusal, (HTTPStatus.INTERNAL_SERVER_ERROR, code_pb2.INTERNAL))
        headers = dict(extra_headers or {})
        if outcome.retry_after_seconds is not None:
            headers["Retry-After"] = str(max(1, round(outcome.retry_after_seconds)))
        if http_status == HTTPStatus.UNAUTHORIZED:
            headers["WWW-Authenticate"] = 'Bearer realm="tracelens"'
        status = rpc_status(rpc_code, outcome.message, outcome.retry_after_seconds)
        self._send(http_status, serialize(status, encoding), encoding.value, headers)

    def _send(self, status: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        if body and accepts_gzip(self.headers.get("Accept-Encoding")):
            body = gzip.compress(body, compresslevel=5)
            headers = {**(headers or {}), "Content-Encoding": "gzip"}
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection or self.server.transport.stopping:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
