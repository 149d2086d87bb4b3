"""Realtime sessions: a WebSocket upgrade of a provider's realtime path (`…/openai/realtime?model=…`,
or `…/openai?model=…` as Cloudflare writes it; `…/azure-openai/{resource}/realtime?…`).

The upgrade request goes through the stages a request does — log, gateway, token, plan, allow-list,
stored keys, rate limits and budgets — ending here instead of at `Attempts`: the upstream WebSocket
is opened first, with a stored key chosen as `Attempts` chooses one (`realtime/handshake.py`; a
refusal is relayed over HTTP as the provider gave it), then the client's is accepted and
`realtime/relay.py` relays the session. When it ends, its summary is the "response" the
log stage completes: one record with the session's usage, cost and event counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from functools import partial

from aiohttp import WSCloseCode, web
from multidict import CIMultiDict

from sluicegate.errors import BadRequest
from sluicegate.exchange import Exchange, Reply
from sluicegate.outcome import Outcome
from sluicegate.pipeline import Stage, build_pipeline
from sluicegate.pipeline.keys import StepKeys
from sluicegate.pipeline.log import LOG_ID_HEADER
from sluicegate.pipeline.ratelimit import RateLimit
from sluicegate.pipeline.token_as_key import TOKEN_PROTOCOL, carries_credential, offered_protocols
from sluicegate.providers.openai_realtime import websocket_url
from sluicegate.realtime.handshake import Handshake, Refusal, refusal_reply
from sluicegate.realtime.relay import RealtimeRelay
from sluicegate.realtime.tally import SessionTally
from sluicegate.upstream import Upstream

SWITCHING_PROTOCOLS = 101
_NORMAL_CLOSES = (1000, 1005)
SHUTDOWN_WAIT = 5.0  # seconds sessions get to end once their clients are told the gateway goes away


def is_upgrade(request: web.Request) -> bool:
    """Whether `request` asks to become a WebSocket."""
    return request.headers.get("Upgrade", "").lower() == "websocket"


class RealtimeEndpoint:
    def __init__(
        self,
        stages: Sequence[Stage],
        relay: RealtimeRelay,
        rate_limit: RateLimit,
        upstream: Upstream,
        base_urls: Mapping[str, str],
        *,
        keys: StepKeys,
        handshake_timeout: float,
        max_message_bytes: int,
    ) -> None:
        self._stages = stages
        self._relay = relay
        self._rate_limit = rate_limit
        self._handshake = Handshake(upstream, keys, handshake_timeout, max_message_bytes)
        self._base_urls = base_urls
        self._max_message_bytes = max_message_bytes
        self._ending: set[asyncio.Task[Reply]] = set()  # sessions winding down after a cancel
        self._sessions: set[asyncio.Future[Reply]] = set()  # every session not yet ended
        self._clients: set[web.WebSocketResponse] = set()  # their clients' open sockets

    async def shut_down(self, wait_s: float = SHUTDOWN_WAIT) -> None:
        """Close every session's client socket with 1001 (going away) and wait for the sessions
        to end, so each is logged and charged before the gateway's stores close. Runs on aiohttp's
        on_shutdown, before it waits for handlers: a session could otherwise outlast the stores."""
        for client in list(self._clients):
            await client.close(code=WSCloseCode.GOING_AWAY, message=b"the gateway is shutting down")
        if self._sessions:
            await asyncio.wait(list(self._sessions), timeout=wait_s)

    async def handle(self, request: web.Request, exchange: Exchange) -> web.StreamResponse:
        accepted: list[web.WebSocketResponse] = []  # the client's socket, once the upgrade is done
        # The chain is built per session (a few partials): its last link needs this request.
        chain = build_pipeline(self._stages, partial(self._session, request, accepted))
        session = asyncio.ensure_future(chain(exchange))
        self._sessions.add(session)
        session.add_done_callback(self._sessions.discard)
        try:
            reply = await asyncio.shield(session)
        except asyncio.CancelledError:
            # aiohttp cancels the handler of a closed connection, which is how every session ends
            # once the client has closed: the session still winds down (its sockets report the
            # close) and is completed, logged and charged as one that ended.
            self._ending.add(session)
            session.add_done_callback(self._ending.discard)
            raise
        if accepted:
            return accepted[0]
        return web.Response(status=reply.status, headers=reply.headers, body=reply.body)

    async def _session(
        self, request: web.Request, accepted: list[web.WebSocketResponse], exchange: Exchange
    ) -> Reply:
        """The last link of a session's chain: opens both WebSockets and relays between them."""
        step = exchange.step
        assert step is not None, "Plan runs before the session starts"
        offered = offered_protocols(request.headers)
        # Offered back what it offered: aiohttp logs the client's protocols, secrets and all,
        # when none of them is the server's (`WebSocketResponse._handshake`).
        if not web.WebSocketResponse(protocols=offered).can_prepare(request).ok:
            raise BadRequest("not a valid WebSocket upgrade request (RFC 6455 §4.1)")
        base = self._base_urls.get(step.provider.name, step.provider.default_base_url)
        url = websocket_url(step.provider.upstream_url(base, step.route))
        upstream = await self._handshake.open(step, url, exchange.response.attempts)
        if isinstance(upstream, Refusal):
            exchange.response.upstream_status = upstream.status
            return refusal_reply(exchange, upstream)
        exchange.response.upstream_status = SWITCHING_PROTOCOLS
        # Admitting the session reserved what a request reserves; its responses are charged one
        # by one from here on (see realtime/relay.py), so the connection itself is free.
        holds, exchange.limits.holds = exchange.limits.holds, ()
        await self._rate_limit.settle_holds(holds, Outcome(), exchange.request.id)
        answered = answered_protocol(offered, upstream.protocol)
        client = web.WebSocketResponse(
            protocols=[answered] if answered else (),
            max_msg_size=self._max_message_bytes,
        )
        if exchange.collects_log:  # an unlogged session's handshake names no record (pipeline/log.py)
            client.headers[LOG_ID_HEADER] = exchange.request.id
        try:
            await client.prepare(request)
        except BaseException:
            await upstream.close()
            raise
        accepted.append(client)
        exchange.timings.first_byte_at = time.perf_counter()
        self._clients.add(client)
        try:
            tally = await self._relay.run(exchange, client, upstream)
        finally:
            self._clients.discard(client)
        exchange.options.metadata.update(tally.metadata())
        exchange.response.cost_apart_usd = tally.transcription_cost  # (charged as they completed)
        exchange.response.error = exchange.response.error or _abnormal_end(tally)
        return Reply(SWITCHING_PROTOCOLS, CIMultiDict(), body=tally.summary())


def answered_protocol(offered: Sequence[str], upstream: str | None) -> str | None:
    """The subprotocol the client's handshake is answered with. A browser fails a connection whose
    answer names none of the subprotocols it offered (WHATWG Fetch, "establish a WebSocket
    connection"), so one of them is named whenever it offered any, a secret only when every one is:
    the upstream's choice (among those the gateway passed on), else the first without a secret
    (`realtime`), else the gateway token's (Cloudflare's `["cf-aig-authorization.<token>"]`), back
    to the client that sent it, else the first."""
    offered = [protocol for protocol in offered if protocol]
    if upstream and not carries_credential(upstream):
        return upstream
    ranked = (
        [protocol for protocol in offered if not carries_credential(protocol)]
        + [protocol for protocol in offered if protocol.startswith(TOKEN_PROTOCOL)]
        + offered
    )
    return ranked[0] if ranked else None


def _abnormal_end(tally: SessionTally) -> str | None:
    """What went wrong when the upstream (or the gateway) ended the session other than normally."""
    if tally.closed_by != "upstream" or tally.close_code in _NORMAL_CLOSES:
        return None
    return f"the upstream closed the session with {tally.close_code}: {tally.close_reason}".rstrip(": ")
