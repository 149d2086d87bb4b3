"""A stored dynamic route the gateway can no longer parse, in Chromium: the gateway's view (the
editor's and the readers' endpoints) warns that it is broken with the reason the admin API gives
in `route_errors`, the routes card marks and explains it, and the warnings go once it is fixed.
Before, the dashboard showed nothing: the operator learnt of it from requests failing with a 500
route_misconfigured."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.browser.conftest import expect
from tests.browser.test_gateway_editor import open_editor
from tests.conftest import RunningGateway
from tests.integration.test_route_misconfigured import BROKEN, store_route

if TYPE_CHECKING:
    from playwright.sync_api import Page

GATEWAY = "/api/v1/accounts/local/gateways/default"
WORKING = {"model": "openai/gpt-4o-mini"}
REASON = "routes.spare.fallback[1]: expected one of model, split, if, fallback, limit"


def test_a_route_that_cannot_be_parsed_is_shown_broken_with_its_reason(
    page: Page, gateway: RunningGateway
) -> None:
    for name in ("fast", "spare"):
        assert gateway.http.put(f"{GATEWAY}/routes/{name}", json=WORKING).status_code == 200
    store_route(gateway, "spare", BROKEN)  # as the admin API never would
    assert list(gateway.http.get(GATEWAY).json()["route_errors"]) == ["spare"]

    open_editor(page, gateway)
    summary = page.locator(".gateway-detail > .route-errors [data-notice=route-error]")
    expect(summary).to_have_count(1)
    expect(summary).to_have_attribute("data-route", "spare")
    expect(summary).to_have_class("callout warning notice")  # the replica notices' look
    expect(summary).to_contain_text("Route spare is broken")
    expect(summary).to_contain_text("500 route_misconfigured")
    expect(summary.locator(".reason")).to_contain_text(REASON)

    # The routes card opens on the broken route, marked in the picker and explained.
    card = page.locator("section[aria-label='Routes']")
    picker = card.locator("select[name=route_pick]")
    expect(picker).to_have_value("spare")
    expect(picker.locator("option[data-broken]")).to_have_text("⚠ spare (broken)")
    expect(picker.locator("option[value=fast]")).to_have_text("fast")
    explained = card.locator("[data-notice=route-error][data-route=spare]")
    expect(explained.locator(".reason")).to_contain_text(REASON)
    picker.select_option("fast")
    expect(card.locator("[data-notice=route-error]")).to_have_count(0)

    # Readers opening the gateway's endpoints see the warning too.
    page.click("tr[data-slug=default] >> text=Endpoints")
    expect(page.locator("section[aria-label='Endpoints']")).to_be_visible()
    expect(summary.locator(".reason")).to_contain_text(REASON)

    # Saving a working route clears the warnings, the gateway's summary included.
    page.click("tr[data-slug=default] >> text=Edit")
    expect(picker).to_have_value("spare")
    card.locator("textarea[name=route_json]").fill(json.dumps(WORKING))
    expect(card.locator(".route-status")).to_have_text("Valid route.")
    card.locator("text=Save route").click()
    expect(card.locator("table.versions tbody tr")).to_have_count(2)
    expect(page.locator("[data-notice=route-error]")).to_have_count(0)
    assert gateway.http.get(GATEWAY).json()["route_errors"] == {}
