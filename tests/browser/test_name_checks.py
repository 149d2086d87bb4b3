"""Names typed in the dashboard are checked in the page as the gateway checks them: a new gateway's
URL slug by its input's pattern (one Chrome can compile)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import sign_in
from tests.conftest import RunningGateway

if TYPE_CHECKING:
    from playwright.sync_api import Page


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
