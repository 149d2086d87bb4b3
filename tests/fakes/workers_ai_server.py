"""A fake Workers AI upstream: a real HTTP server on loopback standing in for api.cloudflare.com.

    with FakeWorkersAI().serve() as fake:
        httpx.post(fake.run_url("@cf/meta/llama-3.1-8b-instruct"), json={"messages": [...]})

It serves `/client/v4/accounts/{account}/ai/run/{model}` (native, Cloudflare's envelope
`{"result", "success", "errors", "messages"}`) and the OpenAI-compatible `.../ai/v1/chat/completions`
and `.../ai/v1/embeddings` (FakeOpenAI's handlers and answers). It shares FakeOpenAI's machinery
(recording, `clear()`, pauses, chunk-per-event streaming) and behaviour vocabulary, chosen by the
model (for the native endpoint, the path's last segment, e.g. `@cf/fake/rate-limited`) or the
`x-fake-behavior` header. Errors carry Cloudflare's envelope with Workers AI's codes
(https://developers.cloudflare.com/workers-ai/platform/errors/; 5xx codes are stand-ins).

    error-<status>     that status with Cloudflare's error envelope (400, 401, 403, 404, 429, 500, …)
    rate-limited       429, code 3036 (daily free allocation used up)
    slow-<ms>          wait that long before answering
    fail-<n>-then-ok   the first n requests per `x-fake-key` header (else per model) get 500
    drop-mid-stream    send two content events, then abort the TCP connection
    no-usage           native streams end without the usage event (non-streams keep usage)
    pause-stream       as FakeOpenAI: wait for `release(name)` after the first content event
    tool-call          with `tools`, the native answer is one call of the first tool, whose
                       arguments put the last user text under the tool's first parameter
    tool-calls         the same, one call of each tool (Workers AI's parallel calls)
    end-mid-stream     the stream ends cleanly after its second event, without `[DONE]`

Native answers are deterministic: "echo: <last user text>" (or of `prompt`), at most 64 words, cut
at `max_tokens` words (default 256, as Workers AI's). A token is a word: prompt tokens = Σ (words
of a message + 4); completion tokens = words of the reply. Streams send one event per word with
Workers AI's `p` padding, then `{"response": "", "usage": {...}}`, then `[DONE]`. A streamed tool
call comes as Workers AI streams one, keyed by its `index`: `{"tool_calls": [{"id", "type", "index",
"function": {"name", "arguments": <its first piece>}}]}`, then `{"tool_calls": [{"index", "function":
{"arguments": <a piece>}}]}` for the rest, the calls one after the other, then the event of nulls that
closes them (as github.com/cloudflare/ai's workers-ai-provider, src/streaming.ts, reads them).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from tests.fakes.base import BEHAVIOR_HEADER, CALL, ECHO_WORDS, NUMBER, Behavior, sse_data
from tests.fakes.openai_server import FakeOpenAI

ACCOUNT_PREFIX = "/client/v4/accounts/{account}/ai"
DEFAULT_MODELS = ("@cf/meta/llama-3.1-8b-instruct", "@cf/baai/bge-base-en-v1.5")
DEFAULT_MAX_TOKENS = 256  # Workers AI's default for text generation models
PADDING = "abcdefghijklmnopqrstuvwxyz0123456789"
TOOL_CALLS = web.RequestKey("fake_workers_ai_tool_calls", int)  # how many of the tools to call
ARGUMENT_PIECE = 8  # characters of a streamed call's arguments per event

# https://developers.cloudflare.com/workers-ai/platform/errors/ — status -> (code, message)
ERRORS: dict[int, tuple[int, str]] = {
    400: (5007, "No such model {model} or task"),
    401: (10000, "Authentication error"),
    403: (3023, "Service unavailable for account"),
    404: (3042, "The model name is invalid"),
    408: (3007, "Request timeout"),
    413: (3006, "Request is too large"),
    429: (
        3036,
        "You have used up your daily free allocation of 10,000 neurons. Please upgrade to "
        "Cloudflare's Workers Paid plan if you would like to continue usage.",
    ),
    500: (3043, "Internal server error"),
    503: (3040, "No more data centers to forward the request to"),
}


class FakeWorkersAI(FakeOpenAI):
    """The fake upstream; a context manager that serves on loopback while open."""

    CHAT_HISTORY_RULES = False

    def __init__(self, *, models: Sequence[str] = DEFAULT_MODELS, api_key: str | None = None) -> None:
        """`api_key`, when set, is required as `Authorization: Bearer <key>` (else 401, code 10000)."""
        super().__init__(models=models, api_key=api_key)

    @property
    def base_url(self) -> str:
        return self.server.url  # stands in for https://api.cloudflare.com

    def run_url(self, model: str, account: str = "local") -> str:
        return f"{self.url}/client/v4/accounts/{account}/ai/run/{model}"

    def openai_url(self, account: str = "local") -> str:
        return f"{self.url}/client/v4/accounts/{account}/ai/v1"

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post(f"{ACCOUNT_PREFIX}/v1/chat/completions", self._chat)
        app.router.add_post(f"{ACCOUNT_PREFIX}/v1/embeddings", self._embeddings)
        app.router.add_post(ACCOUNT_PREFIX + "/run/{model:.+}", self._run)
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Record, reject what Cloudflare rejects, then act out the behaviour."""
        number, body = await self._record(request)
        request[NUMBER] = number
        if (exc := request.match_info.http_exception) is not None:
            return _error(exc.status, 7000, "No route for that URI")
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _behavior_error(401, "")
        if not isinstance(body, dict):
            return _error(400, 5006, "Error: Type mismatch of '/', 'string' not in 'object'")
        native = "model" in request.match_info
        model = unquote(request.match_info["model"]) if native else str(body.get("model", ""))
        spec = request.headers.get(BEHAVIOR_HEADER, model.rsplit("/", 1)[-1])
        behavior = Behavior.parse(spec)
        failure = await self.act_out(request, behavior, model, lambda status: _behavior_error(status, model))
        if failure is not None:
            return failure
        if not native and not model:
            return _error(400, 5006, "Error: required properties at '/' are 'model'")
        request[CALL] = self.call_of(request, number, {**body, "model": model}, behavior)
        tokens = {token.strip() for token in spec.lower().split(",")}
        request[TOOL_CALLS] = (
            len(body.get("tools") or ()) if "tool-calls" in tokens else int("tool-call" in tokens)
        )
        return await handler(request)

    async def _run(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        body = call.body
        if not isinstance(body.get("messages"), list) and not isinstance(body.get("prompt"), str):
            return _error(400, 5006, "Error: oneOf at '/' not met, 0 matches required")
        messages = body.get("messages") or [{"role": "user", "content": body["prompt"]}]
        pieces = _reply(_last_user_text(messages), body.get("max_tokens"))
        usage = _usage(messages, len(pieces))
        calls = [_tool_call(tool, messages) for tool in (body.get("tools") or [])[: request[TOOL_CALLS]]]
        if not body.get("stream"):
            result: dict[str, Any] = {"response": "".join(pieces), "tool_calls": [], "usage": usage}
            if calls:
                result = {"response": "", "tool_calls": calls, "usage": usage}
            return web.json_response({"result": result, "success": True, "errors": [], "messages": []})
        events = [
            sse_data({"response": piece, "p": PADDING[: 3 + index % 30]})
            for index, piece in enumerate(pieces)
        ]
        if calls:
            events = [event for index, call in enumerate(calls) for event in _streamed_call(index, call)]
            events.append(sse_data({"tool_calls": [{"id": None, "type": None, "function": {"name": None}}]}))
        events.append(sse_data({"response": ""}))
        if not call.behavior.no_usage:
            events.append(sse_data({"response": "", "usage": usage}))
        events.append(b"data: [DONE]\n\n")
        return await self._stream(request, call, events, first_content=0)


def _error(status: int, code: int, message: str) -> web.Response:
    body = {"errors": [{"message": message, "code": code}], "success": False, "result": {}, "messages": []}
    return web.json_response(body, status=status)


def _behavior_error(status: int, model: str) -> web.Response:
    code, message = ERRORS.get(status, (3043, f"Fake upstream error {status}."))
    return _error(status, code, message.format(model=model))


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _last_user_text(messages: list[Any]) -> str:
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    return _text(users[-1].get("content")) if users else ""


def _reply(text: str, limit: Any) -> list[str]:
    """One piece per word, space-led after the first."""
    words = ("echo: " + text).split()[:ECHO_WORDS]
    words = words[: limit if isinstance(limit, int) and limit > 0 else DEFAULT_MAX_TOKENS]
    return [words[0], *(" " + word for word in words[1:])]


def _usage(messages: list[Any], completion: int) -> dict[str, int]:
    prompt = sum(len(_text(m.get("content")).split()) + 4 for m in messages if isinstance(m, dict))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _tool_call(tool: Any, messages: list[Any]) -> dict[str, Any]:
    """A call of `tool` (native `{name, parameters}` or OpenAI `{type, function}` form)."""
    spec = tool.get("function", tool) if isinstance(tool, dict) else {}
    properties = (spec.get("parameters") or {}).get("properties") or {"input": {}}
    return {"name": spec.get("name", ""), "arguments": {next(iter(properties)): _last_user_text(messages)}}


def _streamed_call(index: int, call: dict[str, Any]) -> list[bytes]:
    """`call` (`{name, arguments}`) as Workers AI streams it: its id and name with the first piece
    of its arguments, then the rest of them piece by piece under its index."""
    arguments = json.dumps(call["arguments"])
    pieces = [arguments[at : at + ARGUMENT_PIECE] for at in range(0, len(arguments), ARGUMENT_PIECE)]
    call_id = f"chatcmpl-tool-{index:016x}"
    function = {"name": call["name"], "arguments": pieces[0]}
    first = {"id": call_id, "type": "function", "index": index, "function": function}
    rest = [{"index": index, "function": {"arguments": piece}} for piece in pieces[1:]]
    return [sse_data({"tool_calls": [delta]}) for delta in (first, *rest)]
