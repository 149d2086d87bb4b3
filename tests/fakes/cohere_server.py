"""A fake Cohere upstream: a real HTTP server on loopback that speaks Cohere's native API.

    with FakeCohere().serve() as fake:
        client = cohere.ClientV2(api_key="co-test", base_url=fake.base_url)

Routes: `POST /v2/chat` (JSON, or SSE events when `stream` is true), `POST /v1/chat` (JSON, or one
JSON object per line), `POST /v2/embed`. Behaviour is chosen by the request's `model` or an
`x-fake-behavior` header, with FakeUpstream's vocabulary: `error-<status>` and `rate-limited`
answer Cohere's `{"id", "message"}` errors, `slow-<ms>`, `fail-<n>-then-ok`, `drop-mid-stream`,
`end-mid-stream`, and `no-usage` (streams end without usage). Any other model succeeds.

Answers are deterministic: the reply is "echo: <last user text>", cut to `max_tokens` words (finish
reason MAX_TOKENS). A token is a word; billed input tokens are the words of all messages, and
`tokens.input_tokens` adds PROMPT_TEMPLATE_TOKENS, the template Cohere wraps a prompt in (not billed).
`tools` make the model call one, v2's `thinking` adds its thoughts, `documents` a citation
(tests/fakes/cohere_tools.py).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from tests.fakes.base import BEHAVIOR_HEADER, CALL, Behavior, FakeUpstream, sse_event, write_stream
from tests.fakes.cohere_tools import calls_tool, v1_answer, v1_events, v2_events, v2_message

PROMPT_TEMPLATE_TOKENS = 64
SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
ERRORS = {
    400: "invalid request: message must be at least 1 token long or tool results must be specified.",
    401: "invalid api token",
    404: "model '{model}' not found, make sure the correct model ID was used and that you have access "
    "to the model.",
    429: "You are past the per minute request limit, please wait and try again later.",
    500: "internal server error, this has been reported to our developers",
    503: "service unavailable, please try again later",
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class FakeCohere(FakeUpstream):
    """The fake upstream; `api_key`, when set, is required as `Authorization: Bearer <key>` (else
    401). `base_url` stands for `https://api.cohere.ai`: the SDKs add `/v2/chat` and the like."""

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/v2/chat", self._chat_v2)
        app.router.add_post("/v1/chat", self._chat_v1)
        app.router.add_post("/v2/embed", self._embed_v2)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        number, body = await self._record(request)
        if request.match_info.http_exception is not None:
            return _error(404, f"route not found: {request.path}")
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _error(401, ERRORS[401])
        if not isinstance(body, dict):
            return _error(400, "invalid request: could not parse the request body as JSON")
        model = str(body.get("model", ""))
        behavior = Behavior.parse(request.headers.get(BEHAVIOR_HEADER, model))
        if (
            failure := await self.act_out(request, behavior, model, lambda s: _behavior_error(s, model))
        ) is not None:
            return failure
        request[CALL] = self.call_of(request, number, body, behavior)
        return await handler(request)

    async def _chat_v2(self, request: web.Request) -> web.StreamResponse:
        body, number = request[CALL].body, request[CALL].number
        messages = [m for m in body.get("messages") or () if isinstance(m, dict)]
        pieces, finish = _reply(_last_user_text(messages), body.get("max_tokens"))
        usage = _usage(sum(len(_text(m.get("content")).split()) for m in messages), len(pieces))
        message_id = f"00000000-0000-4000-8000-{number:012d}"
        text = "".join(pieces)
        finish = "TOOL_CALL" if calls_tool(body) else finish
        if not body.get("stream"):
            message = v2_message(body, text, number)
            return web.json_response(
                {"id": message_id, "message": message, "finish_reason": finish, "usage": usage}
            )
        end: dict[str, Any] = {"finish_reason": finish}
        if not request[CALL].behavior.no_usage:
            end["usage"] = usage
        start = {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
        events: list[dict[str, Any]] = [
            {"id": message_id, "type": "message-start", "delta": {"message": start}},
            *v2_events(body, text, pieces, number),
            {"type": "message-end", "delta": end},
        ]
        encoded = [sse_event(str(e["type"]), e) for e in events]
        return await _stream(request, encoded, SSE_HEADERS)

    async def _chat_v1(self, request: web.Request) -> web.StreamResponse:
        body, number = request[CALL].body, request[CALL].number
        message = str(body.get("message", ""))
        history = [m for m in body.get("chat_history") or () if isinstance(m, dict)]
        pieces, finish = _reply(message, body.get("max_tokens"))
        prompt = len(message.split()) + sum(len(str(m.get("message", "")).split()) for m in history)
        meta = {"api_version": {"version": "1"}, **_usage(prompt, len(pieces))}
        text = "".join(pieces)
        generation_id = f"00000000-0000-4000-9000-{number:012d}"
        answer = {
            "response_id": f"00000000-0000-4000-a000-{number:012d}",
            "text": text,
            "generation_id": generation_id,
            "chat_history": [
                *history,
                {"role": "USER", "message": message},
                {"role": "CHATBOT", "message": text},
            ],
            "finish_reason": finish,
            "meta": meta,
        }
        v1_answer(body, answer)
        if not body.get("stream"):
            return web.json_response(answer)
        if request[CALL].behavior.no_usage:
            answer = {**answer, "meta": {"api_version": meta["api_version"]}}
        events = [
            {"is_finished": False, "event_type": "stream-start", "generation_id": generation_id},
            *v1_events(body, text, pieces, answer),
            {"is_finished": True, "event_type": "stream-end", "response": answer, "finish_reason": finish},
        ]
        encoded = [_dumps(e).encode() + b"\n" for e in events]
        return await _stream(request, encoded, {"Content-Type": "application/stream+json"})

    async def _embed_v2(self, request: web.Request) -> web.StreamResponse:
        body, number = request[CALL].body, request[CALL].number
        texts = [str(t) for t in body.get("texts") or ()]
        vectors = [[round(len(word) / 10, 3) for word in (t.split() + [""] * 4)[:4]] for t in texts]
        meta = {
            "api_version": {"version": "2"},
            "billed_units": {"input_tokens": sum(len(t.split()) for t in texts)},
        }
        return web.json_response(
            {
                "id": f"00000000-0000-4000-b000-{number:012d}",
                "embeddings": {"float": vectors},
                "texts": texts,
                "meta": meta,
            }
        )


async def _stream(request: web.Request, events: list[bytes], headers: dict[str, str]) -> web.StreamResponse:
    """Each event its own chunk; after the second content event drop-mid-stream aborts the connection,
    end-mid-stream ends the body cleanly (no `message-end`, no `stream-end`)."""
    behavior = request[CALL].behavior
    drop_at = 4 if behavior.drop_mid_stream else None
    end_at = 4 if behavior.end_mid_stream else None
    return await write_stream(request, events, headers, drop_at=drop_at, end_at=end_at)


def _error(status: int, message: str) -> web.Response:
    # https://docs.cohere.com/reference/errors — every error is {"id", "message"}.
    return web.json_response(
        {"id": "00000000-0000-4000-8000-00000000e000", "message": message}, status=status
    )


def _behavior_error(status: int, model: str) -> web.Response:
    response = _error(status, ERRORS.get(status, f"fake upstream error {status}").format(model=model))
    if status == 429:
        response.headers["Retry-After"] = "1"
    return response


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "billed_units": {"input_tokens": prompt, "output_tokens": completion},
        "tokens": {"input_tokens": prompt + PROMPT_TEMPLATE_TOKENS, "output_tokens": completion},
    }


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m.get("role") == "user"]
    return _text(users[-1].get("content")) if users else ""


def _reply(text: str, limit: Any) -> tuple[list[str], str]:
    words = ("echo: " + text).split()
    finish = "COMPLETE"
    if isinstance(limit, int) and 0 < limit < len(words):
        words, finish = words[:limit], "MAX_TOKENS"
    return [words[0], *(" " + word for word in words[1:])], finish
