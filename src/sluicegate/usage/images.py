"""What an image in a request costs in input tokens, as the provider that reads it bills it.

The size comes from the image's own header where the request carries the image (a base64 data URL,
Anthropic's base64 `source`, Gemini's `inlineData`: see `image_size.py`); an image given by URL or
file id, or one whose header does not say, is taken at the most its model bills for one image.
The rule is the model's family (OpenAI, Claude, Gemini) where its name says, else the request
format's (an OpenAI-style part to a model whose name says nothing counts as GPT-4o's would):

- OpenAI, https://platform.openai.com/docs/guides/images-vision#calculating-costs. Tile models
  (GPT-4o, 4.1, 4.5, 5, o1, o3, …): `detail: low` costs the base tokens; high or auto, the image
  is scaled down to fit 2048×2048, then to a shortest side of 768, and each 512-px tile costs the
  tile tokens on top of the base (at most 8 tiles: 85 + 8 × 170 = 1445 for GPT-4o; GPT-4o-mini
  bills 2833 + 5667 a tile). Patch models (GPT-4.1-mini and -nano, GPT-5-mini and -nano, o4-mini):
  32-px patches, at most 1536, times the model's multiplier; `detail` does not change them. The
  multipliers are the guide's (users report lower bills for GPT-5-mini and -nano: these err high).
- Claude, https://platform.claude.com/docs/en/build-with-claude/vision: about width × height / 750,
  the image first scaled down to its model's largest (1568 px on the long edge and about 1600
  tokens; Claude Opus 4.7: 2576 px and about 5000).
- Gemini, https://ai.google.dev/gemini-api/docs/tokens: 258 tokens for an image up to 384 px a
  side, else 258 per 768-px tile, a larger image first scaled down to fit 3072×3072 (Google's
  input requirements, https://firebase.google.com/docs/vertex-ai/input-file-requirements): at most
  16 tiles, 4128 tokens; Gemini 3 and later bill up to 1120 at their default media resolution,
  whatever the size.

Every rule bounds the size as its provider does before billing, counts at least one tile or patch
for any image, and takes an unreadable image at its largest bill, so no size read from a header
(however large, however thin) costs more than an image whose header does not say.

Other inline media (Gemini audio, video, documents) count a fixed `MEDIA_PART_TOKENS`.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from sluicegate.usage.image_size import base64_size, data_url_size

MEDIA_PART_TOKENS: Final = 85
# Gemini scales a larger image down to fit this square, keeping its aspect ratio (Vertex AI's input
# requirements: https://firebase.google.com/docs/vertex-ai/input-file-requirements).
GEMINI_LARGEST: Final = 3072
_OPENAI_PARTS: Final = frozenset({"image_url", "input_image"})

Size = tuple[int, int] | None


@dataclass(frozen=True, slots=True)
class OpenAITiles:
    """OpenAI's 512-px tiles, for `detail: high` (and auto); the base alone for `detail: low`."""

    base: int
    tile: int

    def tokens(self, size: Size, detail: object) -> int:
        if detail == "low":
            return self.base
        if size is None:
            return self.base + 8 * self.tile  # 768×2048 after scaling: the most tiles there are
        width, height = _fit(size, 2048)  # fit in 2048×2048
        if min(width, height) > 768:  # shortest side 768
            short = min(width, height)
            width, height = max(1, width * 768 // short), max(1, height * 768 // short)
        return self.base + self.tile * _tiles(width, 512) * _tiles(height, 512)


@dataclass(frozen=True, slots=True)
class OpenAIPatches:
    """OpenAI's 32-px patches, at most 1536, times the model's multiplier."""

    multiplier: float

    def tokens(self, size: Size, detail: object) -> int:
        return math.ceil(_patches(size) * self.multiplier)


@dataclass(frozen=True, slots=True)
class ClaudePixels:
    """Claude's width × height / 750, the image first scaled to fit `long_edge` and `most` tokens."""

    long_edge: int
    most: int

    def tokens(self, size: Size, detail: object) -> int:
        if size is None:
            return self.most
        width, height = size
        scale = min(1.0, self.long_edge / max(width, height), math.sqrt(self.most * 750 / (width * height)))
        return max(1, min(math.ceil(width * height * scale * scale / 750), self.most))


@dataclass(frozen=True, slots=True)
class GeminiTiles:
    """Gemini's 258 tokens an image up to 384 px a side, else 258 per 768-px tile, the image first
    scaled down to fit `GEMINI_LARGEST` × `GEMINI_LARGEST` (at most 16 tiles)."""

    def tokens(self, size: Size, detail: object) -> int:
        if size is None:
            return 258 * _tiles(GEMINI_LARGEST, 768) ** 2  # the most tiles there are: 16
        if size[0] <= 384 and size[1] <= 384:
            return 258
        width, height = _fit(size, GEMINI_LARGEST)
        return 258 * _tiles(width, 768) * _tiles(height, 768)


@dataclass(frozen=True, slots=True)
class Fixed:
    """A set number of tokens an image, whatever its size (Gemini 3's default media resolution)."""

    count: int

    def tokens(self, size: Size, detail: object) -> int:
        return self.count


Rule = OpenAITiles | OpenAIPatches | ClaudePixels | GeminiTiles | Fixed

OPENAI_TILES: Final = OpenAITiles(85, 170)
CLAUDE: Final = ClaudePixels(1568, 1600)
GEMINI: Final = GeminiTiles()
# By model name prefix (after any `vendor/` and `ft:`), longest first where one starts another.
_OPENAI_MODELS: Final[tuple[tuple[str, Rule], ...]] = (
    ("gpt-4.1-mini", OpenAIPatches(1.62)),
    ("gpt-4.1-nano", OpenAIPatches(2.46)),
    ("gpt-5-mini", OpenAIPatches(1.62)),
    ("gpt-5-nano", OpenAIPatches(2.46)),
    ("o4-mini", OpenAIPatches(1.72)),
    ("codex-mini", OpenAIPatches(1.72)),
    ("gpt-4o-mini", OpenAITiles(2833, 5667)),
    ("gpt-5", OpenAITiles(70, 140)),
    ("o1", OpenAITiles(75, 150)),
    ("o3", OpenAITiles(75, 150)),
    ("computer-use-preview", OpenAITiles(65, 129)),
)
_GEMINI_VERSION: Final = re.compile(r"gemini-(\d+)")


def image_tokens(model: str | None) -> Callable[[Mapping[str, Any]], int]:
    """What one image part costs with `model`: a chat `image_url` or Responses `input_image` part,
    an Anthropic `image` block, or a Gemini part holding `inlineData`."""
    return functools.partial(_part_tokens, _model_rule(model))


def _part_tokens(rule: Rule | None, part: Mapping[str, Any]) -> int:
    media = part.get("inlineData") or part.get("inline_data")
    if isinstance(media, Mapping):  # Gemini
        mime = media.get("mimeType") or media.get("mime_type")
        if isinstance(mime, str) and not mime.startswith("image/"):
            return MEDIA_PART_TOKENS
        data = media.get("data")
        return (rule or GEMINI).tokens(base64_size(data) if isinstance(data, str) else None, None)
    if part.get("type") in _OPENAI_PARTS:
        image: object = part.get("image_url")
        detail = part.get("detail")
        if isinstance(image, Mapping):  # chat: {"url", "detail"}; Responses: the URL, detail beside
            detail = image.get("detail", detail)
            image = image.get("url")
        size = data_url_size(image) if isinstance(image, str) else None
        return (rule or OPENAI_TILES).tokens(size, detail)
    source = part.get("source")  # Anthropic: base64, url or file
    data = source.get("data") if isinstance(source, Mapping) else None
    return (rule or CLAUDE).tokens(base64_size(data) if isinstance(data, str) else None, None)


@functools.lru_cache(maxsize=1024)  # asked per request, for a few model names
def _model_rule(model: str | None) -> Rule | None:
    """The rule of `model`'s family, or None when its name does not say (the part's format does)."""
    if model is None:
        return None
    name = model.lower().rpartition("/")[2].removeprefix("ft:")
    if "claude" in name:
        return ClaudePixels(2576, 5000) if ("opus-4-7" in name or "opus-4.7" in name) else CLAUDE
    if "gemini" in name:
        version = _GEMINI_VERSION.search(name)
        return Fixed(1120) if version is not None and int(version.group(1)) >= 3 else GEMINI
    for prefix, rule in _OPENAI_MODELS:
        if name.startswith(prefix):
            return rule
    return None


def _patches(size: Size) -> int:
    """The 32-px patches covering an image scaled to need at most 1536 of them (OpenAI's recipe)."""
    if size is None:
        return 1536
    width, height = size
    patches = math.ceil(width / 32) * math.ceil(height / 32)
    if patches > 1536:
        scale = math.sqrt(32 * 32 * 1536 / (width * height))
        across, down = width * scale / 32, height * scale / 32
        # A side under one patch after scaling stays one patch (a 100000×1 image is not 0 patches).
        scale *= min(math.floor(n) / n for n in (across, down) if n >= 1)
        # Whole patches by construction: round off what floating point adds before the ceiling.
        across, down = (max(1, math.ceil(round(side * scale / 32, 6))) for side in size)
        patches = across * down
    return min(patches, 1536)


def _tiles(pixels: int, side: int) -> int:
    """The `side`-px tiles covering `pixels` (a side of at least one pixel: at least one tile)."""
    return max(1, -(-pixels // side))


def _fit(size: tuple[int, int], largest: int) -> tuple[int, int]:
    """`size` scaled down (in whole pixels, each side at least one) to fit `largest` × `largest`."""
    width, height = size
    long = max(width, height)
    if long <= largest:
        return width, height
    return max(1, width * largest // long), max(1, height * largest // long)
