"""A fake OpenAI Realtime upstream: a real WebSocket server on loopback speaking the Realtime API.

    with FakeRealtime().serve() as fake:
        ...  # ws://127.0.0.1:<port>/v1/realtime?model=gpt-realtime (OpenAI's path)
             # ws://…/openai/realtime?api-version=…&deployment=… and …/openai/v1/realtime?model=…
             # (Azure OpenAI's), with `api-key` instead of `Authorization: Bearer`

Wire format: https://platform.openai.com/docs/api-reference/realtime (GA event names). The
handshake needs a key, in `Authorization`, `api-key` or a browser's `openai-insecure-api-key.<key>`
subprotocol (else HTTP 401, as OpenAI answers). The behaviour vocabulary of `base.py`, read from
the model (or `FakeRealtime(key_behaviors={key: "…"})` for a key), refuses it: `error-<status>`
with that status (`error-401` with OpenAI's `invalid_api_key`, as it refuses a wrong key),
`rate-limited` with 429 and OpenAI's `Retry-After` and `x-ratelimit-*` headers
(`retry-after-ms-<n>` sets the wait); every answer has an `x-request-id`, and every handshake's
headers are kept (`handshakes`), refused or not. On connect the server sends `session.created`.
It answers `session.update` (`session.updated`), `conversation.item.create` (`conversation.item.added`),
`input_audio_buffer.append` (nothing; the audio is kept), `input_audio_buffer.commit`
(`input_audio_buffer.committed`, the commit's transcription when the session turned it on:
`realtime_transcription.py`, then a response of its own, as voice detection would start, unless
a `session.update` set `turn_detection` to null: GA's in `audio.input`, the beta's at the top) and
`response.create` (a response), and `response.cancel` as OpenAI does: a response under way ends
with `response.done`, status `cancelled` and the usage so far; with none, an `error` event
(`response_cancel_not_active`). Test-only client events: `fake.hold` makes the next response stop
after `response.created` and its first word until a `response.cancel` (never, with
`"ignore_cancel": true`); `fake.close` closes the socket with
`code` and `reason`; `fake.drop` aborts the TCP connection without a close frame; `fake.error` gets
OpenAI's `error` event, its message quoting the handshake's key (as an upstream may quote a
credential; `quote_key` on `fake.close` adds it to the reason too, cut to 123 bytes as any close
reason is). A binary frame is echoed back as sent.

A response is `response.created`, `response.output_item.added`, `response.content_part.added`,
the text of "echo: <last user text>" word by word (`response.output_text.delta`; with audio output,
`response.output_audio_transcript.delta` and one `response.output_audio.delta` per word, then
`response.output_audio.done`), then the text's `.done`, `response.content_part.done`,
`response.output_item.done` and `response.done` with usage, in the order OpenAI sends them.
Tokens are words: text input = words of every conversation item so far + 8; audio input = appended
audio bytes / 100 (the session's whole buffer); cache reads = the previous response's input; text
output = the reply's words; audio output = 2 per word when the session's `output_modalities` hold
"audio". Every frame each way is recorded.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.fakes.base import Behavior, FakeUpstream
from tests.fakes.realtime_refusals import refusal, too_many_requests
from tests.fakes.realtime_transcription import Transcription

CLIENT_GONE = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)
AUDIO_BYTES_PER_TOKEN = 100
# OpenAI takes 15 MiB of audio in one `input_audio_buffer.append` (20 MiB once base64), more
# than aiohttp's default of 4 MiB.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes, 2 of them the code
KEY_PROTOCOL = "openai-insecure-api-key."  # https://platform.openai.com/docs/guides/realtime-websocket


@dataclass
class Connection:
    """One session as the fake saw it: the handshake and every data frame, in order."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    received: list[str | bytes] = field(default_factory=list)
    sent: list[str | bytes] = field(default_factory=list)
    closed_with: int | None = None  # the close code the peer sent, once it did


