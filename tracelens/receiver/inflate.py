"""Bounded decompression of OTLP/HTTP bodies (H3, H4).

The size limit is enforced *while* inflating: no decoder ever produces more than
``limit + 1`` bytes, so a gzip bomb costs at most the limit in memory, never its
inflated size. gzip (several concatenated members too), deflate (zlib-wrapped as RFC 9110
says, or raw as some clients send it) and zstd (several frames too) are understood.
"""

from __future__ import annotations

import io
import zlib

from tracelens.errors import DecodeError

_CHUNK = 1 << 20
GZIP_WBITS = 16 + zlib.MAX_WBITS
ZLIB_WBITS = zlib.MAX_WBITS
RAW_DEFLATE_WBITS = -zlib.MAX_WBITS
IDENTITY = frozenset({"", "identity"})
SUPPORTED_ENCODINGS = ("gzip", "x-gzip", "deflate", "zstd", "identity")


class TooLargeError(DecodeError):
    """The body (after decompression) exceeds the request size limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"request body exceeds the limit of {limit} bytes after decompression")


class UnsupportedEncodingError(DecodeError):
    """A Content-Encoding we do not understand (answered with 415, H3)."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        supported = ", ".join(SUPPORTED_ENCODINGS)
        super().__init__(f"unsupported Content-Encoding {encoding!r} (supported: {supported})")


def content_codings(header: str | None) -> list[str]:
    """The codings of a Content-Encoding header, in the order they were applied."""
    if not header:
        return []
    return [token.strip().lower() for token in header.split(",") if token.strip().lower() not in IDENTITY]


def check_codings(codings: list[str]) -> None:
    """Raise UnsupportedEncodingError for the first coding we cannot undo."""
    for coding in codings:
        if coding not in SUPPORTED_ENCODINGS:
            raise UnsupportedEncodingError(coding)


def inflate(body: bytes, codings: list[str], limit: int) -> bytes:
    """``body`` with every coding undone (last applied, first undone), at most ``limit`` bytes.

    Raises TooLargeError past the limit, UnsupportedEncodingError for an unknown coding and
    DecodeError for corrupt compressed data."""
    check_codings(codings)
    for coding in reversed(codings):
        if coding in ("gzip", "x-gzip"):
            body = _inflate_zlib_members(body, GZIP_WBITS, limit, "gzip")
        elif coding == "deflate":
            body = _inflate_deflate(body, limit)
        elif coding == "zstd":
            body = _inflate_zstd(body, limit)
    if len(body) > limit:
        raise TooLargeError(limit)
    return body


def _inflate_deflate(body: bytes, limit: int) -> bytes:
    try:
        return _inflate_zlib_members(body, ZLIB_WBITS, limit, "deflate")
    except TooLargeError:
        raise
    except DecodeError:
        # Some clients send raw deflate without the zlib header; accept it too.
        return _inflate_zlib_members(body, RAW_DEFLATE_WBITS, limit, "deflate")


def _inflate_zlib_members(body: bytes, wbits: int, limit: int, name: str) -> bytes:
    """Inflate consecutive gzip members / zlib streams, never producing more than limit+1 bytes."""
    out: list[bytes] = []
    total = 0
    data = body
    while data:
        stream = zlib.decompressobj(wbits)
        try:
            while not stream.eof:
                piece = stream.decompress(data, limit - total + 1)
                total += len(piece)
                if total > limit:
                    raise TooLargeError(limit)
                out.append(piece)
                data = stream.unconsumed_tail
                if not piece and not data and not stream.eof:
                    msg = f"truncated {name} body"
                    raise DecodeError(msg)
            data = stream.unused_data
        except zlib.error as exc:
            msg = f"corrupt {name} body: {exc}"
            raise DecodeError(msg) from None
        if wbits == GZIP_WBITS and data and not data.strip(b"\0"):
            break  # zero padding after the last member (written by some tape-era tools)
    return b"".join(out)


def _inflate_zstd(body: bytes, limit: int) -> bytes:
    import zstandard

    out: list[bytes] = []
    total = 0
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body), read_across_frames=True)
        while True:
            piece = reader.read(min(_CHUNK, limit - total + 1))
            if not piece:
                break
            total += len(piece)
            if total > limit:
                raise TooLargeError(limit)
            out.append(piece)
    except zstandard.ZstdError as exc:
        msg = f"corrupt zstd body: {exc}"
        raise DecodeError(msg) from None
    return b"".join(out)
