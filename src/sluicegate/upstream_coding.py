"""An upstream answer's Content-Encoding, undone by the gateway, which checks that it is whole.

aiohttp decodes bodies itself, but at the end of a gzip body it does not check that the compressed
data ended (it does for deflate only): a gzip answer cut short whose HTTP framing is complete (a
Content-Length of the cut bytes, as a proxy that gave up midway sends) read as a shorter answer,
which was logged as a success and cached. So the pool asks for exactly the codings read here
(`ACCEPT_ENCODING`), takes bodies as they came, and decodes them with zlib, which knows whether
the data reached its end marker: a body that did not is `CutShort`, a broken answer.
"""

from __future__ import annotations

import zlib

from multidict import CIMultiDictProxy

ACCEPT_ENCODING = "gzip, deflate"  # what the pool asks upstreams for: the codings decoded here
_PIECE = 256 * 1024  # the most one decoding step makes of a chunk: a small chunk may inflate a lot
_GZIP = 16 + zlib.MAX_WBITS


class CutShort(Exception):
    """The compressed data ended before its end marker: the answer was cut short."""


class UnreadableCoding(Exception):
    """A Content-Encoding the gateway did not ask for and cannot decode."""


class BodyDecoder:
    """Undoes one gzip or deflate body, chunk by chunk; `finish()` says whether it was whole."""

    __slots__ = ("_coding", "_decompressor", "_wbits")

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._wbits = _GZIP if coding == "gzip" else 0  # deflate: chosen by its first byte
        self._decompressor: zlib._Decompress | None = None

    @property
    def coding(self) -> str:
        return self._coding

    def decode(self, data: bytes) -> list[bytes]:
        """What `data` decodes to, in pieces of at most `_PIECE` bytes (none may be empty)."""
        if not data:
            return []
        decompressor = self._decompressor
        if decompressor is None:
            if not self._wbits:
                # RFC 9110's deflate is zlib's format, but some servers send raw deflate: aiohttp
                # (and browsers) tell them apart by the zlib header's compression method, 8.
                self._wbits = zlib.MAX_WBITS if data[0] & 0x0F == 8 else -zlib.MAX_WBITS
            decompressor = self._decompressor = zlib.decompressobj(self._wbits)
        pieces = []
        while data:
            piece = decompressor.decompress(data, _PIECE)
            if piece:
                pieces.append(piece)
            data = decompressor.unconsumed_tail
            if decompressor.eof and decompressor.unused_data and self._wbits == _GZIP:
                # Concatenated gzip members (one per write, as some servers send) are one body.
                data = decompressor.unused_data
                decompressor = self._decompressor = zlib.decompressobj(_GZIP)
        return pieces

    def finish(self) -> None:
        """The body has ended: `CutShort` unless its compressed data ended too (or it was empty)."""
        if self._decompressor is not None and not self._decompressor.eof:
            raise CutShort(f"the upstream's {self._coding} body ended before its compressed data did")

    def whole(self, body: bytes) -> bytes:
        """A whole body, decoded; `CutShort` if its compressed data did not end."""
        decoded = b"".join(self.decode(body))
        self.finish()
        return decoded


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
