"""OTLP protobuf (ExportTraceServiceRequest bytes) -> span frame, fast.

The numba wire scanner (_wire.py) fills flat arrays; this module wraps them as Arrow arrays
without copying the strings (Arrow string views point into the request bytes, which the
frame keeps alive), finishes the rare values the kernel leaves to upb (bytes, arrays,
kvlists), and hands everything to the shared assembler. tests/test_ingest_fuzz.py checks it
against the reference decoder (otlp_reference.py) on generated and mutated requests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np
import polars as pl
import pyarrow as pa
from google.protobuf.message import DecodeError as ProtobufDecodeError
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tracelens import schema as s
from tracelens.errors import DecodeError
from tracelens.ingest import _wire as w
from tracelens.ingest._assemble import (
    RESOURCE_PROMOTED,
    SPAN_PROMOTED,
    AttrTable,
    SpanColumns,
    assemble,
    digit_views,
    nonzero_rows,
    validity,
    view_array,
)
from tracelens.ingest._rows import Rejections, rejection_sentence
from tracelens.ingest.otlp_reference import keyvalue_typed
from tracelens.ingest.result import (
    INVALID_PARENT_SPAN_ID,
    INVALID_SPAN_ID,
    INVALID_TRACE_ID,
    DecodeResult,
    Validation,
)

_MAX_REQUEST_BYTES = 2**31 - 1  # string views address the input with int32 offsets
_STRING_TYPES = np.array([w.T_STRING, w.T_BYTES, w.T_ARRAY, w.T_KVLIST], np.int64)
_VIEW = pa.string_view()
_TEXT = pa.large_string()
_ERRORS = {
    w.ERR_WIRE: "malformed protobuf wire format",
    w.ERR_UTF8: "a string field is not valid UTF-8",
    w.ERR_DEPTH: f"messages nested deeper than {w.MAX_DEPTH} levels",
}


def _key_table(promoted: tuple[s.PromotedAttribute, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(key bytes, key index, promoted slot, priority) for the kernel's key matcher, the
    keys sorted by length (see _wire.key_index)."""
    keys = sorted(((key.encode(), slot, prio) for slot, p in enumerate(promoted) for prio, key in enumerate(p.keys)),
                  key=lambda k: len(k[0]))
    data, index = w.key_index([k for k, _, _ in keys])
    slots = np.array([slot for _, slot, _ in keys], np.int64)
    prios = np.array([prio for _, _, prio in keys], np.int64)
    return data, index, slots, prios


_SPAN_KEYS = _key_table(SPAN_PROMOTED)
_RESOURCE_KEYS = _key_table(RESOURCE_PROMOTED)


def decode_otlp_protobuf(data: bytes) -> DecodeResult:
    """ExportTraceServiceRequest bytes (decompressed) -> DecodeResult; DecodeError if invalid."""
    return _scan(data).result()


def validate_otlp_protobuf(data: bytes) -> Validation:
    """What ``decode_otlp_protobuf(data)`` would accept and reject (same DecodeError on an
    invalid request), without building the frame: the wire scan and the rejection account
    only, about a third of the cost. The receiver acknowledges with it; the flusher then
    decodes the acknowledged requests many at a time (``decode_otlp_protobuf_batch``)."""
    return _scan(data).validation()


#: requests are decoded together up to about this many bytes: enough to spread the fixed
#: cost of building a frame (~60 Arrow arrays, a polars conversion) over many spans, small
#: enough for the scanner's output tables to stay in cache (bigger batches get slower)
BATCH_BYTES = 2 * 1024 * 1024


def decode_otlp_protobuf_batch(bodies: Sequence[bytes]) -> pl.DataFrame:
    """The accepted spans of several ExportTraceServiceRequest bodies, in order: the same
    rows as concatenating ``decode_otlp_protobuf(body).spans`` for each, built a few
    requests at a time (concatenated protobuf messages are one message whose repeated
    fields are concatenated, so one scan covers several requests). DecodeError if any body
    is invalid (validate each one first, as the receiver does)."""
    frames = [_scan(b"".join(group)).result().spans for group in _byte_bounded_groups(bodies, BATCH_BYTES)]
    if not frames:
        return s.empty_frame()
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical", rechunk=False)


def _byte_bounded_groups(bodies: Sequence[bytes], limit: int) -> Iterator[list[bytes]]:
    """Consecutive bodies, grouped up to ``limit`` bytes (a bigger body is a group alone)."""
    group: list[bytes] = []
    size = 0
    for body in bodies:
        if group and size + len(body) > limit:
            yield group
            group, size = [], 0
        group.append(bytes(body))
        size += len(body)
    if group:
        yield group


