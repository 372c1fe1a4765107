"""numba kernels: Jaeger UI JSON (``{"data": [trace, ...]}``) -> flat tables, one pass.

The reference decoder (jaeger.py) is the specification; jaeger_columnar.py turns these
tables into the same frame. The scan fills, in document order:

* traces (id, span range, process range), spans (ids, name, times, flags, ranges of their
  tags, logs and references, processID), references, logs, processes (key, serviceName,
  tag range) and one tag table shared by spans, processes and logs (key, type, value);
* strings as references ``(w, offset, length)`` (see _jsonscan), never copied.

Anything the fast path does not model exactly returns BAIL and the caller uses the
reference decoder for the whole input: duplicate keys in an object the decoder reads (json
keeps the last, dicts keep the first position), escapes or spaces in ids (``bytes.fromhex``
skips whitespace), non-ASCII text where Python's case mapping matters, numbers given as
strings, null list elements, tags whose value the reference would stringify with ``str()``,
an inline ``process`` object, a document without ``data``, and every syntax error.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tracelens.ingest._jsonscan import (
    BAIL,
    CONST_NONE,
    CONST_SERVICE_NAME,
    HEX_VALUE,
    NUM_INT,
    NUM_INT_BIG,
    W_CONST,
    W_DECODED,
    W_EXTRA,
    W_INPUT,
    exact_float,
    fnv,
    match_exact,
    match_lower,
    parse_string,
    scan_number,
    skip_literal,
    skip_value,
    skip_ws,
    word_table,
)
from tracelens.ingest._wire import HEX_HIGH, HEX_LOW, digits_view, span_outputs, unmanaged, write_view

# --- object keys the scanner reads ---------------------------------------------------------
FIELDS = (
    "data", "resourceSpans", "resource_spans",  # document
    "traceID", "spans", "processes",  # trace
    "spanID", "operationName", "references", "startTime", "duration", "flags", "tags", "logs",
    "processID", "process", "parentSpanID",  # span
    "refType",  # reference
    "key", "type", "value",  # tag
    "timestamp", "fields",  # log
    "serviceName",  # process
)
(K_DATA, K_RESOURCE_SPANS, K_RESOURCE_SPANS2, K_TRACE_ID, K_SPANS, K_PROCESSES, K_SPAN_ID, K_OPERATION,
 K_REFERENCES, K_START, K_DURATION, K_FLAGS, K_TAGS, K_LOGS, K_PROCESS_ID, K_PROCESS, K_PARENT_SPAN_ID,
 K_REF_TYPE, K_KEY, K_TYPE, K_VALUE, K_TIMESTAMP, K_FIELDS, K_SERVICE_NAME) = range(len(FIELDS))
FIELD_DATA, FIELD_OFF = word_table(FIELDS)
# per object: the fields whose repetition the scanner refuses (member_key)
ONCE_TRACE = (1 << K_TRACE_ID) | (1 << K_SPANS) | (1 << K_PROCESSES)
ONCE_SPAN = (1 << len(FIELDS)) - 1  # every known field
ONCE_REF = (1 << K_REF_TYPE) | (1 << K_TRACE_ID) | (1 << K_SPAN_ID)
ONCE_TAG = (1 << K_KEY) | (1 << K_TYPE) | (1 << K_VALUE)
ONCE_LOG = (1 << K_TIMESTAMP) | (1 << K_FIELDS)
ONCE_PROCESS = (1 << K_SERVICE_NAME) | (1 << K_TAGS)


def _lut_slot(word: bytes) -> int:
    return ((len(word) & 15) << 10) | ((word[0] & 31) << 5) | (word[-1] & 31)


def _field_lut() -> np.ndarray:
    """(length, first byte, last byte) -> field index: one probe per key instead of a scan."""
    lut = np.full(1 << 14, -1, np.int64)
    for i, name in enumerate(FIELDS):
        slot = _lut_slot(name.encode())
        assert lut[slot] < 0, f"field lookup collision: {name}"
        lut[slot] = i
    return lut


FIELD_LUT = _field_lut()

#: tag types, lowercased (jaeger.tag_value: str(type).lower(); anything else is a string)
TAG_TYPES = ("bool", "int64", "float64", "binary")
TYPE_DATA, TYPE_OFF = word_table(TAG_TYPES)
CHILD_OF_DATA, CHILD_OF_OFF = word_table(("child_of",))
TF_DATA, TF_OFF = word_table(("false", "true"))

NULL = np.frombuffer(b"null", np.uint8)
TRUE = np.frombuffer(b"true", np.uint8)
FALSE = np.frombuffer(b"false", np.uint8)

# attribute type codes = index into schema.ATTRIBUTE_TYPES
T_STRING, T_BOOL, T_INT, T_DOUBLE, T_BYTES = 0, 1, 2, 3, 4

# --- tables (int64 columns) ---------------------------------------------------------------
# traces
TR_TID_STATE, TR_TID_HI, TR_TID_LO, TR_SPAN_FIRST, TR_SPAN_END, TR_PROC_FIRST, TR_PROC_END = range(7)
TR_COLS = 7
# spans; id states: 0 key absent (inherit), 1 valid, 2 invalid (b"" in the reference)
(S_TRACE, S_TID_STATE, S_TID_HI, S_TID_LO, S_SID_STATE, S_SID, S_NAME_W, S_NAME_OFF, S_NAME_LEN,
 S_START, S_DURATION, S_FLAGS, S_HAS_FLAGS, S_TAG_FIRST, S_TAG_END, S_LOG_FIRST, S_LOG_END,
 S_REF_FIRST, S_REF_END, S_PID_W, S_PID_OFF, S_PID_LEN, S_PSID_STATE, S_PSID) = range(24)
S_COLS = 24
# references
R_SPAN, R_CHILD_OF, R_TID_STATE, R_TID_HI, R_TID_LO, R_SID_STATE, R_SID = range(7)
R_COLS = 7
# logs
L_TIME, L_TAG_FIRST, L_TAG_END = range(3)
L_COLS = 3
# processes
P_KEY_W, P_KEY_OFF, P_KEY_LEN, P_KEY_HASH, P_NAME_W, P_NAME_OFF, P_NAME_LEN, P_SYNTH, P_TAG_FIRST, P_TAG_END = range(10)
P_COLS = 10
# tags; A_RARE: 0 none, 1 double from text (Python float), 2 binary (Python base64 round trip)
(A_KEY_W, A_KEY_OFF, A_KEY_LEN, A_KEY_HASH, A_KEY_ID, A_TYPE, A_NUM, A_STR_W, A_STR_OFF, A_STR_LEN,
 A_RARE) = range(11)
A_COLS = 11
RARE_FLOAT, RARE_BINARY = 1, 2
RARE_FLOAT_BITS = 3  # a double the kernel parsed into F[row]: its bits go to A_NUM after the scan

MAX_TAGS_PAIRWISE = 512  # tags of one owner checked pairwise for duplicate keys

# cursors
C_TRACES, C_SPANS, C_REFS, C_LOGS, C_PROCS, C_TAGS, C_DECODED = range(7)
C_N = 7

# value kinds seen in a tag's "value"
V_ABSENT, V_STRING, V_INT, V_INT_BIG, V_FLOAT, V_TRUE, V_FALSE, V_NULL, V_OTHER = range(9)


@njit(cache=True, inline="always", _nrt=False)
def source(buf, dec, consts, w):
    if w == W_INPUT:
        return buf
    if w == W_DECODED:
        return dec
    return consts


@njit(cache=True, inline="always", _nrt=False)
def same_bytes(a, a_off, a_len, b, b_off, b_len):
    if a_len != b_len:
        return False
    for k in range(a_len):
        if a[a_off + k] != b[b_off + k]:
            return False
    return True


@njit(cache=True, inline="always", _nrt=False)
def parse_key(buf, pos, n, dec, cur):
    """Object key at pos (after '{' or ',' and whitespace) -> (position after ':' and
    whitespace, field index or -1)."""
    if pos >= n or buf[pos] != 34:
        return BAIL, -1
    # plain ASCII keys (all of Jaeger's) without a call; anything else: parse_string
    i = pos + 1
    while i < n:
        c = buf[i]
        if c == 34 or c == 92 or c < 32 or c >= 128:
            break
        i += 1
    if i < n and buf[i] == 34:
        end, w, off, ln = i + 1, W_INPUT, pos + 1, i - pos - 1
    else:
        end, w, off, ln, _esc = parse_string(buf, pos, n, dec, cur, C_DECODED)
        if end < 0:
            return BAIL, -1
    src = buf if w == W_INPUT else dec
    k = -1
    if ln > 0:
        k = FIELD_LUT[((ln & 15) << 10) | ((src[off] & 31) << 5) | (src[off + ln - 1] & 31)]
        if k >= 0 and not same_bytes(src, off, ln, FIELD_DATA, FIELD_OFF[k], FIELD_OFF[k + 1] - FIELD_OFF[k]):
            k = -1
    if w == W_DECODED:
        cur[C_DECODED] = off  # keys are not kept
    end = skip_ws(buf, end, n)
    if end >= n or buf[end] != 58:
        return BAIL, -1
    return skip_ws(buf, end + 1, n), k


@njit(cache=True, inline="always", _nrt=False)
def next_member(buf, pos, n, closer):
    """After a member/element: (position of the next one, more?) or BAIL."""
    pos = skip_ws(buf, pos, n)
    if pos >= n:
        return BAIL, False
    c = buf[pos]
    if c == 44:
        return skip_ws(buf, pos + 1, n), True
    if c == closer:
        return pos + 1, False
    return BAIL, False


@njit(cache=True, inline="always", _nrt=False)
def open_container(buf, pos, n, opener, closer):
    """At an opener: (position of the first member, non-empty?) or BAIL."""
    if pos >= n or buf[pos] != opener:
        return BAIL, False
    pos = skip_ws(buf, pos + 1, n)
    if pos >= n:
        return BAIL, False
    if buf[pos] == closer:
        return pos + 1, False
    return pos, True


@njit(cache=True, _nrt=False)
def member_key(buf, pos, n, dec, cur, seen, once):
    """parse_key, and a field of the mask ``once`` met twice in one object -> BAIL (json
    keeps the last value; the scanner keeps the first): (pos, field index, seen bits)."""
    pos, k = parse_key(buf, pos, n, dec, cur)
    if k >= 0 and (once >> k) & 1:
        if (seen >> k) & 1:
            return BAIL, k, seen
        seen |= 1 << k
    return pos, k, seen


@njit(cache=True, _nrt=False)
def after_member(buf, pos, n, closer):
    """After a member's value (or BAIL): (position of the next member, more?) or BAIL."""
    if pos < 0:
        return BAIL, False
    return next_member(buf, pos, n, closer)


