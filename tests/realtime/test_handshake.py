"""What a client is told when the provider refuses a realtime handshake (`refusal_reply`), from what
`UpgradeRefused` carries: the status always, the headers and body when it has them (else the headers
of aiohttp's handshake error it was raised from)."""

from __future__ import annotations

import json

from multidict import CIMultiDict, CIMultiDictProxy

from sluicegate.exchange import Reply, RequestPlan, Step
from sluicegate.providers.base import RequestFacts, Route
from sluicegate.providers.openai import OPENAI
from sluicegate.realtime.handshake import Refusal, refusal_reply
from sluicegate.routing.keypool import KeyRing, PoolKey
from sluicegate.upstream import UpgradeRefused
from tests.pipeline.stage_parts import make_exchange

STORED = "sk-stored-realtime-0123456789"
RATE_LIMITED = {"Retry-After": "7", "x-ratelimit-remaining-requests": "0", "x-request-id": "req_1"}
# What a refusal's head also holds that is about the upstream hop only, never relayed.
HOP = {"Connection": "close", "Content-Length": "99", "Sec-WebSocket-Version": "13"}


def carrying_refusal(status: int, headers: dict[str, str], body: bytes) -> UpgradeRefused:
    """An `UpgradeRefused` with the provider's headers and body, as `connect_websocket` raises it."""
    return UpgradeRefused(status, CIMultiDictProxy(CIMultiDict(headers)), body)


def reply_to(refused: UpgradeRefused, keys: KeyRing | None = None) -> tuple[Reply, str | None]:
    """The client's answer, and the session's logged error, for a session with stored `keys`."""
    exchange = make_exchange("realtime?model=gpt-realtime")
    step = Step(
        OPENAI, Route("local", "realtime"), CIMultiDict(), b"", RequestFacts("gpt-realtime"), keys=keys
    )
    exchange.plan = RequestPlan(b"", [step])
    return refusal_reply(exchange, Refusal.of(refused)), exchange.response.error


def test_a_refusal_with_its_body_is_relayed_as_the_provider_gave_it_with_stored_keys_masked() -> None:
    error = {"message": f"Incorrect API key provided: {STORED}.", "type": "invalid_request_error"}
    body = json.dumps({"error": error}).encode()
    headers = {**HOP, "Content-Type": "application/json", "x-request-id": "req_1", "x-echo": STORED}
    keys = KeyRing("local/default/openai", (PoolKey(name="default"),), {"default": STORED})

    reply, logged = reply_to(carrying_refusal(401, headers, body), keys)

    assert reply.status == 401
    assert dict(reply.headers) == {
        "Content-Type": "application/json",
        "x-request-id": "req_1",
        "x-echo": "[redacted]",
    }
    assert reply.body == body.replace(STORED.encode(), b"[redacted]")
    assert logged == f"the upstream refused the realtime WebSocket with HTTP 401: {error['message']}"


def test_a_refusal_without_a_body_has_the_providers_headers_and_the_gateways_message() -> None:
    headers = {**HOP, **RATE_LIMITED, "Content-Type": "text/plain"}

    reply, logged = reply_to(carrying_refusal(429, headers, b""))

    assert reply.status == 429
    assert dict(reply.headers) == {**RATE_LIMITED, "Content-Type": "application/json"}
    assert json.loads(reply.body)["error"]["code"] == "upstream_refused_upgrade"
    assert logged == "the upstream refused the realtime WebSocket with HTTP 429"


def test_an_answer_that_is_no_refusal_is_the_gateways_502_without_the_providers_headers() -> None:
    refused = carrying_refusal(302, {"Location": "wss://elsewhere.example/realtime"}, b"")

    reply, _ = reply_to(refused)

    assert reply.status == 502
    assert "Location" not in reply.headers
    assert json.loads(reply.body)["upstream_status"] == 302
