"""The translator contract: the OpenAI chat schema to a provider's native API and back.

Translators are pure (no network or globals), like provider adapters, but for one reading of a clock
they are given: OpenAI's `created`, when a provider's answer has no time of its own. The compat endpoint
takes an OpenAI chat request whose `model` is `{provider}/{model}`, asks the provider's translator
for the native request, forwards it with the provider's adapter, and translates the answer back:
a JSON body with `response`, an error body with `error`, a stream incrementally with `stream()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from sluicegate.types import Usage


def openai_usage(usage: Usage) -> dict[str, Any]:
    """OpenAI's usage object; prompt tokens include cached and cache-written ones, and completion
    tokens reasoning ones, as `Usage` does. Cache writes go in `cache_write_tokens`, as OpenRouter
    reports them, and the hour-long ones among them (Anthropic's `ttl: "1h"`, priced higher) in
    `cache_write_1h_tokens`, the gateway's own field, so the answer's usage (read back for the log
    and budgets) is still billed as the provider bills it. Audio tokens (Gemini's) go where OpenAI
    puts its own, and web searches (Anthropic's) in `server_tool_use`, as OpenRouter reports them."""
    details: dict[str, Any] = {"cached_tokens": usage.cached_tokens}
    if usage.cache_write_tokens:
        details["cache_write_tokens"] = usage.cache_write_tokens
    if usage.cache_write_1h_tokens:
        details["cache_write_1h_tokens"] = usage.cache_write_1h_tokens
    if usage.input_audio_tokens:
        details["audio_tokens"] = usage.input_audio_tokens
    if usage.cached_audio_tokens:
        details["cached_tokens_details"] = {"audio_tokens": usage.cached_audio_tokens}
    completion: dict[str, int] = {"reasoning_tokens": usage.reasoning_tokens}
    if usage.output_audio_tokens:
        completion["audio_tokens"] = usage.output_audio_tokens
    answer: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "prompt_tokens_details": details,
        "completion_tokens_details": completion,
    }
    if usage.web_searches:
        answer["server_tool_use"] = {"web_search_requests": usage.web_searches}
    return answer


def answered_model(answer: Mapping[str, Any], field: str, asked: str) -> str:
    """The model that answered, as OpenAI's answers name the snapshot that ran (`gpt-4o` answered by
    `gpt-4o-2024-08-06`): the answer's `field` (Anthropic's `model`, Gemini's `modelVersion`),
    else the one asked for."""
    model = answer.get(field)
    return model if isinstance(model, str) and model else asked


def ended_early(missing: str | None = None) -> str:
    """What a stream that ended before it finished is logged with, and its client told: `missing`
    is the closing event that never came (Anthropic's message_stop, Gemini's finishReason,
    Workers AI's `[DONE]`)."""
    said = "the upstream stream ended before it finished"
    return said if missing is None else f"{said} ({missing} never came)"


def broke_off(reason: str) -> bytes:
    """The last event of a chat stream whose provider's stream ended before it finished (`reason`,
    as `StreamTranslator.unfinished` says it): OpenAI's in-stream error, `data: {"error": {...}}`, as
    OpenAI ends a stream that fails mid-way, at which the openai SDKs raise `APIError` (openai-python's
    `_streaming.py`: an event whose data has `error`). No `[DONE]` follows it: the client reads a
    failure, not a whole answer cut short, and no cache stores it."""
    error = {"message": reason, "type": "server_error", "param": None, "code": None}
    return b"data: " + orjson.dumps({"error": error}) + b"\n\n"


class TranslationError(ValueError):
    """The OpenAI request cannot be expressed for this provider; the message says which field.

    `field` is that field's path as OpenAI's errors spell it in `param` (`messages[0].content[1]`,
    `tools[2].function.name`), and the message starts with it (`{field}: {reason}`); None when no
    one field is to blame (the reason is then the whole message)."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        super().__init__(reason if field is None else f"{field}: {reason}")
        self.field = field


@dataclass(frozen=True, slots=True)
class NativeRequest:
    """What to send upstream: `path` (and `query`) relative to the provider's base URL, as a
    provider endpoint's route would have them, and the body."""

    path: str
    body: bytes
    query: str = ""


class StreamTranslator(Protocol):
    """Stateful: turns the provider's SSE bytes, split anywhere, into OpenAI chat.completion.chunk
    SSE bytes. Must never buffer more than an incomplete event: each complete native event is
    translated as soon as it arrives."""

    def feed(self, chunk: bytes) -> bytes:
        """OpenAI SSE bytes for the complete events in `chunk` (plus what was pending); maybe b""."""
        ...

    def close(self) -> bytes:
        """The final bytes: any last chunk (usage, when the request asked for it) and `data: [DONE]`;
        when the provider's stream ended before it finished (`unfinished`), neither: OpenAI's
        in-stream error instead (`broke_off`), as an OpenAI stream that fails mid-way ends, so the
        client sees the failure and no cache stores it."""
        ...

    def unfinished(self) -> str | None:
        """Once closed: why the provider's stream did not finish (its closing event never came),
        or None when it did, or ended in an error event (an error the chunks already carry)."""
        ...

    def usage(self) -> Usage | None:
        """The usage the provider's events reported so far (None: none yet), whether or not the
        client asked for it: what the log bills when the translated stream carries none."""
        ...


class Translator(Protocol):
    def request(self, payload: dict[str, Any], model: str) -> NativeRequest:
        """The native request for an OpenAI chat `payload` (whose `model` was `{provider}/{model}`).

        Raises `TranslationError` naming the field that cannot be translated.
        """
        ...

    def response(self, body: bytes, model: str) -> bytes:
        """A successful native JSON answer as an OpenAI `chat.completion` JSON body."""
        ...

    def error(self, status: int, body: bytes) -> bytes:
        """A native error body as OpenAI's `{"error": {"message", "type", "param", "code"}}`."""
        ...

    def stream(self, model: str, include_usage: bool) -> StreamTranslator:
        """A translator for one streamed answer."""
        ...