@njit(cache=True, _nrt=False)
def parse_name_into(buf, pos, n, dec, cur, M, row, c_w, c_off, c_len):
    """A string (its source, offset, length into M[row] at c_w, c_off, c_len) or null (M
    unchanged) -> end; anything else is str(value): not modelled, BAIL."""
    c = buf[pos]
    if c == 34:
        pos, w, off, ln, _e = parse_string(buf, pos, n, dec, cur, C_DECODED)
        M[row, c_w] = w
        M[row, c_off] = off
        M[row, c_len] = ln
        return pos
    if c == 110:
        return skip_literal(buf, pos, n, NULL)
    return BAIL


@njit(cache=True, _nrt=False)
def parse_id(buf, pos, n, dec, cur, width):
    """An id value at pos -> (end, state, hi, lo). state 1: valid (hex, 1..width digits,
    left-padded), 2: anything else the reference turns into b"" (not a string, empty, too
    long, not hex). Escapes and spaces bail (``bytes.fromhex`` skips whitespace)."""
    if buf[pos] != 34:
        end = skip_value(buf, pos, n, dec, cur, C_DECODED)
        return end, 2, 0, 0
    # the usual case in one pass: 1..width hex digits, then the closing quote
    hi = np.uint64(0)
    lo = np.uint64(0)
    i = pos + 1
    while i < n and i - pos - 1 <= width:
        d = HEX_VALUE[buf[i]]
        if d == 255:
            if buf[i] == 34 and i > pos + 1:
                return i + 1, 1, np.int64(hi), np.int64(lo)
            break
        hi = (hi << np.uint64(4)) | (lo >> np.uint64(60))
        lo = (lo << np.uint64(4)) | np.uint64(d)
        i += 1
    end, w, off, ln, esc = parse_string(buf, pos, n, dec, cur, C_DECODED)
    if end < 0 or esc:
        return BAIL, 0, 0, 0
    if ln == 0 or ln > width:
        for k in range(off, off + ln):
            if buf[k] == 32:
                return BAIL, 0, 0, 0
        return end, 2, 0, 0
    hi = np.uint64(0)
    lo = np.uint64(0)
    for k in range(off, off + ln):
        d = HEX_VALUE[buf[k]]
        if d == 255:
            for j in range(off, off + ln):
                if buf[j] == 32:
                    return BAIL, 0, 0, 0
            return end, 2, 0, 0
        hi = (hi << np.uint64(4)) | (lo >> np.uint64(60))
        lo = (lo << np.uint64(4)) | np.uint64(d)
    return end, 1, np.int64(hi), np.int64(lo)


@njit(cache=True, _nrt=False)
def parse_id_into(buf, pos, n, dec, cur, width, M, row, c_state, c_hi, c_lo):
    """parse_id, its state and halves into M[row] at c_state, c_hi, c_lo (c_hi < 0: a
    span id, no high half kept) -> end."""
    pos, st, hi, lo = parse_id(buf, pos, n, dec, cur, width)
    M[row, c_state] = st
    if c_hi >= 0:
        M[row, c_hi] = hi
    M[row, c_lo] = lo
    return pos


@njit(cache=True, _nrt=False)
def parse_int_value(buf, pos, n, dec, cur):
    """as_int for the fast path: an integer literal or null (0) -> (end, value); else BAIL."""
    c = buf[pos]
    if c == 110:
        return skip_literal(buf, pos, n, NULL), 0
    if c == 45 or 48 <= c <= 57:
        end, kind, value = scan_number(buf, pos, n)
        if end < 0 or kind != NUM_INT:
            return BAIL, 0
        return end, value
    return BAIL, 0


def key_lut(words: tuple[str, ...] | list[str]) -> np.ndarray:
    """Open-addressing table: fnv(key) & (size - 1) -> index of the key in ``words`` (-1 empty)."""
    size = 1 << max(6, (4 * len(words) - 1).bit_length())
    lut = np.full(size, -1, np.int64)
    for i, word in enumerate(words):
        h = 0xCBF29CE484222325
        for b in word.encode():
            h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        slot = h & (size - 1)
        while lut[slot] >= 0:
            slot = (slot + 1) & (size - 1)
        lut[slot] = i
    return lut


