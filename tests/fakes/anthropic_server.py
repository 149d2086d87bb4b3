"""A fake Anthropic upstream: a real HTTP server on loopback that speaks the Messages API.

    with FakeAnthropic().serve() as fake:
        client = Anthropic(base_url=fake.base_url, api_key="sk-ant-test")

It is built on FakeUpstream (recording, `clear()`, pauses, chunk-per-event streaming) and shares its
behaviour vocabulary, chosen by `model` or the `x-fake-behavior` header; only the wire format
differs. Errors carry Anthropic's shape, `{"type": "error", "error": {"type", "message"}}`.

    error-<status>     that status with Anthropic's error type (400, 401, 403, 404, 413, 429, 500, 529)
    rate-limited       429 rate_limit_error with retry-after and anthropic-ratelimit-* headers
    slow-<ms>          wait that long before answering
    fail-<n>-then-ok   the first n requests per `x-fake-key` header (else per model) get 500
    drop-mid-stream    send two content deltas, then abort the TCP connection
    end-mid-stream     send two content deltas, then end the stream cleanly (no content_block_stop,
                       message_delta or message_stop)
    error-mid-stream   streams answer 200, then send an `error` event (overloaded_error) mid-way;
                       with quote-key its message quotes the request's `x-api-key`
    stream-error-<n>   streams answer 200 with the error of status n as their only event, `event:
                       error` (529: overloaded_error), as Anthropic reports overload on a stream:
                       https://docs.anthropic.com/en/docs/build-with-claude/streaming#error-events
                       (with fail-<n>-then-ok: the first n requests only)
    no-usage           streams carry no `usage` at all (message_start nor message_delta)
    pause-stream       as FakeOpenAI: wait for `release(name)` after the first content delta
    wrong-shape        a 200 answer in OpenAI's chat.completion shape, as a misrouted upstream gives

Answers are deterministic: "echo: <last user text>" (at most 64 words), cut at the first of the
request's `stop_sequences` (stop_reason "stop_sequence") or at `max_tokens` words ("max_tokens").
With `tool_choice` {"type": "any"} or {"type": "tool"}, the answer is one `tool_use` block instead
(stop_reason "tool_use"), of the named tool or else the first, whose input is shaped by the tool's
`input_schema`, as Claude fills it in: every property gets a value of its type (strings the user
text, integers its word count, numbers that plus a half, booleans true, arrays one item, enums and
`const`s their first value, `anyOf`s their first non-null branch, `$ref`s their `$defs` entry); a
schema without properties is a tool without parameters and gets `{}`, unless it takes any object
(`additionalProperties: true`), which gets `{"input": <user text>}`. Streamed, a tool's input comes
as input_json_delta pieces, the first empty; a tool without parameters gets one empty piece, as
Anthropic streams it. With `thinking` enabled (or
adaptive), a thinking block comes first. A token is a word: input = words of `system` + Σ (words of a message
+ 4); output = words of the reply (+ thinking words). Prompt caching as Anthropic's: the prompt, in
its order (tools, which count no words, then system blocks, then message blocks, a message's 4 on
its last), is cached up to each block with `cache_control` (a breakpoint; at most 4, else a 400 as
Anthropic's). Up to the last breakpoint, the words up to the furthest block boundary whose prefix an
earlier request's breakpoint cached (with this model; marks aside, a string is its text block) are a
cache read, as Anthropic looks back from a breakpoint, and the rest a cache write (`clear()`
forgets); a written block takes the TTL of the next breakpoint (`"ttl": "1h"` or the 5-minute
default), reported in `cache_creation`. There is no minimum length. Ids count calls
("msg_fake_000001"). A request offering the server tools web search (`web_search_*`) or web fetch
(`web_fetch_*`) has each used `max_uses` times (default 1), reported as Anthropic does in
`usage.server_tool_use` ({"web_search_requests", "web_fetch_requests"}; streamed, in message_delta,
message_start's counting none yet); the answer has no blocks of their results. Message Batches
(create, list, retrieve, cancel, delete, results) are `anthropic_batches.py`'s.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.anthropic_batches import FakeBatches
from tests.fakes.base import (
    BEHAVIOR_HEADER,
    CALL,
    ECHO_WORDS,
    NUMBER,
    Behavior,
    Call,
    FakeUpstream,
    key_quote,
    sse_event,
)
from tests.fakes.thinking_rules import anthropic_refusal

API_VERSION_HEADER = "anthropic-version"
DEFAULT_MODELS = ("claude-sonnet-4-6", "claude-opus-4-6", "claude-haiku-4-5-20251001")
MAX_BREAKPOINTS = 4  # https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching
# An alias the API resolves: its answers name the snapshot that answered, not the alias.
# https://docs.anthropic.com/en/docs/about-claude/models/overview#model-aliases
ALIASES = {"claude-opus-4-1": "claude-opus-4-1-20250805"}
RATE_LIMIT_RESET = "2030-01-01T00:00:01Z"  # fixed, so a direct and a proxied answer are identical
ERROR_MID_STREAM = web.RequestKey("fake_anthropic_error_mid_stream", bool)
# The fields a POST body must have, by path (any other POST: `model`).
REQUIRED = {"/v1/messages": ("model", "messages", "max_tokens"), "/v1/messages/batches": ("requests",)}

# https://docs.anthropic.com/en/api/errors — status -> (error.type, error.message)
ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request to model '{model}'."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: {model}"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: (
        "rate_limit_error",
        "This request would exceed the rate limit for your organization (fake-org) of 50 requests per "
        "minute. For details, refer to: https://docs.claude.com/en/api/rate-limits.",
    ),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


@dataclass(frozen=True)
class Reply:
    """One answer: its content blocks (complete), stop reason and usage."""

    blocks: list[dict[str, Any]]
    stop_reason: str
    stop_sequence: str | None
    usage: dict[str, Any]


class FakeAnthropic(FakeUpstream):
    """The fake upstream; a context manager that serves on loopback while open."""

    def __init__(self, *, models: Sequence[str] = DEFAULT_MODELS, api_key: str | None = None) -> None:
        """`api_key`, when set, is required as `x-api-key` or `Authorization: Bearer` (else 401)."""
        super().__init__(api_key=api_key)
        self.models = tuple(models)
        self._cache_lock = threading.Lock()
        self._cached_prompts: set[str] = set()
        self.batches = FakeBatches(self._message, lambda: self.url, self.pause, _error)

    @property
    def base_url(self) -> str:
        return self.server.url  # the SDK adds `/v1/messages` itself

    def clear(self) -> None:
        """As every fake's, and forget the prompt cache."""
        super().clear()
        with self._cache_lock:
            self._cached_prompts.clear()
        self.batches.clear()

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.on_response_prepare.append(_add_request_id)
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_post("/v1/messages/count_tokens", self._count_tokens)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/models/{model_id}", self._model)
        self.batches.add_routes(app)
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Record, reject what a real server rejects, then act out the behaviour."""
        number, body = await self._record(request)
        request[NUMBER] = number
        if (rejection := self._reject(request, body)) is not None:
            return rejection
        model = (
            str(body.get("model", "")) if isinstance(body, dict) else request.match_info.get("model_id", "")
        )
        spec = request.headers.get(BEHAVIOR_HEADER, model)
        behavior = Behavior.parse(spec)
        streams = isinstance(body, dict) and bool(body.get("stream"))
        failure = await self.act_out(
            request,
            behavior,
            model,
            lambda status: _behavior_error(status, model, number),
            (lambda status: _event(_error_body(status, model))) if streams else None,
        )
        if failure is not None:
            return failure
        request[CALL] = self.call_of(
            request, number, body if isinstance(body, dict) else {"model": model}, behavior
        )
        request[ERROR_MID_STREAM] = "error-mid-stream" in spec.lower()
        return await handler(request)

    def _reject(self, request: web.Request, body: Any) -> web.Response | None:
        """The errors Anthropic gives before it looks at the model: URL, key, version, JSON body."""
        number = request[NUMBER]
        if request.match_info.http_exception is not None:
            return _error(request.match_info.http_exception.status, "not_found_error", "Not Found", number)
        # The SDK sends its key as a bearer token; curl examples use x-api-key. Both are accepted.
        keys = (
            request.headers.get("x-api-key"),
            request.headers.get("Authorization", "").removeprefix("Bearer "),
        )
        if self.api_key is not None and self.api_key not in keys:
            return _behavior_error(401, "", number)
        if API_VERSION_HEADER not in request.headers:
            message = "anthropic-version: header is required"
            return _error(400, "invalid_request_error", message, number)
        if request.method != "POST" or request.path.startswith("/v1/messages/batches/"):
            return None  # (a batch's cancel has no body)
        if not isinstance(body, dict):
            return _error(400, "invalid_request_error", "Invalid JSON in request body", number)
        required = REQUIRED.get(request.path, ("model",))
        for name in required:
            if name not in body:
                return _error(400, "invalid_request_error", f"{name}: Field required", number)
        if request.path == "/v1/messages/batches":
            return None  # each request's params are checked by the batches
        if request.path == "/v1/messages" and not isinstance(body["messages"], list):
            return _error(400, "invalid_request_error", "messages: Input should be a valid list", number)
        if (schema_error := _schema_error(body)) is not None:  # Anthropic checks each tool's schema
            return _error(400, "invalid_request_error", schema_error, number)
        if (refusal := _thinking_refusal(body)) is not None:
            return _error(400, "invalid_request_error", refusal, number)
        if (marked := sum(s.control is not None for s in _segments(body))) > MAX_BREAKPOINTS:
            message = (
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {marked}."
            )
            return _error(400, "invalid_request_error", message, number)
        return None

    def _message(self, call: Call) -> dict[str, Any]:
        """The Message answering `call.body`, whole."""
        reply = self._reply(call)
        return {
            "id": f"msg_fake_{call.number:06d}",
            "type": "message",
            "role": "assistant",
            "model": ALIASES.get(call.body["model"], call.body["model"]),
            "content": reply.blocks,
            "stop_reason": reply.stop_reason,
            "stop_sequence": reply.stop_sequence,
            "usage": reply.usage,
        }

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        message = self._message(call)
        if call.behavior.wrong_shape:
            return web.json_response({"object": "chat.completion", "choices": []})
        if not call.body.get("stream"):
            return web.json_response(message)
        events = _stream_events(message, with_usage=not call.behavior.no_usage)
        if request[ERROR_MID_STREAM]:
            message = "Overloaded" + key_quote(call.behavior, request.headers.get("x-api-key"))
            error = {"type": "error", "error": {"type": "overloaded_error", "message": message}}
            events = [*events[:5], _event(error)]
        return await self._stream(request, call, events, first_content=3)

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        body = request[CALL].body
        return web.json_response({"input_tokens": _input_tokens(body)})

    async def _models(self, request: web.Request) -> web.StreamResponse:
        data = [_model(model_id) for model_id in self.models]
        return web.json_response(
            {"data": data, "has_more": False, "first_id": self.models[0], "last_id": self.models[-1]}
        )

    async def _model(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(_model(request.match_info["model_id"]))

    def _reply(self, call: Call) -> Reply:
        body = call.body
        text = _last_user_text(body.get("messages"))
        limit = body.get("max_tokens")
        blocks: list[dict[str, Any]] = []
        output = 0
        if isinstance(body.get("thinking"), dict) and body["thinking"].get("type") in ("enabled", "adaptive"):
            thinking = f"The user wrote: {text}"
            blocks.append({"type": "thinking", "thinking": thinking, "signature": "c2lnLWZha2U="})
            output += len(thinking.split())
        thoughts = output
        if (tool := _forced_tool(body) or _asked_tool(body, text)) is not None:
            arguments = _tool_input(tool.get("input_schema"), text)
            tool_id = f"toolu_fake_{call.number:06d}"
            blocks.append({"type": "tool_use", "id": tool_id, "name": tool["name"], "input": arguments})
            output += len(text.split()) + 8
            stop_reason, stop_sequence = "tool_use", None
        else:
            words, stop_reason, stop_sequence = _echo(text, body.get("stop_sequences"), limit)
            blocks.append({"type": "text", "text": " ".join(words)})
            output += len(words)
        usage = self._usage(body, output)
        if thoughts:
            usage["output_tokens_details"] = {"thinking_tokens": thoughts}
        if (server_tools := _server_tool_use(body)) is not None:
            usage["server_tool_use"] = server_tools
        return Reply(blocks, stop_reason, stop_sequence, usage)

    def _usage(self, body: dict[str, Any], output: int) -> dict[str, Any]:
        total = _input_tokens(body)
        read, written, written_1h = self._cache(body)
        return {
            "input_tokens": total - read - written,
            "cache_creation_input_tokens": written,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": written - written_1h,
                "ephemeral_1h_input_tokens": written_1h,
            },
            "output_tokens": output,
            "service_tier": "standard",
        }

    def _cache(self, body: dict[str, Any]) -> tuple[int, int, int]:
        """(read, written, written for an hour): the prompt's words up to its last breakpoint, read up
        to the furthest block boundary whose prefix a breakpoint cached before (Anthropic looks back
        from each breakpoint), written after it."""
        segments = _segments(body)
        ends = [n for n, segment in enumerate(segments) if segment.control is not None]
        last = ends[-1] if ends else -1
        keys = [_prefix_key(body["model"], segments[: n + 1]) for n in range(last + 1)]
        with self._cache_lock:
            start = next((n + 1 for n in range(last, -1, -1) if keys[n] in self._cached_prompts), 0)
            self._cached_prompts.update(keys[end] for end in ends)
        read = sum(segment.words for segment in segments[:start])
        written = written_1h = 0
        for n in range(start, last + 1):
            breakpoint_ = segments[next(end for end in ends if end >= n)]
            written += segments[n].words
            written_1h += segments[n].words if breakpoint_.ttl == "1h" else 0
        return read, written, written_1h


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    # Anthropic tags every answer, errors included: https://docs.anthropic.com/en/api/errors#request-id
    response.headers.setdefault("request-id", _request_id(request.get(NUMBER, 0)))


def _request_id(number: int) -> str:
    return f"req_fake_{number:06d}"


def _error(status: int, type_: str, message: str, number: int) -> web.Response:
    body = {"type": "error", "error": {"type": type_, "message": message}, "request_id": _request_id(number)}
    return web.json_response(body, status=status)


def _error_body(status: int, model: str) -> dict[str, Any]:
    default = ("api_error" if status >= 500 else "invalid_request_error", f"Fake upstream error {status}.")
    type_, message = ERRORS.get(status, default)
    return {"type": "error", "error": {"type": type_, "message": message.format(model=model)}}


def _behavior_error(status: int, model: str, number: int) -> web.Response:
    error = _error_body(status, model)["error"]
    response = _error(status, error["type"], error["message"], number)
    if status == 429:
        # https://docs.anthropic.com/en/api/rate-limits#response-headers
        response.headers.update(
            {
                "retry-after": "1",
                "anthropic-ratelimit-requests-limit": "50",
                "anthropic-ratelimit-requests-remaining": "0",
                "anthropic-ratelimit-requests-reset": RATE_LIMIT_RESET,
                "anthropic-ratelimit-tokens-limit": "40000",
                "anthropic-ratelimit-tokens-remaining": "39950",
                "anthropic-ratelimit-tokens-reset": RATE_LIMIT_RESET,
            }
        )
    return response


def _event(payload: dict[str, Any]) -> bytes:
    return sse_event(payload["type"], payload)


def _stream_events(message: dict[str, Any], *, with_usage: bool) -> list[bytes]:
    """The SSE events of `message`: start, each block (start, deltas, stop), delta, stop.

    Shapes: https://docs.anthropic.com/en/docs/build-with-claude/streaming#event-types
    """
    usage = message["usage"]
    start = {**message, "content": [], "stop_reason": None, "stop_sequence": None}
    start["usage"] = {**usage, "output_tokens": 1}
    if "server_tool_use" in usage:  # none used yet
        start["usage"]["server_tool_use"] = dict.fromkeys(usage["server_tool_use"], 0)
    if not with_usage:
        del start["usage"]
    events: list[dict[str, Any]] = [{"type": "message_start", "message": start}]
    for index, block in enumerate(message["content"]):
        events.append({"type": "content_block_start", "index": index, "content_block": _empty(block)})
        if index == 0:
            events.append({"type": "ping"})  # Anthropic sends one early in every stream
        events += [{"type": "content_block_delta", "index": index, "delta": d} for d in _deltas(block)]
        events.append({"type": "content_block_stop", "index": index})
    stop = {"stop_reason": message["stop_reason"], "stop_sequence": message["stop_sequence"]}
    delta: dict[str, Any] = {"type": "message_delta", "delta": stop}
    if with_usage:
        # Cumulative figures; the input side is repeated there too.
        keys = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
        delta["usage"] = {key: usage[key] for key in keys}
        for key in ("output_tokens_details", "server_tool_use"):
            if key in usage:
                delta["usage"][key] = usage[key]
    events += [delta, {"type": "message_stop"}]
    return [_event(event) for event in events]


def _empty(block: dict[str, Any]) -> dict[str, Any]:
    """A block as content_block_start shows it, before any delta."""
    if block["type"] == "text":
        return {"type": "text", "text": ""}
    if block["type"] == "thinking":
        return {"type": "thinking", "thinking": "", "signature": ""}
    return {**block, "input": {}}


def _deltas(block: dict[str, Any]) -> list[dict[str, Any]]:
    if block["type"] == "text":
        words = block["text"].split(" ")
        return [{"type": "text_delta", "text": piece} for piece in _pieces(words)]
    if block["type"] == "thinking":
        words = block["thinking"].split(" ")
        thinking = [{"type": "thinking_delta", "thinking": piece} for piece in _pieces(words)]
        return [*thinking, {"type": "signature_delta", "signature": block["signature"]}]
    if not block["input"]:
        # A tool without parameters: one empty piece, nothing after content_block_start's `{}`.
        return [{"type": "input_json_delta", "partial_json": ""}]
    arguments = json.dumps(block["input"])
    cut = len(arguments) // 2  # tool input arrives as partial JSON, split anywhere
    return [
        {"type": "input_json_delta", "partial_json": part} for part in ("", arguments[:cut], arguments[cut:])
    ]


def _pieces(words: list[str]) -> list[str]:
    return [words[0], *(" " + word for word in words[1:])]


def _text_of(content: Any) -> str:
    """The text of a string, or of the text (and tool_result) blocks of a content list."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    parts = []
    for block in content:
        if isinstance(block, dict) and isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif isinstance(block, dict) and block.get("type") == "tool_result":
            parts.append(_text_of(block.get("content")))
    return " ".join(part for part in parts if part)


