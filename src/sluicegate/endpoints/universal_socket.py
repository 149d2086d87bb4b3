"""Cloudflare AI Gateway's non-realtime WebSockets API: a WebSocket upgrade of the universal endpoint
(`GET /v1/{account}/{gateway}` with `Upgrade: websocket`), over which a client sends
`universal.create` messages (endpoints/universal_events.py) and gets their answers back.

The upgrade is admitted by the Resolve and Authenticate stages: an unknown gateway, or a missing or
bad token on an authenticated gateway, is refused over HTTP (404, 401, 403), and logged as a POST
with those headers would be. Then each message is a request of its own: it runs through the whole
pipeline as a POST to the universal endpoint does (log, token, plan, guardrails, stored keys,
caches, limits, retries and fallbacks) with the connection's headers, and is logged once, with its
`eventId` in the record's metadata (`websocket_event_id`). Up to `in_flight` requests of a
connection run at once; the answers go out as they finish, every event tagged with its `eventId`.

A client that stops reading is cut as an HTTP one is (upstream_idle.py): a send that stands still
for `send_timeout` (timeouts.upstream_timeout) closes the connection, which cancels its requests.
A peer that vanished without a word is found by aiohttp's ping (`HEARTBEAT`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from aiohttp import WSCloseCode, WSMsgType, hdrs, web
from multidict import CIMultiDict, CIMultiDictProxy, MultiMapping

from sluicegate.endpoints.realtime import answered_protocol
from sluicegate.endpoints.universal_events import (
    Create,
    Malformed,
    created,
    done,
    error_event,
    is_event_stream,
    read_create,
    streamed,
)
from sluicegate.errors import BadRequest, GatewayError, GatewayStopping, PayloadTooLarge, RateLimited
from sluicegate.exchange import Exchange, IncomingRequest, Reply
from sluicegate.pipeline import Handler, Stage, build_pipeline
from sluicegate.pipeline.token_as_key import offered_protocols
from sluicegate.providers.base import Route
from sluicegate.providers.sse import SseEvent, SseParser
from sluicegate.records import UNIVERSAL

EVENT_ID_KEY = "websocket_event_id"  # the log record's metadata: the message's eventId
SHUTDOWN_WAIT = 5.0  # seconds the requests under way get to finish when the gateway stops
HEARTBEAT = 30.0  # seconds between aiohttp's pings; no pong within half of it closes the connection
# The upgrade's own headers: not the requests' (a log record keeps a request's headers).
_HANDSHAKE_ONLY = frozenset(
    {"upgrade", "connection", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions"}
)
_ENDED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)
_log = logging.getLogger(__name__)


class TooManyInFlight(RateLimited):
    code = "too_many_requests_in_flight"


class AnswerTooLarge(PayloadTooLarge):
    code = "answer_too_large"


class UniversalSockets:
    def __init__(
        self,
        pipeline: Handler,
        admission: Sequence[Stage],
        *,
        in_flight: int,
        max_message_bytes: int,
        send_timeout: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.pipeline = pipeline  # every message's request runs through it whole
        self._admit = build_pipeline(admission, _admitted)  # the upgrade: the gateway and its token
        self.in_flight = in_flight
        self.max_message_bytes = max_message_bytes
        self.send_timeout = send_timeout  # the most a send may stand still (a client not reading)
        self.clock = clock
        self.stopping = False
        self._connections: set[_Connection] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        account, gateway = request.match_info["account"], request.match_info["gateway"]
        headers = connection_headers(request.headers)
        # Answered with one of the subprotocols it offered, as a browser needs (the token's when it
        # is the only one, `cf-aig-authorization.<token>`): were none chosen, aiohttp would log them
        # all, secrets included.
        offered = offered_protocols(request.headers)
        answered = answered_protocol(offered, None)
        socket = web.WebSocketResponse(
            protocols=[answered] if answered else (),
            max_msg_size=self.max_message_bytes,
            heartbeat=HEARTBEAT,
        )
        if not socket.can_prepare(request).ok:
            return _refused(BadRequest("not a valid WebSocket upgrade request (RFC 6455 §4.1)"))
        if self.stopping:
            return _refused(GatewayStopping("the gateway is shutting down: connect again"))
        try:
            await self._admit(Exchange(self.incoming(account, gateway, headers, b"", "GET")))
        except GatewayError:
            # Answered and logged as the universal endpoint answers a request with these headers:
            # the pipeline refuses it the same way, before it reads any body.
            reply = await self.pipeline(Exchange(self.incoming(account, gateway, headers, b"", "GET")))
            return web.Response(status=reply.status, headers=reply.headers, body=reply.body)
        await socket.prepare(request)
        connection = _Connection(self, socket, account, gateway, headers, request.transport)
        self._connections.add(connection)
        try:
            await connection.run()
        finally:
            self._connections.discard(connection)
        return socket

    async def shut_down(self, wait_s: float = SHUTDOWN_WAIT) -> None:
        """New messages are refused (503), the requests under way get `wait_s` to finish and be
        logged, then every client is closed with 1001 (going away). On aiohttp's on_shutdown."""
        self.stopping = True
        under_way = [task for connection in self._connections for task in connection.tasks]
        if under_way:
            await asyncio.wait(under_way, timeout=wait_s)
        for connection in list(self._connections):
            await connection.socket.close(
                code=WSCloseCode.GOING_AWAY, message=b"the gateway is shutting down"
            )

    def incoming(
        self, account: str, gateway: str, headers: CIMultiDict[str], body: bytes, method: str = "POST"
    ) -> IncomingRequest:
        """A message's request as the universal endpoint would have read it from a POST."""

        async def read_body() -> bytes:
            return body

        return IncomingRequest(
            gateway_slug=gateway,
            provider_name=UNIVERSAL,
            route=Route(account, "", ""),
            method=method,
            headers=CIMultiDictProxy(headers),
            read_body=read_body,
            kind=UNIVERSAL,
            received_at=self.clock(),
        )


