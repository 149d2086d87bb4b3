"""What the overview, accelerator and spend pages show: their filter controls keep the keyboard
focus as the page redraws, a budget's remainder has the digits that tell it from its limit, chart
axes are wide enough for their labels and never repeat one, a gateway-less semantic threshold reads
"off", and day buckets (UTC days) are labelled in UTC."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import TIMEOUT_MS, expect, sign_in
from tests.browser.held import Held, note_read_answers
from tests.browser.seeded import record, write
from tests.conftest import RunningGateway
from tests.integration.test_spend import ask

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# uPlot's own axis font
AXIS_FONT = (
    '12px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", sans-serif'
)


def redrawn(page: Page, pattern: str, action: str, *args: str) -> None:
    """Do `page.<action>(*args)` and wait until the page has read the answer of the call it makes."""
    call = Held(page, pattern, lambda request: True)
    getattr(page, action)(*args)
    call.wait()
    call.release()
    page.unroute(pattern)


def focused(page: Page) -> str:
    return page.evaluate("document.activeElement.name || document.activeElement.dataset.key || ''")


def test_the_filter_controls_keep_the_focus_as_the_overview_redraws(
    page: Page, gateway: RunningGateway
) -> None:
    note_read_answers(page)
    sign_in(page, gateway)
    page.wait_for_selector('[data-figure="Requests"]')
    page.focus("select[name=gateway]")
    redrawn(page, "**/analytics?*", "select_option", "select[name=gateway]", "default")
    assert focused(page) == "gateway"
    redrawn(page, "**/analytics?*", "select_option", "select[name=range]", "custom")
    page.focus("input[name=from]")
    before = page.input_value("input[name=from]")
    redrawn(page, "**/analytics?*", "press", "input[name=from]", "ArrowDown")
    assert page.input_value("input[name=from]") != before
    assert focused(page) == "from"


def test_a_spender_row_keeps_the_focus_when_the_spend_page_refreshes(
    page: Page, gateway: RunningGateway
) -> None:
    write(gateway, [record(model="gpt-4o"), record(model="gpt-4o-mini")])
    note_read_answers(page)
    page.clock.install()
    sign_in(page, gateway)
    page.click("nav >> text=Spend")
    redrawn(page, "**/spend?*", "select_option", "select[name=by]", "model")
    page.focus("table.spenders tr[data-key='gpt-4o']")
    refresh = Held(page, "**/spend?*", lambda request: True)
    page.clock.fast_forward(30_000)
    refresh.wait()
    refresh.release()
    assert focused(page) == "gpt-4o"


def test_a_budget_left_shows_the_digits_that_tell_it_from_its_limit(
    page: Page, gateway: RunningGateway
) -> None:
    rule = {"name": "tiny budget", "limit": 0.05, "period": 86400, "unit": "cost"}
    gateway.configure(rate_limits=[rule])
    ask(gateway, None, 1)
    gateway.wait_for_logs(1)
    sign_in(page, gateway)
    page.click("nav >> text=Spend")
    budget = page.locator("[data-section='gateway budgets'] [data-budget='tiny budget']")
    expect(budget).to_contain_text("left of $0.05")
    remaining = float(budget.get_attribute("data-remaining") or "nan")
    assert 0.04 < remaining < 0.05
    left = budget.inner_text().split(" left of ")[0].split()[-1]
    assert left != "$0.05"  # what was shown: "$0.05 left of $0.05"
    assert float(left.removeprefix("$")) == pytest.approx(remaining, rel=1e-4)


def axis(page: Page, chart: str) -> tuple[list[str], float, float]:
    """A chart's y labels, the width of the widest as drawn, and the y axis's width."""
    plot = page.locator(f"[data-chart='{chart}'] .plot")
    plot.locator(".uplot").wait_for()
    labels: list[str] = page.evaluate("(e) => JSON.parse(e.dataset.yLabels)", plot.element_handle())
    widest: float = page.evaluate(
        "([labels, font]) => { const c = document.createElement('canvas').getContext('2d');"
        " c.font = font; return Math.max(...labels.map((l) => c.measureText(l).width)); }",
        [labels, AXIS_FONT],
    )
    width = plot.locator(".u-axis").nth(1).bounding_box()
    assert width
    return labels, widest, width["width"]


def test_chart_axes_fit_their_labels_and_repeat_none(page: Page, gateway: RunningGateway) -> None:
    now = time.time() - 120
    write(
        gateway,
        [record(now, cost_usd=0.000021), record(now + 1, cost_usd=0.000004)]
        + [
            record(now + 2 + n, cache_status="HIT", cache_source="exact", cache_saved_ms=150.0)
            for n in range(1)
        ],
    )
    sign_in(page, gateway)
    page.wait_for_selector('[data-figure="Requests"]')
    labels, _, _ = axis(page, "Estimated cost (USD)")
    assert all("e-" not in label for label in labels)  # plain decimals, not $2.0e-5
    for view in ("Overview", "Accelerator"):
        page.click(f"nav >> text={view}")
        page.locator(".analytics .chart").first.wait_for()
        for chart in page.locator("[data-chart]").all():
            title = chart.get_attribute("data-chart") or ""
            labels, widest, width = axis(page, title)
            assert len(set(labels)) == len(labels), (title, labels)  # time saved: 0 s, 0.1 s, 0.1 s
            # The label, the gap before its tick (5 px) and the tick (10 px) fit: none is cut.
            assert widest + 15 <= width, (title, labels)
    expect(page.locator('[data-figure="Semantic threshold"] .value')).to_have_text(
        "off"
    )  # no gateway uses it


@pytest.fixture
def far_east(browser: Browser) -> Iterator[Page]:
    """A tab at UTC+14, where a UTC day starts at 14:00."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, timezone_id="Pacific/Kiritimati")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    yield page
    context.close()


def test_day_buckets_are_labelled_in_utc(far_east: Page, gateway: RunningGateway) -> None:
    page = far_east
    write(gateway, [record(time.time() - 3 * 86400)])
    sign_in(page, gateway)
    page.wait_for_selector('[data-figure="Requests"]')
    with page.expect_response(lambda response: "/analytics?" in response.url):
        page.select_option("select[name=range]", "30d")
    expect(page.locator(".analytics > p")).to_contain_text("one per day")
    over = page.locator("[data-chart='Requests'] .u-over")
    box = over.bounding_box()
    assert box
    over.hover(position={"x": box["width"] - 2, "y": box["height"] / 2})  # the newest day
    legend = page.locator("[data-chart='Requests'] .u-legend .u-series").first
    expect(legend.locator(".u-label")).to_have_text("Time (UTC)")
    expect(legend.locator(".u-value")).to_have_text(
        time.strftime("%d/%m/%Y, 00:00:00 UTC", time.gmtime(time.time() // 86400 * 86400))
    )
    expect(page.locator(".analytics > p")).to_contain_text("one per day (days in UTC)")
