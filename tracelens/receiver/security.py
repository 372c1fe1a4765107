"""Bearer-token auth and TLS material, shared by both transports (T3).

One check for both transports, so a token that works on gRPC works on HTTP too (the
collector once had exactly that bug).
"""

from __future__ import annotations

import hmac
import ssl
from dataclasses import dataclass
from pathlib import Path

from tracelens.errors import ReceiverError

BEARER_PREFIX = "bearer "


def token_matches(authorization: str | None, token: str | None) -> bool:
    """True if auth is off (``token`` None) or ``authorization`` is ``Bearer <token>``.

    The scheme is case-insensitive (RFC 9110) and the comparison constant-time."""
    if token is None:
        return True
    if not authorization or not authorization[: len(BEARER_PREFIX)].lower() == BEARER_PREFIX:
        return False
    offered = authorization[len(BEARER_PREFIX) :].strip()
    return hmac.compare_digest(offered.encode("utf-8"), token.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class TLSFiles:
    """Server certificate chain and key (PEM), and an optional client CA for mTLS."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def read(self) -> tuple[bytes, bytes, bytes | None]:
        try:
            cert = self.cert.read_bytes()
            key = self.key.read_bytes()
            ca = self.client_ca.read_bytes() if self.client_ca else None
        except OSError as exc:
            msg = f"cannot read TLS files: {exc}"
            raise ReceiverError(msg) from None
        return cert, key, ca

    def server_context(self) -> ssl.SSLContext:
        """An SSL context for the HTTP server (client certificates required when a CA is set)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(str(self.cert), str(self.key))
            if self.client_ca:
                context.load_verify_locations(cafile=str(self.client_ca))
                context.verify_mode = ssl.CERT_REQUIRED
        except (OSError, ssl.SSLError) as exc:
            msg = f"cannot load TLS certificate/key: {exc}"
            raise ReceiverError(msg) from None
        return context

    def grpc_credentials(self):  # type: ignore[no-untyped-def]
        import grpc

        cert, key, ca = self.read()
        return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca, require_client_auth=ca is not None)
