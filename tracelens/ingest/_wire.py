"""numba kernels: a protobuf wire-format scanner for ExportTraceServiceRequest.

Why a hand-written scanner: building upb messages and walking them span by span in Python
costs ~10 us per span; this walks the raw bytes once (varints, length-delimited fields,
fixed64) and fills flat numpy arrays: numbers, and Arrow *string views* (16-byte records
pointing into the input buffer), so strings are never copied. Python then wraps the arrays
as Arrow arrays without copying (otlp_protobuf.py).

Behaviour matches upb (the reference parser) byte for byte on what is accepted and what is
an error, because the fuzz test compares them:

* a known field number with an unexpected wire type is an unknown field (skipped);
* unknown fields are skipped, groups included (matching end-group required);
* field number 0, wire types 6/7, tags over 32 bits, varints over 10 bytes, lengths past
  the end of the enclosing message: malformed;
* every known ``string`` field must be valid UTF-8 (bytes fields and unknown fields need not);
* repeated occurrences of a singular field: the last wins; of a singular message (status,
  scope, resource, value): merged, i.e. the last occurrence of each inner field wins;
* at most 100 nested sub-messages / groups below the request.

Two passes: ``count_request`` sizes every output array exactly; ``scan_request`` fills them.
Values the kernel does not render itself (bytes, arrays, kvlists, a KeyValue whose value
field occurs twice) are flagged and finished in Python from the KeyValue's bytes (rare).
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

# error codes (returned as negative positions)
ERR_WIRE = -1
ERR_UTF8 = -2
ERR_DEPTH = -3
MAX_DEPTH = 100

WT_VARINT = 0
WT_I64 = 1
WT_LEN = 2
WT_SGROUP = 3
WT_EGROUP = 4
WT_I32 = 5

# attribute type codes = index into schema.ATTRIBUTE_TYPES
T_STRING = 0
T_BOOL = 1
T_INT = 2
T_DOUBLE = 3
T_BYTES = 4
T_ARRAY = 5
T_KVLIST = 6
T_EMPTY = 7
N_KINDS = 6  # schema.SPAN_KINDS (OTLP SpanKind numbers)
N_STATUS_CODES = 3  # schema.STATUS_CODES

# columns of an attribute table's int64 block
A_TYPE = 0
A_NUM = 1  # int value / double bits / bool
A_KV_OFF = 2  # the whole KeyValue, for the Python fallback
A_KV_LEN = 3
A_FALLBACK = 4  # 1: value must be rendered in Python
A_DEPTH = 5  # nesting depth of the KeyValue (upb's depth limit applies to the fallback)
A_COLS = 6

# columns of the span int64 block
S_KIND = 0
S_START = 1
S_END = 2
S_STATUS = 3
S_FLAGS = 4
S_SCOPE = 5
S_RESOURCE = 6
S_TID_OFF = 7
S_TID_LEN = 8
S_SID_OFF = 9
S_SID_LEN = 10
S_PID_OFF = 11
S_PID_LEN = 12
S_NAME_OFF = 13
S_NAME_LEN = 14
S_COLS = 15
# span string views: name, trace_state, status message
V_NAME = 0
V_TRACE_STATE = 1
V_STATUS_MESSAGE = 2
S_VIEWS = 3

# link int64 block
L_TID_OFF = 0
L_TID_LEN = 1
L_SID_OFF = 2
L_SID_LEN = 3
L_COLS = 4

# counts (pass 1) / cursors (pass 2)
C_RS = 0
C_SS = 1
C_SPANS = 2
C_SPAN_ATTRS = 3
C_RES_ATTRS = 4
C_SCOPE_ATTRS = 5
C_EVENTS = 6
C_EVENT_ATTRS = 7
C_LINKS = 8
C_LINK_ATTRS = 9
C_REJECTED = 10
C_PENDING = 11  # fallback KeyValues of rejected spans: still validated (upb parses them)
C_N = 12

# rejection rows: input index, reason (1 trace, 2 span, 3 parent), detail (length, or -1 all zero), name off, name len
R_INDEX = 0
R_REASON = 1
R_DETAIL = 2
R_NAME_OFF = 3
R_NAME_LEN = 4
R_COLS = 5


# --- unmanaged array views -----------------------------------------------------------------
# Why: every call between (non-inlined) numba functions increfs and decrefs each array
# argument's meminfo with atomic operations; perf showed NRT_incref/NRT_decref at ~30 % of
# the kernel. A copy of the array struct with a NULL meminfo is not refcounted (the NRT
# returns at once on NULL). The owning arrays stay alive in the entry functions' frames.
#
# The helpers below go further: they are compiled with ``_nrt=False`` (they never allocate),
# so numba emits no reference counting in them at all. Even on NULL meminfos the NRT calls
# cost an out-of-line call per array argument per call; dropping them took the fill pass from
# ~4.9 to ~1.8 us per realistic span and the sizing pass from ~0.56 to ~0.20 us (CPU time,
# loaded machine). Only the entry kernels allocate.
@intrinsic
def unmanaged(typingctx, arr):
    def codegen(context, builder, signature, args):
        src = context.make_array(signature.args[0])(context, builder, value=args[0])
        dst = context.make_array(signature.return_type)(context, builder)
        dst.meminfo = cgutils.get_null_value(dst.meminfo.type)
        dst.parent = cgutils.get_null_value(dst.parent.type)
        dst.nitems = src.nitems
        dst.itemsize = src.itemsize
        dst.data = src.data
        dst.shape = src.shape
        dst.strides = src.strides
        return dst._getvalue()

    return arr(arr), codegen


@intrinsic
def stack_slots(typingctx):
    """A pointer to MAX_DEPTH + 2 int64 slots on the machine stack: kernels compiled without
    the NRT (see _nrt=False below) cannot allocate arrays."""
    def codegen(context, builder, signature, args):
        slots = cgutils.alloca_once(builder, ir.ArrayType(ir.IntType(64), MAX_DEPTH + 2))
        return builder.bitcast(slots, ir.IntType(64).as_pointer())

    return types.CPointer(types.int64)(), codegen


@intrinsic
def load_u64(typingctx, arr, pos):
    """The 8 bytes arr[pos:pos + 8] as a little-endian uint64, one unaligned load (the
    caller guarantees pos + 8 <= len(arr)): whole-word UTF-8 checks and view writes."""
    def codegen(context, builder, signature, args):
        a = context.make_array(signature.args[0])(context, builder, value=args[0])
        ptr = builder.gep(a.data, [args[1]], inbounds=True)
        return builder.load(builder.bitcast(ptr, ir.IntType(64).as_pointer()), align=1)

    return types.uint64(arr, types.intp), codegen


@intrinsic
def load_u32(typingctx, arr, pos):
    """arr[pos:pos + 4] as a little-endian uint32 widened to uint64 (pos + 4 <= len(arr))."""
    def codegen(context, builder, signature, args):
        a = context.make_array(signature.args[0])(context, builder, value=args[0])
        ptr = builder.gep(a.data, [args[1]], inbounds=True)
        word = builder.load(builder.bitcast(ptr, ir.IntType(32).as_pointer()), align=1)
        return builder.zext(word, ir.IntType(64))

    return types.uint64(arr, types.intp), codegen


# --- primitives ---------------------------------------------------------------------------
@njit(cache=True, _nrt=False)
def read_varint(buf, pos, end):
    """(value as uint64, new position) or (0, ERR_WIRE)."""
    result = np.uint64(0)
    shift = np.uint64(0)
    for _ in range(10):
        if pos >= end:
            return np.uint64(0), ERR_WIRE
        b = buf[pos]
        pos += 1
        result |= np.uint64(b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += np.uint64(7)
    return np.uint64(0), ERR_WIRE


@njit(cache=True, _nrt=False)
def read_tag(buf, pos, end):
    """(field number, wire type, new position); position < 0 on a malformed tag."""
    if pos < end and buf[pos] < 0x80:  # fast path: one-byte tag (fields 1-15)
        b = np.int64(buf[pos])
        wt = b & 7
        if b < 8 or wt == 6 or wt == 7:
            return 0, 0, ERR_WIRE
        return b >> 3, wt, pos + 1
    v, p = read_varint(buf, pos, end)
    if p < 0 or v > np.uint64(0xFFFFFFFF):
        return 0, 0, ERR_WIRE
    field = np.int64(v >> np.uint64(3))
    wt = np.int64(v & np.uint64(7))
    if field == 0 or wt == 6 or wt == 7:
        return 0, 0, ERR_WIRE
    return field, wt, p


@njit(cache=True, _nrt=False)
def read_len(buf, pos, end):
    """(start, end) of a length-delimited payload; start < 0 if it overruns ``end``."""
    if pos < end and buf[pos] < 0x80:  # fast path: length < 128
        n = np.int64(buf[pos])
        if n > end - pos - 1:
            return ERR_WIRE, ERR_WIRE
        return pos + 1, pos + 1 + n
    ln, p = read_varint(buf, pos, end)
    if p < 0 or ln > np.uint64(end - p):
        return ERR_WIRE, ERR_WIRE
    return p, p + np.int64(ln)


@njit(cache=True, _nrt=False)
def read_fixed64(buf, pos):
    v = np.uint64(0)
    for k in range(8):
        v |= np.uint64(buf[pos + k]) << np.uint64(8 * k)
    return np.int64(v)


@njit(cache=True, _nrt=False)
def read_fixed32(buf, pos):
    v = np.int64(0)
    for k in range(4):
        v |= np.int64(buf[pos + k]) << np.int64(8 * k)
    return v


@njit(cache=True, _nrt=False)
def skip_group(buf, pos, end, field, depth):
    """Skip an unknown group whose start tag (``field``) was just read."""
    stack = stack_slots()  # indexable like an array
    sp = 0
    stack[0] = field
    if depth + 1 > MAX_DEPTH:
        return ERR_DEPTH
    while True:
        f, wt, p = read_tag(buf, pos, end)
        if p < 0:
            return ERR_WIRE
        if wt == WT_EGROUP:
            if f != stack[sp]:
                return ERR_WIRE
            if sp == 0:
                return p
            sp -= 1
            pos = p
        elif wt == WT_SGROUP:
            if depth + sp + 2 > MAX_DEPTH:
                return ERR_DEPTH
            sp += 1
            stack[sp] = f
            pos = p
        else:
            pos = skip_scalar(buf, p, end, wt)
            if pos < 0:
                return pos


@njit(cache=True, _nrt=False)
def skip_scalar(buf, pos, end, wt):
    if wt == WT_VARINT:
        _, p = read_varint(buf, pos, end)
        return p
    if wt == WT_I64:
        return pos + 8 if pos + 8 <= end else ERR_WIRE
    if wt == WT_I32:
        return pos + 4 if pos + 4 <= end else ERR_WIRE
    if wt == WT_LEN:
        s, e = read_len(buf, pos, end)
        return e
    return ERR_WIRE


@njit(cache=True, _nrt=False)
def skip_field(buf, pos, end, field, wt, depth):
    """Position after an unknown field (``pos`` is just after its tag)."""
    if wt == WT_SGROUP:
        return skip_group(buf, pos, end, field, depth)
    return skip_scalar(buf, pos, end, wt)


@njit(cache=True, _nrt=False, inline="always")
def utf8_ok(buf, start, end):
    """Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF), as upb checks it. The
    ASCII words are checked inline in the caller; the rest is a call (rare)."""
    i = start
    while i + 8 <= end:  # ASCII eight bytes at a time (nearly every string is ASCII)
        if load_u64(buf, i) & np.uint64(0x8080808080808080):
            break
        i += 8
    while i < end and buf[i] < 0x80:
        i += 1
    return i == end or utf8_from(buf, i, end)


@njit(cache=True, _nrt=False)
def utf8_from(buf, start, end):
    """utf8_ok's byte-by-byte check, from the first non-ASCII byte."""
    i = start
    while i < end:
        c = buf[i]
        if c < 0x80:
            i += 1
            continue
        if c < 0xC2:
            return False
        if c < 0xE0:
            if i + 1 >= end or (buf[i + 1] & 0xC0) != 0x80:
                return False
            i += 2
        elif c < 0xF0:
            if i + 2 >= end:
                return False
            c1 = buf[i + 1]
            lo = 0xA0 if c == 0xE0 else 0x80
            hi = 0x9F if c == 0xED else 0xBF
            if c1 < lo or c1 > hi or (buf[i + 2] & 0xC0) != 0x80:
                return False
            i += 3
        elif c < 0xF5:
            if i + 3 >= end:
                return False
            c1 = buf[i + 1]
            lo = 0x90 if c == 0xF0 else 0x80
            hi = 0x8F if c == 0xF4 else 0xBF
            if c1 < lo or c1 > hi or (buf[i + 2] & 0xC0) != 0x80 or (buf[i + 3] & 0xC0) != 0x80:
                return False
            i += 4
        else:
            return False
    return True


