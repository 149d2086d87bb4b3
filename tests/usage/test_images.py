"""What an image costs in input tokens, as each provider bills it: the worked examples of OpenAI's,
Anthropic's and Google's documentation, read from the image's own header in the request."""

from __future__ import annotations

import base64
import math
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.usage.image_size import base64_size
from sluicegate.usage.images import (
    CLAUDE,
    GEMINI,
    MEDIA_PART_TOKENS,
    OPENAI_TILES,
    OpenAIPatches,
    OpenAITiles,
    _model_rule,
    image_tokens,
)
from sluicegate.usage.tokens import TokenCounter
from tests.image_files import gif, jpeg, png, vp8l, vp8x, webp


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64," + base64.b64encode(data).decode()


def chat(url: str, detail: str | None = None) -> dict[str, Any]:
    image: dict[str, Any] = {"url": url} | ({"detail": detail} if detail else {})
    return {"type": "image_url", "image_url": image}


def claude(data: bytes) -> dict[str, Any]:
    source = {"type": "base64", "media_type": "image/png", "data": base64.b64encode(data).decode()}
    return {"type": "image", "source": source}


def gemini(data: bytes, mime: str = "image/png", key: str = "inlineData") -> dict[str, Any]:
    return {key: {"mimeType": mime, "data": base64.b64encode(data).decode()}}


@pytest.mark.parametrize(
    ("model", "size", "detail", "tokens"),
    [
        # https://platform.openai.com/docs/guides/images-vision#calculating-costs, its examples.
        ("gpt-4o", (1024, 1024), "high", 765),
        ("gpt-4o", (2048, 4096), "high", 1105),
        ("gpt-4o", (4096, 8192), "low", 85),
        ("gpt-4o", (2048, 4096), None, 1105),  # auto is high
        ("gpt-4o", (128, 64), "high", 255),  # small images are not scaled up: one tile
        ("gpt-4.1", (1024, 1024), "auto", 765),
        ("gpt-4o-mini", (1024, 1024), "high", 2833 + 4 * 5667),
        ("gpt-4o-mini-2024-07-18", (1024, 1024), "low", 2833),
        ("o3", (1024, 1024), "high", 75 + 4 * 150),
        ("gpt-5", (1024, 1024), "high", 70 + 4 * 140),
        ("ft:gpt-4o-mini:acme::abc123", (512, 512), "high", 2833 + 5667),
        # Patch models: 32-px patches, at most 1536, times the model's multiplier; detail ignored.
        ("gpt-4.1-mini", (1024, 1024), "low", 1659),  # 1024 × 1.62, rounded up
        ("gpt-4.1-nano", (1800, 2400), "high", 3572),  # 1452 × 2.46
        ("o4-mini", (1800, 2400), "high", 2498),  # 1452 × 1.72
        ("a-model-nobody-knows", (1024, 1024), "high", 765),  # the format's rule, GPT-4o's numbers
    ],
)
def test_openai_images(model: str, size: tuple[int, int], detail: str | None, tokens: int) -> None:
    assert image_tokens(model)(chat(data_url(png(*size)), detail)) == tokens
    # Responses: an `input_image` part, its URL a string and its detail beside it.
    part = {"type": "input_image", "image_url": data_url(png(*size))} | ({"detail": detail} if detail else {})
    assert image_tokens(model)(part) == tokens


def test_an_image_whose_size_is_unknown_is_taken_at_the_most_it_can_cost() -> None:
    for url in ("https://example.com/cat.png", data_url(b"not an image")):
        assert image_tokens("gpt-4o")(chat(url, "high")) == 85 + 8 * 170  # 768×2048: 8 tiles
        assert image_tokens("gpt-4o")(chat(url, "low")) == 85
        assert image_tokens("gpt-4o-mini")(chat(url)) == 2833 + 8 * 5667
        assert image_tokens("gpt-4.1-mini")(chat(url)) == 2489  # 1536 × 1.62
    assert image_tokens("gpt-4o")({"type": "input_image", "file_id": "file-abc"}) == 85 + 8 * 170
    url_block = {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}}
    assert image_tokens("claude-sonnet-4-5")(url_block) == 1600
    assert image_tokens("claude-opus-4-7")(url_block) == 5000