@njit(cache=True, _nrt=False)
def lookup_key(src, off, ln, h, words, words_off, lut):
    """Index of src[off:off+ln] (whose fnv hash is h) in ``words`` via ``lut``, or -1."""
    mask = len(lut) - 1
    slot = h & mask
    while True:
        k = lut[slot]
        if k < 0:
            return -1
        if same_bytes(src, off, ln, words, words_off[k], words_off[k + 1] - words_off[k]):
            return k
        slot = (slot + 1) & mask


@njit(cache=True, _nrt=False)
def parse_tags(buf, pos, n, dec, consts, cur, A, F, tag_keys, tag_keys_off, tag_lut):
    """A tags/fields value (null or a list of tag objects) -> end; rows appended to A."""
    if buf[pos] == 110:
        return skip_literal(buf, pos, n, NULL)
    pos, more = open_container(buf, pos, n, 91, 93)
    if pos < 0:
        return BAIL
    first = cur[C_TAGS]
    while more:
        if buf[pos] != 123:
            return BAIL  # null tags become {"": ""} in the reference: rare, not modelled
        row = cur[C_TAGS]
        cur[C_TAGS] += 1
        # defaults: key "" (absent key is as_str(None) -> ""), type string, value absent
        A[row, A_KEY_W] = W_INPUT
        A[row, A_KEY_OFF] = 0
        A[row, A_KEY_LEN] = 0
        type_code = -1  # -1: string branch
        vkind = V_ABSENT
        v_w = 0
        v_off = 0
        v_len = 0
        v_int = 0
        v_start = 0
        v_end = 0
        seen = 0
        pos, inner = open_container(buf, pos, n, 123, 125)
        if pos < 0:
            return BAIL
        while inner:
            pos, k, seen = member_key(buf, pos, n, dec, cur, seen, ONCE_TAG)
            if pos < 0 or pos >= n:
                return BAIL
            if k == K_KEY:
                pos = parse_name_into(buf, pos, n, dec, cur, A, row, A_KEY_W, A_KEY_OFF, A_KEY_LEN)
            elif k == K_TYPE:
                if buf[pos] == 34:
                    pos, w, off, ln, _e = parse_string(buf, pos, n, dec, cur, C_DECODED)
                    if pos < 0:
                        return BAIL
                    t = match_lower(source(buf, dec, consts, w), off, ln, TYPE_DATA, TYPE_OFF)
                    if t == -2:
                        return BAIL
                    type_code = t
                    if w == W_DECODED:
                        cur[C_DECODED] = off
                else:
                    # str(None/number/bool/...).lower() is never a tag type: string branch
                    pos = skip_value(buf, pos, n, dec, cur, C_DECODED)
                    type_code = -1
            elif k == K_VALUE:
                c = buf[pos]
                if c == 34:
                    vkind = V_STRING
                    pos, v_w, v_off, v_len, _e = parse_string(buf, pos, n, dec, cur, C_DECODED)
                elif c == 45 or 48 <= c <= 57:
                    v_start = pos
                    pos, nk, v_int = scan_number(buf, pos, n)
                    v_end = pos
                    vkind = V_INT if nk == NUM_INT else (V_INT_BIG if nk == NUM_INT_BIG else V_FLOAT)
                elif c == 116:
                    vkind = V_TRUE
                    pos = skip_literal(buf, pos, n, TRUE)
                elif c == 102:
                    vkind = V_FALSE
                    pos = skip_literal(buf, pos, n, FALSE)
                elif c == 110:
                    vkind = V_NULL
                    pos = skip_literal(buf, pos, n, NULL)
                else:
                    vkind = V_OTHER
                    pos = skip_value(buf, pos, n, dec, cur, C_DECODED)
            else:
                pos = skip_value(buf, pos, n, dec, cur, C_DECODED)
            pos, inner = after_member(buf, pos, n, 125)
            if pos < 0:
                return BAIL
        # the value, as jaeger.tag_value + _rows.typed would make it
        A[row, A_NUM] = 0
        A[row, A_STR_W] = W_INPUT
        A[row, A_STR_OFF] = 0
        A[row, A_STR_LEN] = 0
        A[row, A_RARE] = 0
        if type_code == 0:  # bool
            A[row, A_TYPE] = T_BOOL
            if vkind == V_TRUE:
                A[row, A_NUM] = 1
            elif vkind == V_FALSE:
                A[row, A_NUM] = 0
            elif vkind == V_STRING:
                t = match_exact(source(buf, dec, consts, v_w), v_off, v_len, TF_DATA, TF_OFF)
                if t < 0:
                    return BAIL
                A[row, A_NUM] = t
            else:
                return BAIL
        elif type_code == 1:  # int64
            A[row, A_TYPE] = T_INT
            if vkind == V_INT:
                A[row, A_NUM] = v_int
            elif vkind != V_NULL and vkind != V_ABSENT:
                return BAIL
        elif type_code == 2:  # float64
            A[row, A_TYPE] = T_DOUBLE
            if vkind == V_INT and -9007199254740992 <= v_int <= 9007199254740992:
                F[row] = np.float64(v_int)
                A[row, A_RARE] = RARE_FLOAT_BITS
            elif vkind == V_INT or vkind == V_INT_BIG or vkind == V_FLOAT:
                ok = False
                value = 0.0
                if vkind == V_FLOAT:
                    ok, value = exact_float(buf, v_start, v_end)
                if ok:
                    F[row] = value
                    A[row, A_RARE] = RARE_FLOAT_BITS
                else:
                    A[row, A_RARE] = RARE_FLOAT
                    A[row, A_STR_W] = W_INPUT
                    A[row, A_STR_OFF] = v_start
                    A[row, A_STR_LEN] = v_end - v_start
            else:
                return BAIL
        elif type_code == 3:  # binary
            A[row, A_TYPE] = T_BYTES
            if vkind == V_STRING:
                A[row, A_RARE] = RARE_BINARY
                A[row, A_STR_W] = v_w
                A[row, A_STR_OFF] = v_off
                A[row, A_STR_LEN] = v_len
            elif vkind != V_NULL and vkind != V_ABSENT:
                return BAIL
        else:  # string branch: value if str, "" if None, else str(value): not modelled
            A[row, A_TYPE] = T_STRING
            if vkind == V_STRING:
                A[row, A_STR_W] = v_w
                A[row, A_STR_OFF] = v_off
                A[row, A_STR_LEN] = v_len
            elif vkind != V_NULL and vkind != V_ABSENT:
                return BAIL
        kw = A[row, A_KEY_W]
        src = source(buf, dec, consts, kw)
        h = fnv(src, A[row, A_KEY_OFF], A[row, A_KEY_LEN])
        A[row, A_KEY_HASH] = h
        A[row, A_KEY_ID] = lookup_key(src, A[row, A_KEY_OFF], A[row, A_KEY_LEN], h, tag_keys, tag_keys_off, tag_lut)
        pos, more = next_member(buf, pos, n, 93)
        if pos < 0:
            return BAIL
    if has_duplicate_keys(A, first, cur[C_TAGS]):
        return BAIL
    return pos