@dataclass(frozen=True)
class Segment:
    """A tool or block of the prompt, as prompt caching sees it: its words and its breakpoint."""

    block: Any
    words: int
    control: dict[str, Any] | None

    @property
    def ttl(self) -> str:
        return str((self.control or {}).get("ttl", "5m"))


def _segments(body: dict[str, Any]) -> list[Segment]:
    """The prompt in Anthropic's order: tools, system blocks, then each message's blocks (a string
    is the one text block it stands for)."""
    segments = [Segment(tool, 0, _control(tool)) for tool in body.get("tools") or ()]
    segments += [Segment(b, _words(b), _control(b)) for b in _blocks(body.get("system"))]
    for message in _messages(body):
        blocks = _blocks(message.get("content"))
        for n, block in enumerate(blocks):
            overhead = 4 if n == len(blocks) - 1 else 0  # a message's own tokens, on its last block
            segments.append(Segment(block, _words(block) + overhead, _control(block)))
    return segments


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return content if isinstance(content, list) else []


def _prefix_key(model: str, segments: Sequence[Segment]) -> str:
    """What the cache knows a prefix by: its blocks, whatever breakpoints they carry."""
    blocks = [
        {k: v for k, v in s.block.items() if k != "cache_control"} if isinstance(s.block, dict) else s.block
        for s in segments
    ]
    return hashlib.sha256(json.dumps([model, blocks]).encode()).hexdigest()


