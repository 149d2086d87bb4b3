"""Realtime sessions as Cloudflare's Realtime WebSockets API page opens them
(https://developers.cloudflare.com/ai-gateway/usage/websockets-api/realtime-api/): at the provider's
root (`wss://…/openai?model=…`), and from a browser, which cannot set headers, with the gateway
token in the `cf-aig-authorization.<token>` subprotocol (beside a key of its own in
`openai-insecure-api-key.<key>`, or none: the stored key). The client is the `websockets` library,
as a browser's WebSocket speaks: subprotocols offered, one answered."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.conftest import RunningGateway
from tests.fakes.realtime_server import KEY_PROTOCOL, FakeRealtime
from tests.integration.test_realtime import KEY, kind, stored, until, ws_url

MODEL = "gpt-4o-realtime-preview-2024-12-17"  # Cloudflare's example's
STORED = "sk-stored-realtime-0123456789"
OWN = "sk-own-realtime-0123456789"
TOKEN_PROTOCOL = "cf-aig-authorization."
PAGE = {"Origin": "https://app.example"}
TELL_A_JOKE = {
    "type": "response.create",
    "response": {"modalities": ["text"], "instructions": "Tell me a joke"},
}


@pytest.fixture
def realtime() -> Iterator[FakeRealtime]:
    with FakeRealtime().serve() as fake:
        yield fake


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], realtime: FakeRealtime) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": realtime.base_url}, secret_key="master-key-for-tests")
    url = "/api/v1/accounts/local/gateways/default/provider-keys/openai/default"
    assert gateway.http.put(url, json={"key": STORED}).status_code == 201
    return gateway


def run_token(gateway: RunningGateway) -> str:
    response = gateway.http.post("/api/v1/accounts/local/tokens", json={"name": "web", "scopes": ["run"]})
    assert response.status_code == 201, response.text
    secret: str = response.json()["token"]
    return secret


def offering(*protocols: str) -> list[Subprotocol]:
    return [Subprotocol(protocol) for protocol in protocols]


def protocols_of(headers: dict[str, str]) -> list[str]:
    """The subprotocols a handshake offered."""
    return [p.strip() for p in headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]


def gateway_logged(caplog: pytest.LogCaptureFixture) -> str:
    """The gateway's log lines (and the fake's), not the test client's own handshake debug lines."""
    return "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("websockets"))


def whole_records(gateway: RunningGateway, count: int) -> list[dict[str, Any]]:
    return [stored(gateway, record) for record in reversed(gateway.wait_for_logs(count)[:count])]


