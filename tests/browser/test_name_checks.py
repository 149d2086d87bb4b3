"""Names typed in the dashboard are checked in the page as the gateway checks them: a new gateway's
URL slug by its input's pattern (one Chrome can compile); a route's or a provider key's name before
it goes in a URL, where the browser would fold `.` and `..` away, with the gateway's own message."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from tests.browser.conftest import expect, sign_in
from tests.browser.test_gateway_editor import open_editor
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

if TYPE_CHECKING:
    from playwright.sync_api import Page

GATEWAY = "/api/v1/accounts/local/gateways/default"


@pytest.mark.parametrize(
    ("slug", "valid"),
    [("eu-west-2", True), ("a", True), ("-eu", False), ("eu-", False), ("EU", False), ("a" * 65, False)],
)
def test_a_slug_is_checked_by_the_servers_pattern(
    page: Page, gateway: RunningGateway, slug: str, valid: bool
) -> None:
    sign_in(page, gateway)
    page.click("nav >> text=Gateways")
    field = page.locator("form[aria-label='New gateway'] input[name=slug]")
    field.fill(slug)
    # An invalid pattern checks nothing, and Chrome logs it (the page fixture fails on the error).
    assert field.evaluate("(input) => input.checkValidity()") is valid
    if valid:  # what the page lets through, the gateway takes
        page.fill("form[aria-label='New gateway'] input[name=name]", "Named")
        page.click("form[aria-label='New gateway'] button[type=submit]")
        page.locator(f"form[aria-label='Edit {slug}']").wait_for()
    else:
        created = gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "x", "slug": slug})
        assert created.status_code == 400, created.text


def in_path(name: str) -> str:
    """`name` as a path segment that reaches the gateway as it is (httpx folds no %2E)."""
    return quote(name, safe="").replace(".", "%2E")


@pytest.mark.parametrize("name", [".", ".."])
def test_a_route_name_of_dots_gets_the_gateways_message(
    page: Page, gateway: RunningGateway, name: str
) -> None:
    refused = gateway.http.post(
        f"{GATEWAY}/routes/{in_path(name)}/validate", json={"model": "openai/gpt-4o-mini"}
    )
    assert refused.status_code == 400
    message = refused.json()["error"]["message"]
    assert message.endswith(
        "a route name is 1 to 64 letters, digits, - or _, starting with a letter or digit"
    )
    open_editor(page, gateway)
    card = page.locator("section[aria-label=Routes]")
    card.locator("input[name=route_name]").fill(name)
    status = card.locator(".route-status")
    expect(status).to_have_text(message)  # was a 405: the check went to .../routes/validate
    card.locator("text=Save route").click()
    expect(status).to_have_text(message)
    assert gateway.http.get(f"{GATEWAY}/routes").json()["result"] == []


@pytest.mark.parametrize("name", [".", ".."])
def test_a_key_name_of_dots_gets_the_gateways_message(
    page: Page, make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, name: str
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, secret_key="master-key-for-the-name-test")
    refused = gateway.http.put(
        f"{GATEWAY}/provider-keys/openai/{in_path(name)}", json={"key": "sk-proj-0123"}
    )
    assert refused.status_code == 400
    message = refused.json()["error"]["message"]
    assert message.startswith(f"key name '{name}': 1 to 64 letters")
    open_editor(page, gateway)
    card = page.locator("section[aria-label='Provider keys']")
    card.locator("input[name=key_name]").fill(name)
    card.locator("input[name=provider_key]").fill("sk-proj-0123456789")
    card.locator("text=Store key").click()
    expect(card.locator("[role=alert]")).to_have_text(message)
    assert gateway.http.get(f"{GATEWAY}/provider-keys").json()["result"] == []
