"""Undoing an upstream answer's Content-Encoding, and telling a whole body from one cut short."""

from __future__ import annotations

import gzip
import time
import zlib

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.upstream_coding import (
    MAX_MEMBERS,
    BodyDecoder,
    Corrupt,
    CutShort,
    TooLarge,
    UndecodableBody,
    UnreadableCoding,
    body_decoder,
)

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
        ("gzip", gzip.compress(TEXT, mtime=0)),
        ("x-gzip", gzip.compress(TEXT, mtime=0)),
        (
            "GZIP",
            gzip.compress(TEXT[:100], mtime=0) + gzip.compress(TEXT[100:], mtime=0),
        ),  # two members: one body
        ("deflate", zlib.compress(TEXT)),
        ("deflate", zlib.compress(TEXT)[2:-4]),  # raw deflate, as some servers send it
    ],
)
def test_whole_bodies_decode_in_any_chunking(coding: str, body: bytes, size: int) -> None:
    assert fed(coding, body, size) == TEXT


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", gzip.compress(TEXT, mtime=0)[:-8]),  # without its trailer
        ("gzip", gzip.compress(TEXT, mtime=0)[: len(gzip.compress(TEXT, mtime=0)) * 2 // 3]),
        (
            "gzip",
            gzip.compress(TEXT, mtime=0) + gzip.compress(TEXT, mtime=0)[:30],
        ),  # a second member cut short
        ("deflate", zlib.compress(TEXT)[:-10]),
    ],
)
def test_a_body_whose_compressed_data_did_not_end_is_cut_short(coding: str, body: bytes) -> None:
    with pytest.raises(CutShort, match="ended before its compressed data did"):
        fed(coding, body, 64)


def test_an_empty_body_is_whole() -> None:
    found = decoder("gzip")
    assert found is not None
    assert found.whole(b"", 1) == b""


def test_no_piece_is_larger_than_a_bound() -> None:
    bomb = gzip.compress(b"\0" * (8 << 20), mtime=0)  # 8 MiB of zeros in a few KiB
    found = decoder("gzip")
    assert found is not None
    pieces = list(found.decode(bomb))
    assert max(map(len, pieces)) <= 256 * 1024
    assert sum(map(len, pieces)) == 8 << 20


def test_no_coding_or_identity_is_no_decoder_and_another_coding_is_refused() -> None:
    assert decoder(None) is None
    assert decoder("identity") is None
    with pytest.raises(UnreadableCoding, match="'br'"):
        decoder("br")


def test_corrupt_data_is_an_undecodable_body_naming_zlib_s_error() -> None:
    found = decoder("gzip")
    assert found is not None
    with pytest.raises(Corrupt, match="the upstream's compressed body is corrupt: Error -3") as raised:
        list(found.decode(gzip.compress(TEXT, mtime=0)[:10] + b"\xff" * 64))  # a block of the reserved type 3
    assert isinstance(raised.value, UndecodableBody)
    assert isinstance(raised.value.__cause__, zlib.error)


def test_pieces_are_made_only_as_they_are_taken() -> None:
    """A chunk that inflates to 64 MiB is not decoded at once: taking one piece decodes one."""
    bomb = gzip.compress(bytes(64 << 20), mtime=0)
    found = decoder("gzip")
    assert found is not None
    start = time.process_time()
    first = next(iter(found.decode(bomb)))
    assert len(first) <= 256 * 1024
    assert time.process_time() - start < 0.02  # the whole chunk takes ~0.1 s


def test_a_whole_body_past_its_limit_is_too_large() -> None:
    bomb = gzip.compress(bytes(64 << 20), mtime=0)
    found = decoder("gzip")
    assert found is not None
    with pytest.raises(TooLarge, match=f"larger than {1 << 20} bytes decoded"):
        found.whole(bomb, 1 << 20)
    found = decoder("gzip")
    assert found is not None
    assert found.whole(gzip.compress(TEXT, mtime=0), len(TEXT)) == TEXT  # the limit itself is whole


def test_gzip_members_past_the_cap_are_refused_and_cost_linear_time() -> None:
    member = gzip.compress(b"x", mtime=0)
    found = decoder("gzip")
    assert found is not None
    assert found.whole(member * MAX_MEMBERS, 1 << 20) == b"x" * MAX_MEMBERS
    many = member * ((1 << 20) // len(member))  # 1 MiB of members in one chunk
    found = decoder("gzip")
    assert found is not None
    start = time.process_time()
    with pytest.raises(TooLarge, match=f"more than {MAX_MEMBERS} members"):
        found.whole(many, 1 << 20)
    assert time.process_time() - start < 0.5  # the leftover is not copied whole per member
