"""WAL records holding raw OTLP protobuf requests (Store.append_otlp): what the store keeps,
replays after a restart and shows to readers is exactly what the decoder accepted."""

from __future__ import annotations

import polars as pl
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from polars.testing import assert_frame_equal

import tracelens
from tracelens import schema as s
from tracelens.config import StoreConfig
from tracelens.ingest import decode_otlp_protobuf
from tracelens.store import Store
from tracelens.store.store import OTLP_PROTOBUF_TAG
from tracelens.store.wal import read_records

START_NS = 1_767_225_600_000_000_000


def request_with_one_invalid_span() -> bytes:
    """Three spans; the third has a 15-byte trace id (rejected by the decoder)."""
    spans = [
        Span(trace_id=bytes([1] * 16), span_id=bytes([i + 1] * 8), name=f"op{i}",
             start_time_unix_nano=START_NS + i, end_time_unix_nano=START_NS + 1000 + i)
        for i in range(2)
    ]
    spans.append(Span(trace_id=bytes([2] * 15), span_id=bytes([9] * 8), name="bad",
                      start_time_unix_nano=START_NS, end_time_unix_nano=START_NS + 5))
    request = ExportTraceServiceRequest(resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])])
    return request.SerializeToString()


def distinct_requests(n: int, first_byte: int) -> list[bytes]:
    """``n`` copies of request_with_one_invalid_span, each with trace ids of its own."""
    bodies = []
    for k in range(n):
        request = ExportTraceServiceRequest.FromString(request_with_one_invalid_span())
        for span in request.resource_spans[0].scope_spans[0].spans:
            span.trace_id = bytes([first_byte + k] * len(span.trace_id))
        bodies.append(request.SerializeToString())
    return bodies