@njit(cache=True, _nrt=False)
def parse_tags_into(buf, pos, n, dec, consts, cur, A, F, tag_keys, tag_keys_off, tag_lut, M, row, c_first, c_end):
    """parse_tags, and the rows it appended to A as M[row, c_first:c_end] -> end."""
    first = cur[C_TAGS]
    pos = parse_tags(buf, pos, n, dec, consts, cur, A, F, tag_keys, tag_keys_off, tag_lut)
    M[row, c_first] = first
    M[row, c_end] = cur[C_TAGS]
    return pos


@njit(cache=True, _nrt=False)
def has_duplicate_keys(A, lo, hi):
    """Do rows lo:hi share a key hash? (dicts keep the first position, json the last value)."""
    m = hi - lo
    if m > MAX_TAGS_PAIRWISE:
        return True  # treated as a duplicate: the reference decodes such a span
    for i in range(lo, hi):
        for j in range(i + 1, hi):
            if A[i, A_KEY_HASH] == A[j, A_KEY_HASH]:
                return True
    return False


@njit(cache=True, _nrt=False)
def parse_refs(buf, pos, n, dec, consts, cur, R, span, child_of, child_of_off):
    if buf[pos] == 110:
        return skip_literal(buf, pos, n, NULL)
    pos, more = open_container(buf, pos, n, 91, 93)
    if pos < 0:
        return BAIL
    while more:
        if buf[pos] != 123:
            return BAIL  # a null reference is {} (a CHILD_OF of b""): not modelled
        row = cur[C_REFS]
        cur[C_REFS] += 1
        R[row, R_SPAN] = span
        R[row, R_CHILD_OF] = 1  # refType defaults to CHILD_OF
        R[row, R_TID_STATE] = 0
        R[row, R_TID_HI] = 0
        R[row, R_TID_LO] = 0
        R[row, R_SID_STATE] = 2
        R[row, R_SID] = 0
        seen = 0
        pos, inner = open_container(buf, pos, n, 123, 125)
        if pos < 0:
            return BAIL
        while inner:
            pos, k, seen = member_key(buf, pos, n, dec, cur, seen, ONCE_REF)
            if pos < 0 or pos >= n:
                return BAIL
            if k == K_REF_TYPE:
                if buf[pos] == 34:
                    pos, w, off, ln, _e = parse_string(buf, pos, n, dec, cur, C_DECODED)
                    if pos < 0:
                        return BAIL
                    t = match_lower(source(buf, dec, consts, w), off, ln, child_of, child_of_off)
                    if t == -2:
                        return BAIL
                    R[row, R_CHILD_OF] = 1 if t == 0 else 0
                    if w == W_DECODED:
                        cur[C_DECODED] = off
                else:
                    pos = skip_value(buf, pos, n, dec, cur, C_DECODED)
                    R[row, R_CHILD_OF] = 0  # str(None).upper() etc. is not CHILD_OF
            elif k == K_TRACE_ID:
                pos = parse_id_into(buf, pos, n, dec, cur, 32, R, row, R_TID_STATE, R_TID_HI, R_TID_LO)
            elif k == K_SPAN_ID:
                pos = parse_id_into(buf, pos, n, dec, cur, 16, R, row, R_SID_STATE, -1, R_SID)
            else:
                pos = skip_value(buf, pos, n, dec, cur, C_DECODED)
            pos, inner = after_member(buf, pos, n, 125)
            if pos < 0:
                return BAIL
        pos, more = next_member(buf, pos, n, 93)
        if pos < 0:
            return BAIL
    return pos


@njit(cache=True, _nrt=False)
def parse_logs(buf, pos, n, dec, consts, cur, Lg, A, F, tag_keys, tag_keys_off, tag_lut):
    if buf[pos] == 110:
        return skip_literal(buf, pos, n, NULL)
    pos, more = open_container(buf, pos, n, 91, 93)
    if pos < 0:
        return BAIL
    while more:
        if buf[pos] != 123:
            return BAIL
        row = cur[C_LOGS]
        cur[C_LOGS] += 1
        Lg[row, L_TIME] = 0
        Lg[row, L_TAG_FIRST] = cur[C_TAGS]
        Lg[row, L_TAG_END] = cur[C_TAGS]
        seen = 0
        pos, inner = open_container(buf, pos, n, 123, 125)
        if pos < 0:
            return BAIL
        while inner:
            pos, k, seen = member_key(buf, pos, n, dec, cur, seen, ONCE_LOG)
            if pos < 0 or pos >= n:
                return BAIL
            if k == K_TIMESTAMP:
                pos, value = parse_int_value(buf, pos, n, dec, cur)
                Lg[row, L_TIME] = value * 1000
            elif k == K_FIELDS:
                pos = parse_tags_into(buf, pos, n, dec, consts, cur, A, F, tag_keys, tag_keys_off, tag_lut,
                                      Lg, row, L_TAG_FIRST, L_TAG_END)
            else:
                pos = skip_value(buf, pos, n, dec, cur, C_DECODED)
            pos, inner = after_member(buf, pos, n, 125)
            if pos < 0:
                return BAIL
        pos, more = next_member(buf, pos, n, 93)
        if pos < 0:
            return BAIL
    return pos


@njit(cache=True, _nrt=False)
def parse_span(buf, pos, n, dec, consts, cur, S, R, Lg, A, F, trace, tag_keys, tag_keys_off, tag_lut):
    row = cur[C_SPANS]
    cur[C_SPANS] += 1
    for c in range(S_COLS):
        S[row, c] = 0
    S[row, S_TRACE] = trace
    S[row, S_SID_STATE] = 2
    S[row, S_TAG_FIRST] = cur[C_TAGS]
    S[row, S_TAG_END] = cur[C_TAGS]
    S[row, S_LOG_FIRST] = cur[C_LOGS]
    S[row, S_LOG_END] = cur[C_LOGS]
    S[row, S_REF_FIRST] = cur[C_REFS]
    S[row, S_REF_END] = cur[C_REFS]
    # processID absent or null: str(None) == "None"
    S[row, S_PID_W] = W_CONST
    S[row, S_PID_OFF] = CONST_NONE[0]
    S[row, S_PID_LEN] = CONST_NONE[1]
    seen = 0
    pos, inner = open_container(buf, pos, n, 123, 125)
    if pos < 0:
        return BAIL
    while inner:
        pos, k, seen = member_key(buf, pos, n, dec, cur, seen, ONCE_SPAN)
        if pos < 0 or pos >= n:
            return BAIL
        if k == K_TRACE_ID:
            pos = parse_id_into(buf, pos, n, dec, cur, 32, S, row, S_TID_STATE, S_TID_HI, S_TID_LO)
        elif k == K_SPAN_ID:
            pos = parse_id_into(buf, pos, n, dec, cur, 16, S, row, S_SID_STATE, -1, S_SID)
        elif k == K_PARENT_SPAN_ID:
            if buf[pos] == 34:
                pos = parse_id_into(buf, pos, n, dec, cur, 16, S, row, S_PSID_STATE, -1, S_PSID)
            else:
                pos = skip_value(buf, pos, n, dec, cur, C_DECODED)  # not a str: ignored
        elif k == K_OPERATION:
            pos = parse_name_into(buf, pos, n, dec, cur, S, row, S_NAME_W, S_NAME_OFF, S_NAME_LEN)
        elif k == K_START:
            pos, value = parse_int_value(buf, pos, n, dec, cur)
            S[row, S_START] = value * 1000
        elif k == K_DURATION:
            pos, value = parse_int_value(buf, pos, n, dec, cur)
            S[row, S_DURATION] = value * 1000
        elif k == K_FLAGS:
            if buf[pos] == 110:
                pos = skip_literal(buf, pos, n, NULL)
            else:
                pos, value = parse_int_value(buf, pos, n, dec, cur)
                S[row, S_FLAGS] = value
                S[row, S_HAS_FLAGS] = 1
        elif k == K_TAGS:
            pos = parse_tags_into(buf, pos, n, dec, consts, cur, A, F, tag_keys, tag_keys_off, tag_lut,
                                  S, row, S_TAG_FIRST, S_TAG_END)
        elif k == K_LOGS:
            first = cur[C_LOGS]
            pos = parse_logs(buf, pos, n, dec, consts, cur, Lg, A, F, tag_keys, tag_keys_off, tag_lut)
            S[row, S_LOG_FIRST] = first
            S[row, S_LOG_END] = cur[C_LOGS]
        elif k == K_REFERENCES:
            first = cur[C_REFS]
            pos = parse_refs(buf, pos, n, dec, consts, cur, R, row, CHILD_OF_DATA, CHILD_OF_OFF)
            S[row, S_REF_FIRST] = first
            S[row, S_REF_END] = cur[C_REFS]
        elif k == K_PROCESS_ID:
            # str(number) etc.: not modelled
            pos = parse_name_into(buf, pos, n, dec, cur, S, row, S_PID_W, S_PID_OFF, S_PID_LEN)
        elif k == K_PROCESS:
            if buf[pos] == 123:
                return BAIL  # an inline process object: not modelled
            pos = skip_value(buf, pos, n, dec, cur, C_DECODED)
        else:
            pos = skip_value(buf, pos, n, dec, cur, C_DECODED)
        pos, inner = after_member(buf, pos, n, 125)
        if pos < 0:
            return BAIL
    return pos