class _Connection:
    """One client's socket: reads its messages, runs each as a request, sends back the answers."""

    def __init__(
        self,
        endpoint: UniversalSockets,
        socket: web.WebSocketResponse,
        account: str,
        gateway: str,
        headers: CIMultiDict[str],
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.socket = socket
        self.tasks: set[asyncio.Task[None]] = set()  # the requests under way
        self.closing = False  # the connection is ending: its requests are cancelled for that
        self._endpoint = endpoint
        self._account, self._gateway, self._headers = account, gateway, headers
        # A page opened it (the upgrade sent Origin): every message on it is that page's request,
        # whatever its own headers or a rebuilt request's say (pipeline/keys.py).
        self._from_page = hdrs.ORIGIN in headers
        self._transport = transport

    async def run(self) -> None:
        """Until the client closes. Messages are read all the while (pings answered, a close seen
        at once); one past the bound of requests under way is refused with an error event, as an
        HTTP/2 server refuses a stream past its maximum."""
        try:
            while (message := await self.socket.receive()).type not in _ENDED:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    await self._take(message.data)
        finally:
            # The client is gone: its requests under way are cancelled, each logged as one whose
            # client went away (pipeline/log.py), before the handler ends.
            self.closing = True
            for task in self.tasks:
                task.cancel()
            if self.tasks:
                await asyncio.wait(self.tasks)

    def _cut(self) -> None:
        """The client stopped reading: the connection is dropped, no close frame (it would wait
        behind the frames not taken), so the read in `run` ends and the requests are cancelled."""
        self.closing = True
        if self._transport is not None:
            self._transport.abort()

    async def _take(self, frame: str | bytes) -> None:
        try:
            create = read_create(frame)
        except Malformed as error:
            await self._refuse(error, error.event_id)
            return
        endpoint = self._endpoint
        if endpoint.stopping:
            await self._refuse(GatewayStopping("the gateway is shutting down"), create.event_id)
        elif len(self.tasks) >= endpoint.in_flight:
            refusal = TooManyInFlight(
                f"{len(self.tasks)} requests of this connection are under way, as many as the gateway"
                " runs at once (limits.websocket_requests_in_flight): send this one again when one"
                " has been answered",
                in_flight=len(self.tasks),
            )
            await self._refuse(refusal, create.event_id)
        else:
            task = asyncio.create_task(self._serve(create))
            self.tasks.add(task)
            task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:  # a bug: shown, not lost
            _log.error("a WebSocket request failed", exc_info=error)

    async def _refuse(self, error: GatewayError, event_id: str | int | None) -> None:
        """A message not run: its error event, not logged (the gateway could not tell what request
        it was, or ran none)."""
        with contextlib.suppress(ConnectionResetError):  # closing: the next read says so
            await self._send(error_event(error, event_id))

    async def _serve(self, create: Create) -> None:
        headers = self._headers
        if create.headers:  # the request's own, over the connection's
            headers = CIMultiDict(headers)
            headers.update(create.headers)
        incoming = self._endpoint.incoming(self._account, self._gateway, headers, create.body)
        exchange = Exchange(incoming, from_page=self._from_page)
        if create.event_id is not None:
            exchange.options.metadata[EVENT_ID_KEY] = str(create.event_id)
        try:
            reply = await self._endpoint.pipeline(exchange)
            with contextlib.suppress(ConnectionResetError):  # the client went away: its stream was
                await self._answer(reply, create.event_id, exchange)  # closed, its record says so
        except asyncio.CancelledError:
            if not self.closing:
                # Not the connection's doing: the upstream's idle watch found this answer's client
                # not taking it (upstream_idle.py), which cuts a stalled client's connection.
                self._cut()
            raise
        except Exception:  # a bug: shown, and the client told, else it would wait for good
            _log.exception("a WebSocket request failed (eventId %r)", create.event_id)
            await self._refuse(GatewayError("internal gateway error"), create.event_id)

    async def _answer(self, reply: Reply, event_id: str | int | None, exchange: Exchange) -> None:
        if reply.stream is None:
            await self._whole(reply, event_id, reply.body)
            return
        stream = reply.stream
        try:
            if not is_event_stream(reply):  # a large JSON answer relayed as it came, audio: whole
                limit, read = self._endpoint.max_message_bytes, bytearray()
                try:
                    async for chunk in stream:
                        read += chunk
                        if len(read) > limit:  # no further: the stream is closed, and the upstream
                            too_large = self._too_large(reply, f"more than {limit} bytes")
                            exchange.response.error = too_large.message  # the record's reason
                            await self._send(error_event(too_large, event_id))
                            return
                except GatewayError as error:
                    await self._send(error_event(error, event_id))
                    return
                await self._whole(reply, event_id, bytes(read))
                return
            await self._send(created(reply, event_id))
            parser, broken = SseParser(), None
            try:
                async for chunk in stream:
                    await self._events(parser.feed(chunk), event_id)
                await self._events(parser.close(), event_id)
            except GatewayError as error:  # the upstream broke off: this request ends, not the socket
                broken = error
            await self._send(done(reply, event_id, broken))
        finally:
            await stream.aclose()

    async def _whole(self, reply: Reply, event_id: str | int | None, body: bytes) -> None:
        if len(body) > self._endpoint.max_message_bytes:
            await self._send(error_event(self._too_large(reply, f"{len(body)} bytes"), event_id))
            return
        await self._send(created(reply, event_id, body))

    def _too_large(self, reply: Reply, size: str) -> AnswerTooLarge:
        return AnswerTooLarge(
            f"the answer, {size}, is larger than a WebSocket message of this gateway may be"
            f" ({self._endpoint.max_message_bytes} bytes, limits.max_body_bytes): ask for it over HTTP",
            upstream_status=reply.status,
        )

    async def _events(self, events: list[SseEvent], event_id: str | int | None) -> None:
        for event in events:
            if event.data is not None and (message := streamed(event.data, event_id)) is not None:
                await self._send(message)

    async def _send(self, message: bytes) -> None:
        # aiohttp writes each frame whole, so the requests' tasks may send at once. One that waits
        # on a client not reading for `send_timeout` ends the connection.
        try:
            async with asyncio.timeout(self._endpoint.send_timeout):
                await self.socket.send_frame(message, WSMsgType.TEXT)
        except TimeoutError:
            self._cut()
            raise ConnectionResetError("the client took no message for the send timeout") from None


async def _admitted(exchange: Exchange) -> Reply:
    """The upgrade's last link: the gateway and the token let it in."""
    return Reply(101, CIMultiDict())


def connection_headers(headers: MultiMapping[str]) -> CIMultiDict[str]:
    """The headers every request of a connection carries: the upgrade's, less its handshake ones
    (but its subprotocols: a browser's token is there, `cf-aig-authorization.<token>`)."""
    return CIMultiDict(
        (name, value) for name, value in headers.items() if name.lower() not in _HANDSHAKE_ONLY
    )


def _refused(error: GatewayError) -> web.Response:
    return web.Response(status=error.status, body=error.body(), content_type="application/json")
