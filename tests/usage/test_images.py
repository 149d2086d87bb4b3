"""What an image costs in input tokens, as each provider bills it: the worked examples of OpenAI's,
Anthropic's and Google's documentation, read from the image's own header in the request."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from sluicegate.usage.images import MEDIA_PART_TOKENS, image_tokens
from sluicegate.usage.tokens import TokenCounter
from tests.image_files import gif, jpeg, png


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
