"""The flush's decode and Parquet encode in worker processes.

A receiver's process is held to well under two cores by the GIL: gRPC's polling thread,
the decoder's assembly and the Arrow conversion before the Parquet encode all hold it, so
on a 2-core machine a core idled under load (benchmarks/ingest.py: ~1.35 cores used). A
worker process has a GIL of its own: the receiver's process validates, logs and sends the
raw requests of a flush batch here; the worker decodes them, writes the batch's data files
(fsync'd, not committed) and returns them as plain values; the store commits them.

Workers are started with ``spawn``: the receiver's process runs gRPC threads, which a fork
would copy in whatever state they are.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tracelens.store.table import WrittenFile, stage_files, warm_up_writer


def _start_worker() -> None:
    """Compile (load from numba's cache) the decoder and load the writer once per worker,
    before its first batch."""
    from tracelens.ingest import warm_up

    warm_up()
    warm_up_writer()


def _ready() -> bool:
    return True


def start_workers(processes: int) -> ProcessPoolExecutor:
    """``processes`` flush workers, started and warmed up before this returns."""
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker)
    for future in [pool.submit(_ready) for _ in range(processes)]:
        future.result()
    return pool


def stage_raw_requests(table_path: str, bodies: list[bytes], row_group_rows: int) -> tuple[list[WrittenFile], int]:
    """In a worker: decode raw OTLP requests together and write their data files; the
    files (not committed) and the number of rows in them."""
    from tracelens.ingest import decode_otlp_protobuf_batch

    return stage_files(Path(table_path), decode_otlp_protobuf_batch(bodies), row_group_rows)
