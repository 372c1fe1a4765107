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
