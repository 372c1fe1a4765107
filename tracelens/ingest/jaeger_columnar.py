"""Jaeger UI JSON -> span frame, columnar: the numba scan (_jaeger_scan.py) + Arrow assembly.

``decode_jaeger_columnar`` returns the same DecodeResult as the reference decoder
(jaeger.decode_jaeger_object over json.loads), frame for frame, or None when the input has
something the fast path does not model exactly (see _jaeger_scan's docstring): the caller
then runs the reference, which also owns every error message. tests/test_ingest_jaeger_columnar.py
compares the two on fixtures, generated files and hypothesis-made edge cases.

Strings are never copied: Arrow string views point into the input bytes (kept alive by the
frame), into the side buffer of unescaped strings, or into a small constants buffer.
"""

from __future__ import annotations

import base64
from typing import Final

import numpy as np
import pyarrow as pa

from tracelens import schema as s
from tracelens.errors import DecodeError
from tracelens.ingest import _jaeger_scan as j
from tracelens.ingest._assemble import (
    RESOURCE_PROMOTED,
    SPAN_PROMOTED,
    AttrTable,
    SpanColumns,
    assemble,
    digit_views,
    empty_strings,
    nonzero_rows,
    validity,
)
from tracelens.ingest._jsonscan import CONSTANTS, W_EXTRA, word_table
from tracelens.ingest._jsonvalues import base64_bytes
from tracelens.ingest._rows import Rejections, rejection_sentence
from tracelens.ingest.result import INVALID_SPAN_ID, INVALID_TRACE_ID, MAX_ERRORS, DecodeResult

_MAX_INPUT_BYTES: Final = 2**31 - 1  # string views address their buffers with int32 offsets
_VIEW = pa.string_view()

# special tags: jaeger.SPECIAL_TAGS (checked in tests), in _jaeger_scan's codes
_SPECIAL: Final = {
    "span.kind": j.SP_KIND,
    "otel.status_code": j.SP_STATUS,
    "otel.status_description": j.SP_STATUS_DESCRIPTION,
    "error": j.SP_ERROR,
    "otel.scope.name": j.SP_SCOPE_NAME,
    "otel.scope.version": j.SP_SCOPE_VERSION,
    "otel.library.name": j.SP_LIBRARY_NAME,
    "otel.library.version": j.SP_LIBRARY_VERSION,
    "w3c.tracestate": j.SP_TRACE_STATE,
}
_EVENT_KEY: Final = "event"
_SERVICE_NAME_KEY: Final = "service.name"


class _KeyTable:
    """Tag keys the kernels recognise, with what each one means per owner."""

    def __init__(self) -> None:
        keys: list[str] = list(_SPECIAL) + [_EVENT_KEY]
        for p in (*SPAN_PROMOTED, *RESOURCE_PROMOTED):
            keys += [k for k in p.keys if k not in keys]
        self.keys = tuple(keys)
        self.data, self.offsets = word_table(self.keys)
        self.lut = j.key_lut(self.keys)
        n = len(keys)
        self.special = np.array([_SPECIAL.get(k, 0) for k in keys], np.int64)
        self.is_special = (self.special > 0).astype(np.int64)
        self.is_event = np.array([k == _EVENT_KEY for k in keys], np.int64)
        self.span_slot, self.span_prio = self._slots(SPAN_PROMOTED, n)
        self.resource_slot, self.resource_prio = self._slots(RESOURCE_PROMOTED, n)
        self.service_name = self.keys.index(_SERVICE_NAME_KEY)

    def _slots(self, promoted: tuple[s.PromotedAttribute, ...], n: int) -> tuple[np.ndarray, np.ndarray]:
        slot = np.full(n, -1, np.int64)
        prio = np.zeros(n, np.int64)
        for i, p in enumerate(promoted):
            for rank, key in enumerate(p.keys):
                slot[self.keys.index(key)] = i
                prio[self.keys.index(key)] = rank
        return slot, prio


_KEYS: Final = _KeyTable()
_CONSTS: Final = np.frombuffer(CONSTANTS, np.uint8)
_FRAGMENTS: Final = {
    j.REASON_TRACE_LENGTH: (INVALID_TRACE_ID, "trace_id must be 16 bytes, got 0"),
    j.REASON_TRACE_ZERO: (INVALID_TRACE_ID, "trace_id must not be all zero"),
    j.REASON_SPAN_LENGTH: (INVALID_SPAN_ID, "span_id must be 8 bytes, got 0"),
    j.REASON_SPAN_ZERO: (INVALID_SPAN_ID, "span_id must not be all zero"),
}


