"""Image headers read without a decoding library: PNG, JPEG, GIF and WebP, raw or in base64 text,
and nothing read where the header does not say."""

from __future__ import annotations

import base64

import pytest

from sluicegate.usage.image_size import JPEG_SEGMENTS, Reader, base64_size, data_url_size, image_size
from tests.image_files import gif, jpeg, png, vp8, vp8l, vp8x, webp


def reader(data: bytes) -> Reader:
    return lambda offset, length: data[offset : offset + length]


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (png(1024, 768), (1024, 768)),
        (png(1, 3000), (1, 3000)),
        (gif(640, 480), (640, 480)),
        (webp(b"VP8 ", vp8(1920, 1080)), (1920, 1080)),
        (webp(b"VP8L", vp8l(16383, 1)), (16383, 1)),
        (webp(b"VP8L", vp8l(800, 600)), (800, 600)),
        (webp(b"VP8X", vp8x(5000, 3000)), (5000, 3000)),
        (jpeg(1600, 1200), (1600, 1200)),
        (jpeg(4032, 3024, exif=60_000), (4032, 3024)),  # a phone's EXIF block before the frame
        (jpeg(300, 200, sof=0xC2), (300, 200)),  # progressive
        (jpeg(300, 200, fill=True), (300, 200)),  # a fill byte before the marker
        # Segments ending at each place in a 3-byte base64 group, so each read starts at another.
        (jpeg(640, 480, exif=1), (640, 480)),
        (jpeg(640, 480, exif=2), (640, 480)),
        (jpeg(640, 480, exif=3), (640, 480)),
    ],
    ids=lambda v: f"{v[0]}x{v[1]}" if isinstance(v, tuple) else None,
)
def test_the_size_is_read_from_the_header(data: bytes, size: tuple[int, int]) -> None:
    assert image_size(reader(data)) == size
    text = base64.b64encode(data).decode()
    assert base64_size(text) == size
    assert base64_size("prefix," + text, 7) == size
    for mime in ("image/png", "image/jpeg", "application/octet-stream"):
        assert data_url_size(f"data:{mime};base64," + base64.b64encode(data).decode()) == size


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image at all, just text",
        png(1024, 768)[:20],  # cut inside IHDR
        png(0, 10),
        b"\xff\xd8\xff\xda" + b"\0" * 40,  # scan data before any frame header
        jpeg(100, 100)[:30],  # cut before the frame header
        b"\xff\xd8" + b"\xff\xfe\x00\x04\0\0" * (JPEG_SEGMENTS + 1) + jpeg(100, 100)[2:],  # too many comments
        webp(b"VP8 ", b"\0" * 30),  # no start code
        b"RIFF\0\0\0\0WAVEfmt ",
    ],
)
def test_what_the_header_does_not_say_is_unreadable(data: bytes) -> None:
    assert image_size(reader(data)) is None
    assert base64_size(base64.b64encode(data).decode()) is None


def test_base64_is_read_where_the_header_is_and_nowhere_else() -> None:
    data = jpeg(4032, 3024, exif=60_000)
    text = base64.b64encode(data).decode()
    # Whatever follows the frame header is never decoded: garbage there changes nothing.
    frame = data.index(b"\xff\xc0") + 9
    assert base64_size(text[: frame * 4 // 3 + 8] + "!" * 1000) == (4032, 3024)
    # Text that is not plain base64 where a header is read (MIME line breaks) is unreadable.
    wrapped = base64.encodebytes(data).decode()
    assert base64_size(wrapped) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/cat.png",
        "data:image/png," + "%89PNG",  # not base64
        "data:image/png;base64",  # no comma
        "data:image/png;base64,****",
        "data:" + "x" * 300 + ";base64," + base64.b64encode(png(10, 10)).decode(),  # no header in reach
    ],
)
def test_a_url_that_is_not_a_base64_data_url_has_no_size(url: str) -> None:
    assert data_url_size(url) is None