def _words(block: Any) -> int:
    return len(_text_of([block]).split())


def _control(block: Any) -> dict[str, Any] | None:
    control = block.get("cache_control") if isinstance(block, dict) else None
    return control if isinstance(control, dict) else None


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    return [m for m in messages if isinstance(m, dict)] if isinstance(messages, list) else []


def _last_user_text(messages: Any) -> str:
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"] if messages else []
    return _text_of(users[-1].get("content")) if users else ""


def _input_tokens(body: dict[str, Any]) -> int:
    system = len(_text_of(body.get("system")).split())
    return system + sum(len(_text_of(m.get("content")).split()) + 4 for m in _messages(body))


def _server_tool_use(body: dict[str, Any]) -> dict[str, int] | None:
    """`usage.server_tool_use` of a request offering Anthropic's web search or web fetch: each used
    `max_uses` times (default 1). https://docs.anthropic.com/en/api/messages (Usage)."""
    uses = {"web_search": 0, "web_fetch": 0}
    offered = False
    for tool in body.get("tools") or ():
        kind = str(tool.get("type", "")) if isinstance(tool, dict) else ""
        name = next((name for name in uses if kind.startswith(name + "_")), None)
        if name is not None:
            offered = True
            limit = tool.get("max_uses")
            uses[name] += limit if isinstance(limit, int) else 1
    if not offered:
        return None
    return {"web_search_requests": uses["web_search"], "web_fetch_requests": uses["web_fetch"]}


