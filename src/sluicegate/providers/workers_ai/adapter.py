"""Cloudflare Workers AI.

Wire format: https://developers.cloudflare.com/workers-ai/get-started/rest-api/ — a model runs at
`/client/v4/accounts/{account_id}/ai/run/{model}` and answers in Cloudflare's envelope,
`{"result": {"response", "tool_calls", "usage"}, "success", "errors", "messages"}`. With
`"stream": true` it sends SSE events `{"response": "<text>", "p": "<padding>"}`, then one whose
`usage` is cumulative, then `[DONE]`. The OpenAI-compatible endpoints (`.../ai/v1/chat/completions`,
`.../ai/v1/embeddings`) answer in OpenAI's shapes and are read by the OpenAI adapter.

Cloudflare AI Gateway maps `.../workers-ai/{model}` to the first and `.../workers-ai/v1/...` to the
second (https://developers.cloudflare.com/ai-gateway/usage/providers/workersai/). The account in
the upstream URL is the route's: the gateway's own account, as on Cloudflare (a Sluicegate account
named after a Cloudflare account id reaches that account's Workers AI), or the `workers_ai_account_id`
setting, which the Plan stage puts there (pipeline/workers_ai_account.py).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import unquote

import orjson

from sluicegate.providers.base import (
    BEARER,
    Answer,
    HostRoute,
    KeyHeader,
    RequestFacts,
    Route,
    RunningJob,
    as_stored,
)
from sluicegate.providers.conversation import ConversationReader
from sluicegate.providers.error_shapes import ErrorShape
from sluicegate.providers.openai import OPENAI
from sluicegate.providers.openai_conversation import OPENAI_CONVERSATIONS
from sluicegate.providers.openai_texts import CHAT_TOKEN_KEYS, EMBEDDINGS_TOKEN_KEYS
from sluicegate.providers.output_caps import NO_OUTPUT, NO_OUTPUT_FIELD, CapField
from sluicegate.providers.sse import iter_json
from sluicegate.providers.stream_ends import DONE_ENDS, StreamEnds
from sluicegate.providers.texts import TextFormat, TokenKeys
from sluicegate.providers.workers_ai.texts import WORKERS_AI_TEXTS
from sluicegate.types import Usage

if TYPE_CHECKING:
    from sluicegate.compat import CompatTarget

OPENAI_PREFIX = "v1/"
# A native run's text generation `prompt` and embedding models' `text`; its chat `messages` and the
# OpenAI-compatible endpoints' bodies are OpenAI's.
# https://developers.cloudflare.com/workers-ai/models/
TOKEN_KEYS = TokenKeys(text=frozenset({"prompt", "text"})) | CHAT_TOKEN_KEYS | EMBEDDINGS_TOKEN_KEYS
# What names an embedding model (`@cf/google/embeddinggemma-300m`, `@cf/qwen/qwen3-embedding-0.6b`,
# BAAI's `@cf/baai/bge-m3` and its reranker): its native runs generate no tokens.
# https://developers.cloudflare.com/workers-ai/models/?tasks=Text+Embeddings
EMBEDDING_MARKERS = ("embed", "bge-")


@dataclass(frozen=True, slots=True)
class WorkersAI:
    """The adapter for api.cloudflare.com's Workers AI; `default_base_url` stops before `/client/v4`."""

    name: str = "workers-ai"
    default_base_url: str = "https://api.cloudflare.com"
    price_id: str | None = "cloudflare"
    key_header: KeyHeader = BEARER  # a Cloudflare API token
    stream_ends: StreamEnds = DONE_ENDS  # native and OpenAI-compatible
    compat_host: str = ""
    realtime: bool = False  # no realtime WebSocket sessions
    conversations: tuple[ConversationReader, ...] = OPENAI_CONVERSATIONS  # `messages`, or a native `prompt`
    key_param: str | None = None
    answer_headers: tuple[str, ...] = ()
    error_shape: ErrorShape | None = None  # the gateway's errors in OpenAI's shape
    token_keys: TokenKeys = TOKEN_KEYS

    def host_route(self, host: str, path: str, override: str | None) -> HostRoute | None:
        return None  # not reachable host-in-path

    def compat_target(self) -> CompatTarget | None:
        # Imported here: the translator reads this module's usage, so it cannot be imported above.
        from sluicegate.compat import CompatTarget
        from sluicegate.providers.workers_ai.compat import WORKERS_AI_TRANSLATOR

        return CompatTarget(WORKERS_AI_TRANSLATOR)  # the bearer token goes as the client sent it

    def upstream_url(self, base_url: str, route: Route) -> str:
        endpoint = route.path if is_openai_compatible(route) else f"run/{route.path}"
        url = f"{base_url.rstrip('/')}/client/v4/accounts/{route.account}/ai/{endpoint}"
        return f"{url}?{route.query}" if route.query else url

    def read_request(self, route: Route, body: bytes) -> RequestFacts:
        facts = OPENAI.read_request(route, body)
        if is_openai_compatible(route):
            return facts
        # The model is the path: `@cf/meta/llama-3.1-8b-instruct`, or `@cf%2Fmeta%2F...` as the
        # cloudflare SDK encodes it (its `accounts/{id}/ai/run/` before it is taken off by the Plan
        # stage, which reads the request again: pipeline/workers_ai_account.py).
        cacheable = isinstance(facts.payload, dict)  # a native run is a generation or an embedding
        return dataclasses.replace(facts, model=unquote(route.path) or None, cacheable=cacheable)

    def read_usage(self, route: Route, body: bytes) -> Usage | None:
        if is_openai_compatible(route):
            return OPENAI.read_usage(route, body)
        result = _result(body)
        return usage_from(result.get("usage")) if result is not None else None

    def read_stream_usage(self, route: Route, events: bytes) -> Usage | None:
        # The last `usage` is the cumulative one (newer models also put per-chunk, incremental usage
        # on OpenAI-shaped chunks before it): read backwards, parse only events that mention usage.
        for event in iter_json(events, backwards=True, mentioning=(b'"usage"',)):
            if (
                isinstance(event, dict)
                and isinstance(raw := event.get("usage"), dict)
                and (usage := usage_from(raw))
            ):
                return usage
        return None

    def output_text(self, route: Route, body: bytes, streamed: bool) -> str:
        if is_openai_compatible(route):
            return OPENAI.output_text(route, body, streamed)
        if streamed:
            return "".join(_event_text(event) for event in iter_json(body))
        result = _result(body)
        return _response_text(result.get("response")) if result is not None else ""

    def answer_as(self, route: Route, facts: RequestFacts, stored: Answer) -> Answer | None:
        if is_openai_compatible(route):
            return OPENAI.answer_as(route, facts, stored)
        return as_stored(facts, stored)

    def text_format(self, route: Route, payload: Any) -> TextFormat | None:
        if is_openai_compatible(route):
            return OPENAI.text_format(route, payload)
        # A native run's input text (`prompt`, `messages`, an embedding's or translation's `text` …)
        # and its answer in Cloudflare's envelope, whole and streamed (texts.py); a body that is no
        # JSON object (a file, audio for Whisper) holds none.
        return WORKERS_AI_TEXTS if isinstance(payload, dict) else None

    def output_cap(self, route: Route, payload: Any) -> int | None:
        if not is_openai_compatible(route) and any(marker in route.path for marker in EMBEDDING_MARKERS):
            return NO_OUTPUT
        # A native run's `max_tokens` is the OpenAI-compatible endpoints' key:
        # https://developers.cloudflare.com/workers-ai/models/llama-3-8b-instruct
        return OPENAI.output_cap(route, payload)

    def cap_field(self, route: Route, payload: Any) -> CapField | None:
        if not is_openai_compatible(route) and any(marker in route.path for marker in EMBEDDING_MARKERS):
            return NO_OUTPUT_FIELD
        return OPENAI.cap_field(route, payload)

    def price_model(self, model: str) -> str:
        return model

    def operation(self, route: Route) -> str:
        # The OpenAI-compatible endpoints' operations; a native run is named by its model's name
        # alone (`@cf/google/embeddinggemma-300m` embeds).
        return OPENAI.operation(route)

    def retry_delay(self, body: bytes) -> float | None:
        return None  # a refusal's wait comes in its headers

    def refusal_is_final(self, status: int, body: bytes) -> bool:
        return False  # its 429s and 5xx may succeed when sent again

    def answer_model(self, route: Route, body: bytes, streamed: bool) -> str | None:
        return None  # its requests name their model

    def running_job(self, route: Route, body: bytes) -> RunningJob | None:
        return None  # its usage is in its answers: none leaves a job for the gateway to read


