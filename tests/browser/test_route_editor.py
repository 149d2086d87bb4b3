"""The route editor in Chromium: a route edited as JSON is checked by the gateway as you type (the
error names the path inside the route), drawn as nested boxes, saved as a new version, and an
earlier version restored from the version list (issue 22)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tests.browser.conftest import expect
from tests.browser.test_gateway_editor import open_editor
from tests.conftest import RunningGateway

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

ROUTES = "/api/v1/accounts/local/gateways/default/routes"
FIRST: dict[str, Any] = {"model": "openai/gpt-4o-mini"}
SECOND: dict[str, Any] = {
    "if": {"metadata.tier": "pro"},
    "then": {"split": [{"weight": 3, "then": {"model": "openai/gpt-4o"}}, {"weight": 1, "then": FIRST}]},
    "else": {"fallback": [{"model": "openai/cheap", "timeout_ms": 500}, FIRST]},
}


def test_a_route_is_checked_as_typed_drawn_saved_and_restored(page: Page, gateway: RunningGateway) -> None:
    for node in (FIRST, SECOND):
        assert gateway.http.put(f"{ROUTES}/support", json=node).status_code == 200
    open_editor(page, gateway)
    card = page.locator("section[aria-label='Routes']")
    text = card.locator("textarea[name=route_json]")
    expect(card.locator("select[name=route_pick]")).to_have_value("support")
    expect(card.locator(".route-status")).to_have_text("Valid route.")
    assert json.loads(text.input_value()) == SECOND

    flow = card.locator(".route-flow")
    expect(flow.locator(".node.target")).to_have_count(4)
    assert flow.locator(".node.if > .node-label").inner_text() == 'if {"metadata.tier":"pro"}'
    assert flow.locator("[data-where='else.fallback[0]']").inner_text() == "→ openai/cheap (timeout_ms 500)"
    assert flow.locator(".node.split .branch-label").all_inner_texts() == ["weight 3", "weight 1"]

    # A mistake is named by its path inside the route as it is typed, and not saved.
    bad = {"fallback": [FIRST, {"split": [{"weight": 1, "then": {"model": "gpt-4o"}}]}]}
    text.fill(json.dumps(bad))
    expect(card.locator(".route-status")).to_contain_text("support.fallback[1].split[0].then.model")
    expect(card.locator(".route-status.error")).to_have_count(1)
    text.fill('{"model": ')
    expect(card.locator(".route-status")).to_contain_text("Not JSON")

    third = {"fallback": [{"model": "openai/gpt-4o"}, FIRST]}
    text.fill(json.dumps(third))
    expect(card.locator(".route-status")).to_have_text("Valid route.")
    card.locator("text=Save route").click()
    rows = card.locator("table.versions tbody tr")
    expect(rows).to_have_count(3)
    assert gateway.http.get(f"{ROUTES}/support").json() == {"name": "support", "version": 3, "route": third}
    expect(rows.first.locator("td").first).to_have_text("3 (current)")

    card.locator("tr[data-version='1'] >> text=Restore").click()
    expect(rows).to_have_count(4)
    assert gateway.http.get(f"{ROUTES}/support").json() == {"name": "support", "version": 4, "route": FIRST}
    assert json.loads(text.input_value()) == FIRST


def test_an_error_quoting_what_was_typed_shows_a_bidi_control_as_its_escape(
    page: Page, gateway: RunningGateway
) -> None:
    # The gateway's message names the path inside the route, its keys as sent: U+202E in one would
    # show the rest of the message reversed.
    open_editor(page, gateway)
    card = page.locator("section[aria-label='Routes']")
    card.locator("input[name=route_name]").fill("support")
    card.locator("textarea[name=route_json]").fill(
        json.dumps({"model": "openai/gpt-4o", "fall\u202eback": []})
    )

    status = card.locator(".route-status.error")
    expect(status).to_contain_text("support.fall\\u202eback: unknown field")
    assert status.locator("span.control").all_inner_texts() == ["\\u202e"]
    assert "\u202e" not in status.inner_text()


def test_nothing_can_be_typed_or_saved_while_the_routes_load(page: Page, gateway: RunningGateway) -> None:
    # Each load (the first, and the one after a save) shows a route in the fields: typing before it
    # would be wiped, and a save would send what is about to be replaced.
    card = page.locator("section[aria-label='Routes']")
    name, text = card.locator("input[name=route_name]"), card.locator("textarea[name=route_json]")
    save = card.locator("text=Save route")
    while_loading: list[tuple[bool, bool, bool]] = []

    def look_then_answer(route: Route) -> None:
        while_loading.append((name.is_disabled(), text.is_disabled(), save.is_disabled()))
        route.continue_()

    page.route("**/gateways/default/routes", look_then_answer)
    open_editor(page, gateway)
    expect(name).to_be_enabled()
    name.fill("support")
    expect(card.locator(".route-status")).to_have_text("Valid route.")
    save.click()
    expect(card.locator("table.versions tbody tr")).to_have_count(1)
    expect(save).to_be_enabled()
    assert while_loading == [(True, True, True)] * 2
