"""The logs table as it refreshes: no record leaves it after "Load older" (the newest page and the
older ones stay one run), a row keeps the keyboard focus, the detail is used from the keyboard,
shadow checks and semantic verdicts are shown, and the page gets going after a failed listing of
the gateways."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import openai

from tests.browser.conftest import expect, sign_in
from tests.browser.seeded import record, write
from tests.conftest import RunningGateway

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route


def ask(gateway: RunningGateway, times: int) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as sdk:
        for n in range(times):
            sdk.chat.completions.create(
                model="claude-sonnet-4-6", messages=[{"role": "user", "content": f"q{n}"}]
            )


def focused_row(page: Page) -> str | None:
    return page.evaluate("document.activeElement.dataset.id || null")


def test_no_record_leaves_the_table_when_new_ones_arrive_after_load_older(
    page: Page, gateway: RunningGateway
) -> None:
    start = time.time() - 3600
    write(gateway, [record(start + 10 * n) for n in range(120)])
    page.clock.install()
    sign_in(page, gateway)
    page.click("nav >> text=Logs")
    rows = page.locator("table.logs tbody tr")
    expect(rows).to_have_count(50)
    page.click("text=Load older")
    expect(rows).to_have_count(100)
    shown = [row.get_attribute("data-id") for row in rows.all()]

    ask(gateway, 10)
    gateway.wait_for_logs(130)
    page.clock.fast_forward(3_000)  # the table's refresh
    expect(rows).to_have_count(110)  # the refresh brought the 10 and kept the 100
    after = [row.get_attribute("data-id") for row in rows.all()]
    assert after[10:] == shown
    page.click("text=Load older")
    expect(rows).to_have_count(130)
    assert len(set(row.get_attribute("data-id") for row in rows.all())) == 130


def test_a_row_keeps_the_focus_when_the_table_refreshes(page: Page, gateway: RunningGateway) -> None:
    ask(gateway, 3)
    gateway.wait_for_logs(3)
    page.clock.install()
    sign_in(page, gateway)
    page.click("nav >> text=Logs")
    rows = page.locator("table.logs tbody tr")
    expect(rows).to_have_count(3)
    chosen = rows.nth(1).get_attribute("data-id")
    rows.nth(1).focus()
    ask(gateway, 1)
    gateway.wait_for_logs(4)
    page.clock.fast_forward(3_000)  # the table's refresh
    expect(rows).to_have_count(4)
    assert focused_row(page) == chosen
    page.keyboard.press("ArrowUp")  # still in the page: the keys go on from the row
    assert focused_row(page) == chosen


def test_the_detail_takes_the_focus_and_escape_gives_it_back(page: Page, gateway: RunningGateway) -> None:
    ask(gateway, 2)
    gateway.wait_for_logs(2)
    sign_in(page, gateway)
    page.click("nav >> text=Logs")
    row = page.locator("table.logs tbody tr").nth(1)
    row.focus()
    page.keyboard.press("Enter")
    detail = page.locator("aside.detail")
    expect(detail.locator("text=Response body")).to_be_visible()
    assert page.evaluate("document.activeElement.closest('aside.detail') !== null")
    page.keyboard.press("Escape")
    expect(detail).to_be_hidden()
    assert focused_row(page) == row.get_attribute("data-id")
    assert "selected" not in (row.get_attribute("class") or "")


def test_shadow_checks_semantic_verdicts_and_plain_costs_are_shown(
    page: Page, gateway: RunningGateway
) -> None:
    now = time.time() - 60
    hit = record(
        now, cache_status="HIT", cache_source="semantic", semantic_hit=True, cache_saved_ms=900.0,
        semantic_similarity=0.934, semantic_verified=True, semantic_score=0.88, cost_usd=0.0,
    )  # fmt: skip
    shadow = record(
        now + 1, cache_source="shadow", shadow_of=hit.id, shadow_agreed=False, semantic_score=0.41
    )
    uncached = record(now + 2, cost_usd=2e-8)
    write(gateway, [hit, shadow, uncached])
    sign_in(page, gateway)
    page.click("nav >> text=Logs")
    row = {r.id: page.locator(f"table.logs tr[data-id='{r.id}']") for r in (hit, shadow, uncached)}
    expect(row[shadow.id].locator("td.cache .tag")).to_have_text(["shadow", "disagreed"])
    assert hit.id in (row[shadow.id].locator(".tag.shadow").get_attribute("title") or "")
    assert "similarity 0.934" in (row[hit.id].locator(".tag.semantic").get_attribute("title") or "")
    assert row[uncached.id].locator("td").nth(8).inner_text() == "$0.00000002"  # not $2.0e-8
    assert row[uncached.id].locator("td.cache").inner_text() == ""

    def facts(section: str) -> dict[str, str]:
        found = page.locator(f"aside.detail [data-section='{section}']")
        names, values = found.locator("dt").all_inner_texts(), found.locator("dd").all_inner_texts()
        return dict(zip(names, values, strict=True))

    row[shadow.id].click()
    expect(page.locator("aside.detail [data-section='Shadow check']")).to_be_visible()
    assert facts("Shadow check") == {
        "Shadow check of": hit.id, "Fresh answer agreed": "no", "Answers' similarity": "0.410",
    }  # fmt: skip
    row[hit.id].click()
    expect(page.locator("aside.detail [data-section='Semantic cache']")).to_be_visible()
    assert facts("Semantic cache") == {
        "Similarity": "0.934",
        "Verifier": "accepted",
        "Verifier score": "0.880",
    }
    assert facts("Timings")["Cache"] == "HIT semantic"
    row[uncached.id].click()
    expect(page.locator("aside.detail .detail-head + p")).to_have_text(uncached.id)
    assert facts("Timings")["Cache"] == "none applied"  # not "not cacheable": no cache was on
    assert page.locator("aside.detail [data-section='Semantic cache']").count() == 0


def test_the_page_gets_going_after_the_gateways_could_not_be_listed(
    page: Page, gateway: RunningGateway
) -> None:
    ask(gateway, 1)
    gateway.wait_for_logs(1)
    failures: list[str] = []

    def fail_once(route: Route) -> None:
        if failures or route.request.method != "GET":
            route.fallback()
            return
        failures.append(route.request.url)
        route.fulfill(status=500, json={"error": {"message": "database is locked"}})

    page.clock.install()
    sign_in(page, gateway)
    page.route("**/api/v1/accounts/local/gateways", fail_once)
    page.click("nav >> text=Logs")
    expect(page.locator("table.logs tbody")).to_contain_text(
        "Could not load the gateways: database is locked"
    )
    page.clock.fast_forward(3_000)  # the page's timer
    expect(page.locator("table.logs tbody tr[data-id]")).to_have_count(1)  # asked again, and listed
    assert len(failures) == 1
    assert page.locator("select[name=gateway] option").all_inner_texts() == ["All gateways", "default"]
