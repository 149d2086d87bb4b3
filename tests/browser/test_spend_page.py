"""The dashboard's spend page in headless Chromium: top spenders per token and team, what each has
left of its budgets, and the trend of the spender picked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import expect, sign_in
from tests.browser.test_dashboard import chart_totals
from tests.conftest import RunningGateway
from tests.integration.test_budgets import answer_cost
from tests.integration.test_spend import ask, mint

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.fixture
def spent(gateway: RunningGateway) -> dict[str, Any]:
    """A team budget on the gateway, a token with a budget of its own; red spends 3, blue 1."""
    one = answer_cost()
    team = {
        "name": "team budget",
        "limit": 10 * one,
        "period": 86400,
        "unit": "cost",
        "scope": "metadata.team",
    }
    assert gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": {"rate_limits": [team]}}
    ).is_success
    pocket = {"name": "pocket money", "limit": 4 * one, "period": 86400, "unit": "cost"}
    alice_id, alice = mint(gateway, "alice", metadata={"team": "red", "user": "alice"}, rules=[pocket])
    _, bob = mint(gateway, "bob", metadata={"team": "blue", "user": "bob"})
    ask(gateway, alice, 3)
    ask(gateway, bob, 1)
    gateway.wait_for_logs(4)
    return {"alice": alice_id, "one": one}


def test_the_spend_page_shows_top_spenders_their_budgets_and_trend(
    page: Page, gateway: RunningGateway, spent: dict[str, Any]
) -> None:
    one = spent["one"]
    sign_in(page, gateway)
    page.click("nav >> text=Spend")
    expect(page.locator('[data-figure="Requests"] .value')).to_have_text("4")
    rows = page.locator("table.spenders tbody tr")
    expect(rows).to_have_count(2)
    first = rows.first
    assert first.get_attribute("data-key") == spent["alice"]
    assert "alice" in first.inner_text()
    pocket = first.locator('[data-budget="pocket money"]')
    assert float(pocket.get_attribute("data-remaining") or "nan") == pytest.approx(one)
    expect(pocket).to_contain_text("left of")
    assert chart_totals(page, "Spend trend") == [pytest.approx(4 * one)]

    with page.expect_response(lambda r: "/spend" in r.url and "by=team" in r.url):
        page.select_option("select[name=by]", "team")
    expect(rows.first).to_have_attribute("data-key", "red")
    team = rows.first.locator('[data-budget="team budget"]')
    assert float(team.get_attribute("data-remaining") or "nan") == pytest.approx(7 * one)
    with page.expect_response(lambda r: "/spend" in r.url and "key=red" in r.url):
        rows.first.click()
    expect(page.locator('[data-chart="Spend trend"] h2')).to_have_text("Spend trend: Team red")
    assert chart_totals(page, "Spend trend") == [pytest.approx(3 * one)]
    expect(rows.first).to_have_class("selected")


def test_the_no_user_row_shows_the_bucket_requests_without_a_user_share(
    page: Page, gateway: RunningGateway
) -> None:
    per_user = {"name": "per user", "limit": 5, "period": 3600, "scope": "metadata.user"}
    gateway.configure(rate_limits=[per_user])
    _, alice = mint(gateway, "alice", metadata={"user": "alice"})
    ask(gateway, alice, 1)
    ask(gateway, None, 2)
    gateway.wait_for_logs(3)
    sign_in(page, gateway)
    page.click("nav >> text=Spend")
    with page.expect_response(lambda r: "/spend" in r.url and "by=user" in r.url):
        page.select_option("select[name=by]", "user")
    nobody = page.locator("table.spenders tbody tr[data-key='']")
    expect(nobody).to_contain_text("no user")
    expect(nobody).to_have_attribute("title", "Requests without a user: they share one budget of each rule")
    shared = nobody.locator('[data-budget="per user"]')  # was "no budget"
    expect(shared).to_contain_text("3 requests left of 5 requests")
    assert shared.locator("meter").get_attribute("value") == "2"
