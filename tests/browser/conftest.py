"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, a fresh tab per test, and
a gateway with the fake OpenAI behind it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.conftest import RunningGateway, require_service
from tests.fakes.openai_server import FakeOpenAI

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def expect(locator: Any) -> Any:
    """Playwright's retrying assertions (imported late: without playwright the tests skip, not crash).

    They match through selectors; `wait_for_function` would evaluate a string, which the page's
    Content-Security-Policy forbids (as it should).
    """
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        require_service("Chromium", f"{CHROMIUM} is missing (apt-get install -y chromium)")
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError as exc:
        require_service("Playwright", f"the playwright package is not installed: {exc}")
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
        except Error as exc:
            require_service("Chromium", f"{CHROMIUM} did not start: {exc}")
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh tab (no session) at a desktop size; JavaScript errors and CSP violations fail the test."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: (
            problems.append(message.text)
            if message.type == "error" and "Failed to load resource" not in message.text  # refused API calls
            else None
        ),
    )
    page.on("dialog", lambda dialog: dialog.accept())  # confirm() before deleting and revoking
    yield page
    context.close()
    assert problems == []


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def sign_in(page: Page, gateway: RunningGateway, token: str | None = None) -> None:
    page.goto(f"{gateway.url}/dashboard")
    page.fill("input[name=token]", token or gateway.settings.admin_token)
    page.click("button[type=submit]")
    page.wait_for_selector("nav.sidebar")