def _forced_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The tool the request forces (`tool_choice` any or tool), if any."""
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and "name" in t]
    choice = body.get("tool_choice")
    if not tools or not isinstance(choice, dict) or choice.get("type") not in ("any", "tool"):
        return None
    named = [t for t in tools if t["name"] == choice.get("name")]
    return named[0] if named else tools[0]


def _asked_tool(body: dict[str, Any], text: str) -> dict[str, Any] | None:
    """The tool the user's text asks for by "use the NAME tool" (tool_choice auto): a model that
    calls a tool of its own accord, after its thinking."""
    tools = [t for t in body.get("tools") or () if isinstance(t, dict) and "name" in t]
    return next((t for t in tools if f"use the {t['name']} tool" in text), None)


def _schema_error(body: dict[str, Any]) -> str | None:
    """Anthropic's 400 for a tool whose `input_schema` is no JSON Schema object (its `properties`
    not an object), as hypothesis found a client may send; None when every tool's is one."""
    for index, tool in enumerate(body.get("tools") or ()):
        schema = tool.get("input_schema") if isinstance(tool, dict) else None
        if isinstance(schema, dict) and "properties" in schema and not isinstance(schema["properties"], dict):
            return f"tools.{index}.custom.input_schema: JSON schema is invalid"
    return None