@njit(cache=True, _nrt=False)
def parse_process(buf, pos, n, dec, consts, cur, P, A, F, tag_keys, tag_keys_off, tag_lut):
    row = cur[C_PROCS] - 1
    P[row, P_NAME_W] = W_INPUT
    P[row, P_NAME_OFF] = 0
    P[row, P_NAME_LEN] = 0
    P[row, P_SYNTH] = -1
    P[row, P_TAG_FIRST] = cur[C_TAGS]
    P[row, P_TAG_END] = cur[C_TAGS]
    seen = 0
    pos, inner = open_container(buf, pos, n, 123, 125)
    if pos < 0:
        return BAIL
    while inner:
        pos, k, seen = member_key(buf, pos, n, dec, cur, seen, ONCE_PROCESS)
        if pos < 0 or pos >= n:
            return BAIL
        if k == K_SERVICE_NAME:
            pos = parse_name_into(buf, pos, n, dec, cur, P, row, P_NAME_W, P_NAME_OFF, P_NAME_LEN)
        elif k == K_TAGS:
            pos = parse_tags_into(buf, pos, n, dec, consts, cur, A, F, tag_keys, tag_keys_off, tag_lut,
                                  P, row, P_TAG_FIRST, P_TAG_END)
        else:
            pos = skip_value(buf, pos, n, dec, cur, C_DECODED)
        pos, inner = after_member(buf, pos, n, 125)
        if pos < 0:
            return BAIL
    if P[row, P_NAME_LEN] > 0:
        # the resource starts with service.name = serviceName (jaeger._process)
        a = cur[C_TAGS]
        cur[C_TAGS] += 1
        A[a, A_KEY_W] = W_CONST
        A[a, A_KEY_OFF] = CONST_SERVICE_NAME[0]
        A[a, A_KEY_LEN] = CONST_SERVICE_NAME[1]
        h = fnv(consts, CONST_SERVICE_NAME[0], CONST_SERVICE_NAME[1])
        A[a, A_KEY_HASH] = h
        A[a, A_KEY_ID] = lookup_key(consts, CONST_SERVICE_NAME[0], CONST_SERVICE_NAME[1], h, tag_keys, tag_keys_off, tag_lut)
        A[a, A_TYPE] = T_STRING
        A[a, A_NUM] = 0
        A[a, A_STR_W] = P[row, P_NAME_W]
        A[a, A_STR_OFF] = P[row, P_NAME_OFF]
        A[a, A_STR_LEN] = P[row, P_NAME_LEN]
        A[a, A_RARE] = 0
        P[row, P_SYNTH] = a
    return pos


@njit(cache=True, _nrt=False)
def parse_trace(buf, pos, n, dec, consts, cur, T, S, R, Lg, P, A, F, tag_keys, tag_keys_off, tag_lut):
    t = cur[C_TRACES]
    cur[C_TRACES] += 1
    T[t, TR_TID_STATE] = 2  # absent: span.get("traceID", None) -> b""
    T[t, TR_TID_HI] = 0
    T[t, TR_TID_LO] = 0
    T[t, TR_SPAN_FIRST] = cur[C_SPANS]
    T[t, TR_SPAN_END] = cur[C_SPANS]
    T[t, TR_PROC_FIRST] = cur[C_PROCS]
    T[t, TR_PROC_END] = cur[C_PROCS]
    seen = 0
    pos, inner = open_container(buf, pos, n, 123, 125)
    if pos < 0:
        return BAIL
    while inner:
        pos, k, seen = member_key(buf, pos, n, dec, cur, seen, ONCE_TRACE)
        if pos < 0 or pos >= n:
            return BAIL
        if k == K_TRACE_ID:
            pos = parse_id_into(buf, pos, n, dec, cur, 32, T, t, TR_TID_STATE, TR_TID_HI, TR_TID_LO)
        elif k == K_SPANS:
            if buf[pos] == 110:
                pos = skip_literal(buf, pos, n, NULL)
            else:
                pos, more = open_container(buf, pos, n, 91, 93)
                if pos < 0:
                    return BAIL
                T[t, TR_SPAN_FIRST] = cur[C_SPANS]
                while more:
                    if buf[pos] != 123:
                        return BAIL
                    pos = parse_span(buf, pos, n, dec, consts, cur, S, R, Lg, A, F, t, tag_keys, tag_keys_off, tag_lut)
                    pos, more = after_member(buf, pos, n, 93)
                    if pos < 0:
                        return BAIL
                T[t, TR_SPAN_END] = cur[C_SPANS]
        elif k == K_PROCESSES:
            if buf[pos] == 110:
                pos = skip_literal(buf, pos, n, NULL)
            else:
                pos, more = open_container(buf, pos, n, 123, 125)
                if pos < 0:
                    return BAIL
                T[t, TR_PROC_FIRST] = cur[C_PROCS]
                while more:
                    if buf[pos] != 34:
                        return BAIL
                    p = cur[C_PROCS]
                    cur[C_PROCS] += 1
                    pos, w, off, ln, _e = parse_string(buf, pos, n, dec, cur, C_DECODED)
                    if pos < 0:
                        return BAIL
                    P[p, P_KEY_W] = w
                    P[p, P_KEY_OFF] = off
                    P[p, P_KEY_LEN] = ln
                    P[p, P_KEY_HASH] = fnv(source(buf, dec, consts, w), off, ln)
                    for q in range(T[t, TR_PROC_FIRST], p):
                        if P[q, P_KEY_HASH] == P[p, P_KEY_HASH]:
                            return BAIL  # duplicate process key: json keeps the last
                    pos = skip_ws(buf, pos, n)
                    if pos >= n or buf[pos] != 58:
                        return BAIL
                    pos = skip_ws(buf, pos + 1, n)
                    if pos >= n or buf[pos] != 123:
                        return BAIL  # a null process is {}: not modelled
                    pos = parse_process(buf, pos, n, dec, consts, cur, P, A, F, tag_keys, tag_keys_off, tag_lut)
                    pos, more = after_member(buf, pos, n, 125)
                    if pos < 0:
                        return BAIL
                T[t, TR_PROC_END] = cur[C_PROCS]
        else:
            pos = skip_value(buf, pos, n, dec, cur, C_DECODED)
        pos, inner = after_member(buf, pos, n, 125)
        if pos < 0:
            return BAIL
    # ids given by the trace (traceID may follow "spans"): spans, then their references
    for s in range(T[t, TR_SPAN_FIRST], T[t, TR_SPAN_END]):
        if S[s, S_TID_STATE] == 0:
            S[s, S_TID_STATE] = T[t, TR_TID_STATE]
            S[s, S_TID_HI] = T[t, TR_TID_HI]
            S[s, S_TID_LO] = T[t, TR_TID_LO]
        for r in range(S[s, S_REF_FIRST], S[s, S_REF_END]):
            if R[r, R_TID_STATE] == 0:
                R[r, R_TID_STATE] = S[s, S_TID_STATE]
                R[r, R_TID_HI] = S[s, S_TID_HI]
                R[r, R_TID_LO] = S[s, S_TID_LO]
    return pos


