"""``tracelens import FILE...``: load OTLP JSON/protobuf, Jaeger JSON and Zipkin v2 files."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click

from tracelens.cli.common import data_option, echo_json, handle_errors, json_option

#: spans per table file written by one load: bounds the memory of one Parquet encode
#: (the Arrow copy of the rows) for big files; row groups inside are smaller anyway
LOAD_CHUNK_SPANS = 500_000
#: files decoded at once by default: the scanners run without the GIL and the Parquet
#: encode too, so two decoders keep a 2-core machine busy (benchmarks/import_analysis.py);
#: each file in flight is held in memory whole
DEFAULT_JOBS = 2


def _reasons(by_reason: dict[str, int]) -> str:
    return ", ".join(f"{reason} {n}" for reason, n in sorted(by_reason.items()))


def import_file(store: Any, path: Path) -> dict[str, Any]:
    """Decode one file and load its spans into the table (``Store.load``: no WAL, the file
    is the durable copy); the per-file report (never raises for data)."""
    from tracelens.errors import DecodeError
    from tracelens.ingest import decode_file

    try:
        result = decode_file(path)
    except (DecodeError, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return {"file": str(path), "error": reason, "spans": 0, "rejected": 0}
    frame = result.spans
    for offset in range(0, frame.height, LOAD_CHUNK_SPANS):
        store.load(frame.slice(offset, LOAD_CHUNK_SPANS))
    return {
        "file": str(path),
        "spans": frame.height,
        "traces": frame["trace_id"].n_unique() if frame.height else 0,
        "rejected": result.rejected,
        "rejected_by_reason": dict(result.rejected_by_reason),
        "problems": list(result.errors),
    }


def import_files(store: Any, paths: Iterable[Path], jobs: int = DEFAULT_JOBS) -> Iterator[dict[str, Any]]:
    """``import_file`` over ``paths``, ``jobs`` files at a time (one decodes while another
    is written); reports come in the order of ``paths``. Every file is queued at once: a
    queued file costs nothing, and a running one drops its frame once loaded, so at most
    ``jobs`` decoded files are in memory (a window of pending results instead stalled the
    pool whenever the oldest file was the slowest)."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="tracelens-import") as pool:
        # Executor.map cancels the files not yet started when this generator is closed or
        # interrupted (Ctrl-C while waiting): only those in flight finish, each one commit
        yield from pool.map(functools.partial(import_file, store), paths)


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@data_option
@click.option(
    "--jobs", "-j", type=click.IntRange(min=1), default=DEFAULT_JOBS, show_default=True,
    help="Files decoded at once (each is held in memory while in flight).",
)
@json_option
@handle_errors
def import_(files: tuple[Path, ...], data: Path, jobs: int, as_json: bool) -> None:
    """Import trace files into the span store (created if needed): OTLP JSON, OTLP protobuf,
    Jaeger JSON (as the Jaeger UI downloads it) and Zipkin v2 JSON, optionally gzipped;
    the format is detected from the content. Spans with invalid ids are rejected one by one
    (reported as warnings), the rest is stored; spans already in the store are not
    duplicated. Spans go straight into the table, not through the write-ahead log: the
    files are their durable copy, so after a crash simply import them again. Exit code 1
    if a file cannot be read or decoded.

    \b
    Example:
      tracelens import traces.json jaeger-export.json --data ./tracelens-data
      tracelens import otlp-*.pb.gz --json
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tracelens.config import StoreConfig
    from tracelens.store import Store

    err = Console(stderr=True)
    reports: list[dict[str, Any]] = []
    with Store.open(data, StoreConfig(path=data)) as store:
        with Progress(
            TextColumn("[bold]importing[/bold] {task.fields[name]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=as_json or not err.is_terminal,
        ) as progress:
            task = progress.add_task("import", total=len(files), name=files[0].name)
            for path, report in zip(files, import_files(store, files, jobs), strict=True):
                reports.append(report)
                if "error" in report:
                    err.print(f"Error: {path}: {report['error']}", markup=False, highlight=False, soft_wrap=True)
                elif report["rejected"]:
                    example = f"; e.g. {report['problems'][0]}" if report["problems"] else ""
                    err.print(
                        f"Warning: {path}: rejected {report['rejected']} span(s) "
                        f"({_reasons(report['rejected_by_reason'])}){example}",
                        markup=False, highlight=False, soft_wrap=True,
                    )
                progress.update(task, advance=1, name=path.name)
    failed = [r for r in reports if "error" in r]
    spans = sum(r["spans"] for r in reports)
    if as_json:
        echo_json({"data": str(data), "spans": spans, "files": reports})
    else:
        click.echo(f"Imported {spans} span(s) from {len(files) - len(failed)} of {len(files)} file(s) into {data}")
    if failed:
        sys.exit(1)