def _tool_input(schema: Any, text: str) -> dict[str, Any]:
    """A forced tool's input: a value of its `input_schema` (see the module's docstring)."""
    root = schema if isinstance(schema, dict) else {}
    if not root.get("properties"):
        return {"input": text} if root.get("additionalProperties") is True else {}
    value = _instance(root, root, text, depth=0)
    return value if isinstance(value, dict) else {"input": text}


def _instance(schema: Any, root: dict[str, Any], text: str, depth: int) -> Any:
    """A value `schema` accepts; past a few levels, recursive schemas end (null, empty arrays)."""
    if depth > 12:
        return None  # a schema that can only recurse ends here
    if not isinstance(schema, dict):
        return text
    if isinstance(ref := schema.get("$ref"), str):  # "#/$defs/Name" or "#/definitions/Name"
        _, _, name = ref.rpartition("/")
        defs = root.get("$defs") or root.get("definitions") or {}
        return _instance(defs.get(name, {}), root, text, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(branches := schema.get(key), list) and branches:
            nulls = [b for b in branches if isinstance(b, dict) and b.get("type") == "null"]
            others = [b for b in branches if b not in nulls] or branches
            return None if nulls and depth > 3 else _instance(others[0], root, text, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    match kind:
        case "object":
            properties = schema.get("properties") or {}
            return {name: _instance(sub, root, text, depth + 1) for name, sub in properties.items()}
        case "array":
            return [] if depth > 3 else [_instance(schema.get("items", {}), root, text, depth + 1)]
        case "integer":
            return len(text.split())
        case "number":
            return len(text.split()) + 0.5
        case "boolean":
            return True
        case "null":
            return None
    return text


def _echo(text: str, stop_sequences: Any, limit: Any) -> tuple[list[str], str, str | None]:
    """The reply's words, stop_reason and stop_sequence."""
    reply = " ".join(("echo: " + text).split()[:ECHO_WORDS])
    found = [(reply.find(s), s) for s in stop_sequences or () if isinstance(s, str) and s and s in reply]
    if found:
        at, sequence = min(found)
        return reply[:at].split(), "stop_sequence", sequence
    words = reply.split()
    if isinstance(limit, int) and 0 < limit < len(words):
        return words[:limit], "max_tokens", None
    return words, "end_turn", None


def _model(model_id: str) -> dict[str, Any]:
    return {"type": "model", "id": model_id, "display_name": model_id, "created_at": "2025-01-01T00:00:00Z"}


def _thinking_refusal(body: dict[str, Any]) -> str | None:
    """What Anthropic refuses of a request that thinks (its 400's message), or None:
    https://docs.claude.com/en/docs/build-with-claude/extended-thinking"""
    thinking = body.get("thinking")
    if not isinstance(thinking, dict) or thinking.get("type") not in ("enabled", "adaptive"):
        return None
    budget = thinking.get("budget_tokens")
    if thinking["type"] == "enabled":
        if not isinstance(budget, int) or budget < 1024:
            return "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"
        if budget >= body.get("max_tokens", 0):
            return "`max_tokens` must be greater than `thinking.budget_tokens`"
    if body.get("temperature") not in (None, 1):
        return "`temperature` may only be set to 1 when thinking is enabled or in adaptive mode."
    if "top_k" in body:
        return "`top_k` cannot be set when thinking is enabled"
    if isinstance(choice := body.get("tool_choice"), dict) and choice.get("type") in ("any", "tool"):
        return "Thinking may not be enabled when tool_choice forces tool use."
    return anthropic_refusal(body)
