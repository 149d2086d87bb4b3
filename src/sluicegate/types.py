"""The few value types shared across the pipeline, storage and providers."""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage of one exchange, in the shape a bill is computed from.

    Counts nest as OpenAI's (and genai-prices') do: `input_tokens` is every input token, cache reads
    (`cached_tokens`) and cache writes (`cache_write_tokens`) included; `cache_write_1h_tokens` is
    the part of the writes kept for an hour (Anthropic's `ttl: "1h"`; the rest are 5-minute writes);
    `output_tokens` includes `reasoning_tokens`. `estimated` is true when the figures were counted
    with a tokenizer because the provider reported none.

    Audio tokens are parts of their wholes too: `input_audio_tokens` of `input_tokens`,
    `cached_audio_tokens` of both `cached_tokens` and `input_audio_tokens`, `output_audio_tokens` of
    `output_tokens`. Endpoints billed by other units report them apart from tokens: `audio_seconds`
    (transcription: the audio's length), `characters` (speech: the text read out), `images` of
    `image_size` (generation: how many, and the size and quality they are priced by).
    `web_searches`: searches a provider's own tool ran while answering, billed per search
    (Anthropic's `usage.server_tool_use.web_search_requests`).

    `job`: the id of the finished job whose usage this is, when later requests read the same figures
    again (each poll of a finished Replicate prediction): the gateway counts a job once
    (`storage/counted_once.py`). Empty: the usage is this exchange's own.

    `cost_usd`: what the provider's answer says it charged for these figures, in USD (OpenRouter's
    and Perplexity's `usage.cost`: `providers/reported_cost.py`); it prices them in place of the
    price table. None: the answer states no charge.

    `input_unreported`: the answer reported its output tokens but not its input's (a text-generation
    answer's `details` without `prefill`): `input_tokens` is 0 until the gateway counts the
    request's input (`outcome/meter.py`), which then marks the figures `estimated`.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    input_audio_tokens: int = 0
    cached_audio_tokens: int = 0
    output_audio_tokens: int = 0
    audio_seconds: float = 0.0
    characters: int = 0
    images: int = 0
    image_size: str = ""
    web_searches: int = 0
    job: str = ""
    cost_usd: float | None = None
    input_unreported: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def plus(self, other: Usage) -> Usage:
        """The usage of two exchanges together (a realtime session's responses): counts add up;
        estimated if either was; the image size is the first one's that says; a charge stated only
        when both state one (else the table prices the sum)."""
        charged = None if self.cost_usd is None or other.cost_usd is None else self.cost_usd + other.cost_usd
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            estimated=self.estimated or other.estimated,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            input_audio_tokens=self.input_audio_tokens + other.input_audio_tokens,
            cached_audio_tokens=self.cached_audio_tokens + other.cached_audio_tokens,
            output_audio_tokens=self.output_audio_tokens + other.output_audio_tokens,
            audio_seconds=self.audio_seconds + other.audio_seconds,
            characters=self.characters + other.characters,
            images=self.images + other.images,
            image_size=self.image_size or other.image_size,
            web_searches=self.web_searches + other.web_searches,
            cost_usd=charged,
            input_unreported=self.input_unreported or other.input_unreported,
        )


class Backoff(enum.StrEnum):
    """How the wait between retries grows: `delay`, `delay × n`, or `delay × 2ⁿ⁻¹` (plus jitter)."""

    CONSTANT = "constant"
    LINEAR = "linear"
    EXPONENTIAL = "exponential"


class CacheStatus(enum.StrEnum):
    """What the cache did for one request; NONE when the request was not cacheable."""

    NONE = ""
    HIT = "HIT"
    MISS = "MISS"
    BYPASS = "BYPASS"


class CacheSource(enum.StrEnum):
    """Which cache gave the request its `CacheStatus`: the last one it looked in (the semantic
    cache runs after an exact miss); NONE when no cache applied."""

    NONE = ""
    EXACT = "exact"
    SEMANTIC = "semantic"
    SHADOW = "shadow"  # not a lookup: a semantic hit's answer fetched again, to check it (shadow mode)
