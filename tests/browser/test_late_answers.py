"""An answer arriving after the person moved on is dropped, on every page: an earlier filter's
analytics, spend or logs, the auto-refresh's call made before a filter changed, the gateway opened
before another, the log record clicked before another. The late answers are made on purpose:
Playwright holds the call until the newer one has been drawn (tests/browser/held.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import openai
import pytest

from tests.browser.conftest import expect, sign_in
from tests.browser.held import Held, note_read_answers
from tests.conftest import RunningGateway

if TYPE_CHECKING:
    from playwright.sync_api import Page

GATEWAYS = "/api/v1/accounts/local/gateways"


def ask(gateway: RunningGateway, slug: str, times: int) -> list[str]:
    """`times` requests through gateway `slug`; their log ids."""
    with openai.OpenAI(
        base_url=gateway.provider_url("openai", slug), api_key="sk-test", max_retries=0
    ) as sdk:
        return [
            sdk.chat.completions.with_raw_response.create(
                model="claude-sonnet-4-6", messages=[{"role": "user", "content": f"question {n}"}]
            ).headers["cf-aig-log-id"]
            for n in range(times)
        ]


@pytest.fixture
def two(gateway: RunningGateway) -> dict[str, list[str]]:
    """Gateway prod with one request, default with three: log ids by gateway."""
    assert gateway.http.post(GATEWAYS, json={"name": "prod"}).status_code == 201
    ids = {"prod": ask(gateway, "prod", 1), "default": ask(gateway, "default", 3)}
    gateway.wait_for_logs(3)
    gateway.wait_for_logs(1, "prod")
    return ids


def requests_figure(page: Page) -> str:
    return page.locator('[data-figure="Requests"] .value').inner_text()


def test_an_earlier_gateways_analytics_arriving_late_are_not_shown(
    page: Page, gateway: RunningGateway, two: dict[str, list[str]]
) -> None:
    note_read_answers(page)
    sign_in(page, gateway)
    expect(page.locator('[data-figure="Requests"] .value')).to_have_text("4")

    prod = Held(page, "**/analytics?*", lambda request: "gateway=prod" in request.url)
    page.select_option("select[name=gateway]", "prod")
    prod.wait()
    page.select_option("select[name=gateway]", "default")
    expect(page.locator('[data-figure="Requests"] .value')).to_have_text("3")
    prod.release()  # prod's 1 request, for a choice since changed
    assert requests_figure(page) == "3"
    assert page.locator("select[name=gateway]").input_value() == "default"


def test_the_auto_refresh_answering_after_a_filter_changed_is_not_shown(
    page: Page, gateway: RunningGateway, two: dict[str, list[str]]
) -> None:
    note_read_answers(page)
    page.clock.install()
    sign_in(page, gateway)
    expect(page.locator('[data-figure="Requests"] .value')).to_have_text("4")

    every = Held(page, "**/analytics?*", lambda request: "gateway=" not in request.url)
    page.clock.fast_forward(30_000)  # the overview's refresh, for all gateways
    every.wait()
    page.select_option("select[name=gateway]", "default")
    expect(page.locator('[data-figure="Requests"] .value')).to_have_text("3")
    every.release()
    assert requests_figure(page) == "3"


def test_spend_by_an_earlier_dimension_arriving_late_is_not_shown(
    page: Page, gateway: RunningGateway
) -> None:
    note_read_answers(page)
    sign_in(page, gateway)
    page.click("nav >> text=Spend")
    title = page.locator("h2.table-title")
    expect(title).to_have_text("Top spenders by token")

    by_model = Held(page, "**/spend?*", lambda request: "by=model" in request.url)
    page.select_option("select[name=by]", "model")
    by_model.wait()
    page.select_option("select[name=by]", "team")
    expect(title).to_have_text("Top spenders by team")
    by_model.release()
    assert title.inner_text() == "Top spenders by team"


def test_logs_of_the_filters_before_a_change_are_not_shown(
    page: Page, gateway: RunningGateway, two: dict[str, list[str]]
) -> None:
    note_read_answers(page)
    page.clock.install()
    sign_in(page, gateway)
    page.click("nav >> text=Logs")
    rows = page.locator("table.logs tbody tr")
    expect(rows).to_have_count(4)

    every = Held(page, "**/logs?*", lambda request: "gateway=" not in request.url)
    page.clock.fast_forward(3_000)  # the table's refresh, of every gateway
    every.wait()
    # The filter's own call goes at once (it did not wait for the refresh under way), and the
    # refresh's answer, for every gateway, is not drawn when it comes.
    page.select_option("select[name=gateway]", "prod")
    expect(rows).to_have_count(1)
    every.release()
    assert [row.get_attribute("data-gateway") for row in rows.all()] == ["prod"]


def test_a_gateway_opened_before_another_does_not_replace_it_when_it_loads_late(
    page: Page, gateway: RunningGateway
) -> None:
    assert gateway.http.post(GATEWAYS, json={"name": "prod"}).status_code == 201
    note_read_answers(page)
    sign_in(page, gateway)
    page.click("nav >> text=Gateways")
    prod = Held(page, f"**{GATEWAYS}/prod", lambda request: request.method == "GET")
    page.click("tr[data-slug=prod] >> text=Edit")
    prod.wait()
    page.click("tr[data-slug=default] >> text=Edit")
    page.locator("form[aria-label='Edit default']").wait_for()
    prod.release()
    assert page.locator("form[aria-label='Edit prod']").count() == 0
    assert page.locator("form[aria-label='Edit default']").count() == 1


def test_a_log_record_clicked_before_another_does_not_replace_it_when_it_loads_late(
    page: Page, gateway: RunningGateway, two: dict[str, list[str]]
) -> None:
    note_read_answers(page)
    sign_in(page, gateway)
    page.click("nav >> text=Logs")
    first, second = two["prod"][0], two["default"][0]
    held = Held(page, f"**/logs/{first}", lambda request: True)
    page.click(f"table.logs tr[data-id='{first}']")
    held.wait()
    page.click(f"table.logs tr[data-id='{second}']")
    detail = page.locator("aside.detail")
    expect(detail.locator(".detail-head + p")).to_have_text(second)
    held.release()
    assert detail.locator(".detail-head + p").inner_text() == second
    expect(page.locator("table.logs tr.selected")).to_have_attribute("data-id", second)
