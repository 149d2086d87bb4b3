"""Relaying one admitted realtime session: every frame, text or binary, passed on unchanged both
ways until either side closes (but for what the gateway's guardrails change: `guard.py`,
`answer_guard.py`; a stored key the upstream quotes: `echoes.py`; and a model-limited token's
events that name another model, not sent on: `session_model.py`); the other side is then closed
with the code that explains it.

The gateway reads only what it must of the events (see `providers/openai_realtime.py`): each
response is admitted by the gateway's rate limits and budgets as a request is — when the client
asks for it (`response.create`, held back until admitted) or when the server starts one itself
(`response.created` after voice detection) — and charged with the usage of its `response.done`.
The session's input audio transcriptions, a second model billed apart (`transcriptions.py`), are
charged as each completes, with the usage its `.completed` event reports, at that model's price;
no request is counted for them, and nothing is reserved ahead.
A refusal closes the session with 1008 (policy violation) and the rule in the reason. A client
that goes away while responses are under way (started, not done) does not take their usage with
it: each is cancelled upstream (`response.cancel`, answered by a `response.done` with status
`cancelled` and the usage so far) and charged as any other, as are the transcriptions under way
when they complete, for up to `CANCEL_WAIT_SECONDS`;
the record's error says the client went away, and whether that usage is unknown.

Close codes: a close frame from one side is passed to the other with its code and reason; an
upstream connection lost without one closes the client with 1014 (bad gateway, RFC 6455 §7.4 as
registered by IANA); a client gone without one closes the upstream with 1001 (going away). A
message over limits.realtime_message_bytes closes the side that sent it with 1009 (aiohttp does,
unread): the session is the gateway's to end, so the upstream is closed with 1000, the client with
1009 and why; the record's error says so.
Pings are answered on each hop by the WebSocket library and not relayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence

import aiohttp
import orjson
from aiohttp import WebSocketError, WSMsgType, web

from sluicegate.errors import RateLimited, UnpricedModel
from sluicegate.exchange import Exchange
from sluicegate.guardrails.placeholders import Vault
from sluicegate.outcome import Outcome
from sluicegate.outcome.pricing import Pricing
from sluicegate.pipeline.guardrail_findings import Findings
from sluicegate.pipeline.guardrails import Guardrails, answer_pipes, record_findings
from sluicegate.pipeline.log import CLIENT_GONE
from sluicegate.pipeline.ratelimit import RateLimit
from sluicegate.providers.openai_realtime import (
    RESPONSE_CREATE,
    RESPONSE_CREATED,
    RESPONSE_DONE,
    event_type,
    read_event,
    response_id,
    response_usage,
)
from sluicegate.realtime.answer_guard import AnswerGuard
from sluicegate.realtime.echoes import masked_frame
from sluicegate.realtime.guard import EventGuard
from sluicegate.realtime.handshake import stored_keys
from sluicegate.realtime.session_model import SessionModel
from sluicegate.realtime.tally import SessionTally
from sluicegate.realtime.transcriptions import WATCHED, Transcriptions
from sluicegate.storage.limiter import Hold
from sluicegate.types import Usage

POLICY_VIOLATION = 1008
GOING_AWAY = 1001
BAD_GATEWAY = 1014
INTERNAL_ERROR = 1011
MESSAGE_TOO_BIG = 1009  # over limits.realtime_message_bytes
NORMAL = 1000
_NO_STATUS, _ABNORMAL = 1005, 1006  # reported locally, never sent on the wire (RFC 6455 §7.4.1)
# How long a session whose client went away mid-response waits for the upstream to answer its
# `response.cancel`s with their `response.done`s (under `endpoints/realtime.py`'s SHUTDOWN_WAIT).
CANCEL_WAIT_SECONDS = 3.0
RESPONSE_CANCEL = "response.cancel"  # client: cancel a response under way
_MAX_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes, 2 of them the code
_ENDED = (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR)
_log = logging.getLogger(__name__)

ClientSocket = web.WebSocketResponse
UpstreamSocket = aiohttp.ClientWebSocketResponse


class RealtimeRelay:
    def __init__(self, rate_limit: RateLimit, pricing: Pricing, guardrails: Guardrails) -> None:
        self._rate_limit = rate_limit
        self._pricing = pricing
        self._guardrails = guardrails

    async def run(self, exchange: Exchange, client: ClientSocket, upstream: UpstreamSocket) -> SessionTally:
        """Relay until the session ends; both sockets are closed on return (or cancellation)."""
        gateway = exchange.gateway
        policy = gateway.settings.guardrails if gateway is not None else None
        findings = Findings(exchange.guardrails.findings)
        guard = answers = None
        if gateway is not None and policy is not None:
            # The client's text events (realtime/guard.py) and the model's (answer_guard.py).
            compiled, vault = self._guardrails.compiled(gateway.account, policy), Vault()
            guard = EventGuard(compiled.guard, findings, vault)
            if compiled.reads_answers:
                answers = AnswerGuard(answer_pipes(compiled, vault, restore=policy.restore))
        try:
            session = _Session(exchange, client, upstream, self._rate_limit, self._pricing, guard, answers)
            return await session.run()
        finally:
            if answers is not None:
                findings.note("response", "redact", answers.spans)
                findings.note("response", "flag", answers.flagged)
            record_findings(exchange)


class _Session:
    def __init__(
        self,
        exchange: Exchange,
        client: ClientSocket,
        upstream: UpstreamSocket,
        rate_limit: RateLimit,
        pricing: Pricing,
        guard: EventGuard | None,
        answers: AnswerGuard | None,
    ) -> None:
        self.exchange = exchange
        self.client = client
        self.upstream = upstream
        self.rate_limit = rate_limit
        self.pricing = pricing
        self.guard = guard
        self.answers = answers
        self.tally = SessionTally()
        fallback = exchange.gateway.settings.fallback_price if exchange.gateway is not None else None
        provider = exchange.step.provider.name if exchange.step is not None else ""
        self.transcriptions = Transcriptions(self.tally, pricing, provider, fallback)
        self.stored = stored_keys(exchange.step, credentials_only=True)  # none on the client's own key
        self.models = _session_model(exchange)  # a model-limited token's: session_model.py
        self.asked: deque[tuple[Hold, ...]] = deque()  # admitted `response.create`s not yet started
        self.running: dict[str, tuple[Hold, ...]] = {}  # started responses' reservations, by id
        self.stopped = False  # the pumps are stopped

    async def run(self) -> SessionTally:
        pumps = [asyncio.create_task(self._from_client()), asyncio.create_task(self._from_upstream())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            await self._stop(pumps)
            if self.tally.closed_by == "client" and (self.running or self.transcriptions.under_way):
                await self._cancel_running()
        finally:
            await self._stop(pumps)
            code = self.tally.close_code or GOING_AWAY  # none recorded: the gateway is shutting down
            upstream_code = NORMAL if self.tally.closed_by == "gateway" else _sendable(code, GOING_AWAY)
            await _close(self.client, _sendable(code, BAD_GATEWAY), self.tally.close_reason)
            await _close(self.upstream, upstream_code, self.tally.close_reason)
            await self._release([*self.asked, *self.running.values()])
        return self.tally

    async def _stop(self, pumps: list[asyncio.Task[None]]) -> None:
        if self.stopped:
            return
        self.stopped = True
        for pump in pumps:
            pump.cancel()
        results = await asyncio.gather(*pumps, return_exceptions=True)
        for result in results:
            if isinstance(result, Exception):
                _log.error("realtime session %s: relay failed", self.exchange.request.id, exc_info=result)
                self.tally.closed("gateway", INTERNAL_ERROR, "the gateway failed relaying the session")

    async def _cancel_running(self) -> None:
        """The client went away mid-response: cancel what runs upstream and charge what the
        `response.done`s that answer say it used (a response starting meanwhile is cancelled too),
        and the transcriptions under way as they complete."""
        responses = bool(self.running)  # (transcriptions alone under way are not a response cut short)
        try:
            async with asyncio.timeout(CANCEL_WAIT_SECONDS):
                for started in list(self.running):
                    await self.upstream.send_str(_cancel(started))
                while self.running or self.transcriptions.under_way:
                    message = await self.upstream.receive()
                    if message.type in _ENDED:
                        break
                    if message.type is not WSMsgType.TEXT:
                        continue
                    kind = event_type(message.data)
                    self.tally.server_events[kind] += 1  # sent, if to no one
                    if kind == RESPONSE_DONE:
                        await self._done(message.data)
                    elif kind in WATCHED:
                        await self._transcription(kind, message.data)
                    elif kind == RESPONSE_CREATED and await self._started(message.data):
                        event = read_event(message.data, RESPONSE_CREATED)
                        if event is not None:
                            await self.upstream.send_str(_cancel(response_id(event)))
        except (TimeoutError, ConnectionError):
            pass
        unknown = self.running or self.transcriptions.under_way
        if responses or unknown:
            gone = f"{CLIENT_GONE}; its usage is unknown" if unknown else CLIENT_GONE
            self.exchange.response.error = self.exchange.response.error or gone

    async def _from_client(self) -> None:
        with contextlib.suppress(ConnectionResetError):  # the upstream went away: its pump says how
            await self._client_frames()

    async def _from_upstream(self) -> None:
        try:
            await self._upstream_frames()
        except ConnectionResetError:  # the client went away (its pump may not have seen it yet)
            self.tally.closed("client", _ABNORMAL, "the client connection was lost")

    async def _client_frames(self) -> None:
        while True:
            message = await self.client.receive()
            if message.type in _ENDED:
                if message.type is WSMsgType.CLOSE:
                    self.tally.closed("client", message.data, message.extra or "")
                elif _too_big(message):  # aiohttp closed the client with 1009 (its reason empty)
                    self._closed_too_big("the client")
                else:
                    self.tally.closed("client", _ABNORMAL, "the client connection was lost")
                return
            if message.type is WSMsgType.BINARY:
                self.tally.client_binary += 1
                await self.upstream.send_bytes(message.data)
            elif message.type is WSMsgType.TEXT:
                frame: str = message.data
                kind = event_type(frame)
                self.tally.client_events[kind] += 1
                refused = self.models.refusal(frame) if self.models is not None else None
                if refused is not None:  # a model the token may not use: the client is told
                    await self.client.send_str(refused)
                    continue
                if self.guard is not None:
                    checked = self.guard.check(frame)
                    if checked.forward is None:  # refused: the client is told, nothing goes upstream
                        if checked.answer is not None:
                            await self.client.send_str(checked.answer)
                        continue
                    frame = checked.forward
                if kind == RESPONSE_CREATE:
                    holds = await self._admit()
                    if holds is None:
                        return
                    self.asked.append(holds)
                await self.upstream.send_str(frame)

    async def _upstream_frames(self) -> None:
        while True:
            message = await self.upstream.receive()
            if message.type in _ENDED:
                if message.type is WSMsgType.CLOSE:  # its reason goes on to the client
                    reason = self.stored.scrub_text(message.extra) if self.stored else message.extra
                    self.tally.closed("upstream", message.data, reason or "")
                elif _too_big(message):  # the client is closed with 1009 and why
                    self._closed_too_big("the upstream")
                else:
                    self.tally.closed("upstream", _ABNORMAL, "the upstream connection was lost")
                return
            if message.type is WSMsgType.BINARY:  # audio, or events a server sends as bytes
                self.tally.server_binary += 1
                await self.client.send_bytes(self.stored.scrub(message.data) if self.stored else message.data)
            elif message.type is WSMsgType.TEXT:
                event: str = masked_frame(self.stored, message.data) if self.stored else message.data
                kind = event_type(event)
                self.tally.server_events[kind] += 1
                if kind == RESPONSE_CREATED and not await self._started(event):
                    return
                spent = False
                if kind == RESPONSE_DONE:
                    await self._done(event)
                elif kind in WATCHED:
                    spent = not await self._transcription(kind, event)
                for frame in [event] if self.answers is None else self.answers.check(kind, event):
                    await self.client.send_str(frame)
                if spent:  # the transcription it paid for is passed on, then the session ends
                    return

    def _closed_too_big(self, sender: str) -> None:
        reason = f"{sender} sent a message over limits.realtime_message_bytes"
        self.tally.closed("gateway", MESSAGE_TOO_BIG, reason)
        self.exchange.response.error = self.exchange.response.error or f"session closed: {reason}"

    async def _started(self, frame: str) -> bool:
        """A response started: the reservation of the `response.create` that asked for it, or (one
        the server started itself) a new admission. False when the session must end."""
        event = read_event(frame, RESPONSE_CREATED)
        holds = self.asked.popleft() if self.asked else await self._admit()
        if holds is None:
            return False
        if event is not None:
            self.running[response_id(event)] = holds
        else:  # unreadable: its reservation cannot be matched to a `response.done`, so free it now
            await self._release([holds])
        return True

    async def _done(self, frame: str) -> None:
        """A response ended: add its usage to the session's and charge its reservations with it,
        before the client sees it (and may ask for the next)."""
        event = read_event(frame, RESPONSE_DONE)
        usage = response_usage(event) if event is not None else None
        self.tally.add_response(usage)
        holds = self.running.pop(response_id(event), ()) if event is not None else ()
        if holds:
            await self.rate_limit.settle_holds(holds, await self._outcome(usage), self.exchange.request.id)

    async def _transcription(self, kind: str, frame: str) -> bool:
        """Follow the session's transcriptions; charge one that completed with its usage, at its
        model's price, before the client sees it (no request counted, nothing reserved ahead).
        False when that spent a budget: the session ends, as a refused response would end it."""
        outcome = await self.transcriptions.seen(kind, frame)
        if outcome is None or outcome.usage is None:
            return True
        holds = self.rate_limit.reserve_nothing(self.exchange)
        if not holds:
            return True
        await self.rate_limit.settle_holds(holds, outcome, self.exchange.request.id)
        refusal = await self.rate_limit.spent(self.exchange)
        if refusal is None:
            return True
        self.tally.closed("gateway", POLICY_VIOLATION, refusal.message)
        self.exchange.response.error = f"session closed: {refusal.message}"
        return False

    async def _admit(self) -> tuple[Hold, ...] | None:
        """The reservations of one more response, or None after closing the session on a refusal."""
        try:
            return await self.rate_limit.admit(self.exchange)
        except (RateLimited, UnpricedModel) as refusal:
            self.tally.closed("gateway", POLICY_VIOLATION, refusal.message)
            self.exchange.response.error = f"session closed: {refusal.message}"
            return None

    async def _outcome(self, usage: Usage | None) -> Outcome:
        step = self.exchange.step
        if usage is None or step is None:
            return Outcome()
        custom_cost, gateway = self.exchange.options.custom_cost, self.exchange.gateway
        fallback = gateway.settings.fallback_price if gateway is not None else None
        if self.pricing.ready(step, custom_cost):
            price = self.pricing.price(step, custom_cost, fallback)
        else:  # the first lookup may load price data: not on the event loop
            price = await asyncio.to_thread(self.pricing.price, step, custom_cost, fallback)
        return Outcome(usage, price.cost(usage) if price is not None else None)

    async def _release(self, holds: Sequence[tuple[Hold, ...]]) -> None:
        """Free reservations no response used (asked for but never started, or never done)."""
        for held in holds:
            await self.rate_limit.settle_holds(held, Outcome(), self.exchange.request.id)


def _session_model(exchange: Exchange) -> SessionModel | None:
    """The check of a model-limited token's session on the models its events name, else None."""
    token, step = exchange.token, exchange.step
    if token is None or token.models is None or step is None:
        return None
    return SessionModel(token, step.provider.name, step.facts.model)


def _too_big(message: aiohttp.WSMessage) -> bool:
    """Whether a socket ended on a message over its size limit (aiohttp closed it with 1009)."""
    error = message.data
    return isinstance(error, WebSocketError) and error.code == MESSAGE_TOO_BIG


def _cancel(started: str) -> str:
    """The `response.cancel` client event for one started response."""
    return orjson.dumps({"type": RESPONSE_CANCEL, "response_id": started}).decode()


def _sendable(code: int, instead_of_abnormal: int) -> int:
    """A close code that may go on the wire: 1005 (none given) becomes 1000, 1006 (no close frame)
    the code that says so to the other side; anything else outside the valid ranges is 1011."""
    if code == _NO_STATUS:
        return NORMAL
    if code == _ABNORMAL:
        return instead_of_abnormal
    valid = 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999
    return code if valid else INTERNAL_ERROR


async def _close(socket: ClientSocket | UpstreamSocket, code: int, reason: str) -> None:
    if socket.closed:
        return
    message = reason.encode()[:_MAX_REASON_BYTES].decode("utf-8", "ignore").encode()
    with contextlib.suppress(ConnectionError, RuntimeError):  # the other end is already gone
        await socket.close(code=code, message=message)