@njit(cache=True, _nrt=False, inline="always")
def view_words(buf, off, ln):
    """The Arrow string view of buf[off:off+ln] (data buffer 0 = the input) as its two
    little-endian words: length and the first 4 bytes; then bytes 4-11 inline if
    ln <= 12, else buffer index 0 and the offset. Whole-word loads and stores instead of
    16 byte stores per view."""
    if ln > 12:
        return np.uint64(ln) | (load_u32(buf, off) << np.uint64(32)), np.uint64(off) << np.uint64(32)
    if off + 16 <= len(buf):
        lo = load_u64(buf, off)
        hi = load_u64(buf, off + 8)
        if ln >= 8:
            hi &= (np.uint64(1) << np.uint64(8 * (ln - 8))) - np.uint64(1)
        else:
            lo &= (np.uint64(1) << np.uint64(8 * ln)) - np.uint64(1)
            hi = np.uint64(0)
    else:  # near the end of the input: byte by byte, never reading past it
        lo = np.uint64(0)
        hi = np.uint64(0)
        for k in range(min(ln, 8)):
            lo |= np.uint64(buf[off + k]) << np.uint64(8 * k)
        for k in range(8, ln):
            hi |= np.uint64(buf[off + k]) << np.uint64(8 * (k - 8))
    return np.uint64(ln) | (lo << np.uint64(32)), (lo >> np.uint64(32)) | (hi << np.uint64(32))


@njit(cache=True, _nrt=False)
def put_view(views, row, col, buf, off, ln):
    """Write the Arrow string view of buf[off:off+ln] into views[col, row]. View blocks are
    (columns, rows, 2) uint64: each column is one contiguous Arrow views buffer, wrapped
    without a copy (Python reads them as (columns, rows, 16) bytes)."""
    w0, w1 = view_words(buf, off, ln)
    views[col, row, 0] = w0
    views[col, row, 1] = w1


@njit(cache=True, _nrt=False)
def clear_views(views, row):
    for col in range(views.shape[0]):
        views[col, row, 0] = 0
        views[col, row, 1] = 0


@njit(cache=True, _nrt=False)
def string_field(buf, pos, end, views, row, col):
    """Read a length-delimited UTF-8 field into a view; returns the new position or an error."""
    s, e = read_len(buf, pos, end)
    if s < 0:
        return ERR_WIRE
    if not utf8_ok(buf, s, e):
        return ERR_UTF8
    put_view(views, row, col, buf, s, e - s)
    return e


@njit(cache=True, _nrt=False)
def check_string(buf, pos, end):
    """A known string field we do not keep (schema_url...): still must be valid UTF-8."""
    s, e = read_len(buf, pos, end)
    if s < 0:
        return ERR_WIRE
    if not utf8_ok(buf, s, e):
        return ERR_UTF8
    return e


