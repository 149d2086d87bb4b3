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
import functools
import re
import zlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Protocol, cast

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy, MultiMapping

from sluicegate.credentials import SECRET_HEADERS
from sluicegate.errors import BadRequest, UpstreamBroken, UpstreamTimeout, UpstreamUnreachable
from sluicegate.headertext import header_text, undecodable_at
from sluicegate.upstream_coding import ACCEPT_ENCODING, CutShort, UnreadableCoding, body_decoder
from sluicegate.upstream_idle import IdleWatch

# RFC 9110 §7.6.1 hop-by-hop headers, plus those that the client library recomputes.
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
        "te", "trailer", "transfer-encoding", "upgrade", "host", "content-length",
    }
)  # fmt: skip
# The gateway decompresses upstream bodies (to read usage and to cache them) and answers with
# identity encoding, so these two would misdescribe what it sends.
_RESPONSE_DROP = HOP_BY_HOP | {"content-encoding"}
# The client's Accept-Encoding is not forwarded: the gateway negotiates its own with the upstream.
# Nor is its Expect: the gateway answered the 100-continue itself and holds the whole body, but
# aiohttp's client, seeing the header, would wait (with no limit of its own) for the upstream's 100.
_REQUEST_DROP = HOP_BY_HOP | {"accept-encoding", "expect"}
# The request codings aiohttp's server undoes as the body arrives: a Content-Encoding (its last
# line, as its C parser reads it) that is exactly one of these. The body read is then decoded.
_DECODED_ON_ARRIVAL = frozenset({"gzip", "deflate", "br", "zstd"})
# The gateway's own request headers, read here and never sent on: Cloudflare's (with the two
# deprecated spellings that still work), ours, and Fastly AI Accelerator's, whose
# `x-semantic-cache-key` is often a tenant's name.
_GATEWAY_HEADER_PREFIXES = ("cf-aig-", "x-sluicegate-", "x-semantic-")
_GATEWAY_HEADERS = frozenset({"fastly-key", "x-settings-overrides", "cf-cache-ttl", "cf-skip-cache"})
_NO_USER_AGENT = ("User-Agent",)
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 §5.6.2 token
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what aiohttp refuses to send in a header


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
    upstream errors (`UpstreamTimeout`, `UpstreamUnreachable`, `UpstreamBroken`), nothing else."""

    async def send(self, request: UpstreamRequest) -> UpstreamResponse: ...


def forwardable_request_headers(headers: MultiMapping[str]) -> CIMultiDict[str]:
    """The client's headers minus hop-by-hop ones (those its `Connection` names too), the gateway's
    own (`cf-aig-*`, `Fastly-Key`, `x-semantic-*`, ...) and the `Content-Encoding` that aiohttp
    undid on arrival: what is sent on is the decoded body, with its own length.

    Bytes that are not UTF-8 (a Latin-1 `é`) cannot be sent as received: aiohttp's client writes
    only UTF-8 header text (see headertext.py). In a credential a changed byte is another key, so
    `BadRequest` names such a header; in any other (`X-Title: Café`, as Python's `requests` and a
    browser's `fetch` send it) each such byte goes on as U+FFFD, as log records show it."""
    forwarded = CIMultiDict(headers)  # copied whole, the few dropped deleted: half the time of filtering
    for name in headers:
        if is_never_forwarded(name) and name in forwarded:
            del forwarded[name]
    if "Connection" in headers:
        _drop_connection_options(forwarded, headers.getall("Connection"))
    if "Content-Encoding" in forwarded:
        _drop_decoded_coding(forwarded)
    if not "".join(forwarded.values()).isascii():  # one pass in C over all values: rarely false
        return _mended(forwarded)
    return forwarded


def _mended(headers: CIMultiDict[str]) -> CIMultiDict[str]:
    mended: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        if (at := undecodable_at(value)) is not None:
            if name.lower() in SECRET_HEADERS:
                raise BadRequest(
                    f"the value of the {name} header holds bytes that are not UTF-8 (the first is byte"
                    f" {at} of the value): a credential the gateway cannot send upstream unchanged;"
                    " send it as UTF-8 or ASCII (Python's http.client and requests send a str value"
                    " as Latin-1: give them UTF-8 bytes)",
                    header=name,
                )
            value = header_text(value)
        mended.add(name, value)
    return mended


def _drop_connection_options(headers: CIMultiDict[str], connection: list[str]) -> None:
    """Drops the headers that `Connection` names: a proxy MUST, they are for one hop (RFC 9110 §7.6.1)."""
    for value in connection:
        for option in value.split(","):
            headers.popall(option.strip(), None)


def _drop_decoded_coding(headers: CIMultiDict[str]) -> None:
    """Drops the coding aiohttp's server undid, the last listed (the one applied last); any listed
    before it still describe the body."""
    codings = headers.getall("Content-Encoding")
    undone = codings[-1]
    if undone.isascii() and undone.lower() in _DECODED_ON_ARRIVAL:
        del headers["Content-Encoding"]
        headers.extend(("Content-Encoding", coding) for coding in codings[:-1])


@functools.lru_cache(maxsize=256)  # clients send the same few dozen names again and again
def is_never_forwarded(name: str) -> bool:
    """Whether a request header is dropped on the way upstream: hop-by-hop, `Accept-Encoding`,
    `Expect`, or the gateway's own (`is_gateway_header`)."""
    return name.lower() in _REQUEST_DROP or is_gateway_header(name)


def is_gateway_header(name: str) -> bool:
    """Whether a request header is one the gateway reads for itself (`cf-aig-*`, `Fastly-Key`,
    `x-semantic-*`, ...), not one for the provider."""
    lower = name.lower()
    return lower in _GATEWAY_HEADERS or lower.startswith(_GATEWAY_HEADER_PREFIXES)


def header_problem(name: str, value: str) -> str | None:
    """Why `name: value` cannot be sent upstream, or None. Names the header, never its value
    (it may be a key)."""
    if not _HEADER_NAME.fullmatch(name):
        return f"{name!r} is not a valid HTTP header name"
    if _CONTROL.search(value):
        return f"the value of {name!r} holds a line break or another control character"
    return None


def relayable_response_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    """The upstream's headers minus hop-by-hop ones (those its `Connection` names too) and its
    `Content-Encoding` (the gateway answers with the decoded body). Bytes of a value that are not
    UTF-8 become U+FFFD, as in the log records: aiohttp's server cannot send them unchanged and
    would leave them out, making a different value that looks whole."""
    # Copying all and deleting the few present is four times faster than filtering pair by pair.
    relayed = CIMultiDict(headers)
    for name in _RESPONSE_DROP:
        if name in relayed:
            del relayed[name]
    if "Connection" in headers:
        _drop_connection_options(relayed, headers.getall("Connection"))
    if not "".join(relayed.values()).isascii():
        return CIMultiDict((name, header_text(value)) for name, value in relayed.items())
    return relayed


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
    `idle` watch (set by `Upstream.send`) bounds each wait on the upstream (upstream_idle.py)."""

    idle: IdleWatch

    async def read_body(self, timeout_s: float) -> bytes:
        # Read whole: the wait for it began when the request was sent (an answer read whole has
        # started only once it is all in), so the watch is left as it is.
        try:
            body = await self.read()
            if "Content-Encoding" not in self.headers:
                return body
            decoder = body_decoder(self.headers)
            return body if decoder is None else decoder.whole(body)
        except TimeoutError as exc:
            raise UpstreamTimeout(f"the upstream's answer was not in within {timeout_s:g} s") from exc
        except (aiohttp.ClientError, asyncio.IncompleteReadError) as exc:
            raise UpstreamBroken(f"the upstream broke off its response: {type(exc).__name__}") from exc
        except (CutShort, UnreadableCoding) as exc:
            raise UpstreamBroken(str(exc)) from exc
        except zlib.error as exc:
            raise UpstreamBroken(f"the upstream's compressed body is corrupt: {exc}") from exc
        finally:
            self.idle.stop()
            self.release()

    def relay(self, timeout_s: float) -> AsyncGenerator[bytes, None]:
        if "Content-Encoding" in self.headers:  # rare: providers compress whole answers, not streams
            return self._decoded(timeout_s)
        return self._relayed(timeout_s)

    async def _relayed(self, timeout_s: float) -> AsyncGenerator[bytes, None]:
        # Closing the iterator early (the client went away) closes the upstream connection, which
        # is how a provider learns to stop generating.
        complete = False
        content, idle, clock = self.content, self.idle, asyncio.get_running_loop().time
        try:
            chunk = await content.readany()  # the answer's start: waited for since the request went
            idle.waiting_since = None
            yield chunk  # a look at the start; the loop yields it again
            while chunk:  # readany() rather than iter_any(): one iterator fewer per chunk
                yield chunk
                idle.waiting_since = clock()
                chunk = await content.readany()
                idle.waiting_since = None
            complete = True
        except TimeoutError as exc:
            raise UpstreamTimeout(f"the upstream stream sent nothing for {timeout_s:g} s") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamBroken(f"the upstream broke off its stream: {type(exc).__name__}") from exc
        finally:
            idle.stop()
            if complete:
                self.release()
            else:
                self.close()

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
        complete = False
        content, idle, clock = self.content, self.idle, asyncio.get_running_loop().time
        try:
            decoder = body_decoder(self.headers)
            raw = await content.readany()
            idle.waiting_since = None
            while raw:
                for piece in decoder.decode(raw) if decoder is not None else (raw,):
                    yield piece
                idle.waiting_since = clock()
                raw = await content.readany()
                idle.waiting_since = None
            if decoder is not None:
                decoder.finish()
            complete = True
        except TimeoutError as exc:
            raise UpstreamTimeout(f"the upstream stream sent nothing for {timeout_s:g} s") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamBroken(f"the upstream broke off its stream: {type(exc).__name__}") from exc
        except (CutShort, UnreadableCoding) as exc:
            raise UpstreamBroken(str(exc)) from exc
        except zlib.error as exc:
            raise UpstreamBroken(f"the upstream's compressed body is corrupt: {exc}") from exc
        finally:
            idle.stop()
            if complete:
                self.release()
            else:
                self.close()


class Upstream:
    """The production `Transport`: sends requests upstream over pooled connections, and opens
    WebSockets for the realtime endpoint. `open()` before use, `close()` at shutdown."""

    def __init__(self, connect_timeout: float) -> None:
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None
        # Only connecting has aiohttp's own bound; the rest is the idle watch's (upstream_idle.py).
        self._timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout)

    async def open(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=60)
        self._session = aiohttp.ClientSession(
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
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, request: UpstreamRequest) -> PooledResponse:
        """Send `request` and return once the response headers are in; the body is read separately.
        From here on, `request.timeout` bounds each wait on the upstream (upstream_idle.py)."""
        if self._session is None:
            raise RuntimeError("Upstream.open() was not called")
        task = asyncio.current_task()
        assert task is not None  # the pipeline runs in tasks
        idle = IdleWatch(asyncio.get_running_loop(), request.timeout, task)
        try:
            response = await self._request(self._session, request)
        except asyncio.CancelledError as exc:
            idle.stop()
            if idle.expired and task.uncancel() == 0:  # the watch's cancellation, and no other
                raise UpstreamTimeout(f"no response from the upstream within {request.timeout:g} s") from exc
            raise
        except BaseException:
            idle.stop()
            raise
        response.idle = idle
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
                # aiohttp would add its own User-Agent; the client's (or none) is what goes upstream.
                # Asked per request, only when needed: a session-wide skip costs every request.
                skip_auto_headers=None if "User-Agent" in request.headers else _NO_USER_AGENT,
            )
            return cast(PooledResponse, response)  # the session's response_class
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"no connection to the upstream within {self._connect_timeout:g} s"
            ) from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamUnreachable(f"cannot connect to the upstream: {exc.strerror or exc}") from exc
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
            raise UpstreamUnreachable(f"cannot connect to the upstream: {exc.strerror or exc}") from exc
        except aiohttp.ClientError as exc:
            raise UpstreamBroken(
                f"the upstream failed the WebSocket handshake: {type(exc).__name__}"
            ) from exc
