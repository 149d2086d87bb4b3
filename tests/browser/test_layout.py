"""The dashboard's layout in Chromium: nothing runs off its card or off the screen, at a desktop size
and at a phone's width."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tests.browser.conftest import sign_in
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

GATEWAY = "/api/v1/accounts/local/gateways/default"


def scroll_width(page: Page) -> tuple[int, int]:
    """How wide the page's content is, and the window: more content than window scrolls sideways."""
    widths: list[int] = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
    return widths[0], widths[1]


def right_edge(locator: Locator) -> float:
    box = locator.bounding_box()
    assert box, locator
    return box["x"] + box["width"]


def with_a_stored_key(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    """A gateway whose default gateway holds one stored OpenAI key (a row in the keys table)."""
    gateway = make_gateway(upstreams={"openai": fake.base_url}, secret_key="master-key-for-the-layout-test")
    stored = gateway.http.put(
        f"{GATEWAY}/provider-keys/openai/default", json={"key": "sk-proj-0123456789abcdef"}
    )
    assert stored.is_success, stored.text
    return gateway


def test_the_provider_keys_table_fits_its_card(
    page: Page, make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = with_a_stored_key(make_gateway, fake)
    assert gateway.http.patch(f"{GATEWAY}/provider-keys/openai/default", json={"enabled": False}).is_success
    page.set_viewport_size({"width": 1400, "height": 1000})
    sign_in(page, gateway)
    page.click("nav >> text=Gateways")
    page.click("tr[data-slug=default] >> text=Edit")
    card = page.locator("section[aria-label='Provider keys']")
    row = card.locator("tr[data-provider=openai]")
    row.wait_for()

    content, window = scroll_width(page)
    assert content <= window  # was 1675 at 1400
    edge = right_edge(card)
    assert right_edge(card.locator("table.keys")) <= edge
    for button in ("Enable", "Remove"):
        assert right_edge(row.locator(f"text={button}")) <= edge  # Remove was at x=1591


def test_no_page_scrolls_sideways_at_a_phones_width(
    page: Page, make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = with_a_stored_key(make_gateway, fake)
    page.set_viewport_size({"width": 375, "height": 740})
    sign_in(page, gateway)
    pages = {
        "Overview": "[data-chart] .uplot",
        "Accelerator": "[data-chart] .uplot",
        "Logs": "table.logs",
        "Spend": "[data-figure=Requests]",
        "Gateways": "tr[data-slug=default]",
        "Tokens": "fieldset.scopes",
    }
    for name, drawn in pages.items():
        page.click(f"nav >> text={name}")
        page.locator(drawn).first.wait_for()
        assert scroll_width(page) == (375, 375), name
    admin = page.locator("fieldset.scopes input[value=admin]")
    assert right_edge(admin) <= 375  # the scopes ended at 452 px

    page.click("nav >> text=Gateways")
    page.click("tr[data-slug=default] >> text=Edit")
    page.locator("section[aria-label='Provider keys'] tr[data-provider=openai]").wait_for()
    assert scroll_width(page) == (375, 375)  # was 731
    assert right_edge(page.locator("[data-field='settings.cache_ttl'] input")) <= 375
    page.click("tr[data-slug=default] >> text=Endpoints")
    page.locator("section[aria-label=Endpoints]").wait_for()
    assert scroll_width(page) == (375, 375)