def key_index(keys: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(keys_data, keys_off) for match_key: the keys' bytes (plus 8 zero bytes, so that
    word loads never pass the end) and an int64 index: [0] the number of keys K, [1:K+2]
    their offsets in keys_data, then for every length L from 0 to the longest key + 1 the
    first key at least L long. Keys must be sorted by length; match_key returns positions
    in that order."""
    lengths = [len(k) for k in keys]
    assert lengths == sorted(lengths), "keys must be sorted by length"
    longest = max(lengths, default=0)
    data = np.frombuffer(b"".join(keys) + bytes(8), np.uint8).copy()
    offsets = np.zeros(len(keys) + 1, np.int64)
    offsets[1:] = np.cumsum(lengths)
    first = np.searchsorted(np.array(lengths, np.int64), np.arange(longest + 2), side="left")
    return data, np.concatenate([[len(keys)], offsets, first]).astype(np.int64)


#: key_index([]): the tables of attributes nothing is promoted from
NO_KEYS_DATA, NO_KEYS_OFF = key_index([])


@njit(cache=True, _nrt=False, inline="always")
def match_key(buf, s, e, keys_data, keys_off):
    """Position of buf[s:e] in the key table (see key_index), or -1. Only keys of the same
    length are compared, eight bytes at a time (a loop over every key's length was ~15 %
    of the scan under perf)."""
    n = e - s
    lengths = keys_off[0] + 2  # where the by-length table starts
    if n > len(keys_off) - lengths - 2:
        return -1
    for k in range(keys_off[lengths + n], keys_off[lengths + n + 1]):
        ks = keys_off[1 + k]
        j = 0
        while j + 8 <= n and load_u64(keys_data, ks + j) == load_u64(buf, s + j):
            j += 8
        if j + 8 <= n:
            continue
        while j < n and keys_data[ks + j] == buf[s + j]:
            j += 1
        if j == n:
            return k
    return -1


# --- pass 1: sizes ------------------------------------------------------------------------
@njit(cache=True, _nrt=False)
def count_message_field(buf, pos, end, target, depth):
    """Occurrences of length-delimited field ``target`` directly in this message."""
    n = 0
    while pos < end:
        f, wt, p = read_tag(buf, pos, end)
        if p < 0:
            return -1
        if f == target and wt == WT_LEN:
            s, e = read_len(buf, p, end)
            if s < 0:
                return -1
            n += 1
            pos = e
        else:
            pos = skip_field(buf, p, end, f, wt, depth)
            if pos < 0:
                return -1
    return n


@njit(cache=True, _nrt=False)
def count_span(buf, pos, end, counts, depth):
    while pos < end:
        f, wt, p = read_tag(buf, pos, end)
        if p < 0:
            return p
        if wt == WT_LEN and (f == 9 or f == 11 or f == 13):
            s, e = read_len(buf, p, end)
            if s < 0:
                return ERR_WIRE
            if f == 9:
                counts[C_SPAN_ATTRS] += 1
            elif f == 11:
                counts[C_EVENTS] += 1
                n = count_message_field(buf, s, e, 3, depth + 1)
                if n < 0:
                    return ERR_WIRE
                counts[C_EVENT_ATTRS] += n
            else:
                counts[C_LINKS] += 1
                n = count_message_field(buf, s, e, 4, depth + 1)
                if n < 0:
                    return ERR_WIRE
                counts[C_LINK_ATTRS] += n
            pos = e
        else:
            pos = skip_field(buf, p, end, f, wt, depth)
            if pos < 0:
                return pos
    return pos


@njit(cache=True, nogil=True)  # receiver threads decode in parallel
def count_request(buf_owner):
    """Exact sizes of every output table (see C_*); counts[C_N-1..] unused. Negative first
    element on malformed input."""
    counts_owner = np.zeros(C_N, np.int64)
    counts = unmanaged(counts_owner)
    buf = unmanaged(buf_owner)
    end = len(buf)
    pos = 0
    while pos < end:
        f, wt, p = read_tag(buf, pos, end)
        if p < 0:
            counts[0] = -1
            return counts_owner
        if f == 1 and wt == WT_LEN:
            rs, rs_end = read_len(buf, p, end)
            if rs < 0:
                counts[0] = -1
                return counts_owner
            counts[C_RS] += 1
            q = rs
            while q < rs_end:
                f2, wt2, p2 = read_tag(buf, q, rs_end)
                if p2 < 0:
                    counts[0] = -1
                    return counts_owner
                if wt2 == WT_LEN and (f2 == 1 or f2 == 2):
                    s, e = read_len(buf, p2, rs_end)
                    if s < 0:
                        counts[0] = -1
                        return counts_owner
                    if f2 == 1:
                        n = count_message_field(buf, s, e, 1, 2)
                        if n < 0:
                            counts[0] = -1
                            return counts_owner
                        counts[C_RES_ATTRS] += n
                    else:
                        counts[C_SS] += 1
                        r = s
                        while r < e:
                            f3, wt3, p3 = read_tag(buf, r, e)
                            if p3 < 0:
                                counts[0] = -1
                                return counts_owner
                            if wt3 == WT_LEN and (f3 == 1 or f3 == 2):
                                s3, e3 = read_len(buf, p3, e)
                                if s3 < 0:
                                    counts[0] = -1
                                    return counts_owner
                                if f3 == 1:
                                    n = count_message_field(buf, s3, e3, 3, 3)
                                    if n < 0:
                                        counts[0] = -1
                                        return counts_owner
                                    counts[C_SCOPE_ATTRS] += n
                                else:
                                    counts[C_SPANS] += 1
                                    if count_span(buf, s3, e3, counts, 3) < 0:
                                        counts[0] = -1
                                        return counts_owner
                                r = e3
                            else:
                                r = skip_field(buf, p3, e, f3, wt3, 2)
                                if r < 0:
                                    counts[0] = -1
                                    return counts_owner
                    q = e
                else:
                    q = skip_field(buf, p2, rs_end, f2, wt2, 1)
                    if q < 0:
                        counts[0] = -1
                        return counts_owner
            pos = rs_end
        else:
            pos = skip_field(buf, p, end, f, wt, 0)
            if pos < 0:
                counts[0] = -1
                return counts_owner
    return counts_owner


# --- pass 2: values -----------------------------------------------------------------------
@njit(cache=True, _nrt=False)
def parse_anyvalue(buf, pos, end, ai, av, row, depth):
    """Scalar AnyValue into row ``row``; arrays/kvlists/bytes are flagged for Python."""
    while pos < end:
        f, wt, p = read_tag(buf, pos, end)
        if p < 0:
            return p
        if f == 1 and wt == WT_LEN:
            p = string_field(buf, p, end, av, row, 1)
            ai[row, A_TYPE] = T_STRING
        elif f == 2 and wt == WT_VARINT:
            v, p = read_varint(buf, p, end)
            ai[row, A_TYPE] = T_BOOL
            ai[row, A_NUM] = 1 if v != np.uint64(0) else 0
        elif f == 3 and wt == WT_VARINT:
            v, p = read_varint(buf, p, end)
            ai[row, A_TYPE] = T_INT
            ai[row, A_NUM] = np.int64(v)
        elif f == 4 and wt == WT_I64:
            if p + 8 > end:
                return ERR_WIRE
            ai[row, A_TYPE] = T_DOUBLE
            ai[row, A_NUM] = read_fixed64(buf, p)
            p += 8
        elif wt == WT_LEN and (f == 5 or f == 6 or f == 7):
            s, e = read_len(buf, p, end)
            p = e
            ai[row, A_TYPE] = T_ARRAY if f == 5 else (T_KVLIST if f == 6 else T_BYTES)
            ai[row, A_FALLBACK] = 1
        elif f == 8 and wt == WT_VARINT:
            v, p = read_varint(buf, p, end)
            ai[row, A_TYPE] = T_EMPTY  # a string-table index we cannot resolve
        else:
            p = skip_field(buf, p, end, f, wt, depth)
        if p < 0:
            return p
        pos = p
    return pos


@njit(cache=True, _nrt=False)
def parse_kv(buf, pos, end, ai, av, row, depth, keys_data, keys_off):
    """One KeyValue (``pos``..``end`` is its payload) into row ``row``.

    Returns (position or error, index of the key in the key table or -1).
    """
    ai[row, A_TYPE] = T_EMPTY
    ai[row, A_NUM] = 0
    ai[row, A_FALLBACK] = 0
    ai[row, A_DEPTH] = depth
    clear_views(av, row)
    values = 0
    key_s = pos
    key_e = pos
    while pos < end:
        f, wt, p = read_tag(buf, pos, end)
        if p < 0:
            return p, -1
        if f == 1 and wt == WT_LEN:
            s, e = read_len(buf, p, end)
            if s < 0:
                return ERR_WIRE, -1
            if not utf8_ok(buf, s, e):
                return ERR_UTF8, -1
            put_view(av, row, 0, buf, s, e - s)
            key_s = s
            key_e = e
            p = e
        elif f == 2 and wt == WT_LEN:
            s, e = read_len(buf, p, end)
            if s < 0:
                return ERR_WIRE, -1
            values += 1
            if depth + 1 > MAX_DEPTH:
                return ERR_DEPTH, -1
            p = parse_anyvalue(buf, s, e, ai, av, row, depth + 1)
            if p < 0:
                return p, -1
            p = e
        else:
            p = skip_field(buf, p, end, f, wt, depth)
        if p < 0:
            return p, -1
        pos = p
    if values > 1:
        ai[row, A_FALLBACK] = 1  # merged AnyValues: let upb apply the merge rules
    return pos, match_key(buf, key_s, key_e, keys_data, keys_off)


@njit(cache=True, _nrt=False, inline="always")
def simple_kv(buf, s, e, ai, av, row, depth, keys_data, keys_off):
    """The usual KeyValue (``s``..``e``) in one go: its key (field 1), then its value (field
    2) holding one string / bool / int / double field, each length a single byte, nothing
    else. Fills row ``row`` exactly as parse_kv (called at ``depth``) would and returns
    (True, key index or -1); on anything else (False, -1), having written nothing, and
    parse_kv decides, errors included. Why: parse_kv's general loop, with a call per
    field, was the biggest cost of the scan (~35 % under perf)."""
    if s + 2 > e or buf[s] != 0x0A or buf[s + 1] >= 0x80:
        return False, -1
    ks = s + 2
    ke = ks + np.int64(buf[s + 1])
    if ke + 3 > e or buf[ke] != 0x12 or buf[ke + 1] >= 0x80:
        return False, -1
    vs = ke + 2
    if vs + np.int64(buf[ke + 1]) != e:
        return False, -1
    tag = buf[vs]
    sw0 = np.uint64(0)
    sw1 = np.uint64(0)
    if tag == 0x0A:  # string_value
        if buf[vs + 1] >= 0x80 or vs + 2 + np.int64(buf[vs + 1]) != e or not utf8_ok(buf, vs + 2, e):
            return False, -1
        kind = T_STRING
        num = np.int64(0)
        sw0, sw1 = view_words(buf, vs + 2, e - vs - 2)
    elif tag == 0x10 or tag == 0x18:  # bool_value / int_value
        v, p = read_varint(buf, vs + 1, e)
        if p != e:
            return False, -1
        if tag == 0x10:
            kind = T_BOOL
            num = np.int64(1) if v != np.uint64(0) else np.int64(0)
        else:
            kind = T_INT
            num = np.int64(v)
    elif tag == 0x21:  # double_value
        if vs + 9 != e:
            return False, -1
        kind = T_DOUBLE
        num = read_fixed64(buf, vs + 1)
    else:
        return False, -1
    if not utf8_ok(buf, ks, ke):
        return False, -1
    kw0, kw1 = view_words(buf, ks, ke - ks)
    ai[row, A_TYPE] = kind
    ai[row, A_NUM] = num
    ai[row, A_FALLBACK] = 0
    ai[row, A_DEPTH] = depth
    av[0, row, 0] = kw0
    av[0, row, 1] = kw1
    av[1, row, 0] = sw0
    av[1, row, 1] = sw1
    return True, match_key(buf, ks, ke, keys_data, keys_off)


@njit(cache=True, _nrt=False, inline="always")
def attr_field(buf, pos, end, ai, av, row, depth, keys_data, keys_off):
    """A repeated KeyValue field occurrence (``pos`` after the tag): parse into ``row``."""
    s, e = read_len(buf, pos, end)
    if s < 0 or row >= ai.shape[0]:  # capacity comes from pass 1; never exceed it
        return ERR_WIRE, -1
    if depth + 1 > MAX_DEPTH:
        return ERR_DEPTH, -1
    ai[row, A_KV_OFF] = s
    ai[row, A_KV_LEN] = e - s
    if depth + 2 <= MAX_DEPTH:  # deeper: parse_kv reports the depth error
        simple, k = simple_kv(buf, s, e, ai, av, row, depth + 1, keys_data, keys_off)
        if simple:
            return e, k
    p, k = parse_kv(buf, s, e, ai, av, row, depth + 1, keys_data, keys_off)
    if p < 0:
        return p, -1
    return e, k


@njit(cache=True, _nrt=False)
def parse_status(buf, pos, end, si, sv, row, depth):
    while pos < end:
        f, wt, p = read_tag(buf, pos, end)
        if p < 0:
            return p
        if f == 2 and wt == WT_LEN:
            p = string_field(buf, p, end, sv, row, V_STATUS_MESSAGE)
        elif f == 3 and wt == WT_VARINT:
            v, p = read_varint(buf, p, end)
            si[row, S_STATUS] = np.int64(np.int32(np.uint32(v & np.uint64(0xFFFFFFFF))))
        else:
            p = skip_field(buf, p, end, f, wt, depth)
        if p < 0:
            return p
        pos = p
    return pos


@njit(cache=True, _nrt=False)
def parse_event(buf, pos, end, ei, ev, e_row, eai, eav, cur, depth, no_keys_data, no_keys_off):
    ei[e_row, 0] = 0
    clear_views(ev, e_row)
    while pos < end:
        f, wt, p = read_tag(buf, pos, end)
        if p < 0:
            return p
        if f == 1 and wt == WT_I64:
            if p + 8 > end:
                return ERR_WIRE
            ei[e_row, 0] = read_fixed64(buf, p)
            p += 8
        elif f == 2 and wt == WT_LEN:
            p = string_field(buf, p, end, ev, e_row, 0)
        elif f == 3 and wt == WT_LEN:
            p, _ = attr_field(buf, p, end, eai, eav, cur[C_EVENT_ATTRS], depth, no_keys_data, no_keys_off)
            cur[C_EVENT_ATTRS] += 1
        else:
            p = skip_field(buf, p, end, f, wt, depth)
        if p < 0:
            return p
        pos = p
    return pos


@njit(cache=True, _nrt=False)
def parse_link(buf, pos, end, li, lv, l_row, lai, lav, cur, depth, no_keys_data, no_keys_off):
    li[l_row, L_TID_OFF] = 0
    li[l_row, L_TID_LEN] = 0
    li[l_row, L_SID_OFF] = 0
    li[l_row, L_SID_LEN] = 0
    clear_views(lv, l_row)
    while pos < end:
        f, wt, p = read_tag(buf, pos, end)
        if p < 0:
            return p
        if (f == 1 or f == 2) and wt == WT_LEN:
            s, e = read_len(buf, p, end)
            if s < 0:
                return ERR_WIRE
            li[l_row, L_TID_OFF if f == 1 else L_SID_OFF] = s
            li[l_row, L_TID_LEN if f == 1 else L_SID_LEN] = e - s
            p = e
        elif f == 3 and wt == WT_LEN:
            p = string_field(buf, p, end, lv, l_row, 0)
        elif f == 4 and wt == WT_LEN:
            p, _ = attr_field(buf, p, end, lai, lav, cur[C_LINK_ATTRS], depth, no_keys_data, no_keys_off)
            cur[C_LINK_ATTRS] += 1
        else:
            p = skip_field(buf, p, end, f, wt, depth)
        if p < 0:
            return p
        pos = p
    return pos


@njit(cache=True, _nrt=False)
def parse_span(
    buf, pos, end, row, depth, cur,
    si, sv, s_win, s_prio,
    sai, sav, s_attr_off,
    ei, ev, e_attr_off, eai, eav,
    li, lv, l_attr_off, lai, lav,
    keys_data, keys_off, keys_slot, keys_prio, no_keys_data, no_keys_off,
):
    for k in range(S_COLS):
        si[row, k] = 0
    clear_views(sv, row)
    for k in range(s_win.shape[1]):
        s_win[row, k] = -1
        s_prio[k] = 1 << 30
    while pos < end:
        f, wt, p = read_tag(buf, pos, end)
        if p < 0:
            return p
        if wt == WT_LEN and (f == 1 or f == 2 or f == 4):
            s, e = read_len(buf, p, end)
            if s < 0:
                return ERR_WIRE
            col = S_TID_OFF if f == 1 else (S_SID_OFF if f == 2 else S_PID_OFF)
            si[row, col] = s
            si[row, col + 1] = e - s
            p = e
        elif f == 3 and wt == WT_LEN:
            p = string_field(buf, p, end, sv, row, V_TRACE_STATE)
        elif f == 5 and wt == WT_LEN:
            s, e = read_len(buf, p, end)
            if s < 0:
                return ERR_WIRE
            if not utf8_ok(buf, s, e):
                return ERR_UTF8
            put_view(sv, row, V_NAME, buf, s, e - s)
            si[row, S_NAME_OFF] = s
            si[row, S_NAME_LEN] = e - s
            p = e
        elif f == 6 and wt == WT_VARINT:
            v, p = read_varint(buf, p, end)
            si[row, S_KIND] = np.int64(np.int32(np.uint32(v & np.uint64(0xFFFFFFFF))))
        elif (f == 7 or f == 8) and wt == WT_I64:
            if p + 8 > end:
                return ERR_WIRE
            si[row, S_START if f == 7 else S_END] = read_fixed64(buf, p)
            p += 8
        elif f == 16 and wt == WT_I32:
            if p + 4 > end:
                return ERR_WIRE
            si[row, S_FLAGS] = read_fixed32(buf, p)
            p += 4
        elif f == 9 and wt == WT_LEN:
            a = cur[C_SPAN_ATTRS]
            p, k = attr_field(buf, p, end, sai, sav, a, depth, keys_data, keys_off)
            cur[C_SPAN_ATTRS] += 1
            if p >= 0 and k >= 0:
                slot = keys_slot[k]
                if keys_prio[k] <= s_prio[slot]:  # better key, or a later duplicate
                    s_prio[slot] = keys_prio[k]
                    s_win[row, slot] = a
        elif f == 11 and wt == WT_LEN:
            s, e = read_len(buf, p, end)
            if s < 0:
                return ERR_WIRE
            if depth + 1 > MAX_DEPTH:
                return ERR_DEPTH
            er = cur[C_EVENTS]
            if er >= ei.shape[0]:
                return ERR_WIRE
            p = parse_event(buf, s, e, ei, ev, er, eai, eav, cur, depth + 1, no_keys_data, no_keys_off)
            cur[C_EVENTS] += 1
            e_attr_off[er + 1] = cur[C_EVENT_ATTRS]
            if p >= 0:
                p = e
        elif f == 13 and wt == WT_LEN:
            s, e = read_len(buf, p, end)
            if s < 0:
                return ERR_WIRE
            if depth + 1 > MAX_DEPTH:
                return ERR_DEPTH
            lr = cur[C_LINKS]
            if lr >= li.shape[0]:
                return ERR_WIRE
            p = parse_link(buf, s, e, li, lv, lr, lai, lav, cur, depth + 1, no_keys_data, no_keys_off)
            cur[C_LINKS] += 1
            l_attr_off[lr + 1] = cur[C_LINK_ATTRS]
            if p >= 0:
                p = e
        elif f == 15 and wt == WT_LEN:
            s, e = read_len(buf, p, end)
            if s < 0:
                return ERR_WIRE
            if depth + 1 > MAX_DEPTH:
                return ERR_DEPTH
            p = parse_status(buf, s, e, si, sv, row, depth + 1)
            if p >= 0:
                p = e
        else:
            p = skip_field(buf, p, end, f, wt, depth)
        if p < 0:
            return p
        pos = p
    return pos


@njit(cache=True, _nrt=False)
def all_zero(buf, s, n):
    for k in range(n):
        if buf[s + k] != 0:
            return False
    return True


@njit(cache=True, _nrt=False)
def id_problem(buf, si, row):
    """(reason, detail) as in _rows.id_problem: reason 0 = fine."""
    n = si[row, S_TID_LEN]
    if n != 16:
        return 1, n
    if all_zero(buf, si[row, S_TID_OFF], 16):
        return 1, -1
    n = si[row, S_SID_LEN]
    if n != 8:
        return 2, n
    if all_zero(buf, si[row, S_SID_OFF], 8):
        return 2, -1
    n = si[row, S_PID_LEN]
    if n != 0 and n != 8:
        return 3, n
    return 0, 0


@njit(cache=True, _nrt=False)
def parse_scope(buf, pos, end, cv, c_row, cai, cav, cur, depth, no_keys_data, no_keys_off):
    while pos < end:
        f, wt, p = read_tag(buf, pos, end)
        if p < 0:
            return p
        if (f == 1 or f == 2) and wt == WT_LEN:
            p = string_field(buf, p, end, cv, c_row, f - 1)
        elif f == 3 and wt == WT_LEN:
            p, _ = attr_field(buf, p, end, cai, cav, cur[C_SCOPE_ATTRS], depth, no_keys_data, no_keys_off)
            cur[C_SCOPE_ATTRS] += 1
        else:
            p = skip_field(buf, p, end, f, wt, depth)
        if p < 0:
            return p
        pos = p
    return pos


@njit(cache=True, _nrt=False)
def parse_entity_ref(buf, pos, end, depth):
    while pos < end:
        f, wt, p = read_tag(buf, pos, end)
        if p < 0:
            return p
        if 1 <= f <= 4 and wt == WT_LEN:
            p = check_string(buf, p, end)
        else:
            p = skip_field(buf, p, end, f, wt, depth)
        if p < 0:
            return p
        pos = p
    return pos


@njit(cache=True, _nrt=False)
def parse_resource(buf, pos, end, r_row, rai, rav, r_win, r_prio, cur, depth, rkeys_data, rkeys_off, rkeys_slot, rkeys_prio):
    while pos < end:
        f, wt, p = read_tag(buf, pos, end)
        if p < 0:
            return p
        if f == 1 and wt == WT_LEN:
            a = cur[C_RES_ATTRS]
            p, k = attr_field(buf, p, end, rai, rav, a, depth, rkeys_data, rkeys_off)
            cur[C_RES_ATTRS] += 1
            if p >= 0 and k >= 0:
                slot = rkeys_slot[k]
                if rkeys_prio[k] <= r_prio[slot]:
                    r_prio[slot] = rkeys_prio[k]
                    r_win[r_row, slot] = a
        elif f == 3 and wt == WT_LEN:
            s, e = read_len(buf, p, end)
            if s < 0:
                return ERR_WIRE
            if depth + 1 > MAX_DEPTH:
                return ERR_DEPTH
            p = parse_entity_ref(buf, s, e, depth + 1)
            if p >= 0:
                p = e
        else:
            p = skip_field(buf, p, end, f, wt, depth)
        if p < 0:
            return p
        pos = p
    return pos


@njit(cache=True, _nrt=False)
def keep_pending(ai, lo, hi, pv, cur):
    """Remember fallback KeyValues among rows lo..hi (about to be rolled back). False if
    pv is full (only if pass 1 counted fewer attributes than pass 2 saw: never write past
    the table)."""
    for a in range(lo, hi):
        if ai[a, A_FALLBACK]:
            j = cur[C_PENDING]
            if j >= pv.shape[0]:
                return False
            pv[j, 0] = ai[a, A_KV_OFF]
            pv[j, 1] = ai[a, A_KV_LEN]
            pv[j, 2] = ai[a, A_DEPTH]
            cur[C_PENDING] += 1
    return True


@njit(cache=True)
def offsets_table(n):
    """n + 1 offsets, uninitialised but the first (each later one is written as its row
    is accepted)."""
    out = np.empty(n + 1, np.int64)
    out[0] = 0
    return out


@njit(cache=True)
def scratch_words(counts, n_slots):
    """int64 words of scan_request's transient tables for these pass-1 counts: the span,
    attribute, link, rejection and pending tables, which Python reads while it builds
    the frame but which the frame never points into (see scan_request's ``scratch``)."""
    attrs = counts[C_SPAN_ATTRS] + counts[C_RES_ATTRS] + counts[C_SCOPE_ATTRS] + counts[C_EVENT_ATTRS] + counts[C_LINK_ATTRS]
    pending = counts[C_SPAN_ATTRS] + counts[C_EVENT_ATTRS] + counts[C_LINK_ATTRS]
    return counts[C_SPANS] * (S_COLS + n_slots + R_COLS) + attrs * A_COLS + pending * 3 + counts[C_LINKS] * L_COLS


@njit(cache=True)
def carve(scratch, at, rows, cols):
    """(rows x cols table on scratch[at:], the next free word)."""
    end = at + rows * cols
    return scratch[at:end].reshape((rows, cols)), end


@njit(cache=True, nogil=True)  # receiver threads decode in parallel
def scan_request(buf_owner, counts, keys_data_o, keys_off_o, keys_slot_o, keys_prio_o, n_slots,
                 rkeys_data_o, rkeys_off_o, rkeys_slot_o, rkeys_prio_o, n_rslots, scratch):
    """Pass 2. Returns (error/position, cursors, and every output array). String view
    blocks are (columns, rows, 2) uint64 (see put_view).

    Tables are allocated uninitialised wherever the scan writes every field of a row
    before moving its cursor past it (Python reads rows below the cursors only): zeroing
    ~1.3 KB of tables per span and writing them again cost more than the writes.

    The transient tables (scratch_words) are carved out of ``scratch`` when it is big
    enough, else out of a fresh array: a caller that reuses one scratch array per thread
    saves the page faults of ~0.7 KB of fresh memory per span (~25 % of this kernel under
    perf). Views, offsets and event times are always fresh: the frame points into them."""
    need = scratch_words(counts, n_slots)
    if len(scratch) < need:
        scratch = np.empty(need, np.int64)
    at = 0
    n_spans = counts[C_SPANS]
    cur_o = np.zeros(C_N, np.int64)
    si_o, at = carve(scratch, at, n_spans, S_COLS)  # parse_span clears its row
    sv_o = np.empty((S_VIEWS, n_spans, 2), np.uint64)  # parse_span clears its row
    s_win_o, at = carve(scratch, at, n_spans, n_slots)  # parse_span sets its row to -1
    s_prio_o = np.empty(max(n_slots, 1), np.int64)
    s_attr_off_o = offsets_table(n_spans)
    s_event_off_o = offsets_table(n_spans)
    s_link_off_o = offsets_table(n_spans)
    sai_o, at = carve(scratch, at, counts[C_SPAN_ATTRS], A_COLS)  # attr_field + parse_kv: every column
    sav_o = np.empty((2, counts[C_SPAN_ATTRS], 2), np.uint64)  # parse_kv clears its row
    n_rs = counts[C_RS]
    rai_o, at = carve(scratch, at, counts[C_RES_ATTRS], A_COLS)
    rav_o = np.empty((2, counts[C_RES_ATTRS], 2), np.uint64)
    r_win_o = np.full((n_rs, n_rslots), -1, np.int64)
    r_prio_o = np.empty(max(n_rslots, 1), np.int64)
    r_attr_off_o = offsets_table(n_rs)
    n_ss = counts[C_SS]
    cv_o = np.zeros((2, n_ss, 2), np.uint64)  # scope name / version: only written if present
    cai_o, at = carve(scratch, at, counts[C_SCOPE_ATTRS], A_COLS)
    cav_o = np.empty((2, counts[C_SCOPE_ATTRS], 2), np.uint64)
    ei_o = np.empty((counts[C_EVENTS], 1), np.int64)  # parse_event clears its row
    ev_o = np.empty((1, counts[C_EVENTS], 2), np.uint64)
    e_attr_off_o = offsets_table(counts[C_EVENTS])
    eai_o, at = carve(scratch, at, counts[C_EVENT_ATTRS], A_COLS)
    eav_o = np.empty((2, counts[C_EVENT_ATTRS], 2), np.uint64)
    li_o, at = carve(scratch, at, counts[C_LINKS], L_COLS)  # parse_link clears its row
    lv_o = np.empty((1, counts[C_LINKS], 2), np.uint64)
    l_attr_off_o = offsets_table(counts[C_LINKS])
    lai_o, at = carve(scratch, at, counts[C_LINK_ATTRS], A_COLS)
    lav_o = np.empty((2, counts[C_LINK_ATTRS], 2), np.uint64)
    rj_o, at = carve(scratch, at, n_spans, R_COLS)  # rows below the C_REJECTED cursor
    pv_o, at = carve(scratch, at, counts[C_SPAN_ATTRS] + counts[C_EVENT_ATTRS] + counts[C_LINK_ATTRS], 3)
    pv = unmanaged(pv_o)
    cur = unmanaged(cur_o)
    si = unmanaged(si_o)
    sv = unmanaged(sv_o)
    s_win = unmanaged(s_win_o)
    s_prio = unmanaged(s_prio_o)
    s_attr_off = unmanaged(s_attr_off_o)
    s_event_off = unmanaged(s_event_off_o)
    s_link_off = unmanaged(s_link_off_o)
    sai = unmanaged(sai_o)
    sav = unmanaged(sav_o)
    rai = unmanaged(rai_o)
    rav = unmanaged(rav_o)
    r_win = unmanaged(r_win_o)
    r_prio = unmanaged(r_prio_o)
    r_attr_off = unmanaged(r_attr_off_o)
    cv = unmanaged(cv_o)
    cai = unmanaged(cai_o)
    cav = unmanaged(cav_o)
    ei = unmanaged(ei_o)
    ev = unmanaged(ev_o)
    e_attr_off = unmanaged(e_attr_off_o)
    eai = unmanaged(eai_o)
    eav = unmanaged(eav_o)
    li = unmanaged(li_o)
    lv = unmanaged(lv_o)
    l_attr_off = unmanaged(l_attr_off_o)
    lai = unmanaged(lai_o)
    lav = unmanaged(lav_o)
    rj = unmanaged(rj_o)
    buf = unmanaged(buf_owner)
    no_keys_data_o = NO_KEYS_DATA
    no_keys_off_o = NO_KEYS_OFF
    no_keys_data = unmanaged(no_keys_data_o)
    no_keys_off = unmanaged(no_keys_off_o)
    keys_data = unmanaged(keys_data_o)
    keys_off = unmanaged(keys_off_o)
    keys_slot = unmanaged(keys_slot_o)
    keys_prio = unmanaged(keys_prio_o)
    rkeys_data = unmanaged(rkeys_data_o)
    rkeys_off = unmanaged(rkeys_off_o)
    rkeys_slot = unmanaged(rkeys_slot_o)
    rkeys_prio = unmanaged(rkeys_prio_o)

    status = 0
    end = len(buf)
    pos = 0
    span_index = 0  # position of the span in the input, rejected ones included
    while pos < end and status >= 0:
        f, wt, p = read_tag(buf, pos, end)
        if p < 0:
            status = p
            break
        if not (f == 1 and wt == WT_LEN):
            pos = skip_field(buf, p, end, f, wt, 0)
            if pos < 0:
                status = pos
            continue
        rs, rs_end = read_len(buf, p, end)
        if rs < 0:
            status = ERR_WIRE
            break
        r_row = cur[C_RS]
        if r_row >= r_win.shape[0]:
            status = ERR_WIRE
            break
        cur[C_RS] += 1
        for k in range(n_rslots):
            r_prio[k] = 1 << 30
        q = rs
        while q < rs_end:
            f2, wt2, p2 = read_tag(buf, q, rs_end)
            if p2 < 0:
                status = p2
                break
            if f2 == 1 and wt2 == WT_LEN:
                s, e = read_len(buf, p2, rs_end)
                if s < 0:
                    status = ERR_WIRE
                    break
                p2 = parse_resource(buf, s, e, r_row, rai, rav, r_win, r_prio, cur, 2,
                                    rkeys_data, rkeys_off, rkeys_slot, rkeys_prio)
                if p2 >= 0:
                    p2 = e
            elif f2 == 3 and wt2 == WT_LEN:
                p2 = check_string(buf, p2, rs_end)
            elif f2 == 2 and wt2 == WT_LEN:
                ss, ss_end = read_len(buf, p2, rs_end)
                if ss < 0:
                    status = ERR_WIRE
                    break
                c_row = cur[C_SS]
                if c_row >= cv.shape[1]:
                    status = ERR_WIRE
                    break
                cur[C_SS] += 1
                r = ss
                while r < ss_end:
                    f3, wt3, p3 = read_tag(buf, r, ss_end)
                    if p3 < 0:
                        status = p3
                        break
                    if f3 == 1 and wt3 == WT_LEN:
                        s, e = read_len(buf, p3, ss_end)
                        if s < 0:
                            status = ERR_WIRE
                            break
                        p3 = parse_scope(buf, s, e, cv, c_row, cai, cav, cur, 3, no_keys_data, no_keys_off)
                        if p3 >= 0:
                            p3 = e
                    elif f3 == 3 and wt3 == WT_LEN:
                        p3 = check_string(buf, p3, ss_end)
                    elif f3 == 2 and wt3 == WT_LEN:
                        s, e = read_len(buf, p3, ss_end)
                        if s < 0:
                            status = ERR_WIRE
                            break
                        row = cur[C_SPANS]
                        if row >= si.shape[0]:
                            status = ERR_WIRE
                            break
                        mark_attrs = cur[C_SPAN_ATTRS]
                        mark_events = cur[C_EVENTS]
                        mark_event_attrs = cur[C_EVENT_ATTRS]
                        mark_links = cur[C_LINKS]
                        mark_link_attrs = cur[C_LINK_ATTRS]
                        p3 = parse_span(
                            buf, s, e, row, 3, cur,
                            si, sv, s_win, s_prio,
                            sai, sav, s_attr_off,
                            ei, ev, e_attr_off, eai, eav,
                            li, lv, l_attr_off, lai, lav,
                            keys_data, keys_off, keys_slot, keys_prio, no_keys_data, no_keys_off,
                        )
                        if p3 >= 0:
                            p3 = e
                            si[row, S_SCOPE] = c_row
                            si[row, S_RESOURCE] = r_row
                            reason, detail = id_problem(buf, si, row)
                            if reason != 0:
                                j = cur[C_REJECTED]
                                if j >= rj.shape[0]:  # rejected rows are not rows of si: check both
                                    status = ERR_WIRE
                                    break
                                cur[C_REJECTED] += 1
                                rj[j, R_INDEX] = span_index
                                rj[j, R_REASON] = reason
                                rj[j, R_DETAIL] = detail
                                rj[j, R_NAME_OFF] = si[row, S_NAME_OFF]
                                rj[j, R_NAME_LEN] = si[row, S_NAME_LEN]
                                if not (keep_pending(sai, mark_attrs, cur[C_SPAN_ATTRS], pv, cur)
                                        and keep_pending(eai, mark_event_attrs, cur[C_EVENT_ATTRS], pv, cur)
                                        and keep_pending(lai, mark_link_attrs, cur[C_LINK_ATTRS], pv, cur)):
                                    status = ERR_WIRE
                                    break
                                # roll back everything this span appended
                                cur[C_SPAN_ATTRS] = mark_attrs
                                cur[C_EVENTS] = mark_events
                                cur[C_EVENT_ATTRS] = mark_event_attrs
                                cur[C_LINKS] = mark_links
                                cur[C_LINK_ATTRS] = mark_link_attrs
                            else:
                                cur[C_SPANS] += 1
                                s_attr_off[row + 1] = cur[C_SPAN_ATTRS]
                                s_event_off[row + 1] = cur[C_EVENTS]
                                s_link_off[row + 1] = cur[C_LINKS]
                            span_index += 1
                    else:
                        p3 = skip_field(buf, p3, ss_end, f3, wt3, 2)
                    if p3 < 0:
                        status = p3
                        break
                    r = p3
                if status < 0:
                    break
                p2 = ss_end
            else:
                p2 = skip_field(buf, p2, rs_end, f2, wt2, 1)
            if p2 < 0:
                status = p2
                break
            q = p2
        r_attr_off[r_row + 1] = cur[C_RES_ATTRS]
        pos = rs_end
    return (
        status, cur_o,
        si_o, sv_o, s_win_o, s_attr_off_o, s_event_off_o, s_link_off_o, sai_o, sav_o,
        rai_o, rav_o, r_win_o, r_attr_off_o,
        cv_o, cai_o, cav_o,
        ei_o, ev_o, e_attr_off_o, eai_o, eav_o,
        li_o, lv_o, l_attr_off_o, lai_o, lav_o,
        rj_o, pv_o,
        # returned only to stay alive: numba frees a local array at its last use, and the
        # scan writes through unmanaged views of these (a use after free, seen as heap
        # corruption when other threads allocated meanwhile)
        s_prio_o, r_prio_o,
    )


# --- ids to hex ---------------------------------------------------------------------------
# Fixed-width ids leave as Arrow string views over their hex digits: polars imports views
# as they are, where a large_string column of 50k ids cost it 0.6-0.9 ms and 200 page
# faults to convert (measured). View offsets are int32: the digits buffer is cut into
# 1 GiB chunks (VIEW_CHUNK_BITS), which 16- and 32-digit ids never straddle.
VIEW_CHUNK_BITS = 30


@njit(cache=True, _nrt=False)
def write_view(views, row, src, off, ln, index, stored_off):
    """views[row] = the Arrow string view of src[off:off+ln]: inline if <= 12 bytes, else
    data buffer ``index`` at ``stored_off`` (all 16 bytes written)."""
    views[row, 0] = ln & 0xFF
    views[row, 1] = (ln >> 8) & 0xFF
    views[row, 2] = (ln >> 16) & 0xFF
    views[row, 3] = (ln >> 24) & 0xFF
    if ln <= 12:
        for k in range(ln):
            views[row, 4 + k] = src[off + k]
        for k in range(ln, 12):
            views[row, 4 + k] = 0
        return
    for k in range(4):
        views[row, 4 + k] = src[off + k]
    for k in range(4):
        views[row, 8 + k] = (index >> (8 * k)) & 0xFF
        views[row, 12 + k] = (stored_off >> (8 * k)) & 0xFF


@njit(cache=True, _nrt=False)
def digits_view(views, row, chars, off, ln):
    """views[row] = the view of chars[off:off+ln] in the chunked digits buffers."""
    write_view(views, row, chars, off, ln, off >> VIEW_CHUNK_BITS, off & ((1 << VIEW_CHUNK_BITS) - 1))


#: hex digits of each byte value, high and low (a table, not arithmetic: numba compiled the
#: digit choice to a branch that random ids mispredict; 0.045 -> 0.020 us per 16-byte id)
HEX_HIGH = np.frombuffer(b"0123456789abcdef", np.uint8)[np.arange(256) >> 4].copy()
HEX_LOW = np.frombuffer(b"0123456789abcdef", np.uint8)[np.arange(256) & 15].copy()


@njit(cache=True, _nrt=False)
def put_hex(chars, o, buf, off, nbytes):
    """chars[o:o + 2 * nbytes] = lowercase hex of buf[off:off + nbytes]."""
    for k in range(nbytes):
        b = buf[off + k]
        chars[o + 2 * k] = HEX_HIGH[b]
        chars[o + 2 * k + 1] = HEX_LOW[b]


@njit(cache=True, nogil=True)  # receiver threads decode in parallel
def hex_variable(buf, offs, lens):
    """Hex of variable-length ids (links: rare, any length): (data, int64 offsets)."""
    out_off = np.zeros(len(offs) + 1, np.int64)
    for i in range(len(offs)):
        out_off[i + 1] = out_off[i] + 2 * lens[i]
    out = np.empty(out_off[-1], np.uint8)
    for i in range(len(offs)):
        put_hex(out, out_off[i], buf, offs[i], lens[i])
    return out, out_off


@njit(cache=True, _nrt=False)
def fill_ids(buf, si, tid_chars, tid_views, sid_chars, sid_views, pid_chars, pid_views, pid_valid):
    """span_columns' ids (without the NRT: see unmanaged)."""
    for i in range(len(si)):
        put_hex(tid_chars, 32 * i, buf, si[i, S_TID_OFF], 16)
        digits_view(tid_views, i, tid_chars, 32 * i, 32)
        put_hex(sid_chars, 16 * i, buf, si[i, S_SID_OFF], 8)
        digits_view(sid_views, i, sid_chars, 16 * i, 16)
        if si[i, S_PID_LEN] == 8 and not all_zero(buf, si[i, S_PID_OFF], 8):
            pid_valid[i] = True
            put_hex(pid_chars, 16 * i, buf, si[i, S_PID_OFF], 8)
            digits_view(pid_views, i, pid_chars, 16 * i, 16)


@njit(cache=True, nogil=True)
def span_outputs(n):
    """The per-span output arrays both decoders' span_columns fill: trace / span / parent id
    digits and views (parents: zero views and not valid until set), kind, status, start,
    end, flags, resource."""
    return (np.empty(n * 32, np.uint8), np.empty((n, 16), np.uint8), np.empty(n * 16, np.uint8),
            np.empty((n, 16), np.uint8), np.empty(n * 16, np.uint8), np.zeros((n, 16), np.uint8),
            np.zeros(n, np.bool_), np.empty(n, np.uint8), np.empty(n, np.uint8), np.empty(n, np.int64),
            np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64))