def test_cloudflare_s_openai_example_opens_the_session_at_the_provider_s_root(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    gateway.configure(authentication=True)
    headers = {"cf-aig-authorization": run_token(gateway), "Authorization": f"Bearer {KEY}"}
    for path in (f"openai?model={MODEL}", f"openai/?model={MODEL}"):
        with connect(
            ws_url(gateway, path), additional_headers={**headers, "OpenAI-Beta": "realtime=v1"}
        ) as ws:
            assert kind(ws.recv(timeout=10)) == "session.created"
            ws.send(json.dumps(TELL_A_JOKE))
            assert kind(until(ws.recv, "response.done")[-1]) == "response.done"
    assert [(c.path, c.query) for c in realtime.connections] == [("/v1/realtime", {"model": MODEL})] * 2
    assert all(c.headers["Authorization"] == f"Bearer {KEY}" for c in realtime.connections)
    records = gateway.wait_for_logs(2)
    assert [(r["status"], r["endpoint"], r["model"]) for r in records] == [(101, "realtime", MODEL)] * 2


def test_the_provider_root_stays_a_404_for_plain_requests_and_for_providers_without_a_relay(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    plain = httpx.get(f"{gateway.url}/v1/local/default/openai?model={MODEL}")
    assert plain.status_code == 404
    assert plain.json()["error"]["message"] == "no route for GET /v1/local/default/openai"
    # Google's Live API (Cloudflare's next example) speaks another protocol, which nothing relays.
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(gateway, "google-ai-studio?api_key=AIza-x"), open_timeout=10)
    assert refused.value.response.status_code == 404
    message = json.loads(refused.value.response.body or b"{}")["error"]["message"]
    assert "…/openai?model=…" in message
    assert realtime.handshakes == []


def test_a_browser_s_gateway_token_in_cloudflare_s_subprotocol_opens_a_session_on_the_stored_key(
    gateway: RunningGateway, realtime: FakeRealtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gateway.configure(authentication=True)
    token = run_token(gateway)
    protocols = offering("realtime", TOKEN_PROTOCOL + token)
    with connect(
        ws_url(gateway, f"openai?model={MODEL}"), subprotocols=protocols, additional_headers=PAGE
    ) as ws:
        assert ws.subprotocol == "realtime"  # never the one with the token
        assert kind(ws.recv(timeout=10)) == "session.created"
    # Beside a key of its own, the session goes on that key.
    protocols = offering("realtime", TOKEN_PROTOCOL + token, KEY_PROTOCOL + OWN)
    with connect(ws_url(gateway), subprotocols=protocols, additional_headers=PAGE) as ws:
        assert ws.subprotocol == "realtime"
        assert kind(ws.recv(timeout=10)) == "session.created"
    on_stored, on_own = realtime.connections
    assert on_stored.headers["Authorization"] == f"Bearer {STORED}"
    assert protocols_of(on_stored.headers) == ["realtime"]
    assert "Authorization" not in on_own.headers
    assert protocols_of(on_own.headers) == ["realtime", KEY_PROTOCOL + OWN]
    records = whole_records(gateway, 2)
    assert [(r["status"], r["key_name"]) for r in records] == [(101, "default"), (101, None)]
    assert all(r["token_id"] for r in records)
    assert token not in json.dumps([records, realtime.handshakes]) + gateway_logged(caplog)


def test_a_browser_that_offers_only_the_token_s_subprotocol_is_answered_with_it(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    """As Cloudflare's Google and Cartesia examples offer: a browser fails a handshake whose answer
    names none of the subprotocols it offered, so the gateway names the one there is."""
    gateway.configure(authentication=True)
    only = TOKEN_PROTOCOL + run_token(gateway)
    with connect(ws_url(gateway, f"openai?model={MODEL}"), subprotocols=offering(only)) as ws:
        assert ws.subprotocol == only
        assert kind(ws.recv(timeout=10)) == "session.created"
    [upstream] = realtime.connections
    assert protocols_of(upstream.headers) == []


def test_an_open_gateway_ignores_a_cloudflare_api_token_in_the_subprotocol(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    """Passed over as the header would be: so a web page bringing it has no gateway token, and
    gets no session on the stored key; one that brings its own key gets one on that key."""
    cloudflare = TOKEN_PROTOCOL + "Cf7-Qm2v_Lk9Rt4Wp8Nc3Hb6Jd1Fg5Ys0Ua7Ie2O"
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url(gateway), subprotocols=offering("realtime", cloudflare), additional_headers=PAGE)
    assert refused.value.response.status_code == 403
    protocols = offering("realtime", cloudflare, KEY_PROTOCOL + OWN)
    with connect(ws_url(gateway), subprotocols=protocols, additional_headers=PAGE) as ws:
        assert kind(ws.recv(timeout=10)) == "session.created"
    [upstream] = realtime.connections
    assert protocols_of(upstream.headers) == ["realtime", KEY_PROTOCOL + OWN]


def test_a_browser_s_key_in_its_subprotocols_is_never_in_the_gateway_s_log_lines(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp logs a handshake's offered subprotocols, keys and all, when the server knows none of
    them; the gateway offers back what the client offered."""
    caplog.set_level(logging.DEBUG)
    with connect(ws_url(gateway), subprotocols=offering("realtime", KEY_PROTOCOL + OWN)) as ws:
        assert kind(ws.recv(timeout=10)) == "session.created"
    gateway.wait_for_logs(1)
    assert OWN not in gateway_logged(caplog)