@dataclass
class _State:
    items: list[str] = field(default_factory=list)  # conversation texts, oldest first
    audio_bytes: int = 0
    audio_out: bool = False
    previous_input: int = 0
    responses: int = 0
    key: str = ""  # the handshake's
    hold: bool = False  # the next response waits for a `response.cancel` after its first word
    ignore_cancel: bool = False
    held: tuple[str, dict[str, Any]] | None = None  # the response waiting: its id and usage so far
    transcription: Transcription = field(default_factory=Transcription)
    voice_detection: bool = True  # a commit starts a response; `turn_detection: null` turns it off


class FakeRealtime(FakeUpstream):
    """Records WebSocket sessions (`connections`) rather than HTTP requests."""

    def __init__(self, key_behaviors: Mapping[str, str] | None = None) -> None:
        """`key_behaviors` maps a key to the behaviour its handshakes get (over the model's)."""
        super().__init__()
        self.key_behaviors = dict(key_behaviors or {})
        self._connections: list[Connection] = []
        self._handshakes: list[dict[str, str]] = []

    def build_app(self) -> web.Application:
        app = web.Application()
        for path in ("/v1/realtime", "/openai/realtime", "/openai/v1/realtime"):
            app.router.add_get(path, self._session)
        return app

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def connections(self) -> list[Connection]:
        with self._lock:
            return list(self._connections)

    @property
    def handshakes(self) -> list[dict[str, str]]:
        """The headers of every handshake, in order, the refused ones too."""
        with self._lock:
            return list(self._handshakes)

    async def _session(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self._handshakes.append(dict(request.headers))
        model = request.query.get("model") or request.query.get("deployment") or ""
        key = _key(request)
        if not key:
            return refusal(401, "You didn't provide an API key.", "invalid_request_error")
        behavior = Behavior.parse(self.key_behaviors.get(key, model))
        if behavior.error_status == 429:
            return too_many_requests(model, behavior.retry_after_ms)
        if behavior.error_status == 401:  # as OpenAI refuses a wrong or revoked key
            message = f"Incorrect API key provided: {key[:3]}***{key[-4:]}."
            return refusal(401, message, "invalid_request_error", code="invalid_api_key")
        if behavior.error_status is not None:
            return refusal(behavior.error_status, f"Fake refusal of model {model}.", "invalid_request_error")
        socket = web.WebSocketResponse(protocols=("realtime",), max_msg_size=MAX_MESSAGE_BYTES)
        await socket.prepare(request)
        connection = Connection(request.path, dict(request.query), dict(request.headers))
        with self._lock:
            self._connections.append(connection)
        state = _State(key=key)
        session = {**_session_object(model), **state.transcription.settings()}
        await _send(socket, connection, _event("session.created", session=session))
        async for message in socket:
            if message.type is WSMsgType.BINARY:
                connection.received.append(message.data)
                await _send(socket, connection, message.data)
            elif message.type is WSMsgType.TEXT:
                connection.received.append(message.data)
                if not await self._answer(socket, connection, state, model, json.loads(message.data)):
                    break
        connection.closed_with = socket.close_code
        return socket

    async def _answer(
        self, socket: web.WebSocketResponse, connection: Connection, state: _State, model: str, event: Any
    ) -> bool:
        """Act on one client event; False once the session is over."""
        kind = event.get("type")
        if kind == "fake.close":
            reason = event.get("reason", "") + (f" {state.key}" if event.get("quote_key") else "")
            # Cut to what a close frame holds (RFC 6455 §5.5.1), as a server must: a long key is cut.
            await socket.close(code=event["code"], message=reason.encode()[:MAX_REASON_BYTES])
            return False
        if kind == "fake.error":
            message = f"Incorrect API key provided: {state.key}."
            error = {"type": "invalid_request_error", "code": "invalid_api_key", "message": message}
            await _send(socket, connection, _event("error", error={**error, "param": None, "event_id": None}))
        if kind == "fake.hold":
            state.hold, state.ignore_cancel = True, bool(event.get("ignore_cancel"))
        if kind == "response.cancel":
            await self._cancel(socket, connection, state, model)
        if kind == "fake.drop":
            transport = request_transport(socket)
            transport.abort()
            return False
        if kind in ("session.update", "transcription_session.update"):
            state.transcription.update(event.get("session"))
            state.voice_detection = _voice_detection(event.get("session"), state.voice_detection)
            modalities = (event.get("session") or {}).get("output_modalities") or ["text"]
            state.audio_out = "audio" in modalities
            session = {**_session_object(model), "output_modalities": modalities}
            session.update(state.transcription.settings())
            await _send(socket, connection, _event(kind.replace(".update", ".updated"), session=session))
        elif kind == "conversation.item.create":
            item = event.get("item") or {}
            texts = [part.get("text", "") for part in item.get("content") or [] if isinstance(part, dict)]
            state.items.append(" ".join(texts))
            added = {**item, "id": f"item_fake_{len(state.items):04d}", "status": "completed"}
            await _send(
                socket, connection, _event("conversation.item.added", previous_item_id=None, item=added)
            )
        elif kind == "input_audio_buffer.append":
            appended = len(base64.b64decode(event.get("audio", "")))
            state.audio_bytes += appended
            state.transcription.uncommitted += appended
        elif kind == "input_audio_buffer.commit":
            item_id = f"item_fake_audio_{state.responses:04d}"
            await _send(socket, connection, _event("input_audio_buffer.committed", item_id=item_id))
            for heard, fields in state.transcription.committed(item_id):
                await _send(socket, connection, _event(heard, **fields))
            if state.voice_detection:
                await self._respond(socket, connection, state, model)
        elif kind == "response.create":
            await self._respond(socket, connection, state, model)
        return True

    async def _cancel(
        self, socket: web.WebSocketResponse, connection: Connection, state: _State, model: str
    ) -> None:
        if state.held is None:
            message = "Cancellation failed: no active response found"
            error = {
                "type": "invalid_request_error",
                "code": "response_cancel_not_active",
                "message": message,
            }
            await _send(socket, connection, _event("error", error={**error, "param": None, "event_id": None}))
        elif not state.ignore_cancel:
            response_id, usage = state.held
            state.held = None
            done = _response(response_id, model, "cancelled", [], usage)
            done["status_details"] = {"type": "cancelled", "reason": "client_cancelled"}
            await _send(socket, connection, _event("response.done", response=done))

    async def _respond(
        self, socket: web.WebSocketResponse, connection: Connection, state: _State, model: str
    ) -> None:
        state.responses += 1
        response_id = f"resp_fake_{state.responses:04d}"
        words = ("echo: " + (state.items[-1] if state.items else "")).split()
        cached, state.previous_input = state.previous_input, _text_in(state)
        usage = _usage(state, len(words), cached)
        started = _response(response_id, model, "in_progress", [], None)
        await _send(socket, connection, _event("response.created", response=started))
        if state.hold:  # the first word, then nothing until a `response.cancel`
            state.hold, state.held = False, (response_id, _usage(state, 1, cached))
            at = {"response_id": response_id, "item_id": f"msg_{response_id}", "output_index": 0}
            await _send(
                socket,
                connection,
                _event("response.output_text.delta", **at, content_index=0, delta=words[0]),
            )
            return
        await self._rest(socket, connection, state, model, response_id, words, usage)

    async def _rest(
        self,
        socket: web.WebSocketResponse,
        connection: Connection,
        state: _State,
        model: str,
        response_id: str,
        words: list[str],
        usage: dict[str, Any],
    ) -> None:
        """A started response's events after `response.created`, to its `response.done`."""
        item_id = f"msg_{response_id}"
        at = {"response_id": response_id, "item_id": item_id, "output_index": 0, "content_index": 0}
        # In audio, the words come as the audio's transcript; in text, as text.
        part_type, said, field = (
            ("output_audio", "response.output_audio_transcript", "transcript")
            if state.audio_out
            else ("output_text", "response.output_text", "text")
        )
        item: dict[str, Any] = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "role": "assistant",
        }
        at_item = {"response_id": response_id, "output_index": 0}
        await _send(
            socket,
            connection,
            _event(
                "response.output_item.added", **at_item, item={**item, "status": "in_progress", "content": []}
            ),
        )
        await _send(
            socket,
            connection,
            _event("response.content_part.added", **at, part={"type": part_type, field: ""}),
        )
        for index, word in enumerate(words):
            delta = word if index == 0 else " " + word
            await _send(socket, connection, _event(f"{said}.delta", **at, delta=delta))
            if state.audio_out:
                audio = base64.b64encode(word.encode() * 4).decode()
                await _send(socket, connection, _event("response.output_audio.delta", **at, delta=audio))
        text = " ".join(words)
        if state.audio_out:
            await _send(socket, connection, _event("response.output_audio.done", **at))
        await _send(socket, connection, _event(f"{said}.done", **at, **{field: text}))
        part = {"type": part_type, field: text}
        await _send(socket, connection, _event("response.content_part.done", **at, part=part))
        item = {**item, "status": "completed", "content": [part]}
        await _send(socket, connection, _event("response.output_item.done", **at_item, item=item))
        done = _response(response_id, model, "completed", [item], usage)
        await _send(socket, connection, _event("response.done", response=done))


