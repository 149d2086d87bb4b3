"""What every fake upstream shares, so a provider's fake adds its wire format only.

`FakeUpstream` serves an aiohttp app on loopback (`serve()`/`stop()`, a context manager), records
each request (`requests`, `clear()`), parses the behaviour vocabulary (`Behavior`), acts out the
behaviours every provider has (slow, fail-n-then-ok, an error status, through the provider's own
error shape: `act_out`) and writes streams one event per chunk with the common stream behaviours
(drop mid-stream, pause until released: `write_stream`). A subclass gives `build_app()` (its routes
and a middleware that records, rejects and calls `act_out`) and its handlers. The same app also
answers in process, without a socket, behind `in_process.InProcessTransport`.

Behaviour is chosen per request by a token list (the model name, or the `x-fake-behavior` header):

    error-<status>     that status in the provider's error shape
    rate-limited       429 with the provider's rate-limit headers
    insufficient-quota 429 saying the key's account is out of credit (fakes that have one: OpenAI's
                       insufficient_quota), which no retry mends
    retry-after-ms-<n> with rate-limited: a retry-after-ms header too (fakes that have one)
    slow-<ms>          wait that long before answering
    gap-<ms>           streams wait that long between two events (a steady stream that takes long)
    queued-<ms>        streams start with `: OPENROUTER PROCESSING` comments, one each QUEUED_EVERY,
                       for that long, as OpenRouter keeps a queued request's connection alive
                       (https://openrouter.ai/docs/api/reference/streaming), then go on as they would
    fail-<n>-then-ok   the first n requests per `x-fake-key` header (else per model) get 500
    drop-mid-stream    abort the TCP connection after the second content event
    end-mid-stream     end the stream after the second content event, its HTTP body complete: an
                       upstream that stops early and closes cleanly, without its closing events
                       (Anthropic's message_stop, Gemini's finishReason, OpenAI's `[DONE]`)
    error-mid-stream   streams send the provider's in-stream error event after a content event
                       (fakes that say so)
    quote-key          that in-stream error's message quotes the key the request came with
                       (`… Key used: <key>.`), as an upstream may quote a credential (fakes that say so)
    one-delta          streams send the reply's text as one content event, as a provider may send
                       many tokens in one delta (fakes that say so)
    stream-error-<status>  a stream request answered 200 whose first and only event is the error
                       error-<status> would give, as the provider sends it inside a stream (Anthropic
                       reports overload so: https://docs.anthropic.com/en/docs/build-with-claude/
                       streaming#error-events); with fail-<n>-then-ok only the first n (fakes that say so).
                       As real servers send it, with any of:
      comment-first      an SSE comment (`: keep-alive`, as OpenRouter sends) written before it
      ping-first         Anthropic's `event: ping` written before it
      split-lines        each line its own write (`event: error\n` apart from its `data:` line); with
                         gap-<ms>, that long between two writes, so they arrive apart
      hold-open          the connection kept open after it, until `release(name)` (10 s at most)
    no-usage           streams carry no usage
    interleaved-calls  parallel tool calls streamed interleaved (fakes that say so)
    gzip               streams gzip-compressed (Content-Encoding), each event flushed on its own so
                       it can be read as it comes (whole answers too, in fakes that say so)
    gzip-cut           gzip, cut short with the HTTP framing complete: a stream ends two thirds of
                       the way, without gzip's end; a whole answer (fakes that say so) is two thirds
                       of its compressed bytes, its Content-Length theirs
    pause-stream       after the first content event, set `pause(name).chunk_sent` and wait (10 s at
                       most) for `release(name)`; name from `x-fake-gate`, else "default"
    wrong-shape        a 200 answer in a shape the wire format does not have (fakes that say so)
    cached-<n>, reasoning-<n>   provider-specific usage figures (see the fake's own docstring)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Self

from aiohttp import web

from tests.fakes.server_thread import Latch, ServerThread

BEHAVIOR_HEADER = "x-fake-behavior"
KEY_HEADER = "x-fake-key"
GATE_HEADER = "x-fake-gate"
GATE_TIMEOUT = 10.0
ECHO_WORDS = 64  # every fake's reply, "echo: <last user text>", is cut to this many words
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
COMPACT = (",", ":")
GZIP = {"Content-Encoding": "gzip"}
KEEP_ALIVE = b": keep-alive\n\n"
PROCESSING = b": OPENROUTER PROCESSING\n\n"
QUEUED_EVERY = 0.2  # seconds between two of them
PING = b'event: ping\ndata: {"type":"ping"}\n\n'  # https://docs.anthropic.com/en/docs/build-with-claude/streaming


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it; `received_at` is `time.monotonic()`."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes
    json: Any
    received_at: float

    def header(self, name: str, default: str | None = None) -> str | None:
        """Case-insensitive header lookup."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), default)


