"""Bounded decompression of OTLP/HTTP bodies (H3, H4).

The size limit is enforced *while* inflating: no decoder ever produces more than
``limit + 1`` bytes, so a gzip bomb costs at most the limit in memory, never its
inflated size. gzip (several concatenated members too), deflate (zlib-wrapped as RFC 9110
says, or raw as some clients send it) and zstd (several frames too) are understood.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Callable, Iterator

from tracelens.errors import DecodeError

_CHUNK = 1 << 20
#: inflated output kept during the first pass; larger bodies are inflated twice (see _collect)
KEEP_BYTES = 16 << 20
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


def _collect(pieces: Callable[[], Iterator[bytes]], limit: int, keep_bytes: int) -> bytes:
    """Join the output of ``pieces()`` if it stays within ``limit``, else TooLargeError.

    Output is kept only up to ``keep_bytes``; a body that grows past that is inflated a
    second time once it is known to fit. So a bomb costs ``keep_bytes`` of memory, not
    ``limit``, and ordinary bodies are inflated once."""
    kept: list[bytes] = []
    total = 0
    keeping = True
    for piece in pieces():
        total += len(piece)
        if total > limit:
            raise TooLargeError(limit)
        if keeping:
            kept.append(piece)
            if total > keep_bytes:
                kept, keeping = [], False
    if keeping:
        return b"".join(kept)
    return b"".join(pieces())


def _inflate_zlib_members(body: bytes, wbits: int, limit: int, name: str, keep_bytes: int | None = None) -> bytes:
    """Inflate consecutive gzip members / zlib streams within ``limit`` bytes of output."""
    return _collect(lambda: _zlib_pieces(body, wbits, limit, name), limit, KEEP_BYTES if keep_bytes is None else keep_bytes)


def _zlib_pieces(body: bytes, wbits: int, limit: int, name: str) -> Iterator[bytes]:
    data = body
    produced = 0
    while data:
        stream = zlib.decompressobj(wbits)
        try:
            while not stream.eof:
                # small steps: zlib builds each output in blocks and then copies them into
                # one bytes object, so one big step would peak at twice its size
                piece = stream.decompress(data, min(_CHUNK, limit - produced + 1))
                produced += len(piece)
                data = stream.unconsumed_tail
                if piece:
                    yield piece
                elif not data and not stream.eof:
                    msg = f"truncated {name} body"
                    raise DecodeError(msg)
                if produced > limit:
                    return
        except zlib.error as exc:
            msg = f"corrupt {name} body: {exc}"
            raise DecodeError(msg) from None
        data = stream.unused_data
        if wbits == GZIP_WBITS and data and not data.strip(b"\0"):
            break  # zero padding after the last member (written by some tape-era tools)


def _inflate_zstd(body: bytes, limit: int) -> bytes:
    return _collect(lambda: _zstd_pieces(body, limit), limit, KEEP_BYTES)


def _zstd_pieces(body: bytes, limit: int) -> Iterator[bytes]:
    import zstandard

    produced = 0
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body), read_across_frames=True)
        while produced <= limit:
            piece = reader.read(min(_CHUNK, limit - produced + 1))
            if not piece:
                return
            produced += len(piece)
            yield piece
    except zstandard.ZstdError as exc:
        msg = f"corrupt zstd body: {exc}"
        raise DecodeError(msg) from None


def _looks_like_zlib(message: bytes) -> bool:
    return len(message) >= 2 and message[0] == 0x78 and ((message[0] << 8) | message[1]) % 31 == 0


def inflate_grpc_message(message: bytes, limit: int) -> bytes:
    """A gRPC message with its per-message compression undone, within ``limit``.

    grpc core's own decompression is switched off (it would inflate up to the limit and
    only then refuse, invisibly to us), so messages may arrive gzip- or deflate-compressed.
    Sniffing is safe: a protobuf message never starts with 0x1f (wire type 7 does not
    exist), and a zlib header that fails to inflate is taken as the plain message it then is."""
    if message[:2] == b"\x1f\x8b":
        return inflate(message, ["gzip"], limit)
    if _looks_like_zlib(message):
        try:
            return _inflate_zlib_members(message, ZLIB_WBITS, limit, "deflate")
        except TooLargeError:
            raise
        except DecodeError:
            return message
    if len(message) > limit:
        raise TooLargeError(limit)
    return message
