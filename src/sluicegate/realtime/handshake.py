"""The upstream half of a realtime session's handshake: the key it goes with, and what the client
is told when the provider refuses it.

`Handshake.open` connects as `Attempts` (pipeline/retry.py) sends an HTTP request: a step that
brought no key of its own goes with the gateway's stored keys (`step.keys`, from `InjectKeys`), one
chosen per try by `StepKeys` (weights, cool-downs, keys disabled or resting for the model, the one
`cf-aig-byok-alias` names); a handshake the provider refuses for the key (a 429; a 401 or 403
as pipeline/key_verdicts.py judges it) reports that key and is tried at once with another. A
browser's key in its subprotocols (`openai-insecure-api-key.<key>`) is a key of its own.

`refusal_reply` relays a refusal as an HTTP request's error answer is relayed: the provider's status
(a 4xx or 5xx; anything else, a redirect or a 200 that did not upgrade, is the gateway's 502), the
headers `relayable_response_headers` keeps (Retry-After, x-ratelimit-*, x-request-id, …) and the
provider's error body (its first 64 KiB: `upstream.REFUSAL_BODY_BYTES`), with the gateway's stored
keys masked in both; a refusal without a body gets the gateway's own error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import aiohttp
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.credentials import Secrets
from sluicegate.errors import GatewayError
from sluicegate.exchange import Exchange, Reply, Step
from sluicegate.exchange_records import Attempt
from sluicegate.pipeline.key_verdicts import rest_target, verdict
from sluicegate.pipeline.keys import StepKeys, no_usable_key
from sluicegate.pipeline.retry import retry_after
from sluicegate.upstream import UpgradeRefused, Upstream
from sluicegate.upstream_headers import relayable_response_headers

_HANDSHAKE_HEADERS = "sec-websocket-"  # the upstream hop's handshake, not the client's
_ERROR_TEXT = 500  # characters of a body that is not the API's error JSON kept as the logged error


@dataclass(frozen=True, slots=True)
class Refusal:
    """The provider's answer to a handshake, other than 101: `headers` and `body` as it sent them,
    empty where `UpgradeRefused` did not keep them."""

    status: int
    headers: CIMultiDict[str]
    body: bytes

    @classmethod
    def of(cls, refused: UpgradeRefused) -> Refusal:
        return cls(refused.status, CIMultiDict(refused.headers or {}), refused.body)

    def error_text(self) -> str:
        """What the log says went wrong: the status, and the provider's own message when it gave one."""
        said = provider_message(self.body)
        refused = f"the upstream refused the realtime WebSocket with HTTP {self.status}"
        return f"{refused}: {said}" if said else refused


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
        ring = step.keys  # None when the client brought its own key (pipeline/keys.py `keyless_steps`)
        if ring is None:
            return await self._connect(step, url, attempts)
        model, target, tried = step.facts.model, rest_target(step), list[str]()
        refusal: Refusal | None = None
        while True:
            pick = await self._keys.pick(ring, tried, target)
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
            spent = step.provider.refusal_is_final(refusal.status, refusal.body)
            # A realtime session is inference: the key is expected to open it.
            judged = verdict(refusal.status, refusal.body, inference=True)
            if not await self._keys.refused(ring, pick.key.name, refusal.status, judged, wait, target, spent):
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


def refusal_reply(exchange: Exchange, refusal: Refusal) -> Reply:
    """The client's answer to a refused handshake, the refusal noted as the session's error."""
    exchange.response.error = refusal.error_text()
    if not 400 <= refusal.status < 600:
        return _own_answer(502, refusal.status, CIMultiDict())
    headers = relayable_response_headers(CIMultiDictProxy(refusal.headers))
    for name in {name for name in headers if name.lower().startswith(_HANDSHAKE_HEADERS)}:
        del headers[name]
    stored = stored_keys(exchange.step)
    if stored:
        headers = CIMultiDict((name, stored.scrub_text(value) or "") for name, value in headers.items())
    if not refusal.body:
        return _own_answer(refusal.status, refusal.status, headers)
    return Reply(refusal.status, headers, body=stored.scrub(refusal.body) if stored else refusal.body)


def stored_keys(step: Step | None, credentials_only: bool = False) -> Secrets:
    """The values the gateway would add from storage to `step`, never shown to a client (only its
    credentials, `credentials_only`: for a session's events, which carry the model's text)."""
    secrets = Secrets()
    if step is not None:
        step.add_stored_to(secrets, credentials_only)
    return secrets


def provider_message(body: bytes) -> str | None:
    """The message of an error body in the API's shape (`{"error": {"message": …}}`), else the
    start of its text; None for none."""
    try:
        document = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        document = None
    error = document.get("error") if isinstance(document, dict) else None
    message = error.get("message") if isinstance(error, dict) else error
    if isinstance(message, str) and message.strip():
        return message.strip()
    text = body.decode("utf-8", "replace").strip()
    return text[:_ERROR_TEXT] or None


def _own_answer(status: int, refused: int, headers: CIMultiDict[str]) -> Reply:
    """The gateway's JSON error for a refusal whose body the client cannot be given."""
    message = f"the upstream refused the realtime WebSocket with HTTP {refused}"
    error = {"message": message, "type": "sluicegate_error", "code": "upstream_refused_upgrade"}
    headers["Content-Type"] = "application/json"
    return Reply(status, headers, body=orjson.dumps({"error": error, "upstream_status": refused}))


def _attempt(step: Step, status: int, started: float, error: str | None) -> Attempt:
    latency_ms = (time.perf_counter() - started) * 1000
    return Attempt(0, step.provider.name, status, latency_ms, error, step.key_name)