@njit(cache=True, nogil=True)  # receiver threads decode in parallel
def span_columns(buf, si, cv):
    """The per-span columns of the span table, in one pass over its rows: a span's three ids
    are close together in the request; separate passes per id plus numpy copies of each
    strided column cost ~0.45 us per span (cProfile, 77k OTLP spans), this ~0.25.

    Returns trace / span / parent id digits and views (see "ids to hex"; empty or
    all-zero parents are roots: null, zero view), parent validity, kind and status codes
    (unknown values -> 0), start, end, flags, resource, scope name and version views."""
    n = len(si)
    tid_chars, tid_views, sid_chars, sid_views, pid_chars, pid_views, pid_valid, kind, status, start, end, flags, \
        resource = span_outputs(n)
    scope_name = np.empty((n, 16), np.uint8)
    scope_version = np.empty((n, 16), np.uint8)
    fill_ids(unmanaged(buf), unmanaged(si), unmanaged(tid_chars), unmanaged(tid_views), unmanaged(sid_chars),
             unmanaged(sid_views), unmanaged(pid_chars), unmanaged(pid_views), unmanaged(pid_valid))
    for i in range(n):
        k = si[i, S_KIND]
        kind[i] = k if 0 <= k < N_KINDS else 0
        c = si[i, S_STATUS]
        status[i] = c if 0 <= c < N_STATUS_CODES else 0
        start[i] = si[i, S_START]
        end[i] = si[i, S_END]
        flags[i] = si[i, S_FLAGS]
        resource[i] = si[i, S_RESOURCE]
        scope = si[i, S_SCOPE]
        for b in range(16):
            scope_name[i, b] = cv[0, scope, b]
            scope_version[i, b] = cv[1, scope, b]
    return (tid_chars, tid_views, sid_chars, sid_views, pid_chars, pid_views, pid_valid, kind, status, start, end,
            flags, resource, scope_name, scope_version)


