"""An image's width and height from the first bytes of its file: PNG, JPEG, GIF and WebP.

Only headers are read, no decoding library: PNG's IHDR chunk, GIF's logical screen, WebP's VP8,
VP8L or VP8X header, JPEG's start-of-frame marker (found by walking the segments before it, each
skipped by its length, so an EXIF block before it costs one more read, not its size). Base64 text
(a data URL's, Anthropic's `source.data`, Gemini's `inlineData.data`) is decoded only where a header
is read: a few 4-character groups, never the whole image. Anything else is unreadable (None).
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Callable
from typing import Final

# A JPEG whose frame header comes after this many segments is taken as unreadable.
JPEG_SEGMENTS: Final = 64
_PNG: Final = b"\x89PNG\r\n\x1a\n"
_GIFS: Final = (b"GIF87a", b"GIF89a")
# Start-of-frame markers (baseline, progressive, lossless, arithmetic): all but DHT, JPG and DAC.
_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# Markers without a length: TEM, RST0-7, SOI, EOI.
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xDA)})
_SOS: Final = 0xDA

Reader = Callable[[int, int], bytes]
"""`read(offset, length)`: up to `length` bytes of the file from `offset` (fewer past its end)."""


def data_url_size(url: str) -> tuple[int, int] | None:
    """The size of the image in a base64 `data:` URL, e.g. `data:image/png;base64,iVBOR…`."""
    if not url.startswith("data:"):
        return None
    comma = url.find(",", 5, 256)
    if comma < 0 or not url[5:comma].endswith(";base64"):
        return None
    return base64_size(url, comma + 1)


def base64_size(text: str, start: int = 0) -> tuple[int, int] | None:
    """The size of the image whose file is `text[start:]` in standard base64 (no line breaks)."""
    return image_size(_base64_reader(text, start))


def image_size(read: Reader) -> tuple[int, int] | None:
    """Width and height of the PNG, JPEG, GIF or WebP file `read` reads; None when it is none of
    those, or its header does not say."""
    head = read(0, 32)
    size: tuple[int, int] | None = None
    if head.startswith(_PNG) and head[12:16] == b"IHDR" and len(head) >= 24:
        size = struct.unpack(">II", head[16:24])
    elif head[:6] in _GIFS and len(head) >= 10:
        size = struct.unpack("<HH", head[6:10])
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP" and len(head) >= 30:
        size = _webp(head)
    elif head[:2] == b"\xff\xd8":
        size = _jpeg(read)
    if size is None or size[0] <= 0 or size[1] <= 0:
        return None
    return size


def _webp(head: bytes) -> tuple[int, int] | None:
    """https://developers.google.com/speed/webp/docs/riff_container: the first chunk says the size."""
    kind, frame = head[12:16], head[20:30]
    if kind == b"VP8 " and frame[3:6] == b"\x9d\x01\x2a":  # lossy: 14-bit sizes after the start code
        width, height = struct.unpack("<HH", frame[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and frame[0] == 0x2F:  # lossless: 14 bits each, minus one, after the signature
        bits = int.from_bytes(frame[1:5], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X":  # extended: the canvas, 24 bits each, minus one
        return int.from_bytes(frame[4:7], "little") + 1, int.from_bytes(frame[7:10], "little") + 1
    return None


def _jpeg(read: Reader) -> tuple[int, int] | None:
    """The first start-of-frame segment's size: walks the segments from the start of the file."""
    at = 2
    for _ in range(JPEG_SEGMENTS):
        segment = read(at, 9)
        if len(segment) < 4 or segment[0] != 0xFF:
            return None
        marker = segment[1]
        if marker == 0xFF:  # a fill byte before the marker
            at += 1
            continue
        if marker in _STANDALONE:
            at += 2
            continue
        if marker == _SOS:  # the image data starts before any frame header: not a JPEG we read
            return None
        if marker in _SOF:
            if len(segment) < 9:
                return None
            height, width = struct.unpack(">HH", segment[5:9])
            return width, height
        at += 2 + int.from_bytes(segment[2:4], "big")
    return None


def _base64_reader(text: str, start: int) -> Reader:
    """Reads the bytes `text[start:]` encodes, decoding only the 4-character groups that hold them.
    Text that is not plain base64 where it is read (line breaks, URL-safe letters) reads as nothing."""

    def read(offset: int, length: int) -> bytes:
        first = start + offset // 3 * 4
        last = start + -(-(offset + length) // 3) * 4
        try:
            decoded = binascii.a2b_base64(text[first:last], strict_mode=True)
        except (binascii.Error, ValueError):
            return b""
        skip = offset % 3
        return decoded[skip : skip + length]

    return read