def _text_in(state: _State) -> int:
    return sum(len(text.split()) for text in state.items) + 8


def _usage(state: _State, words: int, cached: int) -> dict[str, Any]:
    """A response's usage with `words` said so far (`cached`: the previous response's input)."""
    text_in = _text_in(state)
    audio_in = state.audio_bytes // AUDIO_BYTES_PER_TOKEN
    audio_out = 2 * words if state.audio_out else 0
    return {
        "total_tokens": text_in + audio_in + words + audio_out,
        "input_tokens": text_in + audio_in,
        "output_tokens": words + audio_out,
        "input_token_details": {
            "text_tokens": text_in,
            "audio_tokens": audio_in,
            "image_tokens": 0,
            "cached_tokens": cached,
            "cached_tokens_details": {
                "text_tokens": cached,
                "audio_tokens": 0,
                "image_tokens": 0,
            },
        },
        "output_token_details": {"text_tokens": words, "audio_tokens": audio_out},
    }


def request_transport(socket: web.WebSocketResponse) -> asyncio.Transport:
    request = socket._req  # aiohttp keeps the request; its transport is the TCP connection
    assert request is not None
    assert request.transport is not None
    return request.transport


async def _send(socket: web.WebSocketResponse, connection: Connection, frame: str | bytes) -> None:
    connection.sent.append(frame)
    if isinstance(frame, bytes):
        await socket.send_bytes(frame)
    else:
        await socket.send_str(frame)