def decode_jaeger_columnar(data: bytes) -> DecodeResult | None:
    """Jaeger UI JSON bytes -> DecodeResult, or None: use the reference decoder."""
    if not data or len(data) > _MAX_INPUT_BYTES:
        return None
    buf = np.frombuffer(data, np.uint8)
    capacity = j.count_objects(buf) + 1  # every trace, span, tag, log, reference, process is an object
    status, cur, T, S, R, Lg, P, A, dec = j.scan_jaeger(
        buf, capacity, _CONSTS, _KEYS.data, _KEYS.offsets, _KEYS.lut
    )
    if status < 0:
        return None
    ns, n_tags = int(cur[j.C_SPANS]), int(cur[j.C_TAGS])
    A = A[:n_tags]
    status, O = j.resolve_spans(
        buf, dec, _CONSTS, cur, T, S, R, P, A, _KEYS.special, *j.KIND_WORDS, *j.STATUS_WORDS, *j.TRUE_WORDS
    )
    if status < 0:
        return None
    try:
        extra = _finish_rare_values(data, dec, A)
    except DecodeError:
        return None  # the reference raises it, with its own message
    try:
        return _Builder(data, dec[: cur[j.C_DECODED]], extra, cur, T, S[:ns], R, Lg, P, A, O).result()
    except _Unmodelled:
        return None


class _Unmodelled(Exception):
    """Raised inside the builder for input only the reference decodes exactly."""


def _text(data: bytes, dec: np.ndarray, w: int, off: int, ln: int) -> str:
    if w == 0:
        return data[off : off + ln].decode()
    if w == 1:
        return dec[off : off + ln].tobytes().decode()
    return CONSTANTS[off : off + ln].decode()


def _finish_rare_values(data: bytes, dec: np.ndarray, A: np.ndarray) -> bytes:
    """Doubles beyond the kernel's exact fast path (Python's float(), as json does) and
    binary values (jaeger's base64 decode, re-encoded): rare. Returns the extra buffer."""
    extra = bytearray()
    for row in nonzero_rows(A[:, j.A_RARE]):
        text = _text(data, dec, int(A[row, j.A_STR_W]), int(A[row, j.A_STR_OFF]), int(A[row, j.A_STR_LEN]))
        if A[row, j.A_RARE] == j.RARE_FLOAT:
            A[row, j.A_NUM] = np.array([float(text)], np.float64).view(np.int64)[0]
        else:
            encoded = base64.b64encode(base64_bytes(text, "tag value")).decode("ascii").encode()
            A[row, j.A_STR_W] = W_EXTRA
            A[row, j.A_STR_OFF] = len(extra)
            A[row, j.A_STR_LEN] = len(encoded)
            extra.extend(encoded)
    return bytes(extra)


