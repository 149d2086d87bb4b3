"""Cross-origin requests to the proxy (endpoints/cors.py): preflights answered at the gateway,
unauthenticated, never forwarded nor logged; answers labelled for a page that carries a gateway
token; a provider's own CORS headers never reach a page; the admin API answers no other origin.
tests/browser/test_cors.py makes the same requests from a page in Chromium."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import pytest
from aiohttp import web
from websockets.sync.client import connect

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server_thread import ServerThread

ORIGIN = "https://app.example"
KEY = "Bearer sk-cors-0123456789"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "cors"}]}
ASKED = "authorization, content-type, x-stainless-os, cf-aig-authorization, cf-aig-cache-ttl"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": ASKED,
}
PATHS = {
    "provider, authentication on": ("/v1/local/locked/openai/chat/completions", "POST"),
    "provider": ("/v1/local/default/openai/chat/completions", "POST"),
    "compat": ("/v1/local/default/compat/chat/completions", "POST"),
    "universal": ("/v1/local/default", "POST"),
    "host-in-path": ("/api.openai.com/v1/chat/completions", "POST"),
}


@pytest.fixture
def permissive() -> Iterator[ServerThread]:
    """An OpenAI-like upstream that answers every origin itself, as OpenAI does."""

    async def chat(request: web.Request) -> web.Response:
        headers = {"Access-Control-Allow-Origin": "*", "x-ratelimit-remaining-requests": "41"}
        return web.json_response({"object": "chat.completion", "choices": []}, headers=headers)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    with ServerThread(app) as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, host_overrides={"api.openai.com": fake.url})
    assert gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "Locked", "slug": "locked"})
    gateway.configure("locked", authentication=True)
    return gateway


def run_token(gateway: RunningGateway) -> str:
    response = gateway.http.post("/api/v1/accounts/local/tokens", json={"name": "page", "scopes": ["run"]})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def access_control(response: httpx.Response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name.startswith("access-control-")}


@pytest.mark.parametrize("where", list(PATHS))
def test_a_preflight_is_answered_at_the_gateway(
    gateway: RunningGateway, fake: FakeOpenAI, where: str
) -> None:
    path, methods = PATHS[where]
    response = httpx.options(gateway.url + path, headers=PREFLIGHT)
    assert response.status_code == 204, response.text
    assert access_control(response) == {
        "access-control-allow-origin": ORIGIN,
        "access-control-allow-methods": methods,
        "access-control-allow-headers": ASKED,
        "access-control-max-age": "600",
    }
    assert "Origin" in response.headers["vary"]
    assert "cf-aig-log-id" not in response.headers
    assert fake.requests == []  # never forwarded


def test_preflights_are_not_logged(gateway: RunningGateway) -> None:
    for path, _ in PATHS.values():
        assert httpx.options(gateway.url + path, headers=PREFLIGHT).status_code == 204
    response = httpx.post(
        gateway.provider_url("openai") + "/chat/completions", json=CHAT, headers={"Authorization": KEY}
    )
    assert response.status_code == 200
    records = gateway.wait_for_logs(1)
    assert [record["id"] for record in records] == [response.headers["cf-aig-log-id"]]


def test_a_preflight_that_names_neither_a_token_nor_a_key_is_refused(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    headers = PREFLIGHT | {"Access-Control-Request-Headers": "content-type, x-stainless-os"}
    response = httpx.options(gateway.provider_url("openai") + "/chat/completions", headers=headers)
    assert response.status_code == 403
    assert access_control(response) == {}
    assert "cf-aig-authorization" in response.json()["error"]["message"]
    assert fake.requests == []


@pytest.mark.parametrize("header", ["authorization", "x-api-key", "x-goog-api-key"])
def test_a_page_that_brings_its_own_provider_key_may_call_and_read_the_answer(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, header: str
) -> None:
    """OpenAI's and Anthropic's SDKs run in browsers with the user's own key: such a request never
    runs on a key the gateway stores, so its page may read the answer."""
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    url = gateway.provider_url("openai") + "/chat/completions"
    asked = PREFLIGHT | {"Access-Control-Request-Headers": f"content-type, {header}"}
    preflight = httpx.options(url, headers=asked)
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["access-control-allow-headers"] == f"content-type, {header}"
    key = KEY if header == "authorization" else "page-own-key-0123456789"
    response = httpx.post(url, json=CHAT, headers={"Origin": ORIGIN, header: key})
    assert response.headers["access-control-allow-origin"] == ORIGIN  # whatever the provider said
    assert {name.lower(): value for name, value in fake.requests[-1].headers.items()}[header] == key


@pytest.fixture
def stored_key(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    """An open gateway with a stored OpenAI key and an account custom provider with a stored key."""
    gateway = make_gateway(
        upstreams={"openai": fake.base_url},
        secret_key="master-key-for-tests",
        allowed_hosts=[fake.url.removeprefix("http://")],
    )
    stored = gateway.http.put(
        "/api/v1/accounts/local/gateways/default/provider-keys/openai", json={"key": STORED_KEY}
    )
    assert stored.status_code in (200, 201), stored.text
    custom = gateway.http.post(
        "/api/v1/accounts/local/custom-providers",
        json={
            "name": "Team vLLM",
            "slug": "vllm",
            "base_url": fake.base_url,
            "headers": {"Authorization": STORED},
        },
    )
    assert custom.status_code == 201, custom.text
    return gateway


STORED_KEY = "sk-stored-0123456789"
STORED = f"Bearer {STORED_KEY}"
UNIVERSAL_STEP = {"provider": "openai", "endpoint": "chat/completions", "headers": {}, "query": CHAT}
# The compat endpoint's request in a universal step: Plan puts a rebuilt request in the universal
# one's place, which carries none of the client's own headers (Origin included).
COMPAT_STEP = {
    "provider": "compat",
    "endpoint": "chat/completions",
    "headers": {},
    "query": CHAT | {"model": "openai/gpt-4o-mini"},
}
SOCKET = "/v1/local/default/"  # the universal endpoint's WebSockets API (a page's upgrade sends Origin)


PAGE_CASES = {
    "provider, nothing": ("/v1/local/default/openai/chat/completions", CHAT, {}),
    "universal, nothing": ("/v1/local/default", [UNIVERSAL_STEP], {}),
    # The request's own Authorization is not a universal step's header, nor a custom provider's.
    "universal, a key": ("/v1/local/default", [UNIVERSAL_STEP], {"Authorization": KEY}),
    "universal, a compat step": ("/v1/local/default", [COMPAT_STEP], {}),
    "universal WebSocket, a compat step": (SOCKET, COMPAT_STEP, {}),
    "custom provider, nothing": ("/v1/local/default/custom-vllm/chat/completions", CHAT, {}),
    "custom provider, a key": (
        "/v1/local/default/custom-vllm/chat/completions",
        CHAT,
        {"Authorization": KEY},
    ),
}


@pytest.mark.parametrize("case", list(PAGE_CASES))
def test_a_page_never_runs_on_stored_credentials_without_a_token(
    stored_key: RunningGateway, fake: FakeOpenAI, case: str
) -> None:
    """A form's POST needs no preflight; a universal step's and a custom provider's credentials are
    not the request's headers: whatever a page sends, it does not spend what the gateway stores."""
    path, body, brings = PAGE_CASES[case]
    headers = {"Origin": ORIGIN, **brings}
    if path == SOCKET:
        status, answer = over_socket(stored_key, body, headers)
    else:
        response = httpx.post(stored_key.url + path, json=body, headers=headers)
        status, answer = response.status_code, response.json()
    assert status == 403, answer
    assert "gateway token" in answer["error"]["message"]
    assert fake.requests == []


