"""Undoing an upstream answer's Content-Encoding, and telling a whole body from one cut short."""

from __future__ import annotations

import gzip
import zlib

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.upstream_coding import BodyDecoder, CutShort, UnreadableCoding, body_decoder

TEXT = b'{"choices": [{"message": {"content": "hello"}}]}' * 50


def decoder(coding: str | None) -> BodyDecoder | None:
    headers = CIMultiDict({} if coding is None else {"Content-Encoding": coding})
    return body_decoder(CIMultiDictProxy(headers))


def fed(coding: str, body: bytes, size: int) -> bytes:
    """`body` decoded from chunks of `size` bytes, then finished."""
    found = decoder(coding)
    assert found is not None
    out = b"".join(piece for at in range(0, len(body), size) for piece in found.decode(body[at : at + size]))
    found.finish()
    return out


@pytest.mark.parametrize("size", [1, 7, 4096, 1 << 20])
@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", gzip.compress(TEXT)),
        ("x-gzip", gzip.compress(TEXT)),
        ("GZIP", gzip.compress(TEXT[:100]) + gzip.compress(TEXT[100:])),  # two members: one body
        ("deflate", zlib.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)[2:-4]),  # raw deflate, as some servers send it
    ],
)
def test_whole_bodies_decode_in_any_chunking(coding: str, body: bytes, size: int) -> None:
    assert fed(coding, body, size) == TEXT


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", gzip.compress(TEXT)[:-8]),  # without its trailer
        ("gzip", gzip.compress(TEXT)[: len(gzip.compress(TEXT)) * 2 // 3]),
        ("gzip", gzip.compress(TEXT) + gzip.compress(TEXT)[:30]),  # a second member cut short
        ("deflate", zlib.compress(TEXT)[:-10]),
    ],
)
def test_a_body_whose_compressed_data_did_not_end_is_cut_short(coding: str, body: bytes) -> None:
    with pytest.raises(CutShort, match="ended before its compressed data did"):
        fed(coding, body, 64)


def test_an_empty_body_is_whole() -> None:
    found = decoder("gzip")
    assert found is not None
    assert found.whole(b"") == b""


def test_no_piece_is_larger_than_a_bound() -> None:
    bomb = gzip.compress(b"\0" * (8 << 20))  # 8 MiB of zeros in a few KiB
    found = decoder("gzip")
    assert found is not None
    pieces = found.decode(bomb)
    assert max(map(len, pieces)) <= 256 * 1024
    assert sum(map(len, pieces)) == 8 << 20


def test_no_coding_or_identity_is_no_decoder_and_another_coding_is_refused() -> None:
    assert decoder(None) is None
    assert decoder("identity") is None
    with pytest.raises(UnreadableCoding, match="'br'"):
        decoder("br")


def test_corrupt_data_is_a_zlib_error() -> None:
    found = decoder("gzip")
    assert found is not None
    with pytest.raises(zlib.error):
        found.decode(gzip.compress(TEXT)[:10] + b"\xff" * 64)  # a block of the reserved type 3