@dataclass(frozen=True)
class Behavior:
    error_status: int | None = None
    insufficient_quota: bool = False
    retry_after_ms: int | None = None
    slow_ms: int = 0
    gap_ms: int = 0
    queued_ms: int = 0
    fail_first: int = 0
    drop_mid_stream: bool = False
    end_mid_stream: bool = False
    interleaved_calls: bool = False
    no_usage: bool = False
    pause_stream: bool = False
    wrong_shape: bool = False
    cached: int = 0
    reasoning: int = 0
    chunked: bool = False
    gzip: bool = False
    gzip_cut: bool = False
    error_mid_stream: bool = False
    stream_error: int | None = None
    comment_first: bool = False
    ping_first: bool = False
    split_lines: bool = False
    hold_open: bool = False
    quote_key: bool = False
    one_delta: bool = False

    @classmethod
    def parse(cls, spec: str) -> Behavior:
        """Read the vocabulary above; unknown tokens (plain model names) mean success."""
        behavior = cls()
        for token in (part.strip().lower() for part in spec.split(",")):
            number = int(digits[0]) if (digits := re.findall(r"\d+", token)) else 0
            if re.fullmatch(r"error-\d{3}", token):
                behavior = replace(behavior, error_status=number)
            elif token == "rate-limited":
                behavior = replace(behavior, error_status=429)
            elif token == "insufficient-quota":
                behavior = replace(behavior, error_status=429, insufficient_quota=True)
            elif re.fullmatch(r"retry-after-ms-\d+", token):
                behavior = replace(behavior, retry_after_ms=number)
            elif re.fullmatch(r"slow-\d+", token):
                behavior = replace(behavior, slow_ms=number)
            elif re.fullmatch(r"gap-\d+", token):
                behavior = replace(behavior, gap_ms=number)
            elif re.fullmatch(r"queued-\d+", token):
                behavior = replace(behavior, queued_ms=number)
            elif re.fullmatch(r"cached-\d+", token):
                behavior = replace(behavior, cached=number)
            elif re.fullmatch(r"reasoning-\d+", token):
                behavior = replace(behavior, reasoning=number)
            elif re.fullmatch(r"stream-error-\d{3}", token):
                behavior = replace(behavior, stream_error=number)
            elif re.fullmatch(r"fail-\d+-then-ok", token):
                behavior = replace(behavior, fail_first=number)
            elif token in (
                "drop-mid-stream", "end-mid-stream", "error-mid-stream", "no-usage", "pause-stream",
                "wrong-shape", "chunked", "gzip", "gzip-cut", "comment-first", "ping-first", "split-lines",
                "hold-open", "quote-key", "interleaved-calls", "one-delta",
            ):  # fmt: skip
                behavior = replace(behavior, **{token.replace("-", "_"): True})
        return behavior


@dataclass(frozen=True)
class Call:
    """What a handler needs about the request it answers."""

    number: int
    body: dict[str, Any]
    behavior: Behavior
    gate: str


@dataclass
class Pause:
    """A pause-stream rendezvous: the fake sets `chunk_sent`, the test sets `gate` (release)."""

    chunk_sent: Latch = field(default_factory=Latch)
    gate: Latch = field(default_factory=Latch)


CALL = web.RequestKey("fake_upstream_call", Call)
NUMBER = web.RequestKey("fake_upstream_number", int)


