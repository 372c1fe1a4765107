"""numba JSON primitives for the columnar importers (Jaeger JSON; see _jaeger_scan.py).

Why not a JSON library: ``json.loads`` builds a Python object per value (~15 us per Jaeger
span before any decoding), and polars'/pyarrow's JSON readers parse these files at about
60 MB/s on one core, slower than the 100 MB/s the import target needs. These kernels walk
the bytes once and return positions: a string is ``(buffer, offset, length)`` into the
input (no copy) or, when it has escapes, into a side buffer of decoded UTF-8.

Acceptance follows Python's ``json`` module, because the reference decoder parses with it:
whitespace is space, tab, CR and LF only; numbers follow ``-?(0|[1-9]\\d*)(\\.\\d+)?([eE][-+]?\\d+)?``;
``NaN``, ``Infinity`` and ``-Infinity`` are values; strings must be valid UTF-8 without raw
control characters. Anything a kernel is unsure about returns ``BAIL`` and the caller hands
the whole input to the reference decoder, which has the final word (errors included).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tracelens.ingest._wire import utf8_ok  # utf8_ok: the same strict UTF-8 as upb and Python

BAIL = -1
MAX_SKIP_DEPTH = 64  # deeper skipped values go to the reference (json's own limit is ~1000)

# string buffers (the ``w`` of a string reference)
W_INPUT = 0
W_DECODED = 1  # side buffer of unescaped strings
W_CONST = 2  # constants (see CONSTANTS)
W_EXTRA = 3  # filled in Python (rare values)

#: constant strings referenced by the kernels: offset 0 "service.name", offset 12 "None"
CONSTANTS = b"service.nameNone"
CONST_SERVICE_NAME = (0, 12)
CONST_NONE = (12, 4)

# number kinds
NUM_INT = 1
NUM_FLOAT = 2
NUM_INT_BIG = 3  # integer literal outside int64

_INT64_MAX_DIV10 = 922337203685477580


# Kernels that allocate nothing are compiled without the NRT (_nrt=False): numba then
# emits no reference counting at all around their array arguments (measured: ~150 ns per
# span object of the Jaeger scan were incref/decref calls on the tables passed down). The
# entry points pass unmanaged() views of the arrays they own (see _wire.py for why).


@njit(cache=True, inline="always", _nrt=False)
def skip_ws(buf, pos, n):
    while pos < n:
        c = buf[pos]
        if c == 32 or c == 10 or c == 13 or c == 9:
            pos += 1
        else:
            break
    return pos


# value of a hex digit (either case); 255: not one
HEX_VALUE = np.full(256, 255, np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    HEX_VALUE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    HEX_VALUE[_c] = 10 + _i


@njit(cache=True, inline="always", _nrt=False)
def hex4(buf, pos, n):
    """The code unit of the 4 hex digits at pos, or -1."""
    if pos + 4 > n:
        return -1
    v = 0
    for k in range(4):
        d = HEX_VALUE[buf[pos + k]]
        if d == 255:
            return -1
        v = v * 16 + d
    return v


@njit(cache=True, _nrt=False)
def put_utf8(out, j, cp):
    if cp < 0x80:
        out[j] = cp
        return j + 1
    if cp < 0x800:
        out[j] = 0xC0 | (cp >> 6)
        out[j + 1] = 0x80 | (cp & 0x3F)
        return j + 2
    if cp < 0x10000:
        out[j] = 0xE0 | (cp >> 12)
        out[j + 1] = 0x80 | ((cp >> 6) & 0x3F)
        out[j + 2] = 0x80 | (cp & 0x3F)
        return j + 3
    out[j] = 0xF0 | (cp >> 18)
    out[j + 1] = 0x80 | ((cp >> 12) & 0x3F)
    out[j + 2] = 0x80 | ((cp >> 6) & 0x3F)
    out[j + 3] = 0x80 | (cp & 0x3F)
    return j + 4


@njit(cache=True, _nrt=False)
def parse_string(buf, pos, n, dec, cur, dec_at):
    """String starting at buf[pos] == '"' -> (end position or BAIL, w, offset, length, escaped).

    Unescaped strings point into the input; escaped ones are decoded into ``dec`` from
    ``cur[dec_at]`` on. Lone surrogates (which Python keeps in a str but cannot encode)
    and anything malformed bail. The common case (plain ASCII) is a tight loop; the rest
    is a separate function. (Inlining this, or the single-call-site parse_* functions,
    measured no faster on a 200k-span file and made the first compile 2-3x longer.)
    """
    i = pos + 1
    while i < n:
        c = buf[i]
        if c == 34:  # '"'
            return i + 1, W_INPUT, pos + 1, i - pos - 1, False
        if c == 92 or c < 32 or c >= 128:
            break
        i += 1
    return parse_string_rest(buf, pos, n, dec, cur, dec_at, i)


@njit(cache=True, _nrt=False)
def parse_string_rest(buf, pos, n, dec, cur, dec_at, i):
    """parse_string from buf[i], the first byte that is not plain ASCII."""
    # one pass to the closing quote (escapes are skipped whole; they are ASCII), then the
    # raw UTF-8 is validated; only an escaped string is copied and decoded
    high = False
    escaped = False
    e = i
    while e < n:
        c = buf[e]
        if c == 34:  # '"'
            break
        if c == 92:  # backslash
            escaped = True
            e += 2
            continue
        if c < 32:
            return BAIL, 0, 0, 0, False
        if c >= 128:
            high = True
        e += 1
    if e >= n:
        return BAIL, 0, 0, 0, False
    if high and not utf8_ok(buf, pos + 1, e):
        return BAIL, 0, 0, 0, False
    if not escaped:
        return e + 1, W_INPUT, pos + 1, e - pos - 1, False
    start = cur[dec_at]
    j = start
    for k in range(pos + 1, i):
        dec[j] = buf[k]
        j += 1
    while i < e:
        c = buf[i]
        if c != 92:
            dec[j] = c
            j += 1
            i += 1
            continue
        c = buf[i + 1]
        i += 2
        if c == 34 or c == 92 or c == 47:
            dec[j] = c
        elif c == 98:
            dec[j] = 8
        elif c == 102:
            dec[j] = 12
        elif c == 110:
            dec[j] = 10
        elif c == 114:
            dec[j] = 13
        elif c == 116:
            dec[j] = 9
        elif c == 117:
            cp = hex4(buf, i, e)
            if cp < 0:
                return BAIL, 0, 0, 0, False
            i += 4
            if 0xD800 <= cp <= 0xDBFF:
                if i + 6 > e or buf[i] != 92 or buf[i + 1] != 117:
                    return BAIL, 0, 0, 0, False
                lo = hex4(buf, i + 2, e)
                if lo < 0xDC00 or lo > 0xDFFF:
                    return BAIL, 0, 0, 0, False
                i += 6
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
            elif 0xDC00 <= cp <= 0xDFFF:
                return BAIL, 0, 0, 0, False
            j = put_utf8(dec, j, cp)
            continue
        else:
            return BAIL, 0, 0, 0, False
        j += 1
    cur[dec_at] = j
    return e + 1, W_DECODED, start, j - start, True


@njit(cache=True, _nrt=False)
def scan_number(buf, pos, n):
    """JSON number at pos -> (end or BAIL, kind, int value). kind NUM_INT (value set),
    NUM_INT_BIG (integer beyond int64) or NUM_FLOAT (fraction or exponent)."""
    i = pos
    neg = False
    if i < n and buf[i] == 45:
        neg = True
        i += 1
    if i >= n:
        return BAIL, 0, 0
    c = buf[i]
    if c == 48:
        i += 1
        value = 0
        big = False
    elif 49 <= c <= 57:
        # accumulate negatively so that int64's minimum fits
        value = 0
        big = False
        while i < n and 48 <= buf[i] <= 57:
            d = buf[i] - 48
            if not big:
                if value < -_INT64_MAX_DIV10 or (value == -_INT64_MAX_DIV10 and d > 8):
                    big = True
                else:
                    value = value * 10 - d
            i += 1
        if not big and not neg and value == -9223372036854775807 - 1:
            big = True
        if not neg:
            value = -value
    else:
        return BAIL, 0, 0
    kind = NUM_INT_BIG if big else NUM_INT
    if i < n and buf[i] == 46:  # '.'
        i += 1
        if i >= n or not (48 <= buf[i] <= 57):
            return BAIL, 0, 0
        while i < n and 48 <= buf[i] <= 57:
            i += 1
        kind = NUM_FLOAT
    if i < n and (buf[i] == 101 or buf[i] == 69):
        i += 1
        if i < n and (buf[i] == 43 or buf[i] == 45):
            i += 1
        if i >= n or not (48 <= buf[i] <= 57):
            return BAIL, 0, 0
        while i < n and 48 <= buf[i] <= 57:
            i += 1
        kind = NUM_FLOAT
    if kind != NUM_INT:
        value = 0
    elif neg and value == 0:
        value = 0  # "-0" is the int 0 in Python
    return i, kind, value


_POW10 = np.array([10.0**k for k in range(23)], np.float64)


@njit(cache=True, _nrt=False)
def exact_float(buf, pos, end):
    """(ok, value): the double of the number literal buf[pos:end] when Clinger's fast path
    makes it exact (<= 15 significant digits... up to 2**53 and |exponent| <= 22): one
    correctly rounded IEEE operation, so it equals Python's float(). Otherwise ok=False
    (the caller converts in Python)."""
    i = pos
    neg = False
    if buf[i] == 45:
        neg = True
        i += 1
    mant = 0
    digits = 0
    exp10 = 0
    seen_nonzero = False
    while i < end and 48 <= buf[i] <= 57:
        d = buf[i] - 48
        if d != 0 or seen_nonzero:
            seen_nonzero = True
            digits += 1
            if digits > 18:
                return False, 0.0
            mant = mant * 10 + d
        i += 1
    if i < end and buf[i] == 46:
        i += 1
        while i < end and 48 <= buf[i] <= 57:
            d = buf[i] - 48
            if d != 0 or seen_nonzero:
                seen_nonzero = True
                digits += 1
                if digits > 18:
                    return False, 0.0
                mant = mant * 10 + d
            exp10 -= 1
            i += 1
    if i < end and (buf[i] == 101 or buf[i] == 69):
        i += 1
        eneg = False
        if buf[i] == 43:
            i += 1
        elif buf[i] == 45:
            eneg = True
            i += 1
        e = 0
        while i < end and 48 <= buf[i] <= 57:
            if e < 100000:
                e = e * 10 + (buf[i] - 48)
            i += 1
        exp10 += -e if eneg else e
    if mant > 9007199254740992:
        return False, 0.0
    value = float(mant)
    if mant == 0:
        value = 0.0
    elif exp10 > 22 or exp10 < -22:
        return False, 0.0
    elif exp10 >= 0:
        value = value * _POW10[exp10]
    else:
        value = value / _POW10[-exp10]
    return True, -value if neg else value


@njit(cache=True, inline="always", _nrt=False)
def skip_literal(buf, pos, n, word):
    m = len(word)
    if pos + m > n:
        return BAIL
    for k in range(m):
        if buf[pos + k] != word[k]:
            return BAIL
    return pos + m


_TRUE = np.frombuffer(b"true", np.uint8)
_FALSE = np.frombuffer(b"false", np.uint8)
_NULL = np.frombuffer(b"null", np.uint8)
_NAN = np.frombuffer(b"NaN", np.uint8)
_INF = np.frombuffer(b"Infinity", np.uint8)
_NINF = np.frombuffer(b"-Infinity", np.uint8)


@njit(cache=True, _nrt=False)
def skip_scalar(buf, pos, n, dec, cur, dec_at):
    """Position after the scalar at pos (string, number, literal), or BAIL."""
    c = buf[pos]
    if c == 34:
        end, _w, _o, _l, _e = parse_string(buf, pos, n, dec, cur, dec_at)
        return end
    if c == 116:
        return skip_literal(buf, pos, n, _TRUE)
    if c == 102:
        return skip_literal(buf, pos, n, _FALSE)
    if c == 110:
        return skip_literal(buf, pos, n, _NULL)
    if c == 78:
        return skip_literal(buf, pos, n, _NAN)
    if c == 73:
        return skip_literal(buf, pos, n, _INF)
    if c == 45 and pos + 1 < n and buf[pos + 1] == 73:
        return skip_literal(buf, pos, n, _NINF)
    if c == 45 or 48 <= c <= 57:
        end, _k, _v = scan_number(buf, pos, n)
        return end
    return BAIL


@njit(cache=True, _nrt=False)
def skip_member_key(buf, pos, n, dec, cur, dec_at):
    """At an object member's key: position of its value (after the key, ':' and whitespace;
    inside the buffer), or BAIL."""
    if buf[pos] != 34:
        return BAIL
    pos = skip_scalar(buf, pos, n, dec, cur, dec_at)
    if pos < 0:
        return BAIL
    pos = skip_ws(buf, pos, n)
    if pos >= n or buf[pos] != 58:
        return BAIL
    pos = skip_ws(buf, pos + 1, n)
    if pos >= n:
        return BAIL
    return pos


@njit(cache=True, _nrt=False)
def skip_value(buf, pos, n, dec, cur, dec_at):
    """Position after the JSON value at pos (validated, not kept), or BAIL. Decoded strings
    written while skipping are discarded (the side buffer's cursor is restored)."""
    mark = cur[dec_at]
    pos = skip_ws(buf, pos, n)
    if pos >= n:
        return BAIL
    c = buf[pos]
    if c != 123 and c != 91:
        end = skip_scalar(buf, pos, n, dec, cur, dec_at)
        cur[dec_at] = mark
        return end
    stack = np.uint64(0)  # bit d: the container at depth d is an object (no allocation: no NRT here)
    depth = 0
    while True:
        # here buf[pos] opens a container
        if depth >= MAX_SKIP_DEPTH:
            return BAIL
        is_obj = buf[pos] == 123
        if is_obj:
            stack |= np.uint64(1) << np.uint64(depth)
        else:
            stack &= ~(np.uint64(1) << np.uint64(depth))
        depth += 1
        pos = skip_ws(buf, pos + 1, n)
        if pos >= n:
            return BAIL
        closer = 125 if is_obj else 93
        if buf[pos] == closer:
            pos += 1
            depth -= 1
            # fall through to "after a value"
        else:
            # first element
            if is_obj:
                pos = skip_member_key(buf, pos, n, dec, cur, dec_at)
                if pos < 0:
                    return BAIL
            if buf[pos] == 123 or buf[pos] == 91:
                continue
            pos = skip_scalar(buf, pos, n, dec, cur, dec_at)
            if pos < 0:
                return BAIL
        # after a value inside the container at stack[depth-1] (or done)
        descended = False
        while depth > 0 and not descended:
            pos = skip_ws(buf, pos, n)
            if pos >= n:
                return BAIL
            in_obj = (stack >> np.uint64(depth - 1)) & np.uint64(1) == np.uint64(1)
            c = buf[pos]
            if c == 44:  # ','
                pos = skip_ws(buf, pos + 1, n)
                if pos >= n:
                    return BAIL
                if in_obj:
                    pos = skip_member_key(buf, pos, n, dec, cur, dec_at)
                    if pos < 0:
                        return BAIL
                if buf[pos] == 123 or buf[pos] == 91:
                    descended = True
                else:
                    pos = skip_scalar(buf, pos, n, dec, cur, dec_at)
                    if pos < 0:
                        return BAIL
            elif (c == 125 and in_obj) or (c == 93 and not in_obj):
                pos += 1
                depth -= 1
            else:
                return BAIL
        if not descended:
            cur[dec_at] = mark
            return pos


@njit(cache=True, _nrt=False)
def fnv(src, off, ln):
    """64-bit FNV-1a of src[off:off+ln] (duplicate-key detection; a collision only costs a
    fallback to the reference decoder)."""
    h = np.uint64(0xCBF29CE484222325)
    for k in range(ln):
        h = (h ^ np.uint64(src[off + k])) * np.uint64(0x100000001B3)
    return np.int64(h)


@njit(cache=True, _nrt=False)
def match_lower(src, off, ln, table, table_off):
    """Index of the ASCII-lowercased src[off:off+ln] in a table of lowercase words; -1 if
    absent; -2 if the text has non-ASCII bytes (Python's str.lower/upper may map those to
    ASCII letters: the caller bails)."""
    for k in range(ln):
        if src[off + k] >= 128:
            return -2
    for t in range(len(table_off) - 1):
        ts = table_off[t]
        if table_off[t + 1] - ts != ln:
            continue
        same = True
        for k in range(ln):
            c = src[off + k]
            if 65 <= c <= 90:
                c += 32
            if c != table[ts + k]:
                same = False
                break
        if same:
            return t
    return -1


@njit(cache=True, _nrt=False)
def match_exact(src, off, ln, table, table_off):
    """Index of src[off:off+ln] in a table of words, or -1."""
    for t in range(len(table_off) - 1):
        ts = table_off[t]
        if table_off[t + 1] - ts != ln:
            continue
        same = True
        for k in range(ln):
            if src[off + k] != table[ts + k]:
                same = False
                break
        if same:
            return t
    return -1


def word_table(words: tuple[str, ...] | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(bytes, offsets) of a word list, for match_exact / match_lower."""
    encoded = [w.encode() for w in words]
    data = np.frombuffer(b"".join(encoded) or b"\0", np.uint8).copy()
    offsets = np.zeros(len(encoded) + 1, np.int64)
    offsets[1:] = np.cumsum([len(w) for w in encoded])
    return data, offsets
