"""The Gemini wire format, shared by Google AI Studio and Google Vertex AI.

Wire format: https://ai.google.dev/api/generate-content — the model and the method are in the path
(`models/{model}:generateContent`, `:streamGenerateContent`), not in the body; usage is the
response's `usageMetadata`. A stream is SSE with `?alt=sse`, else one JSON array sent piece by piece.
Both hosts speak it; they differ only in where a path is sent (`upstream_url`). Both also speak
OpenAI's API, read by the OpenAI adapter (model in the body, usage in OpenAI's shape): AI Studio's
`v1beta/openai/chat/completions` (https://ai.google.dev/gemini-api/docs/openai) and Vertex AI's
`v1/projects/{p}/locations/{l}/endpoints/openapi/chat/completions`
(https://cloud.google.com/vertex-ai/generative-ai/docs/migrate/openai/overview).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import orjson

from sluicegate.providers.base import (
    BEARER,
    Answer,
    HostRoute,
    KeyHeader,
    OperationMarkers,
    RequestFacts,
    Route,
    RunningJob,
    as_stored,
    operation_by_markers,
)
from sluicegate.providers.conversation import ConversationReader
from sluicegate.providers.error_shapes import ErrorShape
from sluicegate.providers.gemini.caches import cache_creation_model
from sluicegate.providers.gemini.conversation import GEMINI_CONTENTS
from sluicegate.providers.gemini.errors import GOOGLE_ERRORS, retry_info_delay
from sluicegate.providers.gemini.predict import (
    EMBED_PREDICT,
    PREDICT_EMBED_TEXTS,
    PREDICT_SCOPE,
    PREDICT_TOKEN_KEYS,
    embeds_by_predict,
    predict_usage,
)
from sluicegate.providers.gemini.stream import FinishReasons, generate_content_answer, iter_responses
from sluicegate.providers.gemini.texts import GEMINI_EMBED_TEXTS, GEMINI_TEXTS, GEMINI_TOKEN_KEYS
from sluicegate.providers.json_body import read_json
from sluicegate.providers.openai import OPENAI
from sluicegate.providers.openai_texts import CHAT_TOKEN_KEYS, EMBEDDINGS_TOKEN_KEYS
from sluicegate.providers.output_caps import (
    NO_OUTPUT,
    NO_OUTPUT_FIELD,
    CapField,
    first,
    nested_cap_field,
    times,
)
from sluicegate.providers.stream_ends import DONE_RULE, EndRule, StreamEnds
from sluicegate.providers.texts import TextFormat, TokenKeys, has_list
from sluicegate.types import Usage

if TYPE_CHECKING:
    from sluicegate.compat import CompatTarget

STREAM_METHODS = frozenset({"streamGenerateContent"})
# Generations and embeddings (Vertex AI's by `:predict` too, `_method`); countTokens is free and
# tuning/caching calls are side effects.
CACHEABLE_METHODS = frozenset(
    {"generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents", EMBED_PREDICT}
)
# The methods whose answers are one response, or a stream of them (`gemini_stream`).
ANSWER_METHODS = frozenset({"generateContent", "streamGenerateContent"})
# countTokens generates nothing and is free: https://ai.google.dev/api/tokens#method:-models.counttokens
FREE_METHODS = frozenset({"countTokens"})
# The methods that generate no output: embeddings, and token counting.
NO_OUTPUT_METHODS = frozenset({"embedContent", "batchEmbedContents", EMBED_PREDICT, *FREE_METHODS})
# A generation's cap for each of its candidates, in `generationConfig`:
# https://ai.google.dev/api/generate-content#generationconfig. Google's JSON parsing takes each
# field's proto name too (`generation_config.max_output_tokens`).
_CONFIG = ("generationConfig", "generation_config")
_CAP = ("maxOutputTokens", "max_output_tokens")
_CANDIDATES = ("candidateCount", "candidate_count")
# Its GenAI operations by path marker (`operation_by_markers`, case-sensitive: `streamGenerateContent`
# and `batchEmbedContents` contain none of them), with its OpenAI compatibility's chat and embeddings.
OPERATIONS: OperationMarkers = (
    ("embed", "embeddings"),
    ("chat/completions", "chat"),
    ("generateContent", "generate_content"),
)

# The OpenAI-compatible paths: AI Studio's `…/openai/…`, Vertex AI's `…/endpoints/openapi/…` (and a
# deployed model's `…/endpoints/{id}/chat/completions`); a native method has `:method` instead.

# The native methods by what they do (https://ai.google.dev/api): a streamed generation is one.
_METHOD_OPERATIONS = {
    "generateContent": "generate_content",
    "streamGenerateContent": "generate_content",
    "embedContent": "embeddings",
    "batchEmbedContents": "embeddings",
    EMBED_PREDICT: "embeddings",
}


@dataclass(frozen=True, slots=True)
class Target:
    """What a Gemini path names: `.../models/gemini-2.0-flash:streamGenerateContent` is the model
    `gemini-2.0-flash` and the method `streamGenerateContent`; a tuned model or an endpoint keeps its
    collection (`tunedModels/abc`, `endpoints/123`)."""

    model: str | None
    method: str

    @classmethod
    def of(cls, route: Route) -> Target:
        return _target(route.path)


@functools.lru_cache(maxsize=1024)  # a gateway sees few distinct paths; several stages ask per request
def _target(path: str) -> Target:
    segments = unquote(path).strip("/").split("/")
    name, colon, method = segments[-1].partition(":")
    if not colon or not name:
        return Target(None, "")
    collection = segments[-2] if len(segments) > 1 else ""
    return Target(name if collection in ("models", "") else f"{collection}/{name}", method)


# Vertex AI's partner models' own methods (Mistral's, Llama's): their streams are OpenAI chat's.
_RAW_METHODS = frozenset({"rawPredict", "streamRawPredict"})


def stream_rule(route: Route) -> EndRule | None:
    """How a stream of either host, which has no end line, shows it holds a whole answer: a
    generation's (`streamGenerateContent`) when each candidate said its finishReason; OpenAI chat's
    (the hosts' OpenAI API, Vertex AI's partner models) at its `[DONE]`. None for another route."""
    method = Target.of(route).method
    if method in STREAM_METHODS:
        return FinishReasons()
    return DONE_RULE if method in _RAW_METHODS or speaks_openai(route) else None


# Its streams end with their body, each by its format's rule (`stream_rule`).
GEMINI_ENDS = StreamEnds(rules=stream_rule)


@dataclass(frozen=True, slots=True)
class GeminiAPI:
    """An adapter for a host that speaks the Gemini API under `default_base_url`."""

    name: str
    default_base_url: str
    hosts: re.Pattern[str]  # the hosts `/{host}/…` reaches this API at
    price_id: str | None = "google"
    key_header: KeyHeader = BEARER
    stream_ends: StreamEnds = GEMINI_ENDS
    compat_host: str = ""
    realtime: bool = False  # no realtime WebSocket sessions
    conversations: tuple[ConversationReader, ...] = (GEMINI_CONTENTS,)  # `contents`
    # A client may send its key as `?key=` instead of a header, to either host (Vertex AI's express
    # mode): https://ai.google.dev/gemini-api/docs/api-key
    key_param: str | None = "key"
    answer_headers: tuple[str, ...] = ()
    error_shape: ErrorShape | None = GOOGLE_ERRORS  # `{"error": {"code", "message", "status"}}`
    # Gemini's bodies, and those of its OpenAI compatibility: https://ai.google.dev/gemini-api/docs/openai
    token_keys: TokenKeys = GEMINI_TOKEN_KEYS | CHAT_TOKEN_KEYS | EMBEDDINGS_TOKEN_KEYS | PREDICT_TOKEN_KEYS

    def host_route(self, host: str, path: str, override: str | None) -> HostRoute | None:
        return HostRoute(path, override) if self.hosts.fullmatch(host) else None

    def compat_target(self) -> CompatTarget | None:
        # Imported here: the translator reads this module's usage, so it cannot be imported above.
        from sluicegate.compat import CompatTarget
        from sluicegate.providers.gemini.compat import GOOGLE_AI_STUDIO_TRANSLATOR

        return CompatTarget(GOOGLE_AI_STUDIO_TRANSLATOR, self.key_header.name)

    def upstream_url(self, base_url: str, route: Route) -> str:
        url = f"{base_url.rstrip('/')}/{route.path}"
        return f"{url}?{route.query}" if route.query else url

    def read_request(self, route: Route, body: bytes) -> RequestFacts:
        if speaks_openai(route):
            return OPENAI.read_request(route, body)
        target, method = Target.of(route), _method(route)
        payload, problem = read_json(body)
        cache_model = cache_creation_model(route, payload)  # billed per token-hour: unpriced
        return RequestFacts(
            model=target.model or cache_model,
            unpriced_units=cache_model is not None,
            stream=method in STREAM_METHODS,
            payload=payload,
            unreadable=problem,
            cacheable=method in CACHEABLE_METHODS,
            answer_route=_answer_route(route) if method in ANSWER_METHODS else None,
            text_scope=PREDICT_SCOPE if method == EMBED_PREDICT else None,
        )

    def read_usage(self, route: Route, body: bytes) -> Usage | None:
        if speaks_openai(route):
            return OPENAI.read_usage(route, body)
        if Target.of(route).method in FREE_METHODS:
            return Usage()
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if _method(route) == EMBED_PREDICT:
            return predict_usage(document)
        # A stream read whole (by a client that buffers it) is the same JSON array.
        documents = document if isinstance(document, list) else [document]
        return _last_usage(documents)

    def read_stream_usage(self, route: Route, events: bytes) -> Usage | None:
        if speaks_openai(route):
            return OPENAI.read_stream_usage(route, events)
        return _last_usage(iter_responses(events))

    def output_text(self, route: Route, body: bytes, streamed: bool) -> str:
        if speaks_openai(route):
            return OPENAI.output_text(route, body, streamed)
        if streamed:
            return "".join(candidate_text(response) for response in iter_responses(body))
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return ""
        documents = document if isinstance(document, list) else [document]
        return "".join(candidate_text(response) for response in documents)

    def answer_as(self, route: Route, facts: RequestFacts, stored: Answer) -> Answer | None:
        if speaks_openai(route):
            return OPENAI.answer_as(route, facts, stored)
        if Target.of(route).method in ANSWER_METHODS:
            return generate_content_answer(route, facts, stored)
        return as_stored(facts, stored)

    def text_format(self, route: Route, payload: Any) -> TextFormat | None:
        # Both hosts speak OpenAI's chat (and AI Studio its embeddings) too: https://ai.google.dev/
        # gemini-api/docs/openai, Vertex AI's `…/endpoints/openapi/chat/completions`.
        if speaks_openai(route) or unquote(route.path).rstrip("/").endswith("chat/completions"):
            return OPENAI.text_format(route, payload)
        method = _method(route)
        if method in ANSWER_METHODS or method in FREE_METHODS or has_list(payload, "contents"):
            return GEMINI_TEXTS  # countTokens's `contents` (or `generateContentRequest`) too
        if method == EMBED_PREDICT:
            return PREDICT_EMBED_TEXTS
        return GEMINI_EMBED_TEXTS if method in NO_OUTPUT_METHODS else None  # embedContent's

    def output_cap(self, route: Route, payload: Any) -> int | None:
        method = _method(route)
        if method in ANSWER_METHODS:  # `maxOutputTokens` for each candidate
            config = first(payload, _CONFIG)
            return times(first(config, _CAP), first(config, _CANDIDATES))
        if method in NO_OUTPUT_METHODS:
            return NO_OUTPUT
        # Its OpenAI compatibility (chat, embeddings); Vertex AI's partner models (`rawPredict`).
        return OPENAI.output_cap(route, payload)

    def cap_field(self, route: Route, payload: Any) -> CapField | None:
        method = _method(route)
        if method in ANSWER_METHODS:
            return nested_cap_field(payload, _CONFIG, _CAP, _CANDIDATES)
        return NO_OUTPUT_FIELD if method in NO_OUTPUT_METHODS else OPENAI.cap_field(route, payload)

    def price_model(self, model: str) -> str:
        # The native API names a model by its resource name, `models/gemini-2.5-flash`; Vertex AI's
        # OpenAI-compatible API by its publisher, `google/gemini-2.0-flash-001`.
        return model.removeprefix("models/").removeprefix("google/")

    def operation(self, route: Route) -> str:
        method = _method(route)  # `:streamGenerateContent`, `:batchEmbedContents` too
        return _METHOD_OPERATIONS.get(method) or operation_by_markers(route, OPERATIONS)

    def retry_delay(self, body: bytes) -> float | None:
        return retry_info_delay(body)

    def refusal_is_final(self, status: int, body: bytes) -> bool:
        # RESOURCE_EXHAUSTED is a quota per minute or per day: it frees, and RetryInfo says when.
        return False

    def answer_model(self, route: Route, body: bytes, streamed: bool) -> str | None:
        return None  # its requests name their model

    def running_job(self, route: Route, body: bytes) -> RunningJob | None:
        return None  # its usage is in its answers: none leaves a job for the gateway to read


def _method(route: Route) -> str:
    """The path's method, an embedding model's `:predict` named `EMBED_PREDICT` (predict.py)."""
    target = Target.of(route)
    return EMBED_PREDICT if embeds_by_predict(target.model, target.method) else target.method


def speaks_openai(route: Route) -> bool:
    """An OpenAI-compatible path of either host (`…/openai/chat/completions`, `…/endpoints/openapi/…`):
    a segment `openai/`, or `endpoints/{id}/`, with no `:method` after it. Read segment by segment,
    in one pass: a regular expression for it backtracked (an 8 KB path of `openai/`s took 20 ms)."""
    _, colon, tail = unquote(route.path).rpartition(":")
    segments = tail.split("/")[1 if colon else 0 :]  # a piece right after `:` starts no segment
    for index, segment in enumerate(segments[:-1]):
        if segment == "openai" or (
            segment == "endpoints" and segments[index + 1] and index + 2 < len(segments)
        ):
            return True
    return False


def _answer_route(route: Route) -> Route | None:
    """The route a generation's answer is filed under: the call unstreamed, without `alt`, which
    only frames a stream (`sse`, else a JSON array); None when that is `route` itself."""
    query = "&".join(pair for pair in route.query.split("&") if pair and pair.partition("=")[0] != "alt")
    filed = Route(route.account, _unstreamed(route.path), query)
    return None if filed == route else filed


def _unstreamed(path: str) -> str:
    """`models/x:streamGenerateContent` -> `models/x:generateContent` (the path may be percent-encoded)."""
    for method in STREAM_METHODS:
        for colon in (":", "%3A", "%3a"):
            if path.endswith(colon + method):
                return path[: -len(method)] + "generateContent"
    return path


def usage(metadata: Any) -> Usage | None:
    """`usageMetadata` as a Usage, or None when it holds no counts (mid-stream Vertex chunks).

    https://ai.google.dev/api/generate-content#UsageMetadata — `promptTokenCount` already includes
    `cachedContentTokenCount`; thoughts and tool-use prompts are reported beside the candidates and
    prompt, so they are added in (as genai-prices' Google extractor does). Each count's split by
    modality (`promptTokensDetails`, `cacheTokensDetails`, ...: lists of {modality, tokenCount})
    gives its audio tokens, which are priced apart (gemini-2.5-flash: $1.00 / M against $0.30).
    """
    if not isinstance(metadata, dict) or not isinstance(metadata.get("promptTokenCount"), int):
        return None
    thoughts = _int(metadata.get("thoughtsTokenCount"))
    return Usage(
        input_tokens=metadata["promptTokenCount"] + _int(metadata.get("toolUsePromptTokenCount")),
        output_tokens=_int(metadata.get("candidatesTokenCount")) + thoughts,
        cached_tokens=_int(metadata.get("cachedContentTokenCount")),
        reasoning_tokens=thoughts,
        input_audio_tokens=_audio(metadata, "promptTokensDetails")
        + _audio(metadata, "toolUsePromptTokensDetails"),
        cached_audio_tokens=_audio(metadata, "cacheTokensDetails"),
        output_audio_tokens=_audio(metadata, "candidatesTokensDetails"),
    )


def _audio(metadata: dict[str, Any], key: str) -> int:
    """The AUDIO tokens of one of `usageMetadata`'s ModalityTokenCount lists."""
    details = metadata.get(key)
    if not isinstance(details, list):
        return 0
    return sum(
        _int(detail.get("tokenCount"))
        for detail in details
        if isinstance(detail, dict) and detail.get("modality") == "AUDIO"
    )


def candidate_text(response: Any) -> str:
    """The generated text of one response: text parts, and function calls as name + JSON args."""
    if not isinstance(response, dict):
        return ""
    pieces: list[str] = []
    for candidate in response.get("candidates") or ():
        content = candidate.get("content") if isinstance(candidate, dict) else None
        for part in (content or {}).get("parts") or ():
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                pieces.append(part["text"])
            elif isinstance(call := part.get("functionCall"), dict):
                pieces.append(f"{call.get('name', '')}{json.dumps(call.get('args') or {})}")
    return "".join(pieces)


def _last_usage(responses: Any) -> Usage | None:
    # Every chunk of a stream may carry usageMetadata; the last one with counts is final.
    found = None
    for response in responses:
        if isinstance(response, dict):
            found = usage(response.get("usageMetadata")) or found
    return found


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