def over_socket(gateway: RunningGateway, step: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
    """The status and answer of one `universal.create` message on a WebSocket whose upgrade sent
    `headers`."""
    url = gateway.url.replace("http://", "ws://") + SOCKET
    with connect(url, additional_headers=headers) as socket:
        socket.send(json.dumps({"type": "universal.create", "request": {"eventId": "page", **step}}))
        event = json.loads(socket.recv(timeout=10))
    return event["metadata"]["status"], event["response"]


def test_a_page_with_a_token_may_run_on_stored_keys(stored_key: RunningGateway, fake: FakeOpenAI) -> None:
    headers = {"Origin": ORIGIN, "cf-aig-authorization": f"Bearer {run_token(stored_key)}"}
    response = httpx.post(stored_key.url + "/v1/local/default", json=[UNIVERSAL_STEP], headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert fake.requests[-1].headers["Authorization"] == STORED
    plain = httpx.post(stored_key.url + "/v1/local/default", json=[UNIVERSAL_STEP])  # no page: as before
    assert plain.status_code == 200


def test_the_answer_to_a_page_with_a_token_can_be_read(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    headers = {"Origin": ORIGIN, "Authorization": KEY, "cf-aig-authorization": f"Bearer {run_token(gateway)}"}
    url = gateway.provider_url("openai", "locked") + "/chat/completions"
    response = httpx.post(url, json=CHAT, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "Origin" in response.headers.get_list("vary")
    exposed = response.headers["access-control-expose-headers"].split(", ")
    assert {"cf-aig-log-id", "x-request-id"} <= set(exposed)
    assert "content-type" not in exposed  # a page reads it anyway
    # a refusal too: its Retry-After and x-ratelimit-* headers are what a page needs to wait
    limited = httpx.post(url, json=CHAT | {"model": "rate-limited"}, headers=headers)
    assert limited.status_code == 429
    assert limited.headers["access-control-allow-origin"] == ORIGIN
    assert {"retry-after", "x-ratelimit-remaining-requests"} <= set(
        limited.headers["access-control-expose-headers"].split(", ")
    )


def test_a_provider_cannot_open_an_answer_to_a_page(
    make_gateway: Callable[..., RunningGateway], permissive: ServerThread
) -> None:
    gateway = make_gateway(upstreams={"openai": permissive.url + "/v1"})
    url = gateway.provider_url("openai") + "/chat/completions"
    from_page = httpx.post(url, json=CHAT, headers={"Origin": ORIGIN})
    assert from_page.status_code == 200
    assert access_control(from_page) == {}  # the provider's `*` is dropped; no token nor key, no label
    with_token = httpx.post(
        url,
        json=CHAT,
        headers={"Origin": ORIGIN, "Authorization": KEY, "x-sluicegate-token": run_token(gateway)},
    )
    assert with_token.headers.get_list("access-control-allow-origin") == [ORIGIN]
    assert "x-ratelimit-remaining-requests" in with_token.headers["access-control-expose-headers"]
    not_from_a_page = httpx.post(url, json=CHAT, headers={"Authorization": KEY})
    assert access_control(not_from_a_page) == {"access-control-allow-origin": "*"}  # relayed as it came


def test_the_admin_api_answers_no_other_origin(gateway: RunningGateway) -> None:
    url = "/api/v1/accounts/local/gateways"
    preflight = gateway.http.options(url, headers=PREFLIGHT | {"Access-Control-Request-Method": "GET"})
    assert access_control(preflight) == {}
    listing = gateway.http.get(url, headers={"Origin": ORIGIN})
    assert listing.status_code == 200
    assert access_control(listing) == {}


def test_a_key_in_the_query_is_the_clients_own(
    make_gateway: Callable[..., RunningGateway], gemini: FakeGemini
) -> None:
    """Google takes its key as `?key=` too: such a request brings its own key, from a page or not,
    and never goes with the stored one as well."""
    gateway = make_gateway(upstreams={"google-ai-studio": gemini.base_url}, secret_key="master-key-for-tests")
    stored = gateway.http.put(
        "/api/v1/accounts/local/gateways/default/provider-keys/google-ai-studio",
        json={"key": "stored-gemini-0123"},
    )
    assert stored.status_code in (200, 201), stored.text
    model = "v1beta/models/gemini-2.5-flash:generateContent"
    url = f"{gateway.provider_url('google-ai-studio')}/{model}?key=own-0123"
    body = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    assert httpx.post(url, json=body).status_code == 200
    assert gemini.requests[-1].header("x-goog-api-key") is None  # the stored key was not added
    page = httpx.post(url, json=body, headers={"Origin": ORIGIN})
    assert page.status_code == 200, page.text


def test_a_page_needs_a_token_where_cached_answers_are_shared_across_keys(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    """With `cache_per_key` off, a hit is served whatever key a request brings: a page with a junk
    key would read what others' requests stored."""
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    gateway.configure(cache_enabled=True, cache_per_key=False)
    url = gateway.provider_url("openai") + "/chat/completions"
    assert httpx.post(url, json=CHAT, headers={"Authorization": KEY}).status_code == 200  # stored
    page = httpx.post(url, json=CHAT, headers={"Origin": ORIGIN, "Authorization": "Bearer junk"})
    assert page.status_code == 403, page.text
    assert "cache_per_key" in page.json()["error"]["message"]
    compat = COMPAT_STEP | {"headers": {"Authorization": "Bearer junk"}}  # a rebuilt request, the same page
    rebuilt = httpx.post(gateway.url + "/v1/local/default", json=compat, headers={"Origin": ORIGIN})
    assert rebuilt.status_code == 403, rebuilt.text
    assert "cache_per_key" in rebuilt.json()["error"]["message"]
    with_token = {"Origin": ORIGIN, "Authorization": "Bearer junk", "x-sluicegate-token": run_token(gateway)}
    assert httpx.post(url, json=CHAT, headers=with_token).headers["cf-aig-cache-status"] == "HIT"


def test_a_page_whose_universal_steps_each_bring_its_own_key_may_read_the_answer(
    stored_key: RunningGateway, fake: FakeOpenAI
) -> None:
    """A universal step's own `headers` carry the page's key as much as a header of the request:
    it runs on that key alone, so its answer, errors included, is the page's to read (a page sends
    such a body as text/plain, which needs no preflight)."""
    url = stored_key.url + "/v1/local/default"
    page = {"Origin": ORIGIN, "Content-Type": "text/plain"}
    own = UNIVERSAL_STEP | {"headers": {"Authorization": KEY}}
    for model, status in (("gpt-4o-mini", 200), ("rate-limited", 429)):
        step = own | {"query": CHAT | {"model": model}}
        response = httpx.post(url, content=json.dumps([step]), headers=page)
        assert response.status_code == status, response.text
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert "cf-aig-log-id" in response.headers["access-control-expose-headers"]
        assert fake.requests[-1].headers["Authorization"] == KEY
    # The gateway's own refusal too, made before the keys are looked at.
    sent = len(fake.requests)
    stored_key.configure(guardrails={"custom": [{"name": "project", "words": ["Falcon"], "action": "block"}]})
    blocked = own | {"query": CHAT | {"messages": [{"role": "user", "content": "Falcon"}]}}
    response = httpx.post(url, content=json.dumps([blocked]), headers=page)
    assert response.status_code == 400, response.text
    assert response.headers["access-control-allow-origin"] == ORIGIN
    # A step without it would run on the stored key: refused before going upstream, as before.
    refused = httpx.post(url, content=json.dumps([own, UNIVERSAL_STEP]), headers=page)
    assert refused.status_code == 403, refused.text
    assert len(fake.requests) == sent