def ordered(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(s.TRACE_ID, s.SPAN_ID)


def test_raw_otlp_records_replay_and_read_as_the_accepted_spans(tmp_path):
    body = request_with_one_invalid_span()
    decoded = decode_otlp_protobuf(body)
    assert decoded.rejected == 1 and decoded.spans.height == 2
    config = StoreConfig(path=tmp_path, flush_interval_seconds=3600)
    store = Store.open(tmp_path, config)
    store.append_otlp(body, decoded.spans)
    records = list(read_records(tmp_path / "wal"))
    assert len(records) == 1 and records[0].payload == OTLP_PROTOBUF_TAG + body  # the request itself
    # a reader in another process decodes the raw record: the two valid spans, no more
    assert_frame_equal(ordered(tracelens.open(tmp_path).spans().collect()), ordered(decoded.spans))
    # simulate a crash: no flush, no close; a new writer replays the record
    store._wal.close()  # noqa: SLF001 - release the segment like a dying process would
    store._release_lock()  # noqa: SLF001
    reopened = Store.open(tmp_path, config)
    assert reopened.stats()["replayed_spans"] == 2
    assert reopened.flush() == 2
    reopened.close()
    assert_frame_equal(ordered(tracelens.open(tmp_path).spans().collect()), ordered(decoded.spans))
    assert not list(read_records(tmp_path / "wal"))


def test_raw_and_frame_records_mix_in_one_flush(tmp_path):
    body = request_with_one_invalid_span()
    spans = decode_otlp_protobuf(body).spans
    other = spans.with_columns(pl.col(s.TRACE_ID).str.replace_all("01", "03"))
    with Store.open(tmp_path, StoreConfig(path=tmp_path, flush_interval_seconds=3600)) as store:
        store.append_otlp(body, spans)
        store.append(other)
        store.append_otlp(body, spans)  # a retried request: stored once
        store.flush()
        assert store.spans().collect().height == 4
        assert tracelens.open(tmp_path).stats()["table_rows"] == 4  # deduplicated within the flush


def test_append_otlp_refuses_a_frame_that_is_not_the_contract(tmp_path):
    import pytest

    from tracelens.errors import SchemaError

    body = request_with_one_invalid_span()
    spans = decode_otlp_protobuf(body).spans
    with Store.open(tmp_path, StoreConfig(path=tmp_path, flush_interval_seconds=3600)) as store:
        with pytest.raises(SchemaError):
            store.append_otlp(body, spans.drop(s.NAME))
        assert store.stats()["wal_appends"] == 0


def test_validated_requests_are_decoded_by_the_flusher_in_batches(tmp_path):
    """The receiver's path: append_otlp(body, accepted_count) queues the raw request; the
    writer's own reads decode it on demand, the flush decodes runs of them together, and
    frame records in between keep their place."""
    from tracelens.ingest import validate_otlp_protobuf

    bodies = distinct_requests(5, first_byte=10)
    expected = pl.concat([decode_otlp_protobuf(body).spans for body in bodies])
    framed = expected.with_columns(pl.col(s.TRACE_ID).str.replace_all("0", "f"))
    with Store.open(tmp_path, StoreConfig(path=tmp_path, flush_interval_seconds=3600)) as store:
        for n, body in enumerate(bodies):
            verdict = validate_otlp_protobuf(body)
            assert (verdict.accepted, verdict.rejected) == (2, 1)
            store.append_otlp(body, verdict.accepted)
            if n == 2:
                store.append(framed)
        assert store.stats()["wal_backlog_spans"] == 20
        assert all(item.frame is None for item in store._queue if item.body is not None)  # noqa: SLF001
        assert store.flush() == 20  # two runs of raw requests, each decoded in one go
        assert_frame_equal(ordered(tracelens.open(tmp_path).spans().collect()), ordered(pl.concat([expected, framed])))
        late = bodies[0].replace(bytes([10] * 16), bytes([99] * 16))
        store.append_otlp(late, validate_otlp_protobuf(late).accepted)
        unflushed = decode_otlp_protobuf(late).spans
        assert_frame_equal(ordered(store.spans().collect()), ordered(pl.concat([expected, framed, unflushed])))
    assert_frame_equal(ordered(tracelens.open(tmp_path).spans().collect()), ordered(pl.concat([expected, framed, unflushed])))


def test_a_pre_decoded_batch_goes_to_the_flush_whole_and_its_rows_stay_the_same(tmp_path):
    from tracelens.ingest import validate_otlp_protobuf
    from tracelens.store.store import _predecode, _queued_frames

    bodies = distinct_requests(4, first_byte=20)
    expected = pl.concat([decode_otlp_protobuf(body).spans for body in bodies])
    with Store.open(tmp_path, StoreConfig(path=tmp_path, flush_interval_seconds=3600)) as store:
        for body in bodies:
            store.append_otlp(body, validate_otlp_protobuf(body).accepted)
        items = list(store._queue)  # noqa: SLF001
        _predecode(items)  # what the pre-decoder thread does
        (whole,) = _queued_frames(items)
        assert whole is items[0].batch  # one frame, not four slices to concatenate and rechunk
        assert_frame_equal(whole, expected)
        # a batch missing a slice (split by a flush batch's size limit) goes slice by slice
        assert [f.height for f in _queued_frames(items[1:])] == [2, 2, 2]
        assert store.flush() == expected.height
    assert_frame_equal(ordered(tracelens.open(tmp_path).spans().collect()), ordered(expected))


def _recording_decoder(monkeypatch, on_predecoder=None, predecoder_seconds=0.02):  # type: ignore[no-untyped-def]
    """Patch the batched decoder: returns the list of (thread name, bodies) of each call;
    ``on_predecoder(frame)`` may change what the pre-decoder thread gets back, which
    takes ``predecoder_seconds`` longer than it would."""
    import threading
    import time

    import tracelens.ingest as ingest

    real = ingest.decode_otlp_protobuf_batch
    calls: list[tuple[str, list[bytes]]] = []

    def decode(bodies):  # type: ignore[no-untyped-def]
        name = threading.current_thread().name
        calls.append((name, list(bodies)))
        frame = real(bodies)
        if name == "tracelens-predecoder":
            time.sleep(predecoder_seconds)  # a slow pre-decoder: the flush catches up with it
            return on_predecoder(frame) if on_predecoder is not None else frame
        return frame

    monkeypatch.setattr(ingest, "decode_otlp_protobuf_batch", decode)
    return calls


def test_each_queued_request_is_decoded_once_by_the_pre_decoder_or_the_flusher(tmp_path, monkeypatch):
    """The flusher waits for the pre-decoder's run in progress and takes the requests no run
    took; the pre-decoder leaves those alone. Before, both decoded whatever was not ready."""
    from collections import Counter

    from tracelens.ingest import validate_otlp_protobuf

    bodies = distinct_requests(48, first_byte=100)
    expected = pl.concat([decode_otlp_protobuf(body).spans for body in bodies])
    calls = _recording_decoder(monkeypatch)
    with Store.open(tmp_path, StoreConfig(path=tmp_path, flush_interval_seconds=3600)) as store:
        store.start_flusher()
        for body in bodies:
            store.append_otlp(body, validate_otlp_protobuf(body).accepted)
        assert store.flush() == expected.height  # races the pre-decoder, which the appends woke
        store._stop.wait(0.2)  # noqa: SLF001 - a pre-decoder run after the flush would show here
    decoded = Counter(body for _, batch in calls for body in batch)
    assert set(decoded) == set(bodies) and set(decoded.values()) == {1}, decoded.most_common(3)
    assert {name for name, _ in calls} >= {"tracelens-predecoder"}
    assert_frame_equal(ordered(tracelens.open(tmp_path).spans().collect()), ordered(expected))


def test_a_flush_decodes_what_the_pre_decoder_has_not_started_instead_of_waiting_for_it(tmp_path, monkeypatch):
    """The flusher waits for the pre-decoder's run in progress only: the rest of the round
    is claimed at once, so the pre-decoder starts no run among it and the writers decode
    it. Before, the pre-decoder took run after run of the round while the flusher waited:
    a round was decoded by one thread, then written by two (0.24-0.36 s of waiting per
    140k-span round in benchmarks/ingest.py)."""
    import time

    from tracelens.ingest import validate_otlp_protobuf
    from tracelens.store.store import PREDECODE_REQUESTS

    bodies = distinct_requests(6 * PREDECODE_REQUESTS, first_byte=10)
    expected = pl.concat([decode_otlp_protobuf(body).spans for body in bodies])
    calls = _recording_decoder(monkeypatch, predecoder_seconds=0.3)
    with Store.open(tmp_path, StoreConfig(path=tmp_path, flush_interval_seconds=3600)) as store:
        store.start_flusher()
        for body in bodies:
            store.append_otlp(body, validate_otlp_protobuf(body).accepted)
        started = time.monotonic()
        assert store.flush() == expected.height
        flushed_in = time.monotonic() - started
    runs = [bodies for name, bodies in calls if name == "tracelens-predecoder"]
    assert 1 <= len(runs) <= 2, [len(run) for run in runs]  # the one in progress, or one more begun meanwhile
    assert sum(len(run) for run in runs) < len(bodies)
    assert flushed_in < 4 * 0.3, flushed_in  # it waited for one run or two, not for six
    assert_frame_equal(ordered(tracelens.open(tmp_path).spans().collect()), ordered(expected))


def test_a_pre_decoder_run_that_disagrees_with_validation_is_left_to_the_flusher_once(tmp_path, monkeypatch):
    from tracelens.ingest import validate_otlp_protobuf

    bodies = distinct_requests(20, first_byte=160)
    expected = pl.concat([decode_otlp_protobuf(body).spans for body in bodies])
    calls = _recording_decoder(monkeypatch, on_predecoder=lambda frame: frame.head(frame.height - 1))
    with Store.open(tmp_path, StoreConfig(path=tmp_path, flush_interval_seconds=3600)) as store:
        store.start_flusher()
        for body in bodies:
            store.append_otlp(body, validate_otlp_protobuf(body).accepted)
        store._stop.wait(0.5)  # noqa: SLF001 - the pre-decoder gives up on each run once, no retry loop
        runs = sum(1 for name, _ in calls if name == "tracelens-predecoder")
        assert 1 <= runs <= len(bodies)
        assert store.flush() == expected.height  # the flusher decodes what the pre-decoder gave up
        assert sum(1 for name, _ in calls if name == "tracelens-predecoder") == runs
    assert_frame_equal(ordered(tracelens.open(tmp_path).spans().collect()), ordered(expected))


def test_the_pre_decoder_works_within_a_window_at_the_front_of_the_queue():
    from tracelens.store.store import FLUSHER, PREDECODE_REQUESTS, _predecode_run, _Queued

    queue = [_Queued(seq, None, 10, 1, body=b"x") for seq in range(1, 41)]
    queue[0].decoder = FLUSHER  # taken by the flusher: left alone
    queue[1].frame = pl.DataFrame()  # decoded already
    assert [item.seq for item in _predecode_run(queue, 50)] == [3, 4, 5]  # 5 records fit in 50 bytes
    assert len(_predecode_run(queue, 10_000)) == PREDECODE_REQUESTS
    assert [item.seq for item in _predecode_run([_Queued(7, None, 99, 1, body=b"x")], 50)] == [7]  # one too big: alone


def test_flush_worker_processes_decode_and_write_and_come_back_after_a_crash(tmp_path, monkeypatch):
    """StoreConfig.flush_processes: the raw requests go to worker processes, which decode
    them and write the files this process commits; a dead worker fails one flush (nothing
    committed, nothing lost) and the retry gets new workers."""
    import os
    import signal
    from concurrent.futures.process import BrokenProcessPool

    import pytest

    import tracelens.ingest as ingest
    from tracelens.ingest import validate_otlp_protobuf

    def not_here(bodies):  # type: ignore[no-untyped-def]
        raise AssertionError("decoded in the receiver's process")

    bodies = distinct_requests(12, first_byte=200)
    expected = pl.concat([decode_otlp_protobuf(body).spans for body in bodies])
    config = StoreConfig(path=tmp_path, flush_interval_seconds=3600, flush_processes=1)
    with Store.open(tmp_path, config) as store:
        store.start_flusher()
        assert store._predecoder is None  # noqa: SLF001 - the workers decode
        monkeypatch.setattr(ingest, "decode_otlp_protobuf_batch", not_here)
        for body in bodies[:6]:
            store.append_otlp(body, validate_otlp_protobuf(body).accepted)
        assert store.flush() == expected.height // 2
        for pid in list(store._processes._processes):  # noqa: SLF001 - a worker dies
            os.kill(pid, signal.SIGKILL)
        for body in bodies[6:]:
            store.append_otlp(body, validate_otlp_protobuf(body).accepted)
        with pytest.raises(BrokenProcessPool):
            store.flush()
        assert store.backlog_bytes() > 0
        assert store.flush() == expected.height // 2
        monkeypatch.undo()
    assert_frame_equal(ordered(tracelens.open(tmp_path).spans().collect()), ordered(expected))
