"""T3: TLS and mTLS on BOTH transports, with certificates made by the openssl CLI in the
test (a throwaway CA, a server certificate for 127.0.0.1, a client certificate), plus
bearer-token auth over TLS."""

from __future__ import annotations

import http.client
import shutil
import ssl
import subprocess
from pathlib import Path

import grpc
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from receiver_support import grpc_call, otlp_request, running_receiver, stored_spans

from tracelens.errors import ReceiverError

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI to make test certificates")

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> dict[str, Path]:
    """ca.pem, server.pem/server.key (SAN 127.0.0.1, localhost), client.pem/client.key."""
    root = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=tracelens test CA", cwd=root)
    (root / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=root)
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", f"{name}.pem", "-days", "2", "-extfile", "san.ext", cwd=root,
        )
    return {name: root / name for name in ("ca.pem", "server.pem", "server.key", "client.pem", "client.key")}


def _https(port: int, pki: dict[str, Path], *, client_cert: bool, body: bytes, headers: dict[str, str]) -> int:
    context = ssl.create_default_context(cafile=str(pki["ca.pem"]))
    if client_cert:
        context.load_cert_chain(str(pki["client.pem"]), str(pki["client.key"]))
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=60)
    try:
        connection.request("POST", "/v1/traces", body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def _grpc_credentials(pki: dict[str, Path], *, client_cert: bool) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=pki["ca.pem"].read_bytes(),
        private_key=pki["client.key"].read_bytes() if client_cert else None,
        certificate_chain=pki["client.pem"].read_bytes() if client_cert else None,
    )


def test_tls_on_both_transports_with_a_bearer_token(tmp_path, pki):
    tls = {"tls_cert": pki["server.pem"], "tls_key": pki["server.key"], "auth_token": "s3cret"}
    with running_receiver(tmp_path, **tls) as (rx, store):
        assert rx.endpoints()["http"].startswith("https://")
        body = otlp_request(2).SerializeToString()
        credentials = _grpc_credentials(pki, client_cert=False)
        _, call = grpc_call(rx.grpc_port, body, credentials=credentials, metadata=(("authorization", "Bearer s3cret"),))
        assert call.code() == grpc.StatusCode.OK
        with pytest.raises(grpc.RpcError) as failure:
            grpc_call(rx.grpc_port, body, credentials=credentials)
        assert failure.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert _https(rx.http_port, pki, client_cert=False, body=otlp_request(3, trace_byte=2).SerializeToString(), headers=PROTOBUF | {"Authorization": "Bearer s3cret"}) == 200
        assert _https(rx.http_port, pki, client_cert=False, body=body, headers=PROTOBUF) == 401
        # plaintext clients get nowhere
        with pytest.raises(grpc.RpcError) as failure:
            grpc_call(rx.grpc_port, body, metadata=(("authorization", "Bearer s3cret"),))
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        plain = http.client.HTTPConnection("127.0.0.1", rx.http_port, timeout=10)
        with pytest.raises((ConnectionError, http.client.HTTPException, OSError)):
            plain.request("POST", "/v1/traces", body=body, headers=PROTOBUF)
            plain.getresponse().read()
        plain.close()
        assert stored_spans(store).height == 5
        assert rx.counters["refused_requests"] == {"unauthenticated": 2}


def test_mtls_requires_a_client_certificate_on_both_transports(tmp_path, pki):
    tls = {"tls_cert": pki["server.pem"], "tls_key": pki["server.key"], "tls_client_ca": pki["ca.pem"]}
    with running_receiver(tmp_path, **tls) as (rx, store):
        body = otlp_request(1).SerializeToString()
        _, call = grpc_call(rx.grpc_port, body, credentials=_grpc_credentials(pki, client_cert=True))
        assert call.code() == grpc.StatusCode.OK
        with pytest.raises(grpc.RpcError) as failure:
            grpc_call(rx.grpc_port, body, credentials=_grpc_credentials(pki, client_cert=False))
        assert failure.value.code() == grpc.StatusCode.UNAVAILABLE
        assert _https(rx.http_port, pki, client_cert=True, body=otlp_request(1, trace_byte=4).SerializeToString(), headers=PROTOBUF) == 200
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            _https(rx.http_port, pki, client_cert=False, body=body, headers=PROTOBUF)
        assert stored_spans(store).height == 2


def test_real_http_exporter_over_mtls(tmp_path, pki, monkeypatch):
    # requests lets these variables override a session's CA file (psf/requests#3829), so
    # the exporter's certificate_file would be ignored where they are set
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    tls = {"tls_cert": pki["server.pem"], "tls_key": pki["server.key"], "tls_client_ca": pki["ca.pem"]}
    with running_receiver(tmp_path, **tls) as (rx, store):
        exporter = OTLPSpanExporter(
            endpoint=f"https://127.0.0.1:{rx.http_port}/v1/traces",
            certificate_file=str(pki["ca.pem"]),
            client_certificate_file=str(pki["client.pem"]),
            client_key_file=str(pki["client.key"]),
        )
        provider = TracerProvider(resource=Resource.create({"service.name": "tls-client"}))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        for i in range(25):
            with provider.get_tracer("tls").start_as_current_span(f"op-{i}"):
                pass
        provider.shutdown()
        assert stored_spans(store).height == 25


def test_unreadable_tls_files_are_a_clear_error(tmp_path):
    with pytest.raises(ReceiverError, match="TLS"):
        with running_receiver(tmp_path, tls_cert=tmp_path / "missing.pem", tls_key=tmp_path / "missing.key"):
            pass
