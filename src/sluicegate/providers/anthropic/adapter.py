"""Anthropic's Messages API.

Wire format: https://docs.anthropic.com/en/api/messages — usage sits in the answer's `usage`; a
stream reports it in `message_start` (input side, first output count) and again, cumulatively, in
`message_delta` (https://docs.anthropic.com/en/docs/build-with-claude/streaming). Cache reads and
writes are counted apart from `input_tokens` there, so they are added back in here: our `Usage`
counts every input token in `input_tokens`. Writes are split by TTL in `cache_creation`
(https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching#1-hour-cache-duration), which
only `message_start` carries in a stream; a 1-hour write is billed at twice the input price, a
5-minute one at 1.25 times. The server tools' uses are in `server_tool_use` (cumulative in a
stream's `message_delta`): web searches are billed apart, $10 per 1,000
(https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool#usage-and-pricing);
web fetches cost only the tokens they add, so `web_fetch_requests` is not read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import orjson

from sluicegate.providers.answer_links import AnswerLinks
from sluicegate.providers.anthropic.errors import ANTHROPIC_ERRORS
from sluicegate.providers.anthropic.stream import messages_answer
from sluicegate.providers.anthropic.texts import MESSAGE_BATCH_TEXTS, MESSAGES_TEXTS, MESSAGES_TOKEN_KEYS
from sluicegate.providers.base import (
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
from sluicegate.providers.openai_texts import CHAT_TEXTS, CHAT_TOKEN_KEYS, COMPLETIONS_TOKEN_KEYS
from sluicegate.providers.output_caps import NO_OUTPUT, NO_OUTPUT_FIELD, CapField, cap_field, capped
from sluicegate.providers.prompt_texts import COMPLETE_TEXTS
from sluicegate.providers.sse import iter_json
from sluicegate.providers.stream_ends import StreamEnds, path_ends
from sluicegate.providers.texts import TextFormat, TokenKeys, has_list
from sluicegate.types import Usage

if TYPE_CHECKING:
    from sluicegate.compat import CompatTarget

KEY_HEADER = KeyHeader("x-api-key", "{key}")  # https://docs.anthropic.com/en/api/overview
# https://docs.anthropic.com/en/docs/build-with-claude/streaming — a stream cut short by an `error`
# event has no end line. A stream without one ended early on `v1/messages` only (`marked`).
STREAM_ENDS = StreamEnds(complete=(b"event: message_stop",), marked=path_ends("messages"))
# Messages (`v1/messages`, its `count_tokens` and `batches`) and the OpenAI SDK compatibility's chat.
OPERATIONS: OperationMarkers = (("chat/completions", "chat"), ("messages", "chat"))
# The answer's cap: the Messages API's `max_tokens` (required), its OpenAI SDK compatibility's
# `max_completion_tokens` (https://docs.anthropic.com/en/api/openai-sdk), the legacy Text
# Completions' `max_tokens_to_sample` (https://docs.anthropic.com/en/api/complete).
OUTPUT_CAPS = ("max_tokens", "max_completion_tokens", "max_tokens_to_sample")
# What a web search tool without `max_uses` reserves under a cost rule, as a rule's `reserve` does
# for an answer without a cap: Anthropic sets no limit of its own
# (https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/web-search-tool), and the fee is
# settled on the searches the answer reports, so such a request may use more than was reserved.
SEARCHES_UNCAPPED = 10
# A Message Batch (created, retrieved, listed, canceled) names where its results are read, at
# Anthropic's host: https://docs.anthropic.com/en/api/retrieving-message-batches
BATCH_LINKS = AnswerLinks(("results_url",))
# Anthropic's usage fields that `Usage` is built from; a stream's later values replace earlier ones.
_USAGE_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")


@dataclass(frozen=True, slots=True)
class Anthropic:
    """The adapter for api.anthropic.com; the SDK's base URL is the gateway's `.../anthropic`."""

    name: str = "anthropic"
    default_base_url: str = "https://api.anthropic.com"
    price_id: str | None = "anthropic"
    key_header: KeyHeader = KEY_HEADER
    stream_ends: StreamEnds = STREAM_ENDS
    compat_host: str = ""
    realtime: bool = False  # no realtime WebSocket sessions
    conversations: tuple[ConversationReader, ...] = OPENAI_CONVERSATIONS  # Messages; legacy Text Completions
    key_param: str | None = None
    # Betas and the API version change the answer (https://docs.anthropic.com/en/api/versioning).
    answer_headers: tuple[str, ...] = ("anthropic-beta", "anthropic-version")
    error_shape: ErrorShape | None = ANTHROPIC_ERRORS  # `{"type": "error", "error": {"type", …}}`
    host: str = "api.anthropic.com"
    # Messages; the OpenAI SDK compatibility's chat; the legacy Text Completions' `prompt`.
    token_keys: TokenKeys = MESSAGES_TOKEN_KEYS | CHAT_TOKEN_KEYS | COMPLETIONS_TOKEN_KEYS

    def host_route(self, host: str, path: str, override: str | None) -> HostRoute | None:
        return HostRoute(path, override) if host == self.host else None

    def compat_target(self) -> CompatTarget | None:
        # Imported here: the translator reads this module's usage, so it cannot be imported above.
        from sluicegate.compat import CompatTarget
        from sluicegate.providers.anthropic.compat import ANTHROPIC_TRANSLATOR

        # https://docs.anthropic.com/en/api/messages — the version header is required.
        return CompatTarget(ANTHROPIC_TRANSLATOR, self.key_header.name, {"anthropic-version": "2023-06-01"})

    def upstream_url(self, base_url: str, route: Route) -> str:
        # The client sends the version prefix itself (`v1/messages`), as Cloudflare's examples do.
        url = f"{base_url.rstrip('/')}/{route.path}"
        return f"{url}?{route.query}" if route.query else url

    def read_request(self, route: Route, body: bytes) -> RequestFacts:
        facts = json_facts(body, cacheable=route.path.rstrip("/").endswith("v1/messages"))
        if "messages/batches" in route.path and not route.path.rstrip("/").endswith("/results"):
            return replace(facts, links=BATCH_LINKS)  # a batch: its `results_url` is the gateway's
        searches = searches_allowed(facts.payload)
        return replace(facts, searches=searches) if searches else facts

    def read_usage(self, route: Route, body: bytes) -> Usage | None:
        if _counts_tokens(route):
            # Token counting is free: https://docs.anthropic.com/en/docs/build-with-claude/token-counting
            return Usage()
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        return usage_from(document.get("usage")) if isinstance(document, dict) else None

    def read_stream_usage(self, route: Route, events: bytes) -> Usage | None:
        fields: dict[str, Any] = {}
        # Only message_start and message_delta carry usage: the content deltas are not worth parsing.
        for event in iter_json(events, mentioning=(b'"usage"',)):
            if not isinstance(event, dict):
                continue
            if event.get("type") == "message_start":
                message = event.get("message")
                raw = message.get("usage") if isinstance(message, dict) else None
            elif event.get("type") == "message_delta":
                raw = event.get("usage")  # cumulative: its figures replace those of message_start
            else:
                continue
            if isinstance(raw, dict):
                fields.update((key, value) for key, value in raw.items() if value is not None)
        return usage_from(fields)

    def output_text(self, route: Route, body: bytes, streamed: bool) -> str:
        if streamed:
            return "".join(_delta_text(event) for event in iter_json(body))
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            return ""
        return _document_text(document) if isinstance(document, dict) else ""

    def answer_as(self, route: Route, facts: RequestFacts, stored: Answer) -> Answer | None:
        if route.path.rstrip("/").endswith("v1/messages"):
            return messages_answer(facts, stored)
        return as_stored(facts, stored)

    def text_format(self, route: Route, payload: Any) -> TextFormat | None:
        path = unquote(route.path).rstrip("/")
        if path.endswith("chat/completions"):  # https://docs.anthropic.com/en/api/openai-sdk
            return CHAT_TEXTS
        if path.endswith("messages") or (_counts_tokens(route) and has_list(payload, "messages")):
            return MESSAGES_TEXTS  # count_tokens takes a Messages body (its `system` too)
        if path.endswith("messages/batches"):
            return MESSAGE_BATCH_TEXTS  # each request's `params`, a Messages body
        return COMPLETE_TEXTS if path.endswith("v1/complete") else None  # legacy Text Completions

    def output_cap(self, route: Route, payload: Any) -> int | None:
        return NO_OUTPUT if _counts_tokens(route) else capped(payload, OUTPUT_CAPS)

    def cap_field(self, route: Route, payload: Any) -> CapField | None:
        if _counts_tokens(route):
            return NO_OUTPUT_FIELD
        found = cap_field(payload, OUTPUT_CAPS)
        if found is None:
            return None
        # Extended thinking's budget is part of `max_tokens` (and below it): a client lowering the
        # cap must leave it room, and a compat translation added it (compat_thinking.py).
        thinking = payload.get("thinking")
        budget = thinking.get("budget_tokens") if isinstance(thinking, dict) else None
        return found._replace(thinking=budget) if type(budget) is int and budget > 0 else found

    def price_model(self, model: str) -> str:
        return model

    def operation(self, route: Route) -> str:
        return operation_by_markers(route, OPERATIONS)

    def retry_delay(self, body: bytes) -> float | None:
        return None  # a refusal's wait comes in its headers

    def refusal_is_final(self, status: int, body: bytes) -> bool:
        return False  # its 429s and 5xx may succeed when sent again

    def answer_model(self, route: Route, body: bytes, streamed: bool) -> str | None:
        return None  # its requests name their model

    def running_job(self, route: Route, body: bytes) -> RunningJob | None:
        return None  # its usage is in its answers: none leaves a job for the gateway to read


def _counts_tokens(route: Route) -> bool:
    return route.path.rstrip("/").endswith("messages/count_tokens")


def usage_from(raw: Any) -> Usage | None:
    """Our `Usage` from an Anthropic `usage` object (or a stream's merged figures); None if it is none."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("input_tokens"), int):
        return None
    uncached, written, read, output = (_int(raw.get(key)) for key in _USAGE_FIELDS)
    details = raw.get("output_tokens_details")
    thinking = details.get("thinking_tokens") if isinstance(details, Mapping) else None
    by_ttl = raw.get("cache_creation")
    written_5m, written_1h = (
        (_int(by_ttl.get("ephemeral_5m_input_tokens")), _int(by_ttl.get("ephemeral_1h_input_tokens")))
        if isinstance(by_ttl, Mapping)
        else (0, 0)
    )
    # The total and its split should agree; if they do not, trust the larger (never bill less).
    written = max(written, written_5m + written_1h)
    tools = raw.get("server_tool_use")
    searches = _int(tools.get("web_search_requests")) if isinstance(tools, Mapping) else 0
    return Usage(
        input_tokens=uncached + written + read,
        output_tokens=output,
        cached_tokens=read,
        reasoning_tokens=_int(thinking),  # already inside output_tokens, as `Usage` wants it
        cache_write_tokens=written,
        cache_write_1h_tokens=written_1h,
        web_searches=searches,
    )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _delta_text(event: Any) -> str:
    if not isinstance(event, dict):
        return ""
    if event.get("type") == "content_block_delta":
        delta = event.get("delta")
        text = delta.get("text") if isinstance(delta, dict) else None
        return text if isinstance(text, str) else ""
    completion = event.get("completion")  # legacy Text Completions stream, /v1/complete
    return completion if isinstance(completion, str) else ""


def _document_text(document: dict[str, Any]) -> str:
    parts: list[str] = []
    for block in document.get("content") or ():
        text = block.get("text") if isinstance(block, dict) else None
        if isinstance(text, str):
            parts.append(text)
    completion = document.get("completion")  # legacy Text Completions, /v1/complete
    if isinstance(completion, str):
        parts.append(completion)
    return "".join(parts)


ANTHROPIC = Anthropic()


def searches_allowed(payload: Any) -> int:
    """The web searches a Messages request's `web_search_*` tools may run (`max_uses`, each)."""
    tools = payload.get("tools") if isinstance(payload, dict) else None
    if not isinstance(tools, list):
        return 0
    allowed = 0
    for tool in tools:
        if isinstance(tool, dict) and str(tool.get("type", "")).startswith("web_search_"):
            uses = tool.get("max_uses")
            allowed += (
                uses
                if isinstance(uses, int) and not isinstance(uses, bool) and uses > 0
                else SEARCHES_UNCAPPED
            )
    return allowed
