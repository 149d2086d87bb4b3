"""The one pooled HTTP client: the only module that talks to providers.

It owns a keep-alive connection pool per upstream host, and translates the client library's
exceptions into `errors.py` types so nothing above it sees aiohttp's.

`Transport` is the seam the forward stage sends through: `Upstream` (the pool) in production,
chosen once in `app.py`; tests may put an in-process transport there (tests/fakes/in_process.py)
that answers from the same fake apps without a socket. Its answers are `UpstreamResponse`s, which
the pool makes directly as aiohttp's response class, so the seam costs no object or await more.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Protocol, cast

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy, MultiMapping

from sluicegate.errors import UpstreamBroken, UpstreamTimeout
from sluicegate.upstream_coding import ACCEPT_ENCODING, UndecodableBody, body_decoder
from sluicegate.upstream_connect import connect_failure
from sluicegate.upstream_guard import AddressRefused, GuardedResolver
from sluicegate.upstream_headers import skipped_auto_headers
from sluicegate.upstream_idle import IdleWatch

# The handshake headers of a WebSocket: the client library makes its own for the upstream hop.
_WEBSOCKET_HANDSHAKE = ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})  # the statuses aiohttp follows
SWITCHING_PROTOCOLS = 101


class UpgradeRefused(Exception):
    """The upstream answered a WebSocket handshake with `status` instead of 101, with `headers`
    and (its first `REFUSAL_BODY_BYTES`) `body`, the provider's error."""

    def __init__(self, status: int, headers: MultiMapping[str] | None = None, body: bytes = b"") -> None:
        super().__init__(f"the upstream answered the WebSocket handshake with HTTP {status}")
        self.status = status
        self.headers = headers
        self.body = body


REFUSAL_BODY_BYTES = 64 * 1024  # of a refused handshake's answer: an error, never a payload
WHOLE_BYTES = 10 * 1024 * 1024  # what a compressed answer read whole may decode to, by default
KEEPALIVE_S = 15.0  # an idle upstream connection's life (aiohttp's default; the SDKs keep 5 s)


class _HandshakeRefused(aiohttp.WSServerHandshakeError):
    """aiohttp's handshake error, with the refusal's body read before the answer was closed."""

    def __init__(self, response: aiohttp.ClientResponse, message: str, body: bytes) -> None:
        super().__init__(
            response.request_info,
            response.history,
            status=response.status,
            message=message,
            headers=response.headers,
        )
        self.body = body


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: CIMultiDict[str]
    body: bytes
    timeout: float
    # The URL's host was chosen by an account (its custom provider's base_url), not the operator:
    # it is reached through the pool that refuses non-public addresses (upstream_guard.py).
    account_host: bool = False


class UpstreamResponse(Protocol):
    """An upstream's answer once its headers are in. Its body is taken once, by `read_body` or by
    `relay`; both raise only the `errors.py` upstream errors (`timeout_s` is for their messages)."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> CIMultiDictProxy[str]: ...

    @property
    def content_type(self) -> str: ...

    @property
    def content_length(self) -> int | None: ...

    async def read_body(self, timeout_s: float) -> bytes:
        """The whole body."""
        ...

    def relay(self, timeout_s: float) -> AsyncGenerator[bytes, None]:
        """The body chunk by chunk as it arrives, primed: the first step yields the first chunk
        (b"" for an empty body) once it is in, without taking it (the steps after it start with
        that chunk), so a caller can tell a stream that started from one that failed, and see how
        it starts. Closing it early tells the upstream to stop."""
        ...


class Transport(Protocol):
    """Sends an `UpstreamRequest`; returns once the answer's headers are in. Raises the `errors.py`
    upstream errors (`UpstreamTimeout`, `UpstreamUnreachable`, `UpstreamBroken`; `GatewayOverloaded`
    when this process cannot open a socket, upstream_connect.py) and, for an
    account's host, `upstream_guard.NonPublicAddress` (403), nothing else."""

    async def send(self, request: UpstreamRequest) -> UpstreamResponse: ...