@pytest.mark.parametrize(
    ("model", "size", "tokens"),
    [
        # https://platform.claude.com/docs/en/build-with-claude/vision: width × height / 750.
        ("claude-sonnet-4-5", (200, 200), 54),
        ("claude-sonnet-4-5", (1000, 1000), 1334),
        ("claude-sonnet-4-5", (1092, 1092), 1590),
        ("claude-sonnet-4-5", (4000, 3000), 1600),  # scaled down to about 1600 tokens
        ("claude-3-haiku-20240307", (3000, 100), 110),  # scaled to 1568 on the long edge
        ("claude-opus-4-7", (2000, 2000), 5000),
        ("claude-opus-4-7", (1000, 1000), 1334),
    ],
)
def test_claude_images(model: str, size: tuple[int, int], tokens: int) -> None:
    assert image_tokens(model)(claude(png(*size))) == tokens
    # An OpenAI-style part to Claude (OpenRouter, the compat endpoint's model names) is Claude's.
    assert image_tokens(f"anthropic/{model}")(chat(data_url(png(*size)), "low")) == tokens


@pytest.mark.parametrize(
    ("model", "size", "tokens"),
    [
        # https://ai.google.dev/gemini-api/docs/tokens: 258 up to 384 px a side, else per 768-px tile.
        ("gemini-2.5-flash", (384, 384), 258),
        ("gemini-2.5-flash", (1024, 1024), 4 * 258),
        ("gemini-2.0-flash", (1920, 1080), 6 * 258),
        ("gemini-3-pro-preview", (1024, 1024), 1120),  # Gemini 3's default media resolution
    ],
)
def test_gemini_images(model: str, size: tuple[int, int], tokens: int) -> None:
    assert image_tokens(model)(gemini(png(*size))) == tokens
    assert image_tokens(model)(gemini(png(*size), key="inline_data")) == tokens


def test_the_format_decides_where_the_model_name_does_not() -> None:
    square = png(1024, 1024)
    assert image_tokens(None)(chat(data_url(square))) == 765
    assert image_tokens("house-model")(claude(square)) == 1399  # 1024² / 750
    assert image_tokens("house-model")(gemini(square)) == 4 * 258
    assert image_tokens("house-model")(gemini(b"\0" * 30, mime="audio/wav")) == MEDIA_PART_TOKENS
    assert image_tokens("house-model")(gemini(gif(100, 100), mime="image/gif")) == 258
    assert image_tokens("gpt-4o")(chat(data_url(jpeg(4032, 3024, exif=60_000), "image/jpeg"))) == 765


def test_a_request_counts_its_images_at_their_cost() -> None:
    counter = TokenCounter()
    text = [{"type": "text", "text": "What is in these pictures?"}]
    images = [chat(data_url(png(1024, 1024)), "high"), chat(data_url(png(1024, 1024)), "low")]
    with_images = {"model": "gpt-4o", "messages": [{"role": "user", "content": text + images}]}
    text_only = {"model": "gpt-4o", "messages": [{"role": "user", "content": text}]}
    assert (
        counter.count_any_input(with_images, "gpt-4o")
        == counter.count_any_input(text_only, "gpt-4o") + 765 + 85
    )


# Any size a header can declare: PNG's 32 bits a side, WebP VP8X's 24, GIF's and JPEG's 16.
def png_header(width: int, height: int) -> bytes:
    """A PNG's signature and IHDR only (`png()` would compress a row of `width` pixels)."""
    return (
        b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0) + b"\0" * 4
    )