def _scan(data: bytes) -> _Builder:
    if not isinstance(data, bytes):
        data = bytes(data)  # the frame keeps a reference: it must not change under us
    if len(data) > _MAX_REQUEST_BYTES:
        msg = f"request of {len(data)} bytes is over the {_MAX_REQUEST_BYTES}-byte limit"
        raise DecodeError(msg)
    buf = np.frombuffer(data, np.uint8)
    counts = w.count_request(buf)
    if counts[0] < 0:
        raise DecodeError(f"not a valid OTLP ExportTraceServiceRequest: {_ERRORS[w.ERR_WIRE]}")
    scratch = _take_scratch(w.scratch_words(counts, len(SPAN_PROMOTED)))
    out = w.scan_request(buf, counts, *_SPAN_KEYS, len(SPAN_PROMOTED), *_RESOURCE_KEYS, len(RESOURCE_PROMOTED), scratch)
    status = out[0]
    if status < 0:
        _give_back_scratch(scratch)
        raise DecodeError(f"not a valid OTLP ExportTraceServiceRequest: {_ERRORS[status]}")
    return _Builder(data, buf, out, scratch)


#: scan_request's transient tables come from one int64 array per thread, reused while
#: it is at most this many words (a 2 MiB batch needs ~0.5 M): fresh memory for them
#: cost a page fault per 4 KiB, about a quarter of the scan
_SCRATCH_KEEP_WORDS = 2 * 1024 * 1024
_scratch = threading.local()


def _take_scratch(words: int) -> np.ndarray:
    """This thread's scratch array, at least ``words`` long, for the caller alone until it
    gives it back (a builder still alive keeps its own: nothing is shared, not even
    within a thread)."""
    kept = getattr(_scratch, "array", None)
    _scratch.array = None
    if kept is not None and len(kept) >= words:
        return kept
    return np.empty(max(words, 1024), np.int64)


def _give_back_scratch(array: np.ndarray) -> None:
    """Keep ``array`` for this thread's next scan, once nothing reads it any more."""
    if len(array) <= _SCRATCH_KEEP_WORDS:
        kept = getattr(_scratch, "array", None)
        if kept is None or len(kept) < len(array):
            _scratch.array = array


def _views(views: np.ndarray, col: int, data: pa.Buffer, extra: pa.Buffer | None = None, valid: np.ndarray | None = None) -> pa.Array:
    """A string_view array from column ``col`` of a (k, rows, 16) view block (no copy)."""
    block = np.ascontiguousarray(views[col])  # a no-op except for gathered blocks
    buffers = [None if valid is None else validity(valid), pa.py_buffer(block), data]
    if extra is not None:
        buffers.append(extra)
    return pa.Array.from_buffers(_VIEW, len(block), buffers)


def _set_view(views: np.ndarray, row: int, col: int, text: bytes, extra: bytearray) -> None:
    """Point views[col, row] at ``text``: inline if short, else appended to data buffer 1."""
    view = views[col, row]
    view[:] = 0
    view[0:4] = np.frombuffer(len(text).to_bytes(4, "little"), np.uint8)
    if len(text) <= 12:
        view[4 : 4 + len(text)] = np.frombuffer(text, np.uint8)
    else:
        view[4:8] = np.frombuffer(text[:4], np.uint8)
        view[8:12] = np.frombuffer((1).to_bytes(4, "little"), np.uint8)
        view[12:16] = np.frombuffer(len(extra).to_bytes(4, "little"), np.uint8)
        extra.extend(text)


def _nested_depth(value: AnyValue) -> int:
    """Sub-message levels below an AnyValue (upb counts them against its depth limit)."""
    which = value.WhichOneof("value")
    if which == "array_value":
        values = value.array_value.values
        return 2 + max(_nested_depth(v) for v in values) if values else 1
    if which == "kvlist_value":
        kvs = value.kvlist_value.values
        return max((3 + _nested_depth(kv.value)) if kv.HasField("value") else 2 for kv in kvs) if kvs else 1
    return 0


