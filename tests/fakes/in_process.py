"""A `Transport` that answers from the fakes' aiohttp apps in the test's own event loop: no socket.

    transport = InProcessTransport({"http://openai.test": FakeOpenAI().build_app()})
    forwarder = Forwarder(transport, {"openai": "http://openai.test/v1"}, exchange_timeout=10)

The same apps serve over loopback (`FakeUpstream.serve()`), so there is one fake per provider and
two ways to reach it. Each request runs the app's whole handler chain (routing, middlewares,
`on_response_prepare`) on a `web.Request` from aiohttp's `make_mocked_request`, and the response is
prepared and finished as aiohttp's server would: headers as the wire would carry them, then each
written chunk handed over as it is written. What a socket does is mapped to the `errors.py` types
the pool raises: an origin nobody mounted is unreachable, an aborted connection (`drop-mid-stream`)
breaks the body, and the request's timeout bounds each wait as the pool's does (upstream_idle.py):
until the answer starts (a body read whole: until it is all in), then for each next chunk.

Not for tests that block the loop's thread waiting on the fake (`first_chunk_sent.wait()`): the
handler runs on that loop. Those stay on loopback, as do the integration tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.base_protocol import BaseProtocol
from aiohttp.helpers import HeadersMixin
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from sluicegate.errors import UpstreamBroken, UpstreamTimeout, UpstreamUnreachable
from sluicegate.upstream import UpstreamRequest

# What aiohttp's server answers when a handler raises (web_protocol.handle_error), status first.
_SERVER_ERRORS = {
    500: "500 Internal Server Error\n\nServer got itself in trouble",
    504: "504 Gateway Timeout\n\nServer got itself in trouble",
}


class InProcessTransport:
    """Serves each `UpstreamRequest` with the app mounted at its origin (`scheme://host[:port]`)."""

    def __init__(self, apps: Mapping[str, web.Application]) -> None:
        self._apps = {str(URL(origin).origin()): app for origin, app in apps.items()}
        for app in apps.values():
            app.freeze()  # what a runner's setup does: the middleware chain is built once

    async def send(self, request: UpstreamRequest) -> InProcessResponse:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.timeout  # for the answer's start, as the pool's idle bound
        url = URL(request.url)
        app = self._apps.get(str(url.origin()))
        if app is None:
            raise UpstreamUnreachable(f"cannot connect to the upstream: nothing in process at {url.origin()}")
        wire = _Wire()
        incoming = make_mocked_request(
            request.method,
            url.raw_path_qs,
            _sent_headers(request, url),
            app=app,
            writer=wire,
            protocol=_Peer(wire),
            transport=wire,
            payload=_payload(request.body, loop),
            loop=loop,
        )
        handling = asyncio.create_task(_handle(app, incoming, wire))
        either: list[asyncio.Future[Any]] = [wire.started, handling]  # headers, or a handler that ended
        try:
            async with asyncio.timeout_at(deadline):
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        except TimeoutError as exc:
            handling.cancel()
            raise UpstreamTimeout(f"no response from the upstream within {request.timeout:g} s") from exc
        except BaseException:
            handling.cancel()  # the caller gave up (its own timer): the handler is cancelled, as on a socket
            raise
        if not wire.started.done():  # the handler ended without a status line
            raise UpstreamBroken("the upstream failed before responding: no status line") from _error(
                handling
            )
        status, headers = wire.started.result()
        return InProcessResponse(status, headers, wire, handling, deadline, request.timeout)


class InProcessResponse(HeadersMixin):
    """An `UpstreamResponse` whose body chunks are the handler's writes, in order."""

    def __init__(
        self,
        status: int,
        headers: CIMultiDict[str],
        wire: _Wire,
        handling: asyncio.Task[None],
        deadline: float,
        idle_s: float,
    ) -> None:
        self.status = status
        self._relayed = self._headers = CIMultiDictProxy(headers)  # _headers: what HeadersMixin reads
        self._wire = wire
        self._handling = handling
        self._deadline = deadline
        self._idle_s = idle_s

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        return self._relayed

    async def read_body(self, timeout_s: float) -> bytes:
        chunks = []
        try:
            async with asyncio.timeout_at(self._deadline):
                while (chunk := await self._wire.next_chunk()) is not None:
                    chunks.append(chunk)
        except TimeoutError as exc:
            raise UpstreamTimeout(f"the upstream's answer was not in within {timeout_s:g} s") from exc
        except _BrokenOff as exc:
            raise UpstreamBroken("the upstream broke off its response: connection aborted") from exc
        finally:
            await _stop(self._handling)
        return b"".join(chunks)

    async def relay(self, timeout_s: float) -> AsyncGenerator[bytes, None]:
        try:
            async with asyncio.timeout_at(self._deadline):
                chunk = await self._wire.next_chunk()
            yield chunk or b""  # a look at the start; the loop yields it again
            while chunk is not None:
                yield chunk
                async with asyncio.timeout(self._idle_s):  # a stream that keeps sending is never cut
                    chunk = await self._wire.next_chunk()
        except TimeoutError as exc:
            raise UpstreamTimeout(f"the upstream stream sent nothing for {timeout_s:g} s") from exc
        except _BrokenOff as exc:
            raise UpstreamBroken("the upstream broke off its stream: connection aborted") from exc
        finally:
            await _stop(self._handling)  # closed early: the handler is cancelled, as on a socket


