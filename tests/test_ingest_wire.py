"""The wire scanner's word-at-a-time primitives against plain Python.

utf8_ok checks eight ASCII bytes per load and view_words builds Arrow string views from
unaligned 8-byte loads, masked to the string: every string length around the word and
inline limits, non-ASCII bytes at every position, and strings that end at the very end of
the input (where whole-word loads must not be used) must give Python's verdict and
pyarrow's own views.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from tracelens.ingest._wire import utf8_ok, view_words

ODD_BYTES = [b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80", b"\xf4\x90\x80\x80"]


def python_utf8_ok(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


@pytest.mark.parametrize("odd", ODD_BYTES)
def test_utf8_ok_matches_python_at_every_position(odd):
    for length in range(0, 26):
        for at in range(length + 1):
            text = b"a" * at + odd + b"b" * (length - at)
            for pad in (0, 3, 9):  # bytes after the string that the check must not read
                buf = np.frombuffer(b"x" * 5 + text + b"\xff" * pad, np.uint8)
                assert utf8_ok(buf, 5, 5 + len(text)) == python_utf8_ok(text), (text, pad)


def test_utf8_ok_on_ascii_and_truncated_sequences():
    for length in range(0, 40):
        text = bytes(range(32, 32 + length))
        assert utf8_ok(np.frombuffer(text, np.uint8), 0, length)
    buf = np.frombuffer(b"abcdefgh\xe2\x82\xac", np.uint8)
    assert not utf8_ok(buf, 0, 10)  # a sequence cut by the end of the field
    assert utf8_ok(buf, 0, 11)


def arrow_view(text: bytes, offset: int) -> bytes:
    """The 16 bytes pyarrow writes for ``text`` stored at ``offset`` of data buffer 0."""
    arr = pa.array([text.decode()], pa.string_view())
    view = bytearray(arr.buffers()[1].to_pybytes()[:16])
    if len(text) > 12:
        view[8:12] = (0).to_bytes(4, "little")
        view[12:16] = offset.to_bytes(4, "little")
    return bytes(view)


def test_view_words_are_arrows_views_anywhere_in_the_input():
    for length in range(0, 30):
        text = bytes(ord("a") + k % 26 for k in range(length))
        for before, after in ((0, 0), (3, 0), (0, 1), (7, 5), (2, 20)):
            data = b"\xee" * before + text + b"\xdd" * after  # junk around: must not leak in
            words = np.array(view_words(np.frombuffer(data, np.uint8), before, length), np.uint64)
            assert words.tobytes() == arrow_view(text, before), (length, before, after)


@pytest.mark.parametrize("table", ["span", "resource", "none"])
def test_match_key_finds_exactly_the_keys(table):
    from tracelens.ingest import otlp_protobuf as op
    from tracelens.ingest._wire import NO_KEYS_DATA, NO_KEYS_OFF, match_key

    data, index, _, _ = {"span": op._SPAN_KEYS, "resource": op._RESOURCE_KEYS, "none": (NO_KEYS_DATA, NO_KEYS_OFF, None, None)}[table]
    keys = [bytes(data[index[1 + k] : index[2 + k]]) for k in range(int(index[0]))]
    assert len(set(keys)) == len(keys)
    probes = {b"", b"x", b"service.nam", b"service.namE", b"service.names", b"http.route\x00", b"a" * 40}
    for key in keys:
        probes |= {key[:-1], key + b".", key[:-1] + bytes([key[-1] ^ 1]), bytes([key[0] ^ 1]) + key[1:]}
        if len(key) > 8:
            probes.add(key[:8] + bytes([key[8] ^ 1]) + key[9:])
    for probe in probes | set(keys):
        buf = np.frombuffer(b"\x07" + probe + b"\x07" * 3, np.uint8)
        found = match_key(buf, 1, 1 + len(probe), data, index)
        assert found == (keys.index(probe) if probe in keys else -1), probe


def test_frames_survive_later_scans_in_the_same_thread():
    """The scan's scratch tables are reused per thread: an earlier frame must not change."""
    from tracelens.ingest import decode_otlp_protobuf, decode_otlp_protobuf_batch, validate_otlp_protobuf
    from tracelens.ingest.otlp_reference import decode_otlp_protobuf_reference
    from tracelens.testing import make_spans
    from tracelens.ingest.encode import encode_otlp_protobuf

    first = encode_otlp_protobuf(make_spans([{"span": f"a{i}", "name": f"a{i}", "end": 1, "attrs": {"http.route": f"/r{i}"}} for i in range(30)]))
    second = encode_otlp_protobuf(make_spans([{"span": f"b{i}", "name": f"b{i}", "end": 2, "attrs": {"db.system": "pg", "k": i}} for i in range(50)]))
    kept = decode_otlp_protobuf(first).spans
    validate_otlp_protobuf(second)
    decode_otlp_protobuf_batch([second, second])
    decode_otlp_protobuf(second)
    assert kept.equals(decode_otlp_protobuf_reference(first).spans)