@njit(cache=True, nogil=True)
def scan_jaeger(buf, capacity, consts, tag_keys, tag_keys_off, tag_lut):
    """The whole document -> (status, cursors, tables..., decoded buffer); status BAIL
    means: use the reference decoder."""
    n = len(buf)
    cur = np.zeros(C_N, np.int64)
    T = np.empty((capacity, TR_COLS), np.int64)
    S = np.empty((capacity, S_COLS), np.int64)
    R = np.empty((capacity, R_COLS), np.int64)
    Lg = np.empty((capacity, L_COLS), np.int64)
    P = np.empty((capacity, P_COLS), np.int64)
    A = np.empty((2 * capacity, A_COLS), np.int64)
    F = np.empty(2 * capacity, np.float64)
    dec = np.empty(n, np.uint8)
    u = unmanaged
    status = parse_document(u(buf), n, u(dec), u(consts), u(cur), u(T), u(S), u(R), u(Lg), u(P), u(A), u(F),
                            u(tag_keys), u(tag_keys_off), u(tag_lut))
    if status == 0:
        bits = F.view(np.int64)
        for row in range(cur[C_TAGS]):
            if A[row, A_RARE] == RARE_FLOAT_BITS:
                A[row, A_NUM] = bits[row]
                A[row, A_RARE] = 0
    return status, cur, T, S, R, Lg, P, A, dec


@njit(cache=True, _nrt=False)
def parse_document(buf, n, dec, consts, cur, T, S, R, Lg, P, A, F, tag_keys, tag_keys_off, tag_lut):
    pos = skip_ws(buf, 0, n)
    pos, inner = open_container(buf, pos, n, 123, 125)
    if pos < 0:
        return BAIL
    has_data = False
    while inner:
        pos, k = parse_key(buf, pos, n, dec, cur)
        if pos < 0 or pos >= n:
            return BAIL
        if k == K_RESOURCE_SPANS or k == K_RESOURCE_SPANS2:
            return BAIL  # OTLP JSON (decode_document checks it first)
        if k == K_DATA:
            if has_data:
                return BAIL
            has_data = True
            if buf[pos] == 110:
                pos = skip_literal(buf, pos, n, NULL)
            else:
                pos, more = open_container(buf, pos, n, 91, 93)
                if pos < 0:
                    return BAIL
                while more:
                    if buf[pos] != 123:
                        return BAIL
                    pos = parse_trace(buf, pos, n, dec, consts, cur, T, S, R, Lg, P, A, F, tag_keys, tag_keys_off, tag_lut)
                    pos, more = after_member(buf, pos, n, 93)
                    if pos < 0:
                        return BAIL
        else:
            pos = skip_value(buf, pos, n, dec, cur, C_DECODED)
        pos, inner = after_member(buf, pos, n, 125)
        if pos < 0:
            return BAIL
    if skip_ws(buf, pos, n) != n or not has_data:
        return BAIL
    return 0


# --- after the scan: ids, parents, links, special tags, processes ---------------------------
# special tags (jaeger.SPECIAL_TAGS), codes in the key table's ``special`` column
SP_KIND, SP_STATUS, SP_STATUS_DESCRIPTION, SP_ERROR, SP_SCOPE_NAME, SP_SCOPE_VERSION, SP_LIBRARY_NAME, \
    SP_LIBRARY_VERSION, SP_TRACE_STATE = range(1, 10)
# per-span output columns
(O_REASON, O_PARENT, O_PARENT_VALID, O_KIND, O_STATUS, O_MESSAGE, O_TRACE_STATE, O_SCOPE_NAME,
 O_SCOPE_VERSION, O_PROCESS, O_LINKS) = range(11)
O_COLS = 11
# rejection reasons (O_REASON)
REASON_OK, REASON_TRACE_LENGTH, REASON_TRACE_ZERO, REASON_SPAN_LENGTH, REASON_SPAN_ZERO = range(5)

KIND_WORDS = word_table(("unspecified", "internal", "server", "client", "producer", "consumer"))
STATUS_WORDS = word_table(("unset", "ok", "error"))
TRUE_WORDS = word_table(("true",))


@njit(cache=True, nogil=True)
def resolve_spans(buf, dec, consts, cur, T, S, R, P, A, special,
                  kinds, kinds_off, statuses, statuses_off, true_w, true_off):
    """Per span: rejection reason, parent, kind, status, special-tag rows, process; or
    (BAIL, ...) when a special tag needs Python's str() of a non-string."""
    O = np.zeros((cur[C_SPANS], O_COLS), np.int64)
    u = unmanaged
    status = resolve_rows(u(buf), u(dec), u(consts), cur[C_SPANS], u(T), u(S), u(R), u(P), u(A), u(special),
                          u(kinds), u(kinds_off), u(statuses), u(statuses_off), u(true_w), u(true_off), u(O))
    return status, O