def _ranges(firsts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenated ranges firsts[i]:ends[i] -> (indices, offsets)."""
    lengths = ends - firsts
    offsets = np.zeros(len(firsts) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    idx = np.repeat(firsts - offsets[:-1], lengths) + np.arange(offsets[-1], dtype=np.int64)
    return idx, offsets


class _Builder:
    """Kernel tables -> SpanColumns -> frame."""

    def __init__(self, data: bytes, dec: np.ndarray, extra: bytes, cur: np.ndarray, T: np.ndarray, S: np.ndarray,
                 R: np.ndarray, Lg: np.ndarray, P: np.ndarray, A: np.ndarray, O: np.ndarray) -> None:
        self.data, self.dec, self.cur = data, dec, cur
        self.S, self.R, self.Lg, self.P, self.A, self.O = S, R, Lg, P, A, O
        self.buffers = [pa.py_buffer(data), pa.py_buffer(dec), pa.py_buffer(CONSTANTS), pa.py_buffer(extra)]
        self.buf = np.frombuffer(data, np.uint8)
        self.extra = np.frombuffer(extra or b"\0", np.uint8)
        self.accepted = np.flatnonzero(O[:, j.O_REASON] == j.REASON_OK)

    def views(self, w: np.ndarray, off: np.ndarray, ln: np.ndarray) -> pa.Array:
        block = j.string_views(self.buf, self.dec, _CONSTS, self.extra, np.ascontiguousarray(w), np.ascontiguousarray(off), np.ascontiguousarray(ln))
        return pa.Array.from_buffers(_VIEW, len(block), [None, pa.py_buffer(block), *self.buffers])

    def tag_strings(self, rows: np.ndarray) -> pa.Array:
        """The string value of tag ``rows`` ("" where the row is -1)."""
        has = rows >= 0
        if not has.any():  # the usual case for status message, trace state, scope
            return empty_strings(len(rows), self.buffers)
        safe = np.where(has, rows, 0)
        w = np.where(has, self.A[safe, j.A_STR_W] if len(self.A) else 0, 0)
        off = np.where(has, self.A[safe, j.A_STR_OFF] if len(self.A) else 0, 0)
        ln = np.where(has, self.A[safe, j.A_STR_LEN] if len(self.A) else 0, 0)
        return self.views(w, off, ln)

    def attr_table(self, rows: np.ndarray, offsets: np.ndarray) -> AttrTable:
        types, nums, keys, values = j.attr_columns(self.buf, self.dec, _CONSTS, self.extra, self.A, rows)
        return AttrTable(offsets=offsets, type=types, num=nums, key_views=keys, key_buffers=self.buffers,
                         str_views=values, str_buffers=self.buffers)

    def rejections(self) -> Rejections:
        rejections = Rejections()
        reasons = self.O[:, j.O_REASON]
        rejected = np.flatnonzero(reasons != j.REASON_OK)
        for code, count in zip(*np.unique(reasons[rejected], return_counts=True)):
            label = _FRAGMENTS[int(code)][0]
            rejections.by_reason[label] = rejections.by_reason.get(label, 0) + int(count)
        for index in rejected[:MAX_ERRORS]:
            S = self.S
            name = _text(self.data, self.dec, int(S[index, j.S_NAME_W]), int(S[index, j.S_NAME_OFF]), int(S[index, j.S_NAME_LEN]))
            rejections.errors.append(rejection_sentence(name, int(index), _FRAGMENTS[int(reasons[index])][1]))
        return rejections

    def columns(self) -> SpanColumns:
        S, O, A, acc = self.S, self.O, self.A, self.accepted
        n = len(acc)
        n_procs = int(self.cur[j.C_PROCS])
        (tid_chars, tid_views, sid_chars, sid_views, pid_chars, pid_views, pid_valid, names, kind, status, start, end,
         flags, has_flags, span_resource, link_off, links) = j.span_columns(
            self.buf, self.dec, _CONSTS, self.extra, S, O, self.R, acc, n_procs)
        # span attributes: tags minus the special ones
        attr_rows, attr_off, span_winners = j.owner_rows(
            S, acc, j.S_TAG_FIRST, j.S_TAG_END, A, _KEYS.is_special, 1, len(SPAN_PROMOTED), _KEYS.span_slot, _KEYS.span_prio,
        )
        # resources: one per process, plus the empty one for spans without a process
        res_rows, res_off, res_winners = j.resource_rows(
            self.P, n_procs, A, _KEYS.service_name, len(RESOURCE_PROMOTED), _KEYS.resource_slot, _KEYS.resource_prio
        )
        # events: logs; the "event" field is the name
        logs, event_off = _ranges(S[acc, j.S_LOG_FIRST], S[acc, j.S_LOG_END])
        names_found, name_rows = j.event_name_rows(self.Lg, logs, A, _KEYS.is_event)
        if names_found < 0:
            raise _Unmodelled
        ev_rows, ev_off, _w = j.owner_rows(
            self.Lg, logs, j.L_TAG_FIRST, j.L_TAG_END, A, _KEYS.is_event, 1, 0, _KEYS.span_slot, _KEYS.span_prio,
        )
        # links: references other than the parent
        rl = self.R[links]
        link_tids = j.hex_ids(np.ascontiguousarray(rl[:, j.R_TID_HI]), np.ascontiguousarray(rl[:, j.R_TID_LO]),
                              np.ascontiguousarray(rl[:, j.R_TID_STATE]), 32)
        link_sids = j.hex_ids(np.ones(len(links), np.int64), np.ascontiguousarray(rl[:, j.R_SID]),
                              np.ascontiguousarray(rl[:, j.R_SID_STATE]), 16)
        no_rows = np.zeros(0, np.int64)
        oa = O if n == len(O) else O[acc]  # the usual case: no copy
        return SpanColumns(
            trace_id=digit_views(tid_chars, tid_views),
            span_id=digit_views(sid_chars, sid_views),
            parent_span_id=digit_views(pid_chars, pid_views, pid_valid),
            name=pa.Array.from_buffers(_VIEW, n, [None, pa.py_buffer(names), *self.buffers]),
            kind=kind,
            start=start,
            end=end,
            status_code=status,
            status_message=self.tag_strings(oa[:, j.O_MESSAGE]),
            trace_state=self.tag_strings(oa[:, j.O_TRACE_STATE]),
            flags=pa.Array.from_buffers(pa.int64(), n, [validity(has_flags), pa.py_buffer(flags)]),
            scope_name=self.tag_strings(oa[:, j.O_SCOPE_NAME]),
            scope_version=self.tag_strings(oa[:, j.O_SCOPE_VERSION]),
            attributes=self.attr_table(attr_rows, attr_off),
            resources=self.attr_table(res_rows, res_off),
            span_resource=span_resource,
            event_offsets=event_off,
            event_time=self.Lg[logs, j.L_TIME],
            event_name=self.tag_strings(name_rows),
            event_attributes=self.attr_table(ev_rows, ev_off),
            link_offsets=link_off,
            link_trace_id=digit_views(*link_tids),
            link_span_id=digit_views(*link_sids),
            link_trace_state=empty_strings(len(links), self.buffers),
            link_attributes=self.attr_table(no_rows, np.zeros(len(links) + 1, np.int64)),
            span_winners=span_winners if len(span_winners) else None,
            resource_winners=res_winners,
        )

    def result(self) -> DecodeResult:
        return self.rejections().result(assemble(self.columns()))
