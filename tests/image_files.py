"""Test help: image files built byte by byte (no imaging library), for the readers of their headers
and the fakes that bill images by size."""

from __future__ import annotations

import hashlib
import struct
import zlib


def png(width: int, height: int) -> bytes:
    """A PNG whose header says `width` × `height`; its pixel data is one row's (only headers are read)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * (1 + 3 * width))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def photo_png(width: int, height: int) -> bytes:
    """A whole PNG an image library decodes: RGB pixels of noise (fixed by the size), so it compresses
    as little as a photo does."""
    row = 3 * width
    noise = b"".join(
        hashlib.sha256(b"%d,%d,%d" % (width, height, i)).digest() for i in range(height * row // 32 + 1)
    )
    raw = b"".join(b"\0" + noise[y * row : (y + 1) * row] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def jpeg(width: int, height: int, sof: int = 0xC0, exif: int = 0, fill: bool = False) -> bytes:
    """SOI, a JFIF APP0, an optional EXIF APP1 of `exif` bytes, a DQT, then the frame header."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
    app1 = b"\xff\xe1" + struct.pack(">H", exif + 2) + b"E" * exif if exif else b""
    dqt = b"\xff\xdb" + struct.pack(">H", 67) + b"\0" * 65
    frame = (
        bytes([0xFF, sof])
        + struct.pack(">HBHHB", 17, 8, height, width, 3)
        + b"\x01\x22\0\x02\x11\x01\x03\x11\x01"
    )
    scan = b"\xff\xda" + struct.pack(">H", 12) + b"\x03\x01\0\x02\x11\x03\x11\0\x3f\0" + b"\x55" * 100
    return b"\xff\xd8" + app0 + app1 + dqt + (b"\xff" if fill else b"") + frame + scan + b"\xff\xd9"


def gif(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HHBBB", width, height, 0, 0, 0) + b";"


def webp(kind: bytes, payload: bytes) -> bytes:
    chunk = kind + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def vp8(width: int, height: int) -> bytes:
    """Lossy: a 3-byte frame tag, the start code, then 14-bit sizes (the top 2 bits: scaling)."""
    return b"\x50\x01\0" + b"\x9d\x01\x2a" + struct.pack("<HH", width | 0x4000, height | 0x8000) + b"\0" * 20


def vp8l(width: int, height: int) -> bytes:
    """Lossless: the signature, then width - 1 and height - 1 in 14 bits each, alpha, version."""
    bits = (width - 1) | (height - 1) << 14 | 1 << 28
    return b"\x2f" + bits.to_bytes(4, "little") + b"\0" * 20


def vp8x(width: int, height: int) -> bytes:
    """Extended: flags, 3 reserved bytes, the canvas's width - 1 and height - 1 in 24 bits each."""
    return b"\x10\0\0\0" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