async def _no_redirected_upgrade(
    request: aiohttp.ClientRequest, send: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """The session's middleware for WebSocket handshakes: one answered with anything but 101 is
    refused here, its error body read first (aiohttp would close the answer unread). A redirect
    is never followed: `ws_connect` has no `allow_redirects`, and following one would carry the
    provider's key to wherever `Location` points (across origins aiohttp drops only
    `Authorization`, not `api-key` or `x-api-key`). HTTP requests are sent without it (and with
    `allow_redirects=False`)."""
    response = await send(request)
    if response.status == SWITCHING_PROTOCOLS or "Upgrade" not in request.headers:
        return response
    body = b""
    if response.status in _REDIRECTS:
        message = "a redirect of the WebSocket handshake is not followed"
    else:
        message = "the WebSocket handshake was refused"
        with contextlib.suppress(aiohttp.ClientError, asyncio.IncompleteReadError, TimeoutError):
            body = await response.content.read(REFUSAL_BODY_BYTES)
    response.close()
    raise _HandshakeRefused(response, message, body)


class PooledResponse(aiohttp.ClientResponse):
    """aiohttp's response with the `UpstreamResponse` reads, made by the session itself
    (`response_class`): the production transport wraps nothing per request or per chunk. Its
    `idle` watch (set by `Upstream.send`) bounds each time the exchange stands still
    (upstream_idle.py); `whole_bytes` bounds what a compressed body read whole decodes to."""

    idle: IdleWatch
    whole_bytes: int

    async def read_body(self, timeout_s: float) -> bytes:
        # Read whole: the wait for it began when the request was sent (an answer read whole has
        # started only once it is all in), so the watch is left as it is.
        try:
            body = await self.read()
            if "Content-Encoding" not in self.headers:
                return body
            decoder = body_decoder(self.headers)
            return body if decoder is None else decoder.whole(body, self.whole_bytes)
        except TimeoutError as exc:
            raise UpstreamTimeout(f"the upstream's answer was not in within {timeout_s:g} s") from exc
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            raise UpstreamBroken(f"the upstream broke off its response: {type(exc).__name__}") from exc
        except UndecodableBody as exc:
            raise UpstreamBroken(str(exc)) from exc
        finally:
            self.idle.stop()
            self.release()

    def relay(self, timeout_s: float) -> AsyncGenerator[bytes, None]:
        if "Content-Encoding" in self.headers:  # rare: providers compress whole answers, not streams
            return self._decoded(timeout_s)
        return self._relayed(timeout_s)

    async def _relayed(self, timeout_s: float) -> AsyncGenerator[bytes, None]:
        # Closing the iterator early (the client went away) closes the upstream connection, which
        # is how a provider learns to stop generating. Each step notes the exchange's progress and
        # whom the relay waits on: the upstream (reader None) or the task relaying to the client.
        content, idle, clock = self.content, self.idle, asyncio.get_running_loop().time
        with _Relaying(self, timeout_s):
            chunk = await content.readany()  # the answer's start: waited for since the request went
            idle.progress, idle.reader = clock(), idle.task
            yield chunk  # a look at the start; the loop yields it again
            idle.reader = reader = asyncio.current_task()  # the one relaying the rest
            while chunk:  # readany() rather than iter_any(): one iterator fewer per chunk
                yield chunk
                idle.progress, idle.reader = clock(), None
                chunk = await content.readany()
                idle.progress, idle.reader = clock(), reader

    async def _decoded(self, timeout_s: float) -> AsyncGenerator[bytes, None]:
        """`_relayed` for a body with a Content-Encoding: its decoded pieces (the look at the start
        is the first piece that decodes to anything), and `UpstreamBroken` at its end when its
        compressed data did not end."""
        pieces = self._decoded_pieces(timeout_s)
        async with contextlib.aclosing(pieces):
            first = await anext(pieces, b"")
            yield first  # a look at the start; yielded again below
            if first:
                yield first
                async for piece in pieces:
                    yield piece

    async def _decoded_pieces(self, timeout_s: float) -> AsyncGenerator[bytes, None]:
        # As `_relayed`; a piece is decoded only when the one before was taken (and a chunk that
        # decodes to nothing is progress too: the upstream sent it).
        content, idle, clock = self.content, self.idle, asyncio.get_running_loop().time
        with _Relaying(self, timeout_s):
            decoder = body_decoder(self.headers)
            raw = await content.readany()
            idle.progress, idle.reader = clock(), idle.task
            reader = None
            while raw:
                for piece in decoder.decode(raw) if decoder is not None else (raw,):
                    yield piece
                    if reader is None:
                        reader = asyncio.current_task()  # the one relaying the rest
                    idle.progress, idle.reader = clock(), reader
                idle.reader = None
                raw = await content.readany()
                idle.progress, idle.reader = clock(), reader or idle.task
            if decoder is not None:
                decoder.finish()


class _Relaying:
    """How a relay of an answer ends, plain or decoded: the upstream's failures as the gateway's
    errors; the idle watch stopped; the connection back in the pool when the body was read to its
    end, else closed (a client that went away, or a broken answer), which is how a provider learns
    to stop generating. A class, not a generator-based context manager: one per stream."""

    __slots__ = ("_response", "_timeout_s")

    def __init__(self, response: PooledResponse, timeout_s: float) -> None:
        self._response, self._timeout_s = response, timeout_s

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        response = self._response
        response.idle.stop()
        if kind is None:
            response.release()
            return
        response.close()
        if isinstance(exc, TimeoutError):
            raise UpstreamTimeout(f"the upstream stream sent nothing for {self._timeout_s:g} s") from exc
        if isinstance(exc, aiohttp.ClientError):
            raise UpstreamBroken(f"the upstream broke off its stream: {type(exc).__name__}") from exc
        if isinstance(exc, UndecodableBody):
            raise UpstreamBroken(str(exc)) from exc


class Upstream:
    """The production `Transport`: sends requests upstream over pooled connections, and opens
    WebSockets for the realtime endpoint. `open()` before use, `close()` at shutdown.

    Two pools: the providers' (the operator's hosts), and one for the hosts accounts chose
    (`UpstreamRequest.account_host`), whose resolver refuses a name that resolves to a non-public
    address unless `allowed_hosts` opens it. Each request takes one; the providers' pool does no
    work of the other's."""

    def __init__(
        self, connect_timeout: float, whole_bytes: int = WHOLE_BYTES, allowed_hosts: Sequence[str] = ()
    ) -> None:
        """`whole_bytes`: the most a compressed answer read whole may decode to (else 502): the
        most the gateway holds of an answer whole (`pipeline.forward.whole_limit`)."""
        self._connect_timeout = connect_timeout
        self._whole_bytes = whole_bytes
        self._allowed_hosts = tuple(allowed_hosts)
        self._session: aiohttp.ClientSession | None = None
        self._account_session: aiohttp.ClientSession | None = None
        self._resolver: GuardedResolver | None = None  # the account pool's (its connector does not own it)
        # Only connecting has aiohttp's own bound; the rest is the idle watch's (upstream_idle.py).
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout)

    async def open(self) -> None:
        self._session = self._new_session(None)
        self._resolver = GuardedResolver(self._allowed_hosts)
        self._account_session = self._new_session(self._resolver)

    def _new_session(self, resolver: GuardedResolver | None) -> aiohttp.ClientSession:
        # No cap on connections (a cap queues requests behind it). An idle one is reused for the
        # next request to its host and closed after KEEPALIVE_S (aiohttp sweeps each KEEPALIVE_S, so
        # within twice that): what a burst opened does not hold descriptors for minutes.
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=KEEPALIVE_S, resolver=resolver
        )
        return aiohttp.ClientSession(
            connector=connector,
            # Bodies come as sent and are decoded here (upstream_coding.py), asking for exactly
            # the codings read there: aiohttp's own decoding takes a gzip body cut short as whole.
            auto_decompress=False,
            headers={"Accept-Encoding": ACCEPT_ENCODING},
            cookie_jar=aiohttp.DummyCookieJar(),  # a shared jar would leak cookies between callers
            response_class=PooledResponse,
            middlewares=(_no_redirected_upgrade,),
        )

    async def close(self) -> None:
        for session in (self._session, self._account_session):
            if session is not None:
                await session.close()
        if self._resolver is not None:
            await self._resolver.close()
        self._session = self._account_session = self._resolver = None

    async def send(self, request: UpstreamRequest) -> PooledResponse:
        """Send `request` and return once the response headers are in; the body is read separately.
        From here on, `request.timeout` bounds each time the exchange stands still (upstream_idle.py)."""
        session = self._account_session if request.account_host else self._session
        if session is None:
            raise RuntimeError("Upstream.open() was not called")
        task = asyncio.current_task()
        assert task is not None  # the pipeline runs in tasks
        idle = IdleWatch(asyncio.get_running_loop(), request.timeout, task)
        try:
            response = await self._request(session, request)
        except asyncio.CancelledError as exc:
            idle.stop()
            if idle.expired and task.uncancel() == 0:  # the watch's cancellation, and no other
                raise UpstreamTimeout(f"no response from the upstream within {request.timeout:g} s") from exc
            raise
        except BaseException:
            idle.stop()
            raise
        response.idle, response.whole_bytes = idle, self._whole_bytes
        idle.watch(response.content)
        return response

    async def _request(self, session: aiohttp.ClientSession, request: UpstreamRequest) -> PooledResponse:
        try:
            response = await session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.body or None,
                timeout=self._timeout,
                allow_redirects=False,
                middlewares=(),  # the session's is for WebSocket handshakes: a closure fewer per request
                compress=False,
                skip_auto_headers=skipped_auto_headers(request.method, request.headers, request.body),
            )
            return cast(PooledResponse, response)  # the session's response_class
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"no connection to the upstream within {self._connect_timeout:g} s"
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                raise exc.os_error.refusal() from None  # refused before connecting: nothing to tell
            raise connect_failure(exc, request.account_host) from exc  # 503 when it is the gateway's
        except aiohttp.ClientError as exc:
            raise UpstreamBroken(f"the upstream failed before responding: {type(exc).__name__}") from exc

    async def connect_websocket(
        self, url: str, headers: CIMultiDict[str], handshake_s: float, max_message_bytes: int
    ) -> aiohttp.ClientWebSocketResponse:
        """A WebSocket to `url` (`ws://` or `wss://`), asking for the subprotocols the client's
        `Sec-WebSocket-Protocol` named. Raises `UpgradeRefused` when the upstream answers the
        handshake with another status, a redirect included (never followed: the key stays with
        the URL it was meant for), and the `errors.py` upstream errors when it cannot be reached.
        Pings are answered here; every other frame is the caller's."""
        if self._session is None:
            raise RuntimeError("Upstream.open() was not called")
        sent = CIMultiDict(headers)
        for name in _WEBSOCKET_HANDSHAKE:
            sent.popall(name, None)
        protocols = [p.strip() for p in sent.popall("Sec-WebSocket-Protocol", []) for p in p.split(",")]
        try:
            async with asyncio.timeout(handshake_s):
                return await self._session.ws_connect(
                    url,
                    headers=sent,
                    protocols=[p for p in protocols if p],
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=handshake_s),
                    max_msg_size=max_message_bytes,
                    autoclose=False,  # a close frame is relayed to the client, with its code
                )
        except aiohttp.WSServerHandshakeError as exc:
            raise UpgradeRefused(exc.status, exc.headers, getattr(exc, "body", b"")) from exc
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"no WebSocket handshake from the upstream within {handshake_s:g} s"
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise connect_failure(exc, account_host=False) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamBroken(
                f"the upstream failed the WebSocket handshake: {type(exc).__name__}"
            ) from exc
