"""The upstream half of a realtime session's handshake: the key it goes with, and what the client
is told when the provider refuses it.

`Handshake.open` connects as `Attempts` (pipeline/retry.py) sends an HTTP request: a step that
brought no key of its own goes with the gateway's stored keys (`step.keys`, from `InjectKeys`), one
chosen per try by `StepKeys` (weights, cool-downs, keys disabled or resting for the model, the one
`cf-aig-byok-alias` names); a handshake the provider refuses for the key (401, 403, 429) reports
that key and is tried at once with another. A browser's key in its subprotocols
(`openai-insecure-api-key.<key>`) is a key of its own.

`refusal_reply` answers a refusal with its status (a 4xx says what the client must fix, its key
or the model; anything else is the gateway's 502).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp
import orjson
from multidict import CIMultiDict

from sluicegate.errors import GatewayError
from sluicegate.exchange import Attempt, Exchange, Reply, Step
from sluicegate.pipeline.keys import StepKeys, no_usable_key
from sluicegate.pipeline.retry import retry_after
from sluicegate.upstream import UpgradeRefused, Upstream

OWN_KEY_PROTOCOL = "openai-insecure-api-key."  # https://platform.openai.com/docs/guides/realtime-websocket


@dataclass(frozen=True, slots=True)
class Refusal:
    """The provider's answer to a handshake, other than 101 (`headers` empty where unknown)."""

    status: int
    headers: CIMultiDict[str]

    @classmethod
    def of(cls, refused: UpgradeRefused) -> Refusal:
        # `UpgradeRefused` keeps the status; the headers (a 429's Retry-After, for the key's
        # cool-down) are those of aiohttp's handshake error it was raised from.
        cause = refused.__cause__
        headers = cause.headers if isinstance(cause, aiohttp.WSServerHandshakeError) else None
        return cls(refused.status, CIMultiDict(headers or {}))

    def error_text(self) -> str:
        return f"the upstream refused the realtime WebSocket with HTTP {self.status}"


class Handshake:
    """Opens a session's upstream WebSocket with the key its step goes with."""

    def __init__(self, upstream: Upstream, keys: StepKeys, timeout_s: float, max_message_bytes: int) -> None:
        self._upstream = upstream
        self._keys = keys
        self._timeout_s = timeout_s
        self._max_message_bytes = max_message_bytes

    async def open(
        self, step: Step, url: str, attempts: list[Attempt]
    ) -> aiohttp.ClientWebSocketResponse | Refusal:
        """The upstream socket, or the refusal to relay (the last stored key's, when every one the
        provider refused). Each try is added to `attempts`; raises the `errors.py` upstream errors,
        and `no_usable_key`'s when no stored key may be used now."""
        ring = None if brings_own_key(step) else step.keys
        if ring is None:
            return await self._connect(step, url, attempts)
        model, tried = step.facts.model, list[str]()
        refusal: Refusal | None = None
        while True:
            pick = await self._keys.pick(ring, tried, model)
            if pick.key is None:
                if refusal is not None:
                    return refusal
                error = no_usable_key(step.provider.name, ring, pick, model)
                attempts.append(Attempt(0, step.provider.name, error.status, 0.0, error.message))
                raise error
            self._keys.use(step, ring, pick.key.name)
            opened = await self._connect(step, url, attempts)
            if not isinstance(opened, Refusal):
                return opened
            refusal = opened
            wait = retry_after(refusal.headers)
            if not await self._keys.refused(ring, pick.key.name, refusal.status, wait, model):
                return refusal
            tried.append(pick.key.name)

    async def _connect(
        self, step: Step, url: str, attempts: list[Attempt]
    ) -> aiohttp.ClientWebSocketResponse | Refusal:
        started = time.perf_counter()
        try:
            socket = await self._upstream.connect_websocket(
                url, step.headers, self._timeout_s, self._max_message_bytes
            )
        except UpgradeRefused as refused:
            refusal = Refusal.of(refused)
            attempts.append(_attempt(step, refusal.status, started, refusal.error_text()))
            return refusal
        except GatewayError as error:
            attempts.append(_attempt(step, error.status, started, error.message))
            raise
        attempts.append(_attempt(step, 101, started, None))
        return socket


def brings_own_key(step: Step) -> bool:
    """Whether the client sent a key in its subprotocols, as browsers must (they cannot set headers)."""
    protocols = ",".join(step.headers.getall("Sec-WebSocket-Protocol", []))
    return any(p.strip().startswith(OWN_KEY_PROTOCOL) for p in protocols.split(","))


def refusal_reply(exchange: Exchange, refusal: Refusal) -> Reply:
    """The client's answer to a refused handshake, the refusal noted as the session's error."""
    answered = refusal.status if 400 <= refusal.status < 500 else 502
    message = exchange.response.error = refusal.error_text()
    error = {"message": message, "type": "sluicegate_error", "code": "upstream_refused_upgrade"}
    headers = CIMultiDict({"Content-Type": "application/json"})
    return Reply(answered, headers, body=orjson.dumps({"error": error, "upstream_status": refusal.status}))


def _attempt(step: Step, status: int, started: float, error: str | None) -> Attempt:
    latency_ms = (time.perf_counter() - started) * 1000
    return Attempt(0, step.provider.name, status, latency_ms, error, step.key_name)