HUGE = [
    png_header(2**32 - 1, 2**32 - 1),
    png_header(2**32 - 1, 1),
    png_header(1, 2**32 - 1),
    gif(65535, 65535),
    jpeg(65535, 65535),
    webp(b"VP8X", vp8x(2**24, 2**24)),
    webp(b"VP8L", vp8l(16384, 16384)),
]
# Every rule there is: each family's, each OpenAI model's, Claude Opus 4.7's, Gemini 3's.
MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "o4-mini",
    "gpt-5",
    "o3",
    "computer-use-preview",
    "claude-sonnet-4-5",
    "claude-opus-4-7",
    "gemini-2.5-flash",
    "gemini-3-pro-preview",
]
# (GPT-4o's is the chat format's default: its name alone picks none.)
RULES = [rule for rule in map(_model_rule, MODELS) if rule is not None] + [GEMINI, CLAUDE, OPENAI_TILES]
UNREADABLE = b"not an image"


def part(model: str, data: bytes, detail: str | None = None) -> dict[str, Any]:
    """The part `model`'s family sends the image in."""
    if "claude" in model:
        return claude(data)
    if "gemini" in model:
        return gemini(data)
    return chat(data_url(data), detail)


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("data", HUGE, ids=range(len(HUGE)))
def test_a_huge_declared_size_costs_no_more_than_an_unreadable_image(model: str, data: bytes) -> None:
    assert base64_size(base64.b64encode(data).decode()) is not None  # the header is read
    assert 1 <= image_tokens(model)(part(model, data)) <= image_tokens(model)(part(model, UNREADABLE))


def test_the_largest_images_cost_what_their_provider_bills_at_most() -> None:
    # Gemini scales an image down to fit 3072×3072 (4×4 tiles of 768): a header of 2^32 − 1 a side
    # was 8,068,951,256,159,688 tokens; a 65535² GIF 1,908,168; an 8000×6000 photo 22,704.
    for data in [HUGE[0], gif(65535, 65535), png_header(3072, 3072), b"", UNREADABLE]:
        assert image_tokens("gemini-2.5-flash")(gemini(data)) == 16 * 258
    assert image_tokens("gemini-2.5-flash")(gemini(png_header(8000, 6000))) == 12 * 258  # 3072×2304
    assert image_tokens("gemini-2.5-flash")(gemini(png_header(3072, 3073))) == 16 * 258
    assert image_tokens("gemini-2.5-flash")(gemini(HUGE[1])) == 4 * 258  # 3072×1
    assert image_tokens("gpt-4o")(chat(data_url(HUGE[0]))) == 85 + 4 * 170  # 768×768 after scaling
    assert image_tokens("gpt-4o")(chat(data_url(png_header(2**32 - 1, 1)))) == 85 + 4 * 170  # 2048×1
    assert image_tokens("gpt-4.1-mini")(chat(data_url(HUGE[0]))) == math.ceil(
        39 * 39 * 1.62
    )  # OpenAI's recipe


@pytest.mark.parametrize("model", MODELS)
def test_a_thin_image_costs_at_least_one_tile_or_patch(model: str) -> None:
    rule = _model_rule(model)
    for size in ((100_000, 1), (1, 100_000), (2**32 - 1, 1), (1, 1)):
        tokens = image_tokens(model)(part(model, png_header(*size), "high"))
        assert tokens >= 1
        if isinstance(rule, OpenAITiles):
            assert tokens >= rule.base + rule.tile
        if isinstance(rule, OpenAIPatches):
            assert tokens >= math.ceil(rule.multiplier)  # one 32-px patch


def test_a_100000_by_1_image_on_a_patch_model() -> None:
    # 3125 patches in a row, scaled to fit 1536: its row of 1536 patches, not 0 (the old estimate).
    assert image_tokens("gpt-4.1-mini")(chat(data_url(png_header(100_000, 1)))) == math.ceil(1536 * 1.62)
    assert image_tokens("gpt-4.1-mini")(chat(data_url(png_header(1000, 1)))) == math.ceil(32 * 1.62)


@given(
    width=st.integers(1, 2**32 - 1) | st.integers(1, 5000),
    height=st.integers(1, 2**32 - 1) | st.integers(1, 5000),
    detail=st.sampled_from([None, "low", "high", "auto"]),
)
def test_no_readable_size_costs_more_than_an_unreadable_image(
    width: int, height: int, detail: str | None
) -> None:
    for rule in RULES:
        assert 1 <= rule.tokens((width, height), detail) <= rule.tokens(None, detail)
