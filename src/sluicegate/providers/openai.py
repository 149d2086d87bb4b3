"""OpenAI and the many servers that speak its API.

Wire format: https://platform.openai.com/docs/api-reference — chat completions put usage in the body
or, with `stream_options.include_usage`, in a final chunk whose `choices` is empty; the Responses API
reports it in the event that ends the stream (`response.completed`, `.incomplete` or `.failed`).
"""

from __future__ import annotations

import functools
import re
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
from sluicegate.providers.openai_media import billed_by_request, form_facts, is_form
from sluicegate.providers.openai_output import document_text, stream_text
from sluicegate.providers.openai_realtime import minted_model
from sluicegate.providers.openai_responses_answer import responses_answer
from sluicegate.providers.openai_stored import (
    NOT_DONE,
    of_batches,
    read_again,
    reads_stored_answer,
    stored_model,
)
from sluicegate.providers.openai_stream import chat_answer, completion_answer
from sluicegate.providers.openai_texts import (
    CHAT_TEXTS,
    CHAT_TOKEN_KEYS,
    COMPLETIONS_TOKEN_KEYS,
    EMBEDDINGS_TOKEN_KEYS,
    RESPONSES_TEXTS,
    RESPONSES_TOKEN_KEYS,
)
from sluicegate.providers.openai_usage import RESPONSE_ENDS, USAGE_WORDS, usage_object
from sluicegate.providers.output_caps import EMBEDDING_ENDS, NO_OUTPUT, OPENAI_CAPS, capped, openai_cap_field
from sluicegate.providers.prompt_texts import openai_prompt_texts
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
# Accepting a SIP call starts a realtime session on it with the request's key
# (https://platform.openai.com/docs/api-reference/realtime-calls/accept-call).
_CALL_ACCEPT = re.compile(r"/realtime/calls/[^/]+/accept$")
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
        unasked). A chat client's own request keeps its cap as it came; on the compat endpoint the
        fields in `chat_refuses` are left out of it when it is sent (pipeline/unsent_fields.py)."""
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
        if is_form(route.path):  # multipart: only its small fields are read (the model, n, size)
            return form_facts(route.path, body)
        facts = json_facts(body, cacheable=is_cacheable(route.path))
        if (served_at := self._unrelayed(route.path)) is not None:
            # GA's and a transcription session's model is nested: the allow-list reads it there.
            model = facts.model or minted_model(facts.payload)
            return replace(facts, model=model, relayed_instead=served_at + "realtime")
        billed = billed_by_request(route.path, facts.payload)
        return facts if billed is None else replace(facts, billed=billed)

    def _unrelayed(self, path: str) -> str | None:
        """The path below which a realtime session this request serves directly (or keys one for)
        runs, or None: one of `unrelayed_sessions`, or a SIP call's accept, which starts a session
        on the call (`realtime/calls/{call_id}/accept`)."""
        path = "/" + path.rstrip("/")
        if end := next(filter(path.endswith, self.unrelayed_sessions), None):
            return path[1 : len(path) - len(end) + 1]
        if "/realtime/calls" in self.unrelayed_sessions and (call := _CALL_ACCEPT.search(path)):
            return path[1 : call.start() + 1]
        return None

    def read_usage(self, route: Route, body: bytes) -> Usage | None:
        if of_batches(route.path):
            return None  # a batch's usage is its requests', billed by the provider as they run
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
        for event in iter_json(events, backwards=True, mentioning=USAGE_WORDS):
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
            return "".join(stream_text(event) for event in iter_json(body))
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return ""
        return document_text(document) if isinstance(document, dict) else ""

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
        return CHAT_TEXTS if has_list(payload, "messages") else openai_prompt_texts(path)

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
        """The model of a stored answer read again by id (a background response's poll, which may
        count its usage): the read names none. Elsewhere the request's model is the one that ran
        (Azure's deployments: azure_openai.py)."""
        return stored_model(body) if not streamed and reads_stored_answer(route.path) else None

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