def is_openai_compatible(route: Route) -> bool:
    """True for the OpenAI-compatible endpoints (`v1/chat/completions`, `v1/embeddings`)."""
    return route.path.startswith(OPENAI_PREFIX)


def _result(body: bytes) -> dict[str, Any] | None:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    result = document.get("result") if isinstance(document, dict) else None
    return result if isinstance(result, dict) else None


def usage_from(raw: Any) -> Usage | None:
    """`{"prompt_tokens", "completion_tokens", "prompt_tokens_details": {"cached_tokens"}}`.

    Cached (prefix-cache) tokens are part of `prompt_tokens`:
    https://developers.cloudflare.com/workers-ai/features/prompt-caching/
    """
    if not isinstance(raw, dict) or not _is_int(raw.get("prompt_tokens")):
        return None
    details = raw.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    completion = raw.get("completion_tokens")
    return Usage(
        input_tokens=raw["prompt_tokens"],
        output_tokens=completion if _is_int(completion) else 0,
        cached_tokens=cached if _is_int(cached) else 0,
    )


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _response_text(response: Any) -> str:
    if isinstance(response, str):
        return response
    # JSON mode answers with the object itself: https://developers.cloudflare.com/workers-ai/features/json-mode/
    return orjson.dumps(response).decode() if isinstance(response, dict | list) else ""


def _event_text(event: Any) -> str:
    if not isinstance(event, dict):
        return ""
    if text := _response_text(event.get("response")):
        return text
    # Newer models stream OpenAI-shaped chunks on the native endpoint too.
    choices = event.get("choices")
    parts = []
    for choice in choices if isinstance(choices, list) else ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        content = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(content, str):
            parts.append(content)
    return "".join(parts)


WORKERS_AI = WorkersAI()
