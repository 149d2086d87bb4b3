"""Cohere's native API: `/v2/chat` (and the older `/v1/chat`, `/v1/generate`, embed, rerank).

Cloudflare AI Gateway maps `…/cohere/{path}` to `https://api.cohere.ai/{path}`, e.g.
`…/cohere/v2/chat`. Usage is reported as `billed_units` (what Cohere charges for) and `tokens`
(what the model saw, prompt template included): in `usage` on a v2 chat answer and in the
`message-end` event of a v2 stream, in `meta` on v1 answers and in the `stream-end` event of a v1
stream. v2 streams are SSE; v1 streams are one JSON object per line.

Its Compatibility API (`compatibility/v1/chat/completions`, `compatibility/v1/embeddings`:
https://docs.cohere.com/docs/compatibility-api, for the OpenAI SDK) answers in OpenAI's shapes, and
is read by the OpenAI adapter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
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
    json_facts,
    operation_by_markers,
)
from sluicegate.providers.cohere_texts import COHERE_TEXTS
from sluicegate.providers.conversation import ConversationReader
from sluicegate.providers.error_shapes import ErrorShape
from sluicegate.providers.openai import OPENAI
from sluicegate.providers.openai_conversation import CHAT_MESSAGES
from sluicegate.providers.openai_texts import CHAT_TEXTS, CHAT_TOKEN_KEYS
from sluicegate.providers.output_caps import (
    NO_OUTPUT,
    NO_OUTPUT_FIELD,
    OPENAI_CAPS,
    CapField,
    cap_field,
    capped,
)
from sluicegate.providers.prompt_texts import COHERE_EMBED_TEXTS, openai_prompt_texts
from sluicegate.providers.sse import iter_json
from sluicegate.providers.stream_ends import DONE, EndRule, StreamEnds, path_ends
from sluicegate.providers.texts import TextFormat, TokenKeys, has_list
from sluicegate.types import Usage

if TYPE_CHECKING:
    from sluicegate.compat import CompatTarget

# Its GenAI operations by path marker (`operation_by_markers`): `v1/embed`, `v2/embed`, `v1/chat`,
# `v2/chat` and its OpenAI compatibility's embeddings and chat (`compatibility/v1/…`).
OPERATIONS: OperationMarkers = (
    ("embed", "embeddings"),
    ("v1/chat", "chat"),
    ("v2/chat", "chat"),
    ("chat/completions", "chat"),
)
# The answer's cap: chat's `max_tokens` (https://docs.cohere.com/reference/chat), for each of the
# legacy v1 generate's `num_generations` (https://docs.cohere.com/reference/generate-v1); its OpenAI
# compatibility's keys are OpenAI's.
GENERATIONS = "num_generations"
# Where its Compatibility API lives: https://docs.cohere.com/docs/compatibility-api
COMPATIBILITY_PREFIX = "compatibility/"


class StreamEnd:
    """The rule of a v1 stream (chat's, generate's: a JSON object a line, or SSE `data:` lines), an
    `EndRule`: whole at its last event, `{"is_finished":true,"event_type":"stream-end",…}`, the only
    one that says it is finished (https://docs.cohere.com/v1/reference/chat-stream). That event
    repeats the whole conversation: where a reader kept less of the stream than it, the event's
    start (kept aside as bytes are skipped) and its closing brace say so."""

    awaited = "stream-end"

    def __init__(self) -> None:
        self._line = b""  # the start of the line the skipped bytes end in; b"": none begun
        self._last = b""  # the start of the last line that is not blank
        self._end = b""  # the last byte that is not a space

    def skip(self, data: bytes) -> None:
        text = data.rstrip()
        if not text:
            self._line = b"" if b"\n" in data else self._line
            return
        self._end = text[-1:]
        start = text.rfind(b"\n") + 1
        self._last = text[start : start + _HEAD] if start else (self._line + text[:_HEAD])[:_HEAD]
        self._line = b"" if b"\n" in data[len(text) :] else self._last

    def finished(self, rest: bytes) -> bool:
        text = rest.rstrip()
        line = text.rfind(b"\n")
        if text and (line >= 0 or not self._line):  # its last line is whole in `rest`
            event = _json(text[line + 1 :].strip().removeprefix(b"data:").strip())
            return isinstance(event, dict) and event.get("is_finished") is True
        head, end = ((self._line + text[:_HEAD])[:_HEAD], text[-1:]) if text else (self._last, self._end)
        return _FINISHED.match(head) is not None and end == b"}"


_HEAD = 64
_FINISHED = re.compile(rb'\s*(?:data:\s*)?\{\s*"is_finished"\s*:\s*true\b')


def _v1_rule(route: Route) -> EndRule | None:
    return StreamEnd() if route.path.startswith("v1/") else None


# v2 chat streams (SSE) end with `message-end` (https://docs.cohere.com/v2/reference/chat-stream),
# its Compatibility API's chat with `[DONE]`; v1 streams, without an end line, at `stream-end`.
STREAM_ENDS = StreamEnds(
    complete=(b"event: message-end", DONE), marked=path_ends("v2/chat", "chat/completions"), rules=_v1_rule
)


@dataclass(frozen=True, slots=True)
class Cohere:
    name: str
    default_base_url: str
    price_id: str | None = "cohere"
    key_header: KeyHeader = BEARER  # https://docs.cohere.com/reference/about
    stream_ends: StreamEnds = STREAM_ENDS
    compat_host: str = ""
    realtime: bool = False  # no realtime WebSocket sessions
    conversations: tuple[ConversationReader, ...] = (CHAT_MESSAGES,)  # v2 chat's `messages`
    key_param: str | None = None
    answer_headers: tuple[str, ...] = ()
    error_shape: ErrorShape | None = None  # the gateway's errors in OpenAI's shape
    token_keys: TokenKeys = CHAT_TOKEN_KEYS  # v2 chat's `messages`, as OpenAI chat's

    def host_route(self, host: str, path: str, override: str | None) -> HostRoute | None:
        return None  # not reachable host-in-path

    def compat_target(self) -> CompatTarget | None:
        return None  # the unified endpoint does not translate to Cohere

    def upstream_url(self, base_url: str, route: Route) -> str:
        url = f"{base_url.rstrip('/')}/{route.path}"
        return f"{url}?{route.query}" if route.query else url

    def read_request(self, route: Route, body: bytes) -> RequestFacts:
        if is_compatibility(route):
            return OPENAI.read_request(route, body)
        return json_facts(body, cacheable=route.path.rstrip("/").endswith(("chat", "embed")))

    def read_usage(self, route: Route, body: bytes) -> Usage | None:
        if is_compatibility(route):
            return OPENAI.read_usage(route, body)
        document = _json(body)
        if not isinstance(document, dict):
            return None
        return _usage(document.get("usage")) or _usage(document.get("meta"))

    def read_stream_usage(self, route: Route, events: bytes) -> Usage | None:
        if is_compatibility(route):
            return OPENAI.read_stream_usage(route, events)
        usage = None
        for event in _events(events):
            if event.get("type") == "message-end":  # v2
                delta = event.get("delta")
                usage = _usage(delta.get("usage")) if isinstance(delta, dict) else usage
            elif event.get("is_finished") and isinstance(event.get("response"), dict):  # v1
                usage = _usage(event["response"].get("meta")) or usage
        return usage

    def output_text(self, route: Route, body: bytes, streamed: bool) -> str:
        if is_compatibility(route):
            return OPENAI.output_text(route, body, streamed)
        if streamed:
            return "".join(_stream_text(event) for event in _events(body))
        document = _json(body)
        return _document_text(document) if isinstance(document, dict) else ""

    def answer_as(self, route: Route, facts: RequestFacts, stored: Answer) -> Answer | None:
        if is_compatibility(route):
            return OPENAI.answer_as(route, facts, stored)
        return as_stored(facts, stored)  # no conversion written for Cohere's stream events yet

    def text_format(self, route: Route, payload: Any) -> TextFormat | None:
        # Its OpenAI compatibility API (`compatibility/v1/chat/completions`) is chat itself; its
        # own chat, v1 (`message`) and v2 (`messages`), is read by the path or by the body.
        path = unquote(route.path).rstrip("/")
        if path.endswith("chat/completions"):
            return CHAT_TEXTS
        if path.endswith(("v1/chat", "v2/chat")) or _is_chat(payload):
            return COHERE_TEXTS
        if path.endswith("embed"):  # v1's and v2's `texts`
            return COHERE_EMBED_TEXTS
        return openai_prompt_texts(path)  # its OpenAI compatibility's `embeddings`

    def output_cap(self, route: Route, payload: Any) -> int | None:
        if "embed" in route.path:  # `v1/embed`, `v2/embed`, the compatibility's `embeddings`
            return NO_OUTPUT
        return capped(payload, OPENAI_CAPS, GENERATIONS)

    def cap_field(self, route: Route, payload: Any) -> CapField | None:
        if "embed" in route.path:  # `v1/embed`, `v2/embed`, the compatibility's `embeddings`
            return NO_OUTPUT_FIELD
        return cap_field(payload, OPENAI_CAPS, (GENERATIONS,))

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


def is_compatibility(route: Route) -> bool:
    """Its OpenAI-compatible API: `compatibility/v1/chat/completions`, `compatibility/v1/embeddings`."""
    return route.path.startswith(COMPATIBILITY_PREFIX)


def _is_chat(payload: Any) -> bool:
    """A chat request body, v2's (`messages`) or v1's (`message`, a string)."""
    return has_list(payload, "messages") or (
        isinstance(payload, dict) and isinstance(payload.get("message"), str)
    )


def _json(body: bytes) -> Any:
    if not body or body[:1] not in b"{[ \t\r\n":
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _events(events: bytes) -> Iterator[dict[str, Any]]:
    """The JSON objects of a v2 SSE stream or of a v1 stream of JSON lines."""
    if b"data:" in events:
        parsed: Iterator[Any] = iter_json(events)
    else:
        parsed = (item for line in events.splitlines() if (item := _json(line.strip())) is not None)
    return (event for event in parsed if isinstance(event, dict))


def _usage(raw: Any) -> Usage | None:
    """A v2 `usage` or v1 `meta` object: billed units when given, else the model's token counts."""
    if not isinstance(raw, dict):
        return None
    billed, tokens = raw.get("billed_units") or {}, raw.get("tokens") or {}
    input_tokens = _count(billed.get("input_tokens"), tokens.get("input_tokens"))
    output_tokens = _count(billed.get("output_tokens"), tokens.get("output_tokens"))
    if input_tokens is None and output_tokens is None:
        return None
    return Usage(
        input_tokens=input_tokens or 0,
        output_tokens=output_tokens or 0,
        cached_tokens=_count(raw.get("cached_tokens")) or 0,
    )


def _count(*values: Any) -> int | None:
    """The first number among `values`, as an int (the API's schema types counts as numbers)."""
    for value in values:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return int(value)
    return None


def _stream_text(event: dict[str, Any]) -> str:
    if event.get("type") == "content-delta":  # v2
        text = _dig(event, "delta", "message", "content", "text")
    elif not event.get("is_finished") and event.get("event_type", "text-generation") == "text-generation":
        text = event.get("text")  # v1 chat and generate
    else:
        text = None
    return text if isinstance(text, str) else ""


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _document_text(document: dict[str, Any]) -> str:
    message = document.get("message")
    if isinstance(message, dict):  # v2 chat
        parts = message.get("content") or ()
        return "".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))
    if isinstance(document.get("text"), str):  # v1 chat
        return str(document["text"])
    generations = document.get("generations") or ()  # v1 generate
    return "".join(g["text"] for g in generations if isinstance(g, dict) and isinstance(g.get("text"), str))


COHERE = Cohere(name="cohere", default_base_url="https://api.cohere.ai")