_EVENT_IDS = iter(range(1, 1 << 62))


def _event(kind: str, **fields: Any) -> str:
    # OpenAI writes `event_id` first, then `type`.
    return json.dumps({"event_id": f"event_fake_{next(_EVENT_IDS):06d}", "type": kind, **fields})


def _session_object(model: str) -> dict[str, Any]:
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_fake",
        "model": model,
        "output_modalities": ["text"],
        "instructions": "",
    }


def _response(response_id: str, model: str, status: str, output: list[Any], usage: Any) -> dict[str, Any]:
    return {
        "object": "realtime.response",
        "id": response_id,
        "status": status,
        "status_details": None,
        "output": output,
        "conversation_id": "conv_fake",
        "output_modalities": ["text"],
        "max_output_tokens": "inf",
        "audio": None,
        "usage": usage,
        "metadata": None,
    }


def _key(request: web.Request) -> str | None:
    protocols = request.headers.get("Sec-WebSocket-Protocol", "").split(",")
    in_protocol = [
        p.strip().removeprefix(KEY_PROTOCOL) for p in protocols if p.strip().startswith(KEY_PROTOCOL)
    ]
    return (
        request.headers.get("Authorization", "").removeprefix("Bearer ")
        or request.headers.get("api-key")
        or next(iter(in_protocol), None)
    )


def _voice_detection(session: Any, before: bool) -> bool:
    """Whether commits start responses after a `session.update` giving `session`: a
    `turn_detection` it names turns voice detection on (an object) or off (null)."""
    if not isinstance(session, dict):
        return before
    audio_in = (session.get("audio") or {}).get("input") or {}
    for where in (audio_in, session):
        if isinstance(where, dict) and "turn_detection" in where:
            return where["turn_detection"] is not None
    return before