class _Builder:
    """Kernel output -> SpanColumns -> frame (one request)."""

    def __init__(self, data: bytes, buf: np.ndarray, out: tuple, scratch: np.ndarray) -> None:
        self.data = data
        self.scratch = scratch  # the transient tables below live on it: see release()
        self.buf = buf
        self.input = pa.py_buffer(data)
        (
            _status, self.cur,
            self.si, self.sv, self.s_win, self.s_attr_off, self.s_event_off, self.s_link_off, self.sai, self.sav,
            self.rai, self.rav, self.r_win, self.r_attr_off,
            self.cv, self.cai, self.cav,
            self.ei, self.ev, self.e_attr_off, self.eai, self.eav,
            self.li, self.lv, self.l_attr_off, self.lai, self.lav,
            self.rj, self.pv,
            _s_prio, _r_prio,  # the kernel's scratch, returned to outlive its views
        ) = out
        # the kernel writes string views as two uint64 words; Arrow and numpy read bytes
        self.sv, self.sav, self.rav, self.cv, self.cav, self.ev, self.eav, self.lv, self.lav = (
            v.view(np.uint8) for v in (self.sv, self.sav, self.rav, self.cv, self.cav, self.ev, self.eav, self.lv, self.lav)
        )

    def attr_table(self, ai: np.ndarray, av: np.ndarray, offsets: np.ndarray) -> AttrTable:
        av = av[:, : len(ai)]  # (key, value) x rows x 16: each half is contiguous
        types, num, fallbacks = w.attribute_arrays(ai)
        extra = None
        if fallbacks:  # rare: fill them in, then take the columns again
            extra = self.finish_fallbacks(ai, av)
            types, num, _ = w.attribute_arrays(ai)
        return AttrTable(
            offsets=offsets,
            type=types,
            num=num,
            key_views=av[0],
            key_buffers=[self.input],
            str_views=av[1],
            str_buffers=[self.input] if extra is None else [self.input, extra],
        )

    def parse_keyvalue(self, off: int, ln: int, depth: int) -> KeyValue:
        """A KeyValue the kernel left to upb, with upb's verdict and depth limit."""
        try:
            kv = KeyValue.FromString(self.data[off : off + ln])
        except (ProtobufDecodeError, RuntimeError, ValueError) as exc:
            msg = f"not a valid OTLP ExportTraceServiceRequest: {exc}"
            raise DecodeError(msg) from exc
        if kv.HasField("value") and depth + 1 + _nested_depth(kv.value) > w.MAX_DEPTH:
            raise DecodeError(f"not a valid OTLP ExportTraceServiceRequest: {_ERRORS[w.ERR_DEPTH]}")
        return kv

    def finish_fallbacks(self, ai: np.ndarray, av: np.ndarray) -> pa.Buffer | None:
        """Render bytes/array/kvlist values (and merged AnyValues) with upb, like the reference."""
        rows = nonzero_rows(ai[:, w.A_FALLBACK])
        if not len(rows):
            return None
        extra = bytearray()
        for row in rows:
            kv = self.parse_keyvalue(int(ai[row, w.A_KV_OFF]), int(ai[row, w.A_KV_LEN]), int(ai[row, w.A_DEPTH]))
            attr = keyvalue_typed(kv)
            code = s.ATTRIBUTE_TYPES.index(str(attr["type"]))
            ai[row, w.A_TYPE] = code
            if code == w.T_INT:
                ai[row, w.A_NUM] = attr["int"]
            elif code == w.T_DOUBLE:
                ai[row, w.A_NUM] = np.array([attr["float"]], np.float64).view(np.int64)[0]
            elif code == w.T_BOOL:
                ai[row, w.A_NUM] = int(bool(attr["bool"]))
            elif attr["str"] is not None:
                _set_view(av, row, 1, str(attr["str"]).encode(), extra)
        return pa.py_buffer(bytes(extra)) if extra else pa.py_buffer(b"")

    def rejections(self) -> Rejections:
        rejections = Rejections()
        for j in range(int(self.cur[w.C_REJECTED])):
            index, reason, detail, name_off, name_len = (int(v) for v in self.rj[j])
            name = self.data[name_off : name_off + name_len].decode() if name_len else ""
            if reason == 1:
                label, fragment = INVALID_TRACE_ID, ("trace_id must not be all zero" if detail < 0 else f"trace_id must be 16 bytes, got {detail}")
            elif reason == 2:
                label, fragment = INVALID_SPAN_ID, ("span_id must not be all zero" if detail < 0 else f"span_id must be 8 bytes, got {detail}")
            else:
                label, fragment = INVALID_PARENT_SPAN_ID, f"parent_span_id must be empty or 8 bytes, got {detail}"
            rejections.add(label, rejection_sentence(name, index, fragment))
        return rejections

    def columns(self) -> SpanColumns:
        cur, buf = self.cur, self.buf
        n = int(cur[w.C_SPANS])
        si = self.si[:n]
        sv = self.sv[:, :n]
        n_events = int(cur[w.C_EVENTS])
        n_links = int(cur[w.C_LINKS])
        li = self.li[:n_links]
        link_tid, link_tid_off = w.hex_variable(buf, np.ascontiguousarray(li[:, w.L_TID_OFF]), np.ascontiguousarray(li[:, w.L_TID_LEN]))
        link_sid, link_sid_off = w.hex_variable(buf, np.ascontiguousarray(li[:, w.L_SID_OFF]), np.ascontiguousarray(li[:, w.L_SID_LEN]))
        (tid_chars, tid_views, sid_chars, sid_views, pid_chars, pid_views, pid_valid, kind, status, start, end, flags,
         resource, scope_name, scope_version) = w.span_columns(buf, si, self.cv)
        return SpanColumns(
            trace_id=digit_views(tid_chars, tid_views),
            span_id=digit_views(sid_chars, sid_views),
            parent_span_id=digit_views(pid_chars, pid_views, pid_valid),
            name=_views(sv, w.V_NAME, self.input),
            kind=kind,
            start=start,
            end=end,
            status_code=status,
            status_message=_views(sv, w.V_STATUS_MESSAGE, self.input),
            trace_state=_views(sv, w.V_TRACE_STATE, self.input),
            flags=pa.array(flags),
            scope_name=view_array(scope_name, [self.input]),
            scope_version=view_array(scope_version, [self.input]),
            attributes=self.attr_table(self.sai[: cur[w.C_SPAN_ATTRS]], self.sav, self.s_attr_off[: n + 1]),
            resources=self.attr_table(self.rai[: cur[w.C_RES_ATTRS]], self.rav, self.r_attr_off[: cur[w.C_RS] + 1]),
            span_resource=resource,
            event_offsets=self.s_event_off[: n + 1],
            event_time=np.ascontiguousarray(self.ei[:n_events, 0]),
            event_name=_views(self.ev[:, :n_events], 0, self.input),
            event_attributes=self.attr_table(self.eai[: cur[w.C_EVENT_ATTRS]], self.eav, self.e_attr_off[: n_events + 1]),
            link_offsets=self.s_link_off[: n + 1],
            link_trace_id=pa.Array.from_buffers(_TEXT, n_links, [None, pa.py_buffer(link_tid_off), pa.py_buffer(link_tid)]),
            link_span_id=pa.Array.from_buffers(_TEXT, n_links, [None, pa.py_buffer(link_sid_off), pa.py_buffer(link_sid)]),
            link_trace_state=_views(self.lv[:, :n_links], 0, self.input),
            link_attributes=self.attr_table(self.lai[: cur[w.C_LINK_ATTRS]], self.lav, self.l_attr_off[: n_links + 1]),
            span_winners=self.s_win[:n],
            resource_winners=self.r_win[: cur[w.C_RS]],
        )

    def result(self) -> DecodeResult:
        # scope attributes and the attributes of rejected spans are validated (upb would
        # refuse the request over them) but not kept
        self.finish_fallbacks(self.cai[: self.cur[w.C_SCOPE_ATTRS]], self.cav)
        for off, ln, depth in self.pv[: self.cur[w.C_PENDING]]:
            self.parse_keyvalue(int(off), int(ln), int(depth))
        columns = self.columns()
        result = self.rejections().result(assemble(columns))
        self.release()
        return result

    def validation(self) -> Validation:
        """The verdict of result() without the frame: every value the kernel left to upb
        is still parsed (upb may refuse the request over it), nothing is rendered."""
        cur = self.cur
        for ai, count in (
            (self.sai, cur[w.C_SPAN_ATTRS]), (self.rai, cur[w.C_RES_ATTRS]), (self.cai, cur[w.C_SCOPE_ATTRS]),
            (self.eai, cur[w.C_EVENT_ATTRS]), (self.lai, cur[w.C_LINK_ATTRS]),
        ):
            ai = ai[:count]
            for row in nonzero_rows(ai[:, w.A_FALLBACK]):
                self.parse_keyvalue(int(ai[row, w.A_KV_OFF]), int(ai[row, w.A_KV_LEN]), int(ai[row, w.A_DEPTH]))
        for off, ln, depth in self.pv[: cur[w.C_PENDING]]:
            self.parse_keyvalue(int(off), int(ln), int(depth))
        validation = self.rejections().validation(int(cur[w.C_SPANS]))
        self.release()
        return validation

    def release(self) -> None:
        """Hand the scratch array back for the thread's next scan. Only once the frame is
        built: nothing in it points into the scratch (span_columns, attribute_arrays,
        promote_views, take_owners and hex_variable copy out of the tables on it), and
        this builder must not be used afterwards. A builder abandoned by an exception
        never gives it back: the next scan allocates."""
        scratch, self.scratch = self.scratch, None
        self.si = self.sai = self.rai = self.cai = self.eai = self.lai = self.s_win = self.li = self.rj = self.pv = None
        if scratch is not None:
            _give_back_scratch(scratch)


def warm_up() -> None:
    """Load (or compile, the first time on a machine) the numba kernels now rather than on
    the first request: call it when a receiver starts. Cached on disk (numba cache=True)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(trace_id=b"\x01" * 16, span_id=b"\x01" * 8, name="warm-up")
    span.attributes.add(key="http.route").value.string_value = "/"
    span.events.add(name="e").attributes.add(key="k").value.int_value = 1
    span.links.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8).attributes.add(key="k").value.bool_value = True
    decode_otlp_protobuf(request.SerializeToString())
