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
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


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