class _BrokenOff(Exception):
    """The handler aborted the connection, or failed after its status line."""


class _Wire(AbstractStreamWriter):
    """The server side of the missing socket: aiohttp's payload writer and the request's transport.
    Hands the status line and headers to `started`, each body chunk to a queue; `None` ends it."""

    def __init__(self) -> None:
        self.started: asyncio.Future[tuple[int, CIMultiDict[str]]] = (
            asyncio.get_running_loop().create_future()
        )
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._ended = False
        self._broken = False

    async def next_chunk(self) -> bytes | None:
        chunk = await self._chunks.get()
        if chunk is None and self._broken:
            raise _BrokenOff
        return chunk

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        status = int(status_line.split(" ", 2)[1])
        self.started.set_result((status, CIMultiDict(headers)))

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        if chunk and not self._ended:
            self.output_size += len(chunk)
            self._chunks.put_nowait(bytes(chunk))

    async def write_eof(self, chunk: bytes = b"") -> None:
        await self.write(chunk)
        self._end()

    async def drain(self) -> None:
        return None

    def enable_chunking(self) -> None:
        return None  # framing is the socket's business; chunks are handed over as they are

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None) -> None:
        raise NotImplementedError("the in-process transport hands bodies over uncompressed")

    def break_off(self) -> None:
        if not self._ended:
            self._broken = True
            self._end()

    def _end(self) -> None:
        if not self._ended:
            self._ended = True
            self._chunks.put_nowait(None)

    # What a handler may ask of `request.transport`.
    def abort(self) -> None:
        self.break_off()

    def close(self) -> None:
        self.break_off()

    def is_closing(self) -> bool:
        return self._ended

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 0) if name in ("peername", "sockname") else default


class _Peer:
    """The little of aiohttp's server protocol that a `web.Request` reads."""

    max_field_size = max_line_length = 8190
    max_headers = 128
    ssl_context = None
    peername = sockname = ("127.0.0.1", 0)

    def __init__(self, wire: _Wire) -> None:
        self.transport: Any = wire
        self.writer: Any = wire


async def _handle(app: web.Application, request: web.Request, wire: _Wire) -> None:
    """What aiohttp's server does with one request: run the handler chain, turn what it raised into
    the server's answers, prepare the response and finish its body."""
    try:
        try:
            response = await app._handle(request)  # what web.Server calls for each request
        except web.HTTPException as exc:
            response = exc
        except TimeoutError:
            response = web.Response(status=504, text=_SERVER_ERRORS[504])
        except Exception:
            response = web.Response(status=500, text=_SERVER_ERRORS[500])
        await response.prepare(request)
        await response.write_eof()
    except BaseException:
        wire.break_off()  # after the status line, a failure is a body broken off
        raise


def _sent_headers(request: UpstreamRequest, url: URL) -> CIMultiDict[str]:
    """What the pool's client adds on the wire that a handler may read."""
    headers = CIMultiDict(request.headers)
    headers.setdefault("Host", url.raw_authority)
    if request.body:
        headers["Content-Length"] = str(len(request.body))
    return headers


def _payload(body: bytes, loop: asyncio.AbstractEventLoop) -> StreamReader:
    payload = StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    if body:
        payload.feed_data(body)
    payload.feed_eof()
    return payload


def _error(handling: asyncio.Task[None]) -> BaseException | None:
    return None if handling.cancelled() else handling.exception()


async def _stop(handling: asyncio.Task[None]) -> None:
    """Cancel the handler if it is still at work, and collect how it ended (a body that broke off
    is the reader's error already)."""
    handling.cancel()
    await asyncio.wait([handling])
    _error(handling)