class FakeUpstream:
    """A fake upstream's lifecycle, recording and shared behaviours; serves on loopback while open."""

    def __init__(self, *, api_key: str | None = None) -> None:
        """`api_key`, when set, is what the subclass's middleware requires (else its 401)."""
        self.api_key = api_key
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._failures: dict[str, int] = {}
        self._pauses: dict[str, Pause] = {}
        self._stopping = False
        self._server: ServerThread | None = None

    def build_app(self) -> web.Application:
        raise NotImplementedError

    def serve(self) -> Self:
        self._stopping = False
        self._server = ServerThread(self.build_app()).start()
        return self

    def stop(self) -> None:
        # Open every gate, and any made from now on, so no paused stream holds up the shutdown.
        with self._lock:
            self._stopping = True
            pauses = list(self._pauses.values())
        for pause in pauses:
            pause.gate.set()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self if self._server is not None else self.serve()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def server(self) -> ServerThread:
        if self._server is None:
            name = type(self).__name__
            raise RuntimeError(f"{name} is not serving; use `with {name}().serve() as fake:`")
        return self._server

    @property
    def url(self) -> str:
        """The server's root, as every fake names it."""
        return self.server.url

    @property
    def base_url(self) -> str:
        """What an SDK takes as its base URL; the root unless the wire format says otherwise."""
        return self.server.url

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def clear(self) -> None:
        """Forget requests, fail-n counters and pauses; ids start again at 000001."""
        with self._lock:
            self._requests.clear()
            self._failures.clear()
            dropped, self._pauses = list(self._pauses.values()), {}
        for pause in dropped:
            pause.gate.set()  # a stream still paused on a forgotten gate must not wait 10 s

    def pause(self, name: str = "default") -> Pause:
        with self._lock:
            pause = self._pauses.setdefault(name, Pause())
            if self._stopping:
                pause.gate.set()
            return pause

    @property
    def gates(self) -> dict[str, Latch]:
        with self._lock:
            return {name: pause.gate for name, pause in self._pauses.items()}

    @property
    def first_chunk_sent(self) -> Latch:
        return self.pause("default").chunk_sent

    def release(self, name: str = "default") -> None:
        self.pause(name).gate.set()

    def parse_body(self, content_type: str, raw: bytes) -> Any:
        """The request body as handlers see it: JSON, else None (a fake may read other formats)."""
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None

    async def _record(self, request: web.Request) -> tuple[int, Any]:
        """Record the request; its number (1-based, ids are made of it) and its parsed body."""
        received_at = time.monotonic()
        raw = await request.read()
        body = self.parse_body(request.headers.get("Content-Type", ""), raw)
        entry = RecordedRequest(
            method=request.method,
            path=request.path,
            query_string=request.query_string,
            headers=dict(request.headers),
            body=raw,
            json=body,
            received_at=received_at,
        )
        with self._lock:
            self._requests.append(entry)
            return len(self._requests), body

    def _fails(self, key: str, first: int) -> bool:
        with self._lock:
            self._failures[key] = self._failures.get(key, 0) + 1
            return self._failures[key] <= first

    async def act_out(
        self,
        request: web.Request,
        behavior: Behavior,
        model: str,
        error: Callable[[int], web.StreamResponse],
        error_event: Callable[[int], bytes] | None = None,
    ) -> web.StreamResponse | None:
        """The behaviours before an answer: wait, fail the first n (per `x-fake-key`, else per
        model), or answer an error status; `error(status)` builds the provider's error shape, and
        `error_event(status)` (given for a stream request) the same error as an event of a 200
        stream (stream-error-<status>). None when the request goes on to its handler."""
        if behavior.slow_ms:
            await asyncio.sleep(behavior.slow_ms / 1000)
        if behavior.stream_error is not None and error_event is not None:
            key = request.headers.get(KEY_HEADER, model)
            if not behavior.fail_first or self._fails(key, behavior.fail_first):
                return await self._error_stream(request, behavior, error_event(behavior.stream_error))
            return None
        if behavior.fail_first and self._fails(request.headers.get(KEY_HEADER, model), behavior.fail_first):
            return error(500)
        if behavior.error_status is not None:
            return error(behavior.error_status)
        return None

    async def _error_stream(
        self, request: web.Request, behavior: Behavior, event: bytes
    ) -> web.StreamResponse:
        """A 200 stream of the error `event` alone, preceded, split and held open as `behavior` says."""
        chunks = [KEEP_ALIVE] if behavior.comment_first else []
        chunks += [PING] if behavior.ping_first else []
        chunks.append(event)
        if behavior.split_lines:
            chunks = [line for chunk in chunks for line in chunk.splitlines(keepends=True)]
        hold = self.pause(request.headers.get(GATE_HEADER, "default")) if behavior.hold_open else None
        gap, queued = behavior.gap_ms / 1000, behavior.queued_ms / 1000
        return await write_stream(
            request, chunks, SSE_HEADERS, pause=(hold, len(chunks) - 1), gap=gap, queued=queued
        )

    def call_of(self, request: web.Request, number: int, body: dict[str, Any], behavior: Behavior) -> Call:
        return Call(number, body, behavior, request.headers.get(GATE_HEADER, "default"))

    async def _stream(
        self, request: web.Request, call: Call, events: Sequence[bytes], first_content: int
    ) -> web.StreamResponse:
        """Write SSE `events`; `first_content` is the index of the first content event (a pause
        waits after it, a drop comes two events later)."""
        # Made before chunk 1 leaves, so a test that saw chunk 1 always finds this gate.
        pause = self.pause(call.gate) if call.behavior.pause_stream else None
        drop_at = first_content + 2 if call.behavior.drop_mid_stream else None
        end_at = first_content + 2 if call.behavior.end_mid_stream else None
        headers: Mapping[str, str] = SSE_HEADERS
        if call.behavior.gzip or call.behavior.gzip_cut:
            events, headers = gzipped(events, cut=call.behavior.gzip_cut), {**headers, **GZIP}
        return await write_stream(
            request,
            events,
            headers,
            drop_at=drop_at,
            end_at=end_at,
            pause=(pause, first_content),
            gap=call.behavior.gap_ms / 1000,
            queued=call.behavior.queued_ms / 1000,
        )


