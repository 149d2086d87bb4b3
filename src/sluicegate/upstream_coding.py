"""An upstream answer's Content-Encoding, undone by the gateway, which checks that it is whole.

aiohttp decodes bodies itself, but at the end of a gzip body it does not check that the compressed
data ended (it does for deflate only): a gzip answer cut short whose HTTP framing is complete (a
Content-Length of the cut bytes, as a proxy that gave up midway sends) read as a shorter answer,
which was logged as a success and cached. So the pool asks for exactly the codings read here
(`ACCEPT_ENCODING`), takes bodies as they came, and decodes them with zlib, which knows whether
the data reached its end marker: a body that did not is `CutShort`, a broken answer.

What a body decodes to is bounded, as aiohttp bounds it: each step makes at most `_PIECE` bytes,
made when asked for (a relayed stream keeps its backpressure), a body read whole at most the size
the caller holds whole (`TooLarge`), and a gzip body has at most `MAX_MEMBERS` members.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Iterator

from multidict import CIMultiDictProxy

ACCEPT_ENCODING = "gzip, deflate"  # what the pool asks upstreams for: the codings decoded here
_PIECE = 256 * 1024  # the most one decoding step makes of a chunk: a small chunk may inflate a lot
_GZIP = 16 + zlib.MAX_WBITS
# The most compressed input fed to zlib at once: what it copies of the input left over (its
# unconsumed tail, a member's unused data) is at most this much, whatever the chunk's size.
_FEED = 16 * 1024
MAX_MEMBERS = 1024  # of one gzip body, as aiohttp allows: each costs a decompressor


class UndecodableBody(Exception):
    """An answer the gateway cannot decode as sent: a broken answer (its message says why)."""


class CutShort(UndecodableBody):
    """The compressed data ended before its end marker: the answer was cut short."""


class TooLarge(UndecodableBody):
    """A body that decodes to more than the gateway holds whole, or has too many gzip members."""


class UnreadableCoding(UndecodableBody):
    """A Content-Encoding the gateway did not ask for and cannot decode."""


class Corrupt(UndecodableBody):
    """Compressed data zlib refuses."""


class BodyDecoder:
    """Undoes one gzip or deflate body, chunk by chunk; `finish()` says whether it was whole."""

    __slots__ = ("_coding", "_decompressor", "_members", "_wbits")

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._wbits = _GZIP if coding == "gzip" else 0  # deflate: chosen by its first byte
        self._decompressor: zlib._Decompress | None = None
        self._members = 1

    @property
    def coding(self) -> str:
        return self._coding

    def decode(self, data: bytes) -> Iterator[bytes]:
        """What `data` decodes to, in pieces of at most `_PIECE` bytes (none empty), each made
        only when the one before was taken: a small chunk may inflate a lot."""
        if not data:
            return
        decompressor = self._decompressor
        if decompressor is None:
            if not self._wbits:
                # RFC 9110's deflate is zlib's format, but some servers send raw deflate: aiohttp
                # (and browsers) tell them apart by the zlib header's compression method, 8.
                self._wbits = zlib.MAX_WBITS if data[0] & 0x0F == 8 else -zlib.MAX_WBITS
            decompressor = self._decompressor = zlib.decompressobj(self._wbits)
        view = memoryview(data)
        for at in range(0, len(data), _FEED):
            fed: bytes | memoryview = view[at : at + _FEED]
            while fed:
                try:
                    piece = decompressor.decompress(fed, _PIECE)
                except zlib.error as exc:
                    raise Corrupt(f"the upstream's compressed body is corrupt: {exc}") from exc
                if piece:
                    yield piece
                if not decompressor.eof:
                    fed = decompressor.unconsumed_tail
                elif self._wbits != _GZIP:
                    return  # deflate: what follows its end is not read, as before
                elif fed := decompressor.unused_data:
                    # Concatenated gzip members (one per write, as some servers send) are one body.
                    self._members += 1
                    if self._members > MAX_MEMBERS:
                        raise TooLarge(f"the upstream's gzip body has more than {MAX_MEMBERS} members")
                    decompressor = self._decompressor = zlib.decompressobj(_GZIP)

    def finish(self) -> None:
        """The body has ended: `CutShort` unless its compressed data ended too (or it was empty)."""
        if self._decompressor is not None and not self._decompressor.eof:
            raise CutShort(f"the upstream's {self._coding} body ended before its compressed data did")

    def whole(self, body: bytes, limit: int) -> bytes:
        """A whole body, decoded; `CutShort` if its compressed data did not end, `TooLarge` past
        `limit` decoded bytes (held once: a BytesIO hands over its buffer)."""
        decoded = io.BytesIO()
        for piece in self.decode(body):
            if decoded.tell() + len(piece) > limit:
                raise TooLarge(
                    f"the upstream's answer is larger than {limit} bytes decoded"
                    f" ({self._coding}, {len(body)} bytes sent), more than the gateway reads whole"
                )
            decoded.write(piece)
        self.finish()
        return decoded.getvalue()


def body_decoder(headers: CIMultiDictProxy[str]) -> BodyDecoder | None:
    """The decoder of an answer's Content-Encoding; None for none (the usual case: one lookup) or
    `identity`. `UnreadableCoding` for any other: the gateway asked for gzip and deflate only, and
    relayed as they came such bytes would go out as plain (the relay drops Content-Encoding)."""
    coding = headers.get("Content-Encoding")
    if coding is None:
        return None
    name = coding.strip().lower()
    if name in ("gzip", "x-gzip"):  # RFC 9110 §8.4.1.3: x-gzip is gzip
        return BodyDecoder("gzip")
    if name == "deflate":
        return BodyDecoder("deflate")
    if name in ("", "identity"):
        return None
    raise UnreadableCoding(
        f"the upstream answered in the content coding {coding[:40]!r}, which the gateway did not ask"
        f" for (Accept-Encoding: {ACCEPT_ENCODING}) and cannot decode"
    )