@njit(cache=True, _nrt=False)
def resolve_rows(buf, dec, consts, ns, T, S, R, P, A, special,
                 kinds, kinds_off, statuses, statuses_off, true_w, true_off, O):
    """resolve_spans' loop, without the NRT (see _wire.unmanaged): 0.17-0.21 -> 0.11-0.14 us per
    span (50k-span file, warm, best of 5)."""
    for s in range(ns):
        # ids (_rows.id_problem order: trace, then span)
        if S[s, S_TID_STATE] != 1:
            O[s, O_REASON] = REASON_TRACE_LENGTH
        elif S[s, S_TID_HI] == 0 and S[s, S_TID_LO] == 0:
            O[s, O_REASON] = REASON_TRACE_ZERO
        elif S[s, S_SID_STATE] != 1:
            O[s, O_REASON] = REASON_SPAN_LENGTH
        elif S[s, S_SID] == 0:
            O[s, O_REASON] = REASON_SPAN_ZERO
        # parent: the first CHILD_OF reference in the same trace (consumed even when its
        # span id is invalid), every other reference is a link
        parent_set = False
        links = 0
        for r in range(S[s, S_REF_FIRST], S[s, S_REF_END]):
            same_trace = R[r, R_TID_STATE] == S[s, S_TID_STATE] and (
                R[r, R_TID_STATE] != 1 or (R[r, R_TID_HI] == S[s, S_TID_HI] and R[r, R_TID_LO] == S[s, S_TID_LO]))
            if not parent_set and R[r, R_CHILD_OF] == 1 and same_trace:
                R[r, R_CHILD_OF] = 2  # consumed
                if R[r, R_SID_STATE] == 1:
                    parent_set = True
                    O[s, O_PARENT] = R[r, R_SID]
            else:
                R[r, R_CHILD_OF] = 3  # link
                links += 1
        if not parent_set and S[s, S_PSID_STATE] == 1:
            parent_set = True
            O[s, O_PARENT] = S[s, S_PSID]
        O[s, O_PARENT_VALID] = 1 if parent_set and O[s, O_PARENT] != 0 else 0
        O[s, O_LINKS] = links
        # special tags
        O[s, O_MESSAGE] = -1
        O[s, O_TRACE_STATE] = -1
        O[s, O_SCOPE_NAME] = -1
        O[s, O_SCOPE_VERSION] = -1
        library_name = -1
        library_version = -1
        error = False
        status = 0
        kind = 0
        for a in range(S[s, S_TAG_FIRST], S[s, S_TAG_END]):
            key = A[a, A_KEY_ID]
            if key < 0:
                continue
            code = special[key]
            if code == 0:
                continue
            is_string = A[a, A_TYPE] == T_STRING
            src = source(buf, dec, consts, A[a, A_STR_W])
            if code == SP_KIND:
                if is_string:
                    k = match_lower(src, A[a, A_STR_OFF], A[a, A_STR_LEN], kinds, kinds_off)
                    if k == -2:
                        return BAIL
                    kind = max(k, 0)
            elif code == SP_STATUS:
                if is_string:
                    k = match_lower(src, A[a, A_STR_OFF], A[a, A_STR_LEN], statuses, statuses_off)
                    if k == -2:
                        return BAIL
                    status = max(k, 0)
            elif code == SP_ERROR:
                if A[a, A_TYPE] == T_BOOL:
                    error = A[a, A_NUM] == 1
                elif is_string:
                    k = match_lower(src, A[a, A_STR_OFF], A[a, A_STR_LEN], true_w, true_off)
                    if k == -2:
                        return BAIL
                    error = k == 0
            else:
                if not is_string:
                    return BAIL  # str(value) of a number/bool/bytes: not modelled
                if code == SP_STATUS_DESCRIPTION:
                    O[s, O_MESSAGE] = a
                elif code == SP_TRACE_STATE:
                    O[s, O_TRACE_STATE] = a
                elif code == SP_SCOPE_NAME:
                    O[s, O_SCOPE_NAME] = a
                elif code == SP_SCOPE_VERSION:
                    O[s, O_SCOPE_VERSION] = a
                elif code == SP_LIBRARY_NAME:
                    library_name = a
                elif code == SP_LIBRARY_VERSION:
                    library_version = a
        if O[s, O_SCOPE_NAME] < 0:
            O[s, O_SCOPE_NAME] = library_name
        if O[s, O_SCOPE_VERSION] < 0:
            O[s, O_SCOPE_VERSION] = library_version
        if status == 0 and error:
            status = 2
        O[s, O_KIND] = kind
        O[s, O_STATUS] = status
        # process: processes[str(processID)], else processes[""], else none
        t = S[s, S_TRACE]
        pid_src = source(buf, dec, consts, S[s, S_PID_W])
        found = -1
        empty = -1
        for p in range(T[t, TR_PROC_FIRST], T[t, TR_PROC_END]):
            key_src = source(buf, dec, consts, P[p, P_KEY_W])
            if same_bytes(key_src, P[p, P_KEY_OFF], P[p, P_KEY_LEN], pid_src, S[s, S_PID_OFF], S[s, S_PID_LEN]):
                found = p
                break
            if P[p, P_KEY_LEN] == 0:
                empty = p
        O[s, O_PROCESS] = found if found >= 0 else empty
    return 0


@njit(cache=True, nogil=True)
def owner_rows(M, owners, c_first, c_end, A, exclude, exclude_key, n_slots, slot_of, prio_of):
    """Attribute rows of owners (owner i: rows M[owners[i], c_first]:M[owners[i], c_end] of
    A, minus the keys whose ``exclude`` entry equals ``exclude_key``; read in place, not
    from numpy copies of the two columns) -> (rows, offsets, winners); winners has no
    rows when no owner has a promoted key (common: 5.2 MB of -1 per 50k spans, a page
    fault per 4 KiB, was 5367 of the 25k faults of decoding 4 files)."""
    m = len(owners)
    offsets = np.zeros(m + 1, np.int64)
    total = 0
    promoted = False
    for i in range(m):
        for a in range(M[owners[i], c_first], M[owners[i], c_end]):
            key = A[a, A_KEY_ID]
            if key >= 0 and exclude[key] == exclude_key:
                continue
            if key >= 0 and slot_of[key] >= 0:
                promoted = True
            total += 1
        offsets[i + 1] = total
    rows = np.empty(total, np.int64)
    winners = np.full((m if promoted else 0, n_slots), -1, np.int64)
    best = np.empty(n_slots, np.int64)
    j = 0
    for i in range(m):
        best[:] = 1 << 30
        for a in range(M[owners[i], c_first], M[owners[i], c_end]):
            key = A[a, A_KEY_ID]
            if key >= 0 and exclude[key] == exclude_key:
                continue
            rows[j] = a
            if key >= 0:
                slot = slot_of[key]
                if slot >= 0 and prio_of[key] < best[slot]:
                    best[slot] = prio_of[key]
                    winners[i, slot] = j
            j += 1
    return rows, offsets, winners


@njit(cache=True, nogil=True)
def resource_rows(P, n_procs, A, service_name_key, n_slots, slot_of, prio_of):
    """Resource attribute rows per process (service.name from serviceName first, then the
    tags, whose service.name is dropped when serviceName is set), plus one empty resource
    at index n_procs for spans without a process."""
    offsets = np.zeros(n_procs + 2, np.int64)
    total = 0
    for p in range(n_procs):
        synth = P[p, P_SYNTH]
        if synth >= 0:
            total += 1
        for a in range(P[p, P_TAG_FIRST], P[p, P_TAG_END]):
            if synth >= 0 and A[a, A_KEY_ID] == service_name_key:
                continue
            total += 1
        offsets[p + 1] = total
    offsets[n_procs + 1] = total
    rows = np.empty(total, np.int64)
    winners = np.full((n_procs + 1, n_slots), -1, np.int64)
    best = np.empty(n_slots, np.int64)
    j = 0
    for p in range(n_procs):
        best[:] = 1 << 30
        synth = P[p, P_SYNTH]
        for a in range(P[p, P_TAG_FIRST] - 1, P[p, P_TAG_END]):
            if a < P[p, P_TAG_FIRST]:
                if synth < 0:
                    continue
                a = synth
            elif synth >= 0 and A[a, A_KEY_ID] == service_name_key:
                continue
            rows[j] = a
            key = A[a, A_KEY_ID]
            if key >= 0:
                slot = slot_of[key]
                if slot >= 0 and prio_of[key] < best[slot]:
                    best[slot] = prio_of[key]
                    winners[p, slot] = j
            j += 1
    return rows, offsets, winners