async def write_stream(
    request: web.Request,
    chunks: Sequence[bytes],
    headers: Mapping[str, str],
    *,
    drop_at: int | None = None,
    end_at: int | None = None,
    pause: tuple[Pause | None, int] = (None, 0),
    gap: float = 0.0,
    queued: float = 0.0,
) -> web.StreamResponse:
    """Write each chunk on its own, so a client sees them arrive one by one and a pause between two
    is real on the wire. At index `drop_at` the connection is aborted instead (no terminating
    chunk: the client sees a broken body, as when an upstream dies); at index `end_at` the body
    ends there, cleanly (an upstream that stopped early); after index `pause[1]` the
    stream waits for `pause[0]` to be released. `gap` seconds pass between two chunks. For `queued`
    seconds before them, a `PROCESSING` comment is written every `QUEUED_EVERY`."""
    gate, pause_after = pause
    response = web.StreamResponse(headers=headers)
    try:
        await response.prepare(request)
        for _ in range(round(queued / QUEUED_EVERY)):
            await response.write(PROCESSING)
            await asyncio.sleep(QUEUED_EVERY)
        for index, chunk in enumerate(chunks):
            if gap and index:
                await asyncio.sleep(gap)
            if index == drop_at and request.transport:
                request.transport.abort()
                return response
            if index == end_at:
                break
            await response.write(chunk)
            if gate is not None and index == pause_after:
                gate.chunk_sent.set()
                # A test that never releases must not hang the suite.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(GATE_TIMEOUT):
                        await gate.gate.wait_async()
        await response.write_eof()
    except ConnectionResetError:
        return response  # the client hung up; there is no one left to answer
    return response


def gzipped(chunks: Sequence[bytes], *, cut: bool = False) -> list[bytes]:
    """`chunks` as one gzip stream, one piece each, flushed so that each can be decoded as it comes;
    `cut`: two thirds of the pieces, without the stream's end (its last block and trailer)."""
    compressor = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
    pieces = [compressor.compress(chunk) + compressor.flush(zlib.Z_SYNC_FLUSH) for chunk in chunks]
    if cut:
        return pieces[: max(1, len(pieces) * 2 // 3)]
    pieces[-1] += compressor.flush()
    return pieces


def key_quote(behavior: Behavior, key: str | None) -> str:
    """What quote-key adds to an error message: the key the request came with."""
    return f" Key used: {key}." if behavior.quote_key and key else ""


def sse_data(payload: Any, *, separators: tuple[str, str] = COMPACT, end: bytes = b"\n\n") -> bytes:
    """One `data:` event holding `payload` as JSON."""
    return b"data: " + json.dumps(payload, separators=separators).encode() + end


def sse_event(kind: str, payload: Any) -> bytes:
    """One named event: `event: <kind>` then its JSON `data:` line."""
    return f"event: {kind}\n".encode() + sse_data(payload)
