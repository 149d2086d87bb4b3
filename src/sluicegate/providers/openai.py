"""OpenAI and the many servers that speak its API.

Wire format: https://platform.openai.com/docs/api-reference — chat completions put usage in the body
or, with `stream_options.include_usage`, in a final chunk whose `choices` is empty; the Responses API
reports it in the event that ends the stream (`response.completed`, `.incomplete` or `.failed`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote, urlsplit

import orjson

from sluicegate.providers.anthropic.texts import MESSAGES_TEXTS, MESSAGES_TOKEN_KEYS
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
    json_facts,
    operation_by_markers,
)
from sluicegate.providers.conversation import ConversationReader
from sluicegate.providers.error_shapes import ErrorShape
from sluicegate.providers.openai_conversation import OPENAI_CONVERSATIONS
from sluicegate.providers.openai_embeddings import embeddings_answer
from sluicegate.providers.openai_media import billed_by_request, duration_usage, form_model, is_form
from sluicegate.providers.openai_responses_answer import responses_answer
from sluicegate.providers.openai_stored import NOT_DONE, read_again, reads_stored_answer
from sluicegate.providers.openai_stream import chat_answer, completion_answer
from sluicegate.providers.openai_texts import (
    CHAT_TEXTS,
    CHAT_TOKEN_KEYS,
    COMPLETIONS_TOKEN_KEYS,
    EMBEDDINGS_TOKEN_KEYS,
    RESPONSES_TEXTS,
    RESPONSES_TOKEN_KEYS,
)
from sluicegate.providers.output_caps import EMBEDDING_ENDS, NO_OUTPUT, OPENAI_CAPS, capped, openai_cap_field
from sluicegate.providers.reported_cost import reported_cost
from sluicegate.providers.sse import iter_json
from sluicegate.providers.stream_ends import OPENAI_ENDS, StreamEnds
from sluicegate.providers.texts import TextFormat, TokenKeys, has_list
from sluicegate.types import Usage

if TYPE_CHECKING:
    from sluicegate.compat import CompatTarget
    from sluicegate.providers.output_caps import CapField

# What the token estimator counts of the APIs it speaks: Anthropic's Messages API too, which servers
# of OpenAI's serve (see `text_format`).
OPENAI_TOKEN_KEYS = (
    CHAT_TOKEN_KEYS
    | RESPONSES_TOKEN_KEYS
    | COMPLETIONS_TOKEN_KEYS
    | EMBEDDINGS_TOKEN_KEYS
    | MESSAGES_TOKEN_KEYS
)
# Its GenAI operations by path marker (`operation_by_markers`): `embed` names `embeddings` and any
# other embedding path (Ollama's `api/embed`, a model named in the path); `messages`, the Messages API.
OPENAI_OPERATIONS: OperationMarkers = (
    ("embed", "embeddings"),
    ("chat/completions", "chat"),
    ("messages", "chat"),
    ("responses", "chat"),
    ("completions", "text_completion"),
)
# The cap of the chat request the gateway writes (ingress/): OpenAI's name, as OpenAI's reasoning
# models refuse `max_tokens` (https://platform.openai.com/docs/api-reference/chat/create).
WRITTEN_CAP: Final = "max_completion_tokens"
# Generations and embeddings: answers that can be reused. Files, batches, fine-tunes are side effects.
CACHEABLE_PATHS = frozenset({"chat/completions", "completions", "embeddings", "responses"})


@functools.lru_cache(maxsize=1024)  # a gateway sees few distinct paths; this runs per request
def is_cacheable(path: str) -> bool:
    """`chat/completions`, also under a prefix (`v1/chat/completions`, `{resource}/{deployment}/…`)."""
    return any(path == known or path.endswith("/" + known) for known in CACHEABLE_PATHS)


@dataclass(frozen=True, slots=True)
class OpenAICompatible:
    """An adapter for any OpenAI-compatible API; providers differ only in name and base URL."""

    name: str
    default_base_url: str
    # Where OpenAI's endpoints live below the base URL, for the compat endpoint's requests: the
    # base is what Cloudflare puts before a provider path, which for some keeps the version.
    api_prefix: str = ""
    price_id: str | None = None
    # The provider's public host: `/compat/openai/{host}/…` reaches it as this provider, and with
    # `host_path` so does `/{host}/…` (the base URL's path, `v1/`, then comes after the host).
    compat_host: str = ""
    host_path: bool = False
    realtime: bool = False  # relays realtime WebSocket sessions (`openai_realtime.py`)
    conversations: tuple[ConversationReader, ...] = OPENAI_CONVERSATIONS  # what the semantic cache reads
    key_param: str | None = None
    answer_headers: tuple[str, ...] = ()
    error_shape: ErrorShape | None = None  # the gateway's errors in OpenAI's shape
    key_header: KeyHeader = BEARER
    stream_ends: StreamEnds = OPENAI_ENDS
    token_keys: TokenKeys = OPENAI_TOKEN_KEYS
    # Of the chat request the gateway writes for a client of another API (`chat_request`): the field
    # the server caps the answer with, and the fields it refuses. The default is what vLLM,
    # llama.cpp, Ollama, DeepSeek, OpenRouter and Perplexity take: `max_tokens`, and everything.
    chat_cap: str = "max_tokens"
    chat_refuses: frozenset[str] = frozenset()
    asks_stream_usage: bool = False  # takes `stream_options` (forward.py asks it for a chat stream's usage)
    reports_cost: bool = False  # states its charge in `usage.cost` (reported_cost.py), which outcome/ takes
    # Path ends of realtime sessions served to clients directly, or keys for one (`relayed_instead`)
    unrelayed_sessions: tuple[str, ...] = ()

    def host_route(self, host: str, path: str, override: str | None) -> HostRoute | None:
        if not self.host_path or host != self.compat_host:
            return None
        base_path = urlsplit(self.default_base_url).path.strip("/")
        return HostRoute(path.removeprefix(base_path + "/"), f"{override or 'https://' + host}/{base_path}")

    def compat_target(self) -> CompatTarget | None:
        return None  # the unified endpoint sends OpenAI's API as it is

    def chat_request(self, chat: Mapping[str, Any]) -> dict[str, Any]:
        """A chat request the gateway wrote (for a Messages or Responses client: ingress/) as this
        server takes it: capped in `chat_cap`, without the fields it refuses, which only tag or
        tune (`user`) or which it does without (`stream_options`: it reports a stream's usage
        unasked). A chat client's own request is never changed: these are the gateway's choices."""
        taken = {key: value for key, value in chat.items() if key not in self.chat_refuses}
        if self.chat_cap != WRITTEN_CAP and WRITTEN_CAP in taken:
            taken[self.chat_cap] = taken.pop(WRITTEN_CAP)
        return taken

    def compat_route(self, path: str, model: str) -> tuple[str, str]:
        """The route path and the body's `model` for the unified endpoint's `{provider}/{model}`
        at `path` (`chat/completions`): below the API prefix, the model as named."""
        return self.api_prefix + path, model

    def upstream_url(self, base_url: str, route: Route) -> str:
        url = f"{base_url.rstrip('/')}/{route.path}"
        return f"{url}?{route.query}" if route.query else url

    def read_request(self, route: Route, body: bytes) -> RequestFacts:
        if is_form(route.path):  # multipart: only the model is read, from its form field
            return RequestFacts(model=form_model(body))
        facts = json_facts(body, cacheable=is_cacheable(route.path))
        if end := next(filter(f"/{route.path.rstrip('/')}".endswith, self.unrelayed_sessions), None):
            return replace(facts, relayed_instead=route.path.rstrip("/").removesuffix(end[1:]) + "realtime")
        billed = billed_by_request(route.path, facts.payload)
        return facts if billed is None else replace(facts, billed=billed)

    def read_usage(self, route: Route, body: bytes) -> Usage | None:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if not isinstance(document, dict):
            return None
        usage = usage_object(document.get("usage"))
        if usage is None:
            # A background response not done yet has used nothing it reports: not estimated
            # (its first read that finds it done counts what it used).
            return Usage() if document.get("status") in NOT_DONE else None
        if reads_stored_answer(route.path):
            return read_again(document, usage)
        return usage

    def read_stream_usage(self, route: Route, events: bytes) -> Usage | None:
        # The usage closes the stream, so read it backwards and stop at the last event that reports
        # it; only events that mention it are parsed (a forward pass parsed all ~25 of a chat stream).
        for event in iter_json(events, backwards=True, mentioning=_USAGE_WORDS):
            if not isinstance(event, dict):
                continue
            if event.get("type") in RESPONSE_ENDS:  # Responses API
                response = event.get("response")
                if isinstance(response, dict):
                    return usage_object(response.get("usage"))
            elif event.get("usage"):  # chat completions: the include_usage chunk
                if usage := usage_object(event["usage"]):
                    return usage
            elif isinstance(groq := event.get("x_groq"), dict) and (usage := usage_object(groq.get("usage"))):
                return usage  # https://console.groq.com/docs/api-reference
        return None

    def output_text(self, route: Route, body: bytes, streamed: bool) -> str:
        if streamed:
            return "".join(_stream_text(event) for event in iter_json(body))
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return ""
        return _document_text(document) if isinstance(document, dict) else ""

    def answer_as(self, route: Route, facts: RequestFacts, stored: Answer) -> Answer | None:
        path = route.path.rstrip("/")
        if path == "chat/completions" or path.endswith("/chat/completions"):
            return chat_answer(facts, stored)
        if path == "completions" or path.endswith("/completions"):
            return completion_answer(facts, stored)
        if path == "responses" or path.endswith("/responses"):
            return responses_answer(facts, stored)
        if path == "embeddings" or path.endswith("/embeddings"):
            return embeddings_answer(facts, stored)
        return as_stored(facts, stored)

    def text_format(self, route: Route, payload: Any) -> TextFormat | None:
        path = unquote(route.path).rstrip("/")
        if path.endswith("chat/completions"):
            return CHAT_TEXTS
        if path.endswith("responses"):
            return RESPONSES_TEXTS
        if path.endswith("messages"):
            # Anthropic's Messages API, which servers of OpenAI's serve too (DeepSeek's
            # `anthropic/v1/messages`: https://api-docs.deepseek.com/guides/anthropic_api).
            return MESSAGES_TEXTS
        return CHAT_TEXTS if has_list(payload, "messages") else None

    def output_cap(self, route: Route, payload: Any) -> int | None:
        if route.path.rstrip("/").endswith(EMBEDDING_ENDS):
            return NO_OUTPUT
        return capped(payload, OPENAI_CAPS)  # times `n` choices, each up to the cap

    def cap_field(self, route: Route, payload: Any) -> CapField | None:
        return openai_cap_field(route.path, payload)

    def price_model(self, model: str) -> str:
        return model  # genai-prices knows OpenAI's models (and its resellers') by the name sent

    def operation(self, route: Route) -> str:
        return operation_by_markers(route, OPENAI_OPERATIONS)

    def retry_delay(self, body: bytes) -> float | None:
        return None  # a refusal's wait comes in its headers

    def refusal_is_final(self, status: int, body: bytes) -> bool:
        return status == 429 and out_of_quota(body)

    def answer_model(self, route: Route, body: bytes, streamed: bool) -> str | None:
        return None  # the request's model is the one that ran (Azure's deployments: azure_openai.py)

    def running_job(self, route: Route, body: bytes) -> RunningJob | None:
        return None  # a background response's usage is counted by its client's read (openai_stored.py)


def out_of_quota(body: bytes) -> bool:
    """Whether an OpenAI error body is `insufficient_quota` (as its `code`, and its `type`): the
    key's account is out of credit or over its spending limit, which no retry mends
    (https://platform.openai.com/docs/guides/error-codes)."""
    if b"insufficient_quota" not in body:  # most 429s are rate limits: no parse for them
        return False
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    error = document.get("error") if isinstance(document, dict) else None
    return isinstance(error, dict) and "insufficient_quota" in (error.get("code"), error.get("type"))


# The events that end a Responses API stream, each carrying the response and its usage: an answer
# cut short (`max_output_tokens`) or failed is billed too.
# https://platform.openai.com/docs/api-reference/responses-streaming/response/incomplete
RESPONSE_ENDS = frozenset({"response.completed", "response.incomplete", "response.failed"})
# What an event that reports usage contains, as bytes (a JSON key or the Responses event type).
_USAGE_WORDS = (b'"usage"', b"response.completed", b"response.incomplete", b"response.failed")


def usage_object(raw: Any) -> Usage | None:
    """Chat (`prompt_tokens`, `completion_tokens`), Responses and Realtime (`input_tokens`, ...)
    usage objects, audio tokens included (chat's audio models, the Realtime API), and the charge a
    provider states beside them."""
    if not isinstance(raw, dict):
        return None
    if raw.get("type") == "duration":  # a transcription billed by the minute
        return duration_usage(raw)
    input_tokens = raw.get("prompt_tokens", raw.get("input_tokens"))
    output_tokens = raw.get("completion_tokens", raw.get("output_tokens", 0))
    if not isinstance(input_tokens, int):
        return None
    # Chat: `prompt_tokens_details`; Responses: `input_tokens_details`; Realtime: `input_token_details`
    # (https://platform.openai.com/docs/api-reference/realtime-server-events/response/done).
    input_details = _dict(
        raw.get("prompt_tokens_details") or raw.get("input_tokens_details") or raw.get("input_token_details")
    )
    output_details = _dict(
        raw.get("completion_tokens_details")
        or raw.get("output_tokens_details")
        or raw.get("output_token_details")
    )
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens if isinstance(output_tokens, int) else 0,
        # DeepSeek: https://api-docs.deepseek.com/api/create-chat-completion (prompt_cache_hit_tokens)
        cached_tokens=_int(input_details.get("cached_tokens")) or _int(raw.get("prompt_cache_hit_tokens")),
        reasoning_tokens=_int(output_details.get("reasoning_tokens")),
        # Part of the prompt, as reads are: OpenRouter's resold Anthropic and Gemini models bill them
        # apart (https://openrouter.ai/docs/use-cases/usage-accounting); OpenAI's SDK has the field.
        cache_write_tokens=_int(input_details.get("cache_write_tokens")),
        # The gateway's own field in the answers it translates (compat/base.py `openai_usage`).
        cache_write_1h_tokens=_int(input_details.get("cache_write_1h_tokens")),
        input_audio_tokens=_int(input_details.get("audio_tokens")),
        cached_audio_tokens=_int(_dict(input_details.get("cached_tokens_details")).get("audio_tokens")),
        output_audio_tokens=_int(output_details.get("audio_tokens")),
        web_searches=_int(_dict(raw.get("server_tool_use")).get("web_search_requests")),  # OpenRouter's
        cost_usd=reported_cost(raw),  # OpenRouter's and Perplexity's `cost`: the charge they state
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _dict(value: Any) -> dict[str, Any]:
    """`value` if it is an object, else an empty one: upstream bodies are not trusted to be well formed."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# The Responses API's stream events whose `delta` is part of the answer: text, and a function call's
# arguments (https://platform.openai.com/docs/api-reference/responses-streaming).
_ANSWER_DELTAS = frozenset({"response.output_text.delta", "response.function_call_arguments.delta"})


def _stream_text(event: Any) -> str:
    """What one streamed event adds to the answer: text, and the names and arguments of the tools it
    calls (a forced tool call has no text at all, yet its arguments are billed as output)."""
    if not isinstance(event, dict):
        return ""
    kind = event.get("type")
    if kind in _ANSWER_DELTAS:
        return _string(event.get("delta"))
    if kind == "response.output_item.added":  # a function call's name comes with its item
        return _call_text(_dict(event.get("item")))
    parts = []
    for choice in map(_dict, _list(event.get("choices"))):
        delta = _dict(choice.get("delta"))
        parts.append(_string(delta.get("content") or choice.get("text")))
        parts.extend(_tool_calls_text(delta))  # the first delta of a call names it, the rest add arguments
    return "".join(parts)


def _document_text(document: dict[str, Any]) -> str:
    """A whole answer's text, with the names and arguments of the tools it calls."""
    parts: list[str] = []
    for choice in map(_dict, _list(document.get("choices"))):
        message = _dict(choice.get("message"))
        parts.append(_string(message.get("content") or choice.get("text")))
        parts.extend(_tool_calls_text(message))
    for item in map(_dict, _list(document.get("output"))):  # Responses API
        parts.append(_call_text(item))
        parts.extend(_string(content.get("text")) for content in map(_dict, _list(item.get("content"))))
    return "".join(parts)


def _tool_calls_text(message: dict[str, Any]) -> list[str]:
    """A chat message's (or delta's) tool calls, and the legacy `function_call`: names and arguments."""
    functions = [_dict(call.get("function")) for call in map(_dict, _list(message.get("tool_calls")))]
    functions.append(_dict(message.get("function_call")))
    return [_string(function.get(key)) for function in functions for key in ("name", "arguments")]


def _call_text(item: dict[str, Any]) -> str:
    """A Responses API function call item's name and arguments ("" for any other item)."""
    if item.get("type") != "function_call":
        return ""
    return _string(item.get("name")) + _string(item.get("arguments"))


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""


OPENAI = OpenAICompatible(
    name="openai",
    default_base_url="https://api.openai.com/v1",
    price_id="openai",
    compat_host="api.openai.com",
    host_path=True,
    realtime=True,
    chat_cap=WRITTEN_CAP,  # `max_tokens` is deprecated, and refused by the o-series and gpt-5 models
    asks_stream_usage=True,
    # https://platform.openai.com/docs/api-reference/realtime-sessions (GA and beta), and WebRTC calls
    unrelayed_sessions=(
        "/realtime/client_secrets",
        "/realtime/sessions",
        "/realtime/transcription_sessions",
        "/realtime/calls",
    ),
)
