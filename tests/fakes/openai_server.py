"""A fake OpenAI upstream: a real HTTP server on loopback that speaks OpenAI's wire format.

    with FakeOpenAI().serve() as fake:
        client = OpenAI(base_url=fake.base_url, api_key="sk-test")

Behaviour is chosen by the request's `model`, or by an `x-fake-behavior` header that wins over it
(comma-separated tokens combine, e.g. "slow-200,no-usage"), or by the request's API key when
`FakeOpenAI(key_behaviors={"sk-spent": "rate-limited"})` names it (the header still wins). Any
other model succeeds.

    error-<status>     that status with OpenAI's error JSON (400, 401, 404, 500, 503, …)
    rate-limited       429 with Retry-After and x-ratelimit-* headers
    insufficient-quota 429 insufficient_quota, as OpenAI answers a key whose account is out of
                       credit or over its spending limit: no Retry-After, retrying cannot help
                       (https://platform.openai.com/docs/guides/error-codes)
    retry-after-ms-<n> with rate-limited: also send retry-after-ms: n (Retry-After rounds it up)
    slow-<ms>          wait that long before answering (streams: before the headers)
    fail-<n>-then-ok   the first n requests per `x-fake-key` header (else per model) get 500
    drop-mid-stream    send two content chunks, then abort the TCP connection
    interleaved-calls  chat with tool_choice "required": one call of each tool offered, streamed
                       as some OpenAI-compatible servers send parallel calls: every call's opening
                       chunk, then their argument pieces in turn (index 0, 1, 0, 1)
    error-mid-stream   chat streams send their first content chunk, then OpenAI's in-stream error
                       event, `data: {"error": {...}}` (a server_error), and end; with pause-stream
                       they wait after the error event, before ending (the provider has not closed);
                       with quote-key its message quotes the request's key
    one-delta          chat streams send the reply's text as one content chunk
    stream-error-<n>   a stream request answered 200 whose only event is `data: {"error": ...}`, the
                       error error-<n> gives (with fail-<n>-then-ok: the first n requests only)
    chunked            chat, embeddings: the whole JSON answer without Content-Length, in two
                       chunks (a compressed answer from behind a CDN)
    gzip               chat, embeddings: the whole JSON answer gzip-compressed (Content-Encoding),
                       as OpenAI sends its larger answers; with chunked, compressed and chunked;
                       streams gzip-compressed too
    gzip-cut           gzip cut short, the HTTP framing complete: a whole answer is the first two
                       thirds of its compressed bytes with their Content-Length (as a proxy that
                       gave up midway sends it); a stream ends two thirds of the way, unterminated
    no-usage           chat streams omit the usage chunk even when include_usage is asked;
                       Responses streams complete with usage null; non-streams keep usage
    pause-stream       send the first content chunk, set `pause(name).chunk_sent`, then wait
                       (10 s at most) for `release(name)`; name from `x-fake-gate`, else "default";
                       with chunked, a whole answer pauses so before its last kilobyte
    cached-<n>         Responses: n of the prompt tokens (at most all) reported as cache reads
    reasoning-<n>      Responses: n reasoning tokens more in the output (and its details)
    missing-scopes     401 as OpenAI answers a restricted key without a scope the request needs:
                       "You have insufficient permissions for this operation. Missing scopes: …"
                       (its code null; the key is valid)
    unauthorized-bare  401 whose body says nothing of the key, `{"message": "Unauthorized"}` (Mistral's)

The Batch API (`/v1/batches`: create, list, retrieve, cancel) is openai_batches.py's.

`GET /v1/organization/costs`, one of OpenAI's admin endpoints, answers an admin key (`sk-admin-…`)
an empty page of costs and any other key 401 "Missing scopes: api.usage.read", as OpenAI answers a
project key there.

A chat history OpenAI refuses (a tool message answering no call of the assistant message before it,
a call left unanswered, an unknown role, content missing or of the wrong kind for its role …) is
refused with OpenAI's 400 (openai_chat_history.py). A chat `file` part with `file_data` but no
`filename` is refused as OpenAI refuses it: 400, its message naming `file_id` (the error quoted in
https://github.com/openai/openai-agents-python/pull/1513).

Answers are deterministic. The reply is "echo: <last user text>" (chat: `answer(text)` when a test
sets `FakeOpenAI.answer`; at most 64 words), cut to
`max_tokens`/`max_completion_tokens` words with finish_reason "length" (Responses: cut to
`max_output_tokens`, status "incomplete", its stream ending in `response.incomplete`). A chat request
whose `tool_choice` is "required" or names a function gets one call of that tool (else the first)
instead, its arguments the last user text under the tool's first parameter and a value of its type
for every other required parameter (as the fake Anthropic fills a forced tool's input), finish_reason
"tool_calls". Responses remembers what it answered unless `store` is false (`GET /v1/responses/{id}`
reads it again; a `background` request is answered `queued`, its first read finding it done), and
refuses as OpenAI does a request naming a response or item it never kept, a reasoning item, or a
function_call_output with no function_call (openai_response_store.py). A chat request whose
`response_format` is `json_schema` gets JSON text shaped by the schema instead, as the fake
Anthropic fills a forced tool's input (strings the user text, integers its word count …), and
`json_object` gets `{"input": <user text>}`; streamed in 8-character pieces, never cut short. A token is a
whitespace-separated word: prompt tokens = Σ (words in a message + 3) + 3, the per-message and
priming overheads of OpenAI's own counting recipe; completion tokens = words in the reply. An image
part (chat `image_url`, Responses `input_image`) adds what OpenAI bills for it: `detail: low` 85,
else 85 + 170 per 512-px tile once the image is scaled to fit 2048×2048 and to a shortest side of
768 (gpt-4o-mini: 2833 + 5667 per tile), its size read from a PNG data URL, else (a URL, a PNG
cut short) taken as 512×512. Ids count calls ("chatcmpl-fake-000001"); `created` is fixed.
Embeddings hash each word into one of `dimensions` (default 1536) signed buckets and normalise, so
texts that share words are close.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.parser
import email.policy
import gzip
import hashlib
import json
import math
import re
import struct
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from tests.fakes.anthropic_server import _instance as schema_instance
from tests.fakes.anthropic_server import _tool_input as schema_value
from tests.fakes.base import (
    BEHAVIOR_HEADER,
    CALL,
    ECHO_WORDS,
    GATE_HEADER,
    GATE_TIMEOUT,
    KEY_HEADER,
    NUMBER,
    Behavior,
    Call,
    FakeUpstream,
    Pause,
    RecordedRequest,
    key_quote,
    sse_data,
    sse_event,
)
from tests.fakes.openai_batches import FakeBatches
from tests.fakes.openai_chat_history import history_error
from tests.fakes.openai_response_store import ResponseStore

# Re-exported: the fakes and tests that import these from here keep working.
__all__ = [
    "BEHAVIOR_HEADER",
    "CALL",
    "GATE_HEADER",
    "KEY_HEADER",
    "NUMBER",
    "Behavior",
    "Call",
    "FakeOpenAI",
    "Pause",
    "RecordedRequest",
]

CREATED = 1_700_000_000
EMBEDDING_DIMENSIONS = 1536
DEFAULT_MODELS = ("gpt-4o", "gpt-4o-mini", "text-embedding-3-small")

# status -> (type, code, message) as OpenAI sends them; a bad key is an invalid_request_error there.
ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request to model '{model}'."),
    401: (
        "invalid_request_error",
        "invalid_api_key",
        "Incorrect API key provided: sk-fake. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model `{model}` does not exist or you do not have access to it.",
    ),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for {model} in organization org-fake on requests per min (RPM): "
        "Limit 3, Used 3, Requested 1. Please try again in 1s.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}


# OpenAI's 401 to a valid key without a scope the request needs (a restricted key; a project key on
# an admin endpoint): its body names the scope, its code is null.
SCOPES_MESSAGE = (
    "You have insufficient permissions for this operation. Missing scopes: {scopes}. Check that you have"
    " the correct role in your organization (Reader, Writer, Owner) and project (Member, Owner), and if"
    " you're using a restricted API key, that it has the necessary scopes."
)


def _key_refusal(spec: str) -> web.Response | None:
    """The refusal a behaviour of the key (`missing-scopes`, `unauthorized-bare`) asks for, if any."""
    tokens = {token.strip().lower() for token in spec.split(",")}
    if "missing-scopes" in tokens:
        return _error(401, SCOPES_MESSAGE.format(scopes="model.request"), "invalid_request_error")
    if "unauthorized-bare" in tokens:
        return web.json_response({"message": "Unauthorized", "request_id": "req_fake_bare"}, status=401)
    return None


# A transcription's plain answers (https://platform.openai.com/docs/api-reference/audio/createTranscription
# `response_format`): the text, or subtitles whose one cue lasts the audio's seconds (`end`).
_PLAIN_TRANSCRIPTS = {
    "text": "a fake transcript\n",
    "srt": "1\n00:00:00,000 --> {end},000\na fake transcript\n\n",
    "vtt": "WEBVTT\n\n00:00:00.000 --> {end}.000\na fake transcript\n\n",
}


QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more information"
    " on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors."
)


# Realtime's ephemeral keys (https://platform.openai.com/docs/api-reference/realtime-sessions): GA's
# client secrets and the beta's sessions; the model of GA's and of a transcription session is nested.
REALTIME_KEYS = (
    "/v1/realtime/client_secrets",
    "/v1/realtime/sessions",
    "/v1/realtime/transcription_sessions",
)
MODEL_IN_SESSION = frozenset({"/v1/realtime/client_secrets", "/v1/realtime/transcription_sessions"})


class FakeOpenAI(FakeUpstream):
    """The fake upstream; a context manager that serves on loopback while open."""

    def __init__(
        self,
        *,
        models: Sequence[str] = DEFAULT_MODELS,
        api_key: str | None = None,
        key_behaviors: Mapping[str, str] | None = None,
    ) -> None:
        """`api_key`, when set, is required as `Authorization: Bearer <key>` (else 401);
        `key_behaviors` maps a bearer key to the behaviour its requests get."""
        super().__init__(api_key=api_key)
        self.models = tuple(models)
        self.key_behaviors = dict(key_behaviors or {})
        # Chat answers "echo: <last user text>" unless a test sets this: the answer's text instead
        # (e.g. a model that has changed its mind since an answer was cached).
        self.answer: Callable[[str], str] | None = None
        # The Responses API's kept responses and items, which later requests may name by id.
        self.response_store = ResponseStore()
        self.batches = FakeBatches()  # the Batch API (openai_batches.py)

    @property
    def base_url(self) -> str:
        return self.server.url + "/v1"

    # A chat stream's chunks each carry the usage, asked for or not (Perplexity's do), instead of
    # OpenAI's usage chunk that only `stream_options.include_usage` brings.
    USAGE_ON_EVERY_CHUNK = False
    # OpenAI's history rules (openai_chat_history.py): a fake of another service answering OpenAI's
    # wire format turns them off rather than claim OpenAI's errors for it (Azure runs OpenAI's).
    CHAT_HISTORY_RULES = True

    def usage_object(self, usage: dict[str, Any]) -> dict[str, Any]:
        """A chat answer's usage as this server sends it: OpenAI's token counts as they are (a fake
        of a provider that states its charge beside them adds it: openai_compatibility_server.py)."""
        return usage

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        app.on_response_prepare.append(_add_request_id)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._completions)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/responses", self._responses)
        app.router.add_get("/v1/responses/{response_id}", self._response)
        app.router.add_post("/v1/images/generations", self._images)
        app.router.add_post("/v1/audio/speech", self._speech)
        app.router.add_post("/v1/audio/transcriptions", self._transcription)
        for path in REALTIME_KEYS:
            app.router.add_post(path, self._client_secret)
        app.router.add_post("/v1/realtime/calls/{call_id}/accept", self._accept_call)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/models/{model_id}", self._model)
        app.router.add_get("/v1/organization/costs", self._costs)
        self.batches.add_routes(app, "/v1")
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
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        behavior = Behavior.parse(
            request.headers.get(BEHAVIOR_HEADER) or self.key_behaviors.get(bearer, model)
        )
        failure = await self.act_out(
            request,
            behavior,
            model,
            lambda status: _behavior_error(
                status, model, behavior.retry_after_ms, behavior.insufficient_quota
            ),
            (lambda status: _error_event(status, model)) if _streams(body) else None,
        )
        if failure is not None:
            return failure
        request[CALL] = self.call_of(
            request, number, body if isinstance(body, dict) else {"model": model}, behavior
        )
        return await handler(request)

    def _paused(self, call: Call) -> Pause | None:
        """The rendezvous a whole answer waits on midway (pause-stream), if it does."""
        return self.pause(call.gate) if call.behavior.pause_stream else None

    def _reject(self, request: web.Request, body: Any) -> web.Response | None:
        """The errors OpenAI gives before it looks at the model: URL, key, JSON body, model."""
        if (exc := request.match_info.http_exception) is not None:
            message = f"Invalid URL ({request.method} {request.path})"
            return _error(exc.status, message, "invalid_request_error")
        if self.api_key is not None and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return _behavior_error(401, "")
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        refused = _key_refusal(request.headers.get(BEHAVIOR_HEADER) or self.key_behaviors.get(bearer, ""))
        if refused is not None:
            return refused
        if request.method != "POST" or request.path.endswith("/cancel"):  # (a cancel has no body)
            return None
        if not isinstance(body, dict):
            message = "We could not parse the JSON body of your request."
            return _error(400, message, "invalid_request_error")
        if not body.get("model") and request.path not in MODEL_IN_SESSION and "/batches" not in request.path:
            return _error(400, "you must provide a model parameter", "invalid_request_error", param="model")
        return None

    def parse_body(self, content_type: str, raw: bytes) -> Any:
        """JSON, or a multipart form's fields (the transcription endpoint takes one)."""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return _form(content_type, raw)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        messages = call.body.get("messages", [])
        if self.CHAT_HISTORY_RULES and (refused := history_error(messages)) is not None:
            type_ = "invalid_request_error"
            return _error(400, refused.message, type_, code=refused.code, param=refused.param)
        if (unnamed := _unnamed_file(messages)) is not None:
            message = f"Missing required parameter: '{unnamed}'."
            return _error(
                400, message, "invalid_request_error", code="missing_required_parameter", param=unnamed
            )
        limit = call.body.get("max_completion_tokens") or call.body.get("max_tokens")
        if (tool := _forced_tool(call.body)) is not None:
            return await self._tool_call(request, call, tool)
        structured = _json_answer(call.body.get("response_format"), _last_user_text(messages))
        if structured is not None:
            pieces, finish = [structured[at : at + 8] for at in range(0, len(structured), 8)], "stop"
        else:
            pieces, finish = _reply(_last_user_text(messages), limit, self.answer)
        usage = self.usage_object(_chat_usage(_prompt_tokens(messages, call.body["model"]), len(pieces)))
        if call.behavior.one_delta:
            pieces = ["".join(pieces)]
        head: dict[str, Any] = {
            "id": f"chatcmpl-fake-{call.number:06d}",
            "created": CREATED,
            "model": call.body["model"],
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }
        if not call.body.get("stream"):
            message: dict[str, Any] = {
                "role": "assistant",
                "content": "".join(pieces),
                "refusal": None,
                "annotations": [],
            }
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
            head["object"] = "chat.completion"
            document = {**head, "choices": [choice], "usage": usage}
            return await _whole(request, call.behavior, document, self._paused(call))
        include_usage = bool((call.body.get("stream_options") or {}).get("include_usage"))
        # OpenAI puts `usage: null` on every chunk once include_usage is asked, then a usage chunk.
        head = {**head, "object": "chat.completion.chunk", **({"usage": None} if include_usage else {})}
        if self.USAGE_ON_EVERY_CHUNK:
            head, include_usage = {**head, "usage": usage}, False
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": pieces[0], "refusal": None}]
        deltas += [{"content": piece} for piece in pieces[1:]]
        chunks = [{**head, "choices": [_delta_choice(delta, None)]} for delta in deltas]
        chunks.append({**head, "choices": [_delta_choice({}, finish)]})
        if include_usage and not call.behavior.no_usage:
            chunks.append({**head, "choices": [], "usage": usage})
        events = [sse_data(chunk) for chunk in chunks] + [b"data: [DONE]\n\n"]
        if call.behavior.error_mid_stream:
            bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
            events = [events[0], _error_event(500, call.body["model"], key_quote(call.behavior, bearer))]
            return await self._stream(request, call, events, first_content=1)
        return await self._stream(request, call, events, first_content=0)

    async def _tool_call(self, request: web.Request, call: Call, tool: dict[str, Any]) -> web.StreamResponse:
        """The answer to a request that forces a tool: one call of it, arguments split in two pieces
        (interleaved-calls: one call of each tool offered, their chunks interleaved)."""
        messages = call.body.get("messages", [])
        tools = [tool]
        if call.behavior.interleaved_calls and call.body.get("tool_choice") == "required":
            tools = [
                t for t in call.body["tools"] if isinstance(t, dict) and isinstance(t.get("function"), dict)
            ]
        tool_calls = [
            {
                "id": f"call_fake_{call.number:06d}_{position}"
                if position
                else f"call_fake_{call.number:06d}",
                "type": "function",
                "function": {"name": offered["function"]["name"], "arguments": _arguments(offered, messages)},
            }
            for position, offered in enumerate(tools)
        ]
        written = sum(len(c["function"]["arguments"].split()) for c in tool_calls)
        usage = _chat_usage(_prompt_tokens(messages, call.body["model"]), written)
        head: dict[str, Any] = {"id": f"chatcmpl-fake-{call.number:06d}", "created": CREATED}
        head |= {"model": call.body["model"], "system_fingerprint": "fp_fake"}
        if not call.body.get("stream"):
            message = {"role": "assistant", "content": None, "refusal": None, "tool_calls": tool_calls}
            choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": "tool_calls"}
            return web.json_response(
                {**head, "object": "chat.completion", "choices": [choice], "usage": usage}
            )
        include_usage = bool((call.body.get("stream_options") or {}).get("include_usage"))
        head = {**head, "object": "chat.completion.chunk", **({"usage": None} if include_usage else {})}
        openings = [
            {**c, "index": k, "function": {"name": c["function"]["name"], "arguments": ""}}
            for k, c in enumerate(tool_calls)
        ]
        halves = [(k, c["function"]["arguments"]) for k, c in enumerate(tool_calls)]
        pieces = [(k, args[: len(args) // 2]) for k, args in halves] + [
            (k, args[len(args) // 2 :]) for k, args in halves
        ]
        # One call: its opening, then its two pieces; several: every opening, then the pieces in turn.
        deltas: list[dict[str, Any]] = [{"role": "assistant", "content": None, "tool_calls": [openings[0]]}]
        deltas += [{"tool_calls": [opening]} for opening in openings[1:]]
        deltas += [{"tool_calls": [{"index": k, "function": {"arguments": part}}]} for k, part in pieces]
        chunks = [{**head, "choices": [_delta_choice(delta, None)]} for delta in deltas]
        chunks.append({**head, "choices": [_delta_choice({}, "tool_calls")]})
        if include_usage and not call.behavior.no_usage:
            chunks.append({**head, "choices": [], "usage": usage})
        events = [sse_data(chunk) for chunk in chunks] + [b"data: [DONE]\n\n"]
        return await self._stream(request, call, events, first_content=0)

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        prompt = call.body.get("prompt", "")
        text = prompt if isinstance(prompt, str) else " ".join(str(part) for part in prompt)
        pieces, finish = _reply(text, call.body.get("max_tokens"))
        usage = _chat_usage(len(text.split()), len(pieces))
        head = {"id": f"cmpl-fake-{call.number:06d}", "object": "text_completion", "created": CREATED}
        head = {**head, "model": call.body["model"], "system_fingerprint": "fp_fake"}
        if not call.body.get("stream"):
            choice = {"text": "".join(pieces), "index": 0, "logprobs": None, "finish_reason": finish}
            return web.json_response({**head, "choices": [choice], "usage": usage})
        chunks = [
            {**head, "choices": [{"text": piece, "index": 0, "logprobs": None, "finish_reason": None}]}
            for piece in pieces
        ]
        chunks.append(
            {**head, "choices": [{"text": "", "index": 0, "logprobs": None, "finish_reason": finish}]}
        )
        if (call.body.get("stream_options") or {}).get("include_usage") and not call.behavior.no_usage:
            chunks.append({**head, "choices": [], "usage": usage})
        events = [sse_data(chunk) for chunk in chunks] + [b"data: [DONE]\n\n"]
        return await self._stream(request, call, events, first_content=0)

    async def _embeddings(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        raw_input = call.body.get("input")
        # One input is a string or a token array; a batch is a list of either.
        batch = raw_input if isinstance(raw_input, list) else []
        is_single = isinstance(raw_input, str) or (bool(batch) and isinstance(batch[0], int))
        inputs: list[Any] = [raw_input] if is_single else batch
        if not inputs:
            return _error(400, "'input' is a required property", "invalid_request_error", param="input")
        fmt = call.body.get("encoding_format", "float")
        if fmt not in ("float", "base64"):
            return _error(
                400, f"Invalid encoding_format: {fmt!r}", "invalid_request_error", param="encoding_format"
            )
        dimensions = int(call.body.get("dimensions") or EMBEDDING_DIMENSIONS)
        data = []
        for index, item in enumerate(inputs):
            vector = _embedding(_words_of(item), dimensions)
            encoded: Any = (
                base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode()
                if fmt == "base64"
                else vector
            )
            data.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(_words_of(item)) for item in inputs)
        usage = {"prompt_tokens": tokens, "total_tokens": tokens}
        document = {"object": "list", "data": data, "model": call.body["model"], "usage": usage}
        return await _whole(request, call.behavior, document, self._paused(call))

    async def _responses(self, request: web.Request) -> web.StreamResponse:
        call = request[CALL]
        if (refusal := self.response_store.refusal(call.body)) is not None:
            type_ = "invalid_request_error"
            return _error(refusal.status, refusal.message, type_, code=refusal.code, param=refusal.param)
        source = call.body.get("input", "")
        pieces, finish = _reply(_last_user_text(source), call.body.get("max_output_tokens"))
        text = "".join(pieces)
        prompt_tokens = _prompt_tokens(source, call.body["model"])
        output_tokens = len(pieces) + call.behavior.reasoning
        usage = {
            "input_tokens": prompt_tokens,
            "input_tokens_details": {
                "cached_tokens": min(call.behavior.cached, prompt_tokens),
                "cache_write_tokens": 0,
            },
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": call.behavior.reasoning},
            "total_tokens": prompt_tokens + output_tokens,
        }
        # https://platform.openai.com/docs/api-reference/responses-streaming/response/incomplete
        status = "incomplete" if finish == "length" else "completed"
        item_id = f"msg_fake_{call.number:06d}"
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
        item = {
            "id": item_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": [part],
        }
        done = _response_object(call, status, [item], usage)
        self.response_store.keep(call.body, done)
        if call.body.get("background") is True and not call.body.get("stream"):
            return web.json_response(_response_object(call, "queued", [], None))  # done when read
        if not call.body.get("stream"):
            return web.json_response(done)
        started = _response_object(call, "in_progress", [], None)
        at = {"item_id": item_id, "output_index": 0, "content_index": 0}
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": started},
            {"type": "response.in_progress", "response": started},
            {
                "type": "response.output_item.added",
                "output_index": 0,
                "item": {**item, "status": "in_progress", "content": []},
            },
            {"type": "response.content_part.added", **at, "part": {**part, "text": ""}},
            *(
                {"type": "response.output_text.delta", **at, "delta": piece, "logprobs": []}
                for piece in pieces
            ),
            {"type": "response.output_text.done", **at, "text": text, "logprobs": []},
            {"type": "response.content_part.done", **at, "part": part},
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            {
                "type": f"response.{status}",
                "response": {**done, "usage": None} if call.behavior.no_usage else done,
            },
        ]
        encoded = [
            sse_event(str(event["type"]), {**event, "sequence_number": n}) for n, event in enumerate(events)
        ]
        return await self._stream(request, call, encoded, first_content=4)

    async def _response(self, request: web.Request) -> web.StreamResponse:
        """A kept response read again by id; a background one is done by its first read."""
        response_id = request.match_info["response_id"]
        if (kept := self.response_store.read(response_id)) is None:
            message = f"Response with id '{response_id}' not found."
            return _error(404, message, "invalid_request_error", param="response_id")
        return web.json_response(kept)

    async def _images(self, request: web.Request) -> web.StreamResponse:
        """DALL·E answers with images and no usage; GPT Image models report tokens."""
        call = request[CALL]
        count = int(call.body.get("n") or 1)
        if call.body["model"].startswith("dall-e"):
            data = [{"url": f"https://images.fake/{call.number}/{n}.png"} for n in range(count)]
            return web.json_response({"created": CREATED, "data": data})
        prompt_tokens = len(str(call.body.get("prompt", "")).split())
        usage = {
            "input_tokens": prompt_tokens,
            "input_tokens_details": {"text_tokens": prompt_tokens, "image_tokens": 0},
            "output_tokens": 272 * count,
            "total_tokens": prompt_tokens + 272 * count,
        }
        data = [{"b64_json": base64.b64encode(b"fake png").decode()} for _ in range(count)]
        return web.json_response({"created": CREATED, "data": data, "usage": usage})

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        """The audio itself (a stand-in: the input's bytes, repeated), billed per input character."""
        text = str(request[CALL].body.get("input", ""))
        return web.Response(body=text.encode() * 64, content_type="audio/mpeg")

    async def _transcription(self, request: web.Request) -> web.StreamResponse:
        """The audio's length is its bytes / 16000 (16 kHz, 8-bit mono); whisper bills it by
        duration, the GPT transcribe models by tokens (1 audio token per 100 bytes). As OpenAI's, the
        usage is in a JSON answer only (`response_format` `json`, the default, or `verbose_json`):
        `text`, `srt` and `vtt` answer the transcript alone, as plain text."""
        call = request[CALL]
        audio = call.body.get("file", b"")
        plain = _PLAIN_TRANSCRIPTS.get(str(call.body.get("response_format", "json")))
        if plain is not None:
            seconds = max(1, math.ceil(len(audio) / 16000))
            end = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
            return web.Response(text=plain.format(end=end), content_type="text/plain")
        if call.body["model"] == "whisper-1":
            usage: dict[str, Any] = {"type": "duration", "seconds": math.ceil(len(audio) / 16000)}
        else:
            audio_tokens = len(audio) // 100
            usage = {
                "type": "tokens",
                "input_tokens": audio_tokens,
                "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
                "output_tokens": 3,
                "total_tokens": audio_tokens + 3,
            }
        return web.json_response({"text": "a fake transcript", "usage": usage})

    async def _accept_call(self, request: web.Request) -> web.StreamResponse:
        """A SIP call accepted: its session runs from now on (OpenAI answers 200 with no body)."""
        return web.Response(status=200)

    async def _client_secret(self, request: web.Request) -> web.StreamResponse:
        """An ephemeral key for a realtime session: GA's client secret with the session it was asked
        for, or the beta's session (a transcription session too) with its `client_secret`."""
        secret = {"value": f"ek_fake_{request[NUMBER]:06d}", "expires_at": CREATED + 600}
        body = request[CALL].body
        if request.path == "/v1/realtime/client_secrets":
            return web.json_response({**secret, "session": body.get("session") or {"type": "realtime"}})
        return web.json_response({"id": "sess_fake", **body, "client_secret": secret})

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"object": "list", "data": [_model(model_id) for model_id in self.models]})

    async def _model(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(_model(request.match_info["model_id"]))

    async def _costs(self, request: web.Request) -> web.StreamResponse:
        """An admin endpoint: a project key lacks its scope (https://platform.openai.com/docs/api-reference/usage/costs)."""
        if not request.headers.get("Authorization", "").startswith("Bearer sk-admin-"):
            return _error(401, SCOPES_MESSAGE.format(scopes="api.usage.read"), "invalid_request_error")
        return web.json_response({"object": "page", "data": [], "has_more": False, "next_page": None})


async def _add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    # OpenAI tags every answer, errors included, with an id that support can trace.
    response.headers.setdefault("x-request-id", f"req_fake_{request.get(NUMBER, 0):06d}")


def _error(
    status: int, message: str, type_: str, *, code: str | None = None, param: str | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return web.json_response(body, status=status)


def _error_fields(status: int, model: str) -> tuple[str, str | None, str]:
    default = (
        "server_error" if status >= 500 else "invalid_request_error",
        None,
        f"Fake upstream error {status}.",
    )
    type_, code, message = ERRORS.get(status, default)
    return type_, code, message.format(model=model)


def _error_event(status: int, model: str, quote: str = "") -> bytes:
    """The error of `status` as OpenAI sends one inside a stream: a `data:` event of its own."""
    type_, code, message = _error_fields(status, model)
    return sse_data({"error": {"message": message + quote, "type": type_, "param": None, "code": code}})


def _streams(body: Any) -> bool:
    return isinstance(body, dict) and bool(body.get("stream"))


def _behavior_error(
    status: int, model: str, retry_after_ms: int | None = None, out_of_quota: bool = False
) -> web.Response:
    if out_of_quota:
        return _error(429, QUOTA_MESSAGE, "insufficient_quota", code="insufficient_quota")
    type_, code, message = _error_fields(status, model)
    response = _error(status, message, type_, code=code)
    if status == 429:
        wait_ms = retry_after_ms if retry_after_ms is not None else 1000
        response.headers.update(
            {
                "Retry-After": str(math.ceil(wait_ms / 1000)),
                "x-ratelimit-limit-requests": "3",
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": f"{wait_ms}ms",
                "x-ratelimit-limit-tokens": "40000",
                "x-ratelimit-remaining-tokens": "39950",
                "x-ratelimit-reset-tokens": "75ms",
            }
        )
        if retry_after_ms is not None:
            response.headers["retry-after-ms"] = str(retry_after_ms)
    return response


def _form(content_type: str, raw: bytes) -> dict[str, Any] | None:
    """A multipart form's fields (files as bytes), None for a body that is not one."""
    if not content_type.startswith("multipart/form-data"):
        return None
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload if part.get_filename() else payload.decode()
    return fields


def _arguments(tool: dict[str, Any], messages: Any) -> str:
    """A forced call's arguments: the last user text under the tool's first parameter, and a value
    of its type for each other parameter the schema requires, as a model fills what is required."""
    schema = tool["function"].get("parameters") or {}
    properties = schema.get("properties") or {"input": {}}
    text = _last_user_text(messages)
    first = next(iter(properties))
    required = [name for name in schema.get("required") or () if name in properties and name != first]
    filled = {name: schema_instance(properties[name], schema, text, depth=1) for name in required}
    return json.dumps({first: text, **filled})


def _forced_tool(body: dict[str, Any]) -> dict[str, Any] | None:
    """The function tool the request forces (`tool_choice` "required" or a named function), if any."""
    tools = [
        t for t in body.get("tools") or () if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    choice = body.get("tool_choice")
    if not tools or not (choice == "required" or isinstance(choice, dict)):
        return None
    name = ((choice if isinstance(choice, dict) else {}).get("function") or {}).get("name")
    named = [t for t in tools if t["function"].get("name") == name]
    return named[0] if named else tools[0]


def _json_answer(response_format: Any, text: str) -> str | None:
    """The answer to a request for JSON (see the module's docstring); None when prose is asked."""
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_object":
        return json.dumps({"input": text})
    if kind != "json_schema":
        return None
    schema = (response_format.get("json_schema") or {}).get("schema")
    return json.dumps(schema_value(schema, text))


def _unnamed_file(messages: Any) -> str | None:
    """Where the first `file` part that has `file_data` but no `filename` is, as OpenAI names it:
    it then wants a `file_id` instead."""
    for i, message in enumerate(_messages(messages)):
        content = message.get("content")
        for j, part in enumerate(content if isinstance(content, list) else ()):
            file = part.get("file") if isinstance(part, dict) and part.get("type") == "file" else None
            if isinstance(file, dict) and "file_data" in file and not file.get("filename"):
                return f"messages[{i}].content[{j}].file.file_id"
    return None


def _delta_choice(delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}


def _text_of(content: Any) -> str:
    """A message's text: a string, or the text of its parts (chat `text`, Responses `input_text`)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _messages(source: Any) -> list[dict[str, Any]]:
    """Chat `messages` or Responses `input` (a bare string is one user message)."""
    if isinstance(source, str):
        return [{"role": "user", "content": source}]
    return [m for m in source if isinstance(m, dict)] if isinstance(source, list) else []


def _last_user_text(source: Any) -> str:
    users = [m for m in _messages(source) if m.get("role", "user") == "user"]
    return _text_of(users[-1].get("content")) if users else ""


def _prompt_tokens(source: Any, model: str) -> int:
    return sum(_message_tokens(m.get("content"), model) + 3 for m in _messages(source)) + 3


def _message_tokens(content: Any, model: str) -> int:
    """A message's words, and what its image parts cost as OpenAI bills them."""
    parts = content if isinstance(content, list) else []
    images = [p for p in parts if isinstance(p, dict) and p.get("type") in ("image_url", "input_image")]
    return len(_text_of(content).split()) + sum(_image_tokens(part, model) for part in images)


def _image_tokens(part: dict[str, Any], model: str) -> int:
    """OpenAI's tile rule for one image part (https://platform.openai.com/docs/guides/images-vision
    #calculating-costs), the size read from a PNG data URL's IHDR chunk, else (a URL, a PNG cut
    short) 512×512."""
    image, detail = part.get("image_url"), part.get("detail")
    if isinstance(image, dict):
        detail = image.get("detail", detail)
        image = image.get("url")
    base, tile = (2833, 5667) if model.startswith("gpt-4o-mini") else (85, 170)
    if detail == "low":
        return base
    width, height = 512, 512
    if isinstance(image, str) and image.startswith("data:image/png;base64,"):
        header = base64.b64decode(image.partition(",")[2][:32] + "==")[16:24]  # 24 bytes: IHDR's sizes
        if len(header) == 8:
            width, height = struct.unpack(">II", header)
    if max(width, height) > 2048:
        width, height = int(width * 2048 / max(width, height)), int(height * 2048 / max(width, height))
    if min(width, height) > 768:
        width, height = int(width * 768 / min(width, height)), int(height * 768 / min(width, height))
    return base + tile * math.ceil(width / 512) * math.ceil(height / 512)


def _reply(text: str, limit: Any, answer: Callable[[str], str] | None = None) -> tuple[list[str], str]:
    """The reply as stream pieces (one word each, space-led after the first) and a finish_reason."""
    words = (answer(text) if answer else "echo: " + text).split()[:ECHO_WORDS]
    finish = "stop"
    if isinstance(limit, int) and 0 < limit < len(words):
        words, finish = words[:limit], "length"
    return [words[0], *(" " + word for word in words[1:])], finish


async def _whole(
    request: web.Request, behavior: Behavior, document: Any, pause: Pause | None = None
) -> web.StreamResponse:
    """A whole JSON answer: with its Content-Length, or (`chunked`) without it, in two chunks, as a
    compressed answer from behind a CDN arrives; gzip-compressed with `gzip`, cut short with
    `gzip-cut`. A chunked one given `pause` (`pause-stream`) is sent all but its last kilobyte, then
    waits for it."""
    if not (behavior.chunked or behavior.gzip or behavior.gzip_cut):
        return web.json_response(document)
    body = json.dumps(document).encode()
    headers = {"Content-Type": "application/json"}
    if behavior.gzip or behavior.gzip_cut:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    if behavior.gzip_cut:
        body = body[: len(body) * 2 // 3]
    if not behavior.chunked:
        return web.Response(body=body, headers=headers)
    response = web.StreamResponse(headers=headers)
    response.enable_chunked_encoding()
    await response.prepare(request)
    split = len(body) // 2 if pause is None else max(0, len(body) - 1024)
    await response.write(body[:split])
    if pause is not None:
        pause.chunk_sent.set()
        with contextlib.suppress(TimeoutError):  # a test that never releases must not hang the suite
            async with asyncio.timeout(GATE_TIMEOUT):
                await pause.gate.wait_async()
    await response.write(body[split:])
    await response.write_eof()
    return response


def _chat_usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _response_object(
    call: Call, status: str, output: list[Any], usage: dict[str, Any] | None
) -> dict[str, Any]:
    body = call.body
    return {
        "id": f"resp_fake_{call.number:06d}",
        "object": "response",
        "created_at": CREATED,
        "status": status,
        "background": body.get("background") is True,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"],
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def _model(model_id: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": "system"}


def _words_of(item: Any) -> list[str]:
    """An embedding input's tokens: words of a string, or the ids of a token array."""
    return item.lower().split() if isinstance(item, str) else [str(token) for token in item]


def _embedding(words: list[str], dimensions: int) -> list[float]:
    """A unit vector from hashed words; values are float32-exact so base64 and float agree."""
    vector = [0.0] * dimensions
    for word in words or [""]:
        digest = hashlib.sha256(re.sub(r"\W", "", word).encode()).digest()
        vector[int.from_bytes(digest[:4], "little") % dimensions] += 1.0 if digest[4] & 1 else -1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in vector))))