@njit(cache=True, nogil=True)
def span_columns(buf, dec, consts, extra, S, O, R, acc, n_procs):
    """The per-span columns of accepted spans ``acc``, in one pass over the span tables
    (hex id kernels per id and numpy copies of each strided S/O column cost ~0.2 us per
    span in cProfile): trace / span / parent id digits and views (see _wire's "ids to
    hex"), parent validity, name views, kind, status, start, end, flags and their validity,
    resource (n_procs: none), link offsets and the link rows of R."""
    n = len(acc)
    n_links = 0
    for i in range(n):
        n_links += O[acc[i], O_LINKS]
    tid_chars, tid_views, sid_chars, sid_views, pid_chars, pid_views, pid_valid, kind, status, start, end, flags, \
        resource = span_outputs(n)
    names = np.empty((n, 16), np.uint8)
    has_flags = np.empty(n, np.bool_)
    link_off = np.empty(n + 1, np.int64)
    links = np.empty(n_links, np.int64)
    u = unmanaged
    fill_span_columns(u(buf), u(dec), u(consts), u(extra), u(S), u(O), u(R), u(acc), n_procs, u(tid_chars),
                      u(tid_views), u(sid_chars), u(sid_views), u(pid_chars), u(pid_views), u(pid_valid), u(names),
                      u(kind), u(status), u(start), u(end), u(flags), u(has_flags), u(resource), u(link_off), u(links))
    return (tid_chars, tid_views, sid_chars, sid_views, pid_chars, pid_views, pid_valid, names, kind, status, start,
            end, flags, has_flags, resource, link_off, links)


@njit(cache=True, _nrt=False)
def fill_span_columns(buf, dec, consts, extra, S, O, R, acc, n_procs, tid_chars, tid_views, sid_chars, sid_views,
                      pid_chars, pid_views, pid_valid, names, kind, status, start, end, flags, has_flags, resource,
                      link_off, links):
    """span_columns' loop, without the NRT (see _wire.unmanaged)."""
    link = 0
    link_off[0] = 0
    for i in range(len(acc)):
        s = acc[i]
        put_hex_u64(tid_chars, 32 * i, S[s, S_TID_HI])
        put_hex_u64(tid_chars, 32 * i + 16, S[s, S_TID_LO])
        digits_view(tid_views, i, tid_chars, 32 * i, 32)
        put_hex_u64(sid_chars, 16 * i, S[s, S_SID])
        digits_view(sid_views, i, sid_chars, 16 * i, 16)
        if O[s, O_PARENT_VALID] == 1:
            pid_valid[i] = True
            put_hex_u64(pid_chars, 16 * i, O[s, O_PARENT])
            digits_view(pid_views, i, pid_chars, 16 * i, 16)
        w = S[s, S_NAME_W]
        src = extra if w == W_EXTRA else source(buf, dec, consts, w)
        write_view(names, i, src, S[s, S_NAME_OFF], S[s, S_NAME_LEN], w, S[s, S_NAME_OFF])
        kind[i] = O[s, O_KIND]
        status[i] = O[s, O_STATUS]
        start[i] = S[s, S_START]
        end[i] = S[s, S_START] + S[s, S_DURATION]
        flags[i] = S[s, S_FLAGS]
        has_flags[i] = S[s, S_HAS_FLAGS] == 1
        p = O[s, O_PROCESS]
        resource[i] = p if p >= 0 else n_procs
        for r in range(S[s, S_REF_FIRST], S[s, S_REF_END]):
            if R[r, R_CHILD_OF] == 3:  # a link (resolve_rows)
                links[link] = r
                link += 1
        link_off[i + 1] = link


@njit(cache=True, nogil=True)
def string_views(buf, dec, consts, extra, W, OFF, LEN):
    """Arrow string views (n, 16) for string references; data buffer index = w."""
    n = len(W)
    views = np.empty((n, 16), np.uint8)
    u = unmanaged
    b, d, c, e, v = u(buf), u(dec), u(consts), u(extra), u(views)
    for i in range(n):
        src = e if W[i] == W_EXTRA else source(b, d, c, W[i])
        write_view(v, i, src, OFF[i], LEN[i], W[i], OFF[i])
    return views


@njit(cache=True, nogil=True)
def hex_ids(hi, lo, state, width):
    """Lowercase hex (width 16 or 32 digits) of ids as (digits, string views, see
    _wire.hex_fixed); ids whose state is not 1 (b"" in the reference) are empty."""
    n = len(lo)
    chars = np.empty(n * width, np.uint8)
    views = np.zeros((n, 16), np.uint8)
    for i in range(n):
        if state[i] != 1:
            continue
        o = i * width
        if width == 32:
            put_hex_u64(chars, o, hi[i])
            o += 16
        put_hex_u64(chars, o, lo[i])
        digits_view(views, i, chars, i * width, width)
    return chars, views


@njit(cache=True, _nrt=False)
def put_hex_u64(chars, o, value):
    """chars[o:o + 16] = 16 lowercase hex digits of ``value``."""
    v = np.uint64(value)
    for k in range(8):
        b = np.int64(v & np.uint64(255))
        chars[o + 14 - 2 * k] = HEX_HIGH[b]
        chars[o + 15 - 2 * k] = HEX_LOW[b]
        v = v >> np.uint64(8)


@njit(cache=True, nogil=True)
def event_name_rows(Lg, logs, A, is_event):
    """Row of each log's "event" field (-1: none), or (BAIL, ...) if it is not a string
    (the reference would use str() of it)."""
    out = np.full(len(logs), -1, np.int64)
    for i in range(len(logs)):
        g = logs[i]
        for a in range(Lg[g, L_TAG_FIRST], Lg[g, L_TAG_END]):
            key = A[a, A_KEY_ID]
            if key >= 0 and is_event[key] == 1:
                if A[a, A_TYPE] != T_STRING:
                    return BAIL, out
                out[i] = a
    return 0, out


@njit(cache=True, nogil=True)
def attr_columns(buf, dec, consts, extra, A, rows):
    """The attribute-table columns of tag ``rows``: type codes, numbers, key views, value views."""
    m = len(rows)
    types = np.empty(m, np.uint8)
    nums = np.empty(m, np.int64)
    key_w = np.empty(m, np.int64)
    key_off = np.empty(m, np.int64)
    key_len = np.empty(m, np.int64)
    str_w = np.empty(m, np.int64)
    str_off = np.empty(m, np.int64)
    str_len = np.empty(m, np.int64)
    for i in range(m):
        a = rows[i]
        types[i] = A[a, A_TYPE]
        nums[i] = A[a, A_NUM]
        key_w[i] = A[a, A_KEY_W]
        key_off[i] = A[a, A_KEY_OFF]
        key_len[i] = A[a, A_KEY_LEN]
        str_w[i] = A[a, A_STR_W]
        str_off[i] = A[a, A_STR_OFF]
        str_len[i] = A[a, A_STR_LEN]
    keys = string_views(buf, dec, consts, extra, key_w, key_off, key_len)
    values = string_views(buf, dec, consts, extra, str_w, str_off, str_len)
    return types, nums, keys, values


@njit(cache=True, nogil=True, _nrt=False)
def count_objects(buf):
    """Bytes '{' in the input: a bound on every table's rows (each row is a JSON object)."""
    count = 0
    for i in range(len(buf)):
        if buf[i] == 123:
            count += 1
    return count
