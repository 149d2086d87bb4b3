"""A web page on another origin calls the gateway with fetch() in Chromium: the browser's own
preflight and checks, end to end (tests/integration/test_cors.py has the headers one by one)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from tests.browser.conftest import TIMEOUT_MS
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.server_thread import ServerThread

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# The page's own origin: a server on another loopback port (another origin, and one Chromium's
# local-network checks let reach the gateway on loopback without asking the user).
CALL = """async ([url, headers]) => {
    try {
        const response = await fetch(url, {method: "POST", headers, body: JSON.stringify(
            {model: "gpt-4o-mini", messages: [{role: "user", content: "from a page"}]})});
        const answer = await response.json();
        return {status: response.status, logId: response.headers.get("cf-aig-log-id"),
                text: answer.choices ? answer.choices[0].message.content : null};
    } catch (error) {
        return {blocked: String(error)};
    }
}"""


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "Locked", "slug": "locked"})
    gateway.configure("locked", authentication=True)
    return gateway


@pytest.fixture
def app_origin() -> Iterator[ServerThread]:
    async def app_page(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>app</title>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/app.html", app_page)
    with ServerThread(app) as server:
        yield server


@pytest.fixture
def page(browser: Browser, app_origin: ServerThread) -> Iterator[Page]:
    """A tab on the app's origin. Not the shared `page` fixture: the refusal below is meant to be
    a CORS error in the console."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(app_origin.url + "/app.html")
    yield page
    context.close()


def call(page: Page, gateway: RunningGateway, headers: dict[str, str]) -> dict[str, Any]:
    url = gateway.provider_url("openai", "locked") + "/chat/completions"
    result: dict[str, Any] = page.evaluate(CALL, [url, {"content-type": "application/json", **headers}])
    return result


def test_a_page_with_a_gateway_token_calls_an_authenticated_gateway(
    page: Page, gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    created = gateway.http.post("/api/v1/accounts/local/tokens", json={"name": "page", "scopes": ["run"]})
    token = created.json()["token"]
    result = call(
        page,
        gateway,
        {"authorization": "Bearer sk-page-0123456789", "cf-aig-authorization": f"Bearer {token}"},
    )
    assert result.get("status") == 200, result
    assert result["text"] == "echo: from a page"
    assert [record["id"] for record in gateway.wait_for_logs(1, gateway="locked")] == [result["logId"]]
    assert [request.method for request in fake.requests] == ["POST"]  # the preflight stayed at the gateway


def test_a_page_with_neither_a_token_nor_a_key_is_stopped_by_the_browser(
    page: Page, gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    url = gateway.provider_url("openai") + "/chat/completions"  # an open gateway
    result = page.evaluate(CALL, [url, {"content-type": "application/json", "x-stainless-os": "web"}])
    assert "blocked" in result, result
    assert fake.requests == []  # the preflight was refused: the request itself was never sent


def test_a_page_with_its_own_provider_key_calls_an_open_gateway(
    page: Page, gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    url = gateway.provider_url("openai") + "/chat/completions"
    headers = {"content-type": "application/json", "authorization": "Bearer sk-page-0123456789"}
    result = page.evaluate(CALL, [url, headers])
    assert result.get("status") == 200, result
    assert result["text"] == "echo: from a page"
    assert fake.requests[-1].headers["Authorization"] == "Bearer sk-page-0123456789"


UNIVERSAL = """async ([url, key]) => {
    const steps = [{provider: "openai", endpoint: "chat/completions", headers: {authorization: key},
                    query: {model: "gpt-4o-mini", messages: [{role: "user", content: "from a page"}]}}];
    try {
        // A string body is sent as text/plain: a request the browser makes without a preflight.
        const response = await fetch(url, {method: "POST", body: JSON.stringify(steps)});
        const answer = await response.json();
        return {status: response.status, text: answer.choices[0].message.content};
    } catch (error) {
        return {blocked: String(error)};
    }
}"""


def test_a_page_reads_the_universal_answer_to_the_key_its_steps_bring(
    page: Page, gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    result = page.evaluate(UNIVERSAL, [gateway.url + "/v1/local/default", "Bearer sk-page-0123456789"])
    assert result.get("status") == 200, result
    assert result["text"] == "echo: from a page"
    assert fake.requests[-1].headers["Authorization"] == "Bearer sk-page-0123456789"