# --- promoted columns ---------------------------------------------------------------------------
@njit(cache=True, nogil=True)  # receiver threads decode in parallel
def promote_views(types, str_words, winners, is_string):
    """For each promoted column j: counts[j] = (string-like winners, int/double/bool winners,
    which a string column renders as text in Python); and for each string column with any
    winner (slot[j] >= 0, else -1), the string views of its string-like winners (as two
    uint64 words each: 0.30 -> 0.21 ms per 4k spans) and their validity bitmap,
    views[slot[j]] and bitmaps[slot[j]]. Columns without a winner get no views at all: a Jaeger file's spans often have no promoted attribute, and zeroing and
    filling 13 x 16 bytes per span for nothing was 55 ms per 200k spans."""
    n, k = winners.shape
    counts = np.zeros((k, 2), np.int64)
    for i in range(n):
        for j in range(k):
            a = winners[i, j]
            if a < 0:
                continue
            t = types[a]
            if t == T_STRING or t == T_BYTES or t == T_ARRAY or t == T_KVLIST:
                counts[j, 0] += 1
            elif t == T_INT or t == T_DOUBLE or t == T_BOOL:
                counts[j, 1] += 1
    slot = np.full(k, -1, np.int64)
    live = 0
    for j in range(k):
        if is_string[j] and counts[j, 0] + counts[j, 1] > 0:
            slot[j] = live
            live += 1
    views = np.zeros((live, n, 2), np.uint64)  # 16-byte views as two words: one copy each
    bitmaps = np.zeros((live, (n + 7) // 8), np.uint8)
    for i in range(n):
        for j in range(k):
            c = slot[j]
            a = winners[i, j]
            if c < 0 or a < 0:
                continue
            t = types[a]
            if t == T_STRING or t == T_BYTES or t == T_ARRAY or t == T_KVLIST:
                views[c, i, 0] = str_words[a, 0]
                views[c, i, 1] = str_words[a, 1]
                bitmaps[c, i >> 3] |= np.uint8(1 << (i & 7))
    return counts, slot, views, bitmaps


@njit(cache=True, nogil=True)  # receiver threads decode in parallel
def promote_ints(types, num, idx):
    """An Int64 promoted column from its winners idx (-1: none): (values, valid, rows whose
    winner is a string or double, which Python parses); numpy's where/gather chain for the
    same was 0.14 ms per 4k spans."""
    n = len(idx)
    values = np.zeros(n, np.int64)
    valid = np.zeros(n, np.bool_)
    later = 0
    for i in range(n):
        a = idx[i]
        if a >= 0:
            if types[a] == T_INT:
                values[i] = num[a]
                valid[i] = True
            elif types[a] == T_STRING or types[a] == T_DOUBLE:
                later += 1
    rows = np.empty(later, np.int64)
    k = 0
    for i in range(n):
        a = idx[i]
        if a >= 0 and (types[a] == T_STRING or types[a] == T_DOUBLE):
            rows[k] = i
            k += 1
    return values, valid, rows


# --- attribute tables ---------------------------------------------------------------------------
BM_STR = 0
BM_INT = 1
BM_DOUBLE = 2
BM_BOOL = 3
BM_BOOL_VALUE = 4


@njit(cache=True, nogil=True)  # receiver threads decode in parallel
def attribute_arrays(ai):
    """Type codes (uint8) and numbers of a scanned attribute table in one pass over its rows
    (two numpy column copies plus a fallback check were three passes: 127 -> 74 us per 41k
    rows), and how many rows wait for the Python fallback."""
    n = len(ai)
    types = np.empty(n, np.uint8)
    num = np.empty(n, np.int64)
    fallbacks = 0
    for i in range(n):
        types[i] = ai[i, A_TYPE]
        num[i] = ai[i, A_NUM]
        fallbacks += ai[i, A_FALLBACK] != 0
    return types, num, fallbacks


@njit(cache=True, nogil=True)  # receiver threads decode in parallel
def attribute_bitmaps(types, num):
    """Arrow bitmaps of an attribute table in one pass (rows BM_*): which rows have a
    ``str`` / ``int`` / ``float`` / ``bool`` value, and the bool values; plus how many rows
    are set in each, so a column whose rows are all valid needs no bitmap."""
    n = len(types)
    bits = np.zeros((5, (n + 7) // 8), np.uint8)
    counts = np.zeros(5, np.int64)
    for i in range(n):
        t = types[i]
        if t == T_STRING or t == T_BYTES or t == T_ARRAY or t == T_KVLIST:
            row = BM_STR
        elif t == T_INT:
            row = BM_INT
        elif t == T_DOUBLE:
            row = BM_DOUBLE
        elif t == T_BOOL:
            row = BM_BOOL
        else:
            continue
        bit = np.uint8(1 << (i & 7))
        bits[row, i >> 3] |= bit
        counts[row] += 1
        if num[i] != 0:
            bits[BM_BOOL_VALUE, i >> 3] |= bit
    return bits, counts


@njit(cache=True, nogil=True)  # receiver threads decode in parallel
def take_owners(offsets, owners, types, num, key_words, str_words):
    """The attribute rows of owner owners[i] (rows offsets[o]:offsets[o+1]) for every i,
    concatenated: (offsets, types, num, key views, str views); views as (rows, 2) uint64.
    One pass and no temporaries: the numpy version (repeat/arange/four gathers) had 4.2k
    of the 11k page faults after the scan of 77k OTLP spans (resources repeated per span)."""
    m = len(owners)
    out_off = np.empty(m + 1, np.int64)
    out_off[0] = 0
    for i in range(m):
        o = owners[i]
        out_off[i + 1] = out_off[i] + offsets[o + 1] - offsets[o]
    total = out_off[m]
    out_types = np.empty(total, np.uint8)
    out_num = np.empty(total, np.int64)
    out_keys = np.empty((total, 2), np.uint64)
    out_strs = np.empty((total, 2), np.uint64)
    j = 0
    for i in range(m):
        o = owners[i]
        for a in range(offsets[o], offsets[o + 1]):
            out_types[j] = types[a]
            out_num[j] = num[a]
            out_keys[j, 0] = key_words[a, 0]
            out_keys[j, 1] = key_words[a, 1]
            out_strs[j, 0] = str_words[a, 0]
            out_strs[j, 1] = str_words[a, 1]
            j += 1
    return out_off, out_types, out_num, out_keys, out_strs
