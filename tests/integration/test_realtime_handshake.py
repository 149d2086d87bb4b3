"""The upstream handshake of a realtime session: the gateway's stored provider keys for a client
that brings none, chosen as an HTTP request's are (pools, cool-downs, `cf-aig-byok-alias`), and a
refusal relayed as the provider gave it. The official `openai` SDK is the client where it shows
what is checked; refusals are read with the `websockets` client the SDK is built on (the SDK turns
them into a generic error)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.conftest import RunningGateway
from tests.fakes.realtime_server import KEY_PROTOCOL, FakeRealtime
from tests.integration.test_realtime import MODEL, SDK_SOCKET, kind, stored, ws_url

KEYS = "/api/v1/accounts/local/gateways/default/provider-keys"
STORED, SPARE = "sk-stored-realtime-0123456789", "sk-spare-realtime-0123456789"
REVOKED, SPENT, SPENT_TOO = (f"sk-{name}-realtime-0123456789" for name in ("revoked", "spent", "spent-too"))
OWN = "sk-own-realtime-0123456789"
HEAVY = 1_000_000  # a key this heavy beside one of weight 1 is chosen first (all but 1 in a million)
NO_KEY = {"Authorization": openai.Omit()}  # the SDK then sends no key: the gateway brings its own


@pytest.fixture
def realtime() -> Iterator[FakeRealtime]:
    behaviors = {REVOKED: "error-401", SPENT: "rate-limited", SPENT_TOO: "rate-limited"}
    with FakeRealtime(key_behaviors=behaviors).serve() as fake:
        yield fake


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], realtime: FakeRealtime) -> RunningGateway:
    return make_gateway(
        upstreams={"openai": realtime.base_url, "azure-openai": realtime.url},
        secret_key="master-key-for-tests",
    )


def store(gateway: RunningGateway, name: str, key: str, weight: float = 1, provider: str = "openai") -> None:
    response = gateway.http.put(f"{KEYS}/{provider}/{name}", json={"key": key, "weight": weight})
    assert response.status_code == 201, response.text


def sdk_says_hello(gateway: RunningGateway, headers: dict[str, Any]) -> None:
    """A session opened by the SDK with `headers`, that waits for the session to start."""
    with (
        openai.OpenAI(
            base_url=gateway.provider_url("openai"), api_key="unused", default_headers=headers, max_retries=0
        ) as client,
        client.realtime.connect(model=MODEL, websocket_connection_options=SDK_SOCKET) as connection,
    ):
        assert kind(connection.recv_bytes()) == "session.created"


def refused(gateway: RunningGateway, path: str, headers: dict[str, str]) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as refusal:
        connect(ws_url(gateway, path), additional_headers=headers, open_timeout=10)
    return refusal.value


def whole_records(gateway: RunningGateway, count: int) -> list[dict[str, Any]]:
    """The newest `count` records, oldest first, bodies included."""
    return [stored(gateway, record) for record in reversed(gateway.wait_for_logs(count)[:count])]


def test_a_session_that_brings_no_key_goes_with_the_stored_key_one_that_brings_one_with_its_own(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    store(gateway, "default", STORED)
    sdk_says_hello(gateway, NO_KEY)
    sdk_says_hello(gateway, {"Authorization": f"Bearer {OWN}"})
    # A browser cannot set headers: its key comes in a subprotocol, and is a key of its own too.
    protocols = [Subprotocol("realtime"), Subprotocol(KEY_PROTOCOL + OWN)]
    browser = connect(ws_url(gateway), subprotocols=protocols, open_timeout=10)
    with browser:
        assert kind(browser.recv()) == "session.created"

    keyless, own, in_protocol = realtime.connections
    assert keyless.headers["Authorization"] == f"Bearer {STORED}"
    assert own.headers["Authorization"] == f"Bearer {OWN}"
    assert "Authorization" not in in_protocol.headers
    records = whole_records(gateway, 3)
    assert [(r["status"], r["key_name"]) for r in records] == [(101, "default"), (101, None), (101, None)]
    assert STORED not in json.dumps(records)


def test_an_azure_session_goes_with_the_stored_azure_key(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    store(gateway, "default", STORED, provider="azure-openai")
    with (
        openai.AzureOpenAI(
            api_key="unused",
            api_version="2025-04-01-preview",
            azure_endpoint=f"{gateway.provider_url('azure-openai')}/my-resource",
            websocket_base_url=ws_url(gateway, "azure-openai/my-resource/openai"),
            default_headers={"api-key": openai.Omit()},
            max_retries=0,
        ) as client,
        client.realtime.connect(model="my-realtime", websocket_connection_options=SDK_SOCKET) as connection,
    ):
        assert kind(connection.recv_bytes()) == "session.created"

    [upstream] = realtime.connections
    assert upstream.headers["api-key"] == STORED
    [record] = whole_records(gateway, 1)
    assert (record["provider"], record["key_name"]) == ("azure-openai", "default")
    assert STORED not in json.dumps(record)


def test_a_stored_key_the_provider_refuses_is_passed_over_and_disabled(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    store(gateway, "revoked", REVOKED, weight=HEAVY)
    store(gateway, "good", STORED)
    sdk_says_hello(gateway, NO_KEY)
    sdk_says_hello(gateway, NO_KEY)

    tried = [handshake["Authorization"] for handshake in realtime.handshakes]
    assert tried == [f"Bearer {REVOKED}", f"Bearer {STORED}", f"Bearer {STORED}"]
    first, second = whole_records(gateway, 2)
    assert (first["status"], first["key_name"], second["key_name"]) == (101, "good", "good")
    assert [(a["status"], a["key"]) for a in first["attempts"]] == [(401, "revoked"), (101, "good")]
    states = {key["name"]: key["status"] for key in gateway.http.get(KEYS).json()["result"]}
    assert states == {"revoked": "disabled", "good": "ok"}
    assert REVOKED not in json.dumps([first, second])


def test_cf_aig_byok_alias_chooses_the_stored_key_of_that_name(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    store(gateway, "main", STORED, weight=HEAVY)
    store(gateway, "spare", SPARE)
    sdk_says_hello(gateway, {**NO_KEY, "cf-aig-byok-alias": "spare"})
    unknown = refused(gateway, f"openai/realtime?model={MODEL}", {"cf-aig-byok-alias": "nope"})

    [upstream] = realtime.connections
    assert upstream.headers["Authorization"] == f"Bearer {SPARE}"
    assert "cf-aig-byok-alias" not in upstream.headers
    assert unknown.response.status_code == 400
    assert len(realtime.handshakes) == 1


def test_when_every_stored_key_cools_down_the_session_is_refused_with_when_to_come_back(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    store(gateway, "spent", SPENT)
    store(gateway, "spent-too", SPENT_TOO)
    first = refused(gateway, f"openai/realtime?model={MODEL}", {})
    second = refused(gateway, f"openai/realtime?model={MODEL}", {})

    assert len(realtime.handshakes) == 2  # each key once; then both were known to be cooling
    assert first.response.status_code == 429
    assert first.response.headers["Retry-After"] == "7"  # the provider's, relayed
    assert second.response.status_code == 429
    assert json.loads(second.response.body or b"")["error"]["code"] == "provider_keys_cooling"
    assert 0 < int(second.response.headers["Retry-After"]) <= 7


@pytest.mark.parametrize(("model", "status"), [("rate-limited", 429), ("error-503", 503)])
def test_a_refused_handshake_is_answered_with_the_providers_status_and_headers(
    gateway: RunningGateway, model: str, status: int
) -> None:
    refusal = refused(gateway, f"openai/realtime?model={model}", {"Authorization": f"Bearer {OWN}"})

    answer = refusal.response
    assert answer.status_code == status
    assert answer.headers["x-request-id"].startswith("req_fake_")
    if status == 429:
        assert (answer.headers["Retry-After"], answer.headers["x-ratelimit-remaining-requests"]) == ("7", "0")
    assert json.loads(answer.body or b"")["error"]["message"]
    [record] = whole_records(gateway, 1)
    assert record["status"] == status
    assert f"HTTP {status}" in record["error"]


def test_a_refused_handshake_is_answered_with_the_providers_error_and_logged_with_it(
    gateway: RunningGateway,
) -> None:
    refusal = refused(gateway, "openai/realtime?model=rate-limited", {"Authorization": f"Bearer {OWN}"})

    error = json.loads(refusal.response.body or b"")["error"]
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    [record] = whole_records(gateway, 1)
    assert error["message"] in record["error"]


def test_a_web_page_never_opens_a_session_on_the_stored_key(
    gateway: RunningGateway, realtime: FakeRealtime
) -> None:
    """Browsers apply no CORS to WebSockets: without this, any site a user visits could open a
    session on the gateway's key (cross-site WebSocket hijacking)."""
    store(gateway, "default", STORED)
    page = {"Origin": "https://elsewhere.example"}
    refusal = refused(gateway, f"openai/realtime?model={MODEL}", page)
    assert refusal.response.status_code == 403
    assert "gateway token" in json.loads(refusal.response.body or b"")["error"]["message"]
    assert realtime.handshakes == []
    # A page's own key, in its subprotocols as browsers must send it, goes as the page's own.
    protocols = [Subprotocol("realtime"), Subprotocol(f"{KEY_PROTOCOL}{OWN}")]
    with connect(
        ws_url(gateway, f"openai/realtime?model={MODEL}"), additional_headers=page, subprotocols=protocols
    ) as socket:
        assert kind(socket.recv(timeout=10)) == "session.created"
    assert STORED not in str(realtime.handshakes[-1])
