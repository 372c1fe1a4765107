"""Bounded decompression (H3, H4, G2): every coding, concatenated members, the limit
enforced while inflating, the two-pass path for large bodies, gRPC message sniffing."""

from __future__ import annotations

import gzip
import zlib

import pytest
import zstandard

from tracelens.errors import DecodeError
from tracelens.receiver import inflate as inflate_module
from tracelens.receiver.inflate import (
    TooLargeError,
    UnsupportedEncodingError,
    content_codings,
    inflate,
    inflate_grpc_message,
)

DATA = b"span payload " * 5000


def _raw_deflate(data: bytes) -> bytes:
    stream = zlib.compressobj(wbits=-15)
    return stream.compress(data) + stream.flush()


@pytest.mark.parametrize(
    ("codings", "encode"),
    [
        (["gzip"], gzip.compress),
        (["x-gzip"], gzip.compress),
        (["gzip"], lambda d: gzip.compress(d[:100]) + gzip.compress(d[100:]) + b"\0\0"),
        (["deflate"], zlib.compress),
        (["deflate"], _raw_deflate),
        (["zstd"], lambda d: zstandard.ZstdCompressor().compress(d[:7]) + zstandard.ZstdCompressor().compress(d[7:])),
        (["gzip", "zstd"], lambda d: zstandard.ZstdCompressor().compress(gzip.compress(d))),
        ([], lambda d: d),
    ],
)
def test_every_coding_round_trips(codings, encode):
    assert inflate(encode(DATA), codings, len(DATA)) == DATA


@pytest.mark.parametrize("encode", [gzip.compress, zlib.compress, lambda d: zstandard.ZstdCompressor().compress(d)])
def test_one_byte_over_the_limit_is_too_large(encode):
    coding = {gzip.compress: "gzip", zlib.compress: "deflate"}.get(encode, "zstd")
    with pytest.raises(TooLargeError):
        inflate(encode(DATA), [coding], len(DATA) - 1)


def test_large_bodies_take_the_second_pass_and_stay_exact(monkeypatch):
    monkeypatch.setattr(inflate_module, "KEEP_BYTES", 1000)
    assert inflate(gzip.compress(DATA), ["gzip"], len(DATA)) == DATA
    assert inflate(zstandard.ZstdCompressor().compress(DATA), ["zstd"], len(DATA)) == DATA
    with pytest.raises(TooLargeError):
        inflate(gzip.compress(DATA), ["gzip"], len(DATA) - 1)


def test_corrupt_and_truncated_bodies_are_decode_errors():
    with pytest.raises(DecodeError, match="corrupt gzip"):
        inflate(b"\x1f\x8b\x08garbage", ["gzip"], 10**6)
    with pytest.raises(DecodeError, match="truncated gzip"):
        inflate(gzip.compress(DATA)[:50], ["gzip"], 10**6)
    with pytest.raises(DecodeError, match="zstd"):
        inflate(b"\x28\xb5\x2f\xfd garbage", ["zstd"], 10**6)


def test_unknown_coding_is_named():
    assert content_codings("gzip, identity, br") == ["gzip", "br"]
    with pytest.raises(UnsupportedEncodingError, match="'br'"):
        inflate(b"x", ["br"], 10)


def test_grpc_messages_are_sniffed_safely():
    plain = b"\x0a\x03abc"  # a protobuf message: never starts with 0x1f
    assert inflate_grpc_message(plain, 100) == plain
    assert inflate_grpc_message(gzip.compress(DATA), len(DATA)) == DATA
    assert inflate_grpc_message(zlib.compress(DATA), len(DATA)) == DATA
    looks_like_zlib = b"\x78\x9c not really zlib"
    assert inflate_grpc_message(looks_like_zlib, 100) == looks_like_zlib
    with pytest.raises(TooLargeError):
        inflate_grpc_message(gzip.compress(DATA), len(DATA) - 1)
    with pytest.raises(TooLargeError):
        inflate_grpc_message(plain, 3)
