"""``tracelens serve``: the OTLP receiver on a durable store, until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import click

from tracelens.cli.common import data_option, handle_errors
from tracelens.config import (
    AUTH_TOKEN_ENV,
    DEFAULT_GRPC_PORT,
    DEFAULT_HOST,
    DEFAULT_HTTP_PORT,
    DEFAULT_MAX_REQUEST_BYTES,
    DEFAULT_MAX_WAL_BACKLOG_BYTES,
)

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)\s*$", re.IGNORECASE)
_SIZE_FACTORS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4, "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}


def parse_size(text: str) -> int:
    """'64MiB', '512mb', '1G', '1048576' -> bytes."""
    match = _SIZE.match(text)
    unit = match.group(2).lower().removesuffix("b") if match else None
    if match is None or unit not in _SIZE_FACTORS:
        msg = f"invalid size {text!r} (e.g. 64MiB, 1GB, 1048576)"
        raise click.BadParameter(msg)
    return int(float(match.group(1)) * _SIZE_FACTORS[unit])


def _port(value: str) -> int | None:
    if value.lower() == "off":
        return None
    try:
        port = int(value)
    except ValueError:
        msg = f"invalid port {value!r} (a number, 0 for any free port, or 'off')"
        raise click.BadParameter(msg) from None
    if not 0 <= port <= 65535:
        raise click.BadParameter(f"port {port} out of range")
    return port


@click.command("serve")
@data_option
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to bind (loopback by default: nothing exposed by accident).")
@click.option("--grpc-port", default=str(DEFAULT_GRPC_PORT), show_default=True, help="OTLP/gRPC port; 0 = any free port, 'off' = disabled.")
@click.option("--http-port", default=str(DEFAULT_HTTP_PORT), show_default=True, help="OTLP/HTTP port; 0 = any free port, 'off' = disabled.")
@click.option("--auth-token", envvar=AUTH_TOKEN_ENV, default=None, help=f"Require 'Authorization: Bearer TOKEN' on both transports (or ${AUTH_TOKEN_ENV}).")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="PEM certificate chain: serve both transports over TLS.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="PEM private key of --tls-cert.")
@click.option("--tls-client-ca", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="PEM CA: require client certificates signed by it (mTLS).")
@click.option("--retention", default=None, help="Delete spans older than this (e.g. 7d, 36h).")
@click.option("--compact-every", default="1h", show_default=True,
              help="How often closed days (before today, UTC) of several files are compacted: sorted by trace_id, duplicates removed. 'off' = never.")
@click.option("--max-request-size", default=f"{DEFAULT_MAX_REQUEST_BYTES // 2**20}MiB", show_default=True, help="Largest request accepted, after decompression.")
@click.option("--max-backlog", default=f"{DEFAULT_MAX_WAL_BACKLOG_BYTES // 2**20}MiB", show_default=True, help="Unflushed WAL size above which clients are asked to retry later.")
@click.option("--max-memory", default=None, help="Process memory above which clients are asked to retry later (e.g. 2GiB).")
@click.option("--header-attribute", "header_attributes", multiple=True, metavar="HEADER[=KEY]", help="Copy a request header into a resource attribute of every span (repeatable).")
@click.option("--flush-interval", default=None, type=float, help="Seconds between WAL-to-table flushes.")
@click.option("--grpc-workers", default=None, type=click.IntRange(1, 1024), help="Concurrent OTLP/gRPC exports (threads).")
@click.option("--flush-processes", default=0, show_default=True, type=click.IntRange(0, 64),
              help="Worker processes that decode and write the flusher's batches (0: threads of the server's process).")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]))
@click.option("--canary-endpoint/--no-canary-endpoint", default=True, show_default=True,
              help="Serve GET /api/v1/canary?baseline=..&canary=.. (the canary verdict as JSON) on the HTTP port.")
@handle_errors
def serve(
    data: Path,
    host: str,
    grpc_port: str,
    http_port: str,
    auth_token: str | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_client_ca: Path | None,
    retention: str | None,
    compact_every: str,
    max_request_size: str,
    max_backlog: str,
    max_memory: str | None,
    header_attributes: tuple[str, ...],
    flush_interval: float | None,
    grpc_workers: int | None,
    flush_processes: int,
    log_level: str,
    canary_endpoint: bool,
) -> None:
    """Receive OTLP traces (gRPC and HTTP) into the span store until Ctrl-C or SIGTERM.

    Every request is acknowledged only once its spans are durable (fsync'd write-ahead
    log). On SIGTERM/SIGINT it stops accepting, drains requests in flight, flushes the
    store and exits 0. Point exporters at it with OTEL_EXPORTER_OTLP_ENDPOINT.

    \b
    Example:
      tracelens serve --data ./tracelens-data --retention 7d
      OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 python app.py
      tracelens serve --auth-token s3cret --tls-cert cert.pem --tls-key key.pem
    """
    from dataclasses import replace

    from tracelens.config import ReceiverConfig, StoreConfig
    from tracelens.receiver import serve as run
    from tracelens.receiver.serve import freeze_startup_objects
    from tracelens.store.timerange import parse_duration

    if (tls_cert is None) != (tls_key is None):
        raise click.UsageError("--tls-cert and --tls-key go together")
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    receiver_config = ReceiverConfig(
        host=host,
        grpc_port=_port(grpc_port),
        http_port=_port(http_port),
        auth_token=auth_token or None,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        max_request_bytes=parse_size(max_request_size),
        max_wal_backlog_bytes=parse_size(max_backlog),
        max_memory_bytes=parse_size(max_memory) if max_memory else None,
        header_attributes=header_attributes,
    )
    if grpc_workers is not None:
        receiver_config = replace(receiver_config, grpc_workers=grpc_workers)
    store_config = StoreConfig(path=data)
    if retention:
        store_config = replace(store_config, retention_seconds=parse_duration(retention).total_seconds())
    if flush_interval is not None:
        store_config = replace(store_config, flush_interval_seconds=flush_interval)
    store_config = replace(store_config, flush_processes=flush_processes)
    compact_seconds = None if compact_every.strip().lower() == "off" else parse_duration(compact_every).total_seconds()
    store_config = replace(store_config, compact_check_seconds=compact_seconds)

    def ready(receiver: object) -> None:
        endpoints = receiver.endpoints()  # type: ignore[attr-defined]
        shown = ", ".join(f"OTLP/{kind} on {where}" for kind, where in endpoints.items())
        click.echo(f"tracelens: receiving {shown}; data in {data}. Ctrl-C to stop.", err=True)
        freeze_startup_objects()  # this process serves until it exits

    final = run(data, receiver_config, store_config, on_ready=ready,
                query_routes=_canary_route if canary_endpoint else None)
    click.echo(
        f"tracelens: stopped; accepted {final['accepted_spans']} span(s), "
        f"rejected {final['rejected_spans_total']}, refused {final['refused_requests_total']} request(s).",
        err=True,
    )


def _canary_route(store: object) -> dict[str, object]:
    """GET /api/v1/canary: the verdict JSON of tracelens.canary (for Argo Rollouts' web
    metric or a Flagger webhook); HTTP 200 when Successful, 412 otherwise, 400 on bad input."""

    def verdict(params: dict[str, list[str]]) -> tuple[int, dict[str, object]]:
        from tracelens.canary.api import canary_verdict_json

        body = canary_verdict_json(store, {key: values[-1] for key, values in params.items()})  # type: ignore[arg-type]
        return int(body.get("status") or 200), body

    return {"/api/v1/canary": verdict}
