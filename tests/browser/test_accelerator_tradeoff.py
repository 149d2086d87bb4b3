"""The Accelerator view's semantic trade-off in headless Chromium: the threshold what-if charts,
the estimated precision from shadow checks, and the threshold in force, against a running
gateway whose semantic cache was used through the openai SDK."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from tests.browser.conftest import expect, sign_in
from tests.browser.test_dashboard import chart_totals, figure
from tests.conftest import RunningGateway
from tests.integration.test_semantic import ask, stored

if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_the_accelerator_view_charts_the_what_if_and_shows_shadow_precision(
    page: Page, gateway: RunningGateway
) -> None:
    settings = {"semantic_cache_enabled": True, "semantic_shadow_rate": 1.0}
    assert gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": settings}
    ).is_success
    ask(gateway, "How do I reset my password?")
    stored(gateway, 1)
    assert ask(gateway, "How can I reset my password?").headers["x-semantic-cache"] == "HIT"  # 0.99
    assert (
        ask(gateway, "Could you help me reset my password?").headers["x-semantic-cache"] == "MISS"
    )  # 0.857, verified
    deadline = time.monotonic() + 20
    while not any(r["cache_source"] == "shadow" for r in gateway.wait_for_logs(4)):
        assert time.monotonic() < deadline, "the shadow check was never logged"
        time.sleep(0.02)

    sign_in(page, gateway)
    page.click("nav >> text=Accelerator")
    page.wait_for_selector('[data-figure="Semantic precision"]')
    assert figure(page, "Semantic precision") == "100.0%"
    expect(page.locator('[data-figure="Semantic precision"] .note')).to_contain_text(
        "1 of 1 shadow checks agreed"
    )
    assert figure(page, "Semantic threshold") == "0.90"
    # One point per threshold 0.70 … 0.99: the hit (similarity 0.991) counts at all 30, the
    # verified miss (0.857) at the 16 from 0.70 to 0.85; the shadow check wherever the hit counts.
    plot = page.locator('[data-chart="Semantic hits by threshold"] .uplot')
    plot.wait_for()
    assert plot.get_attribute("data-points") == "30"
    hits, checked = chart_totals(page, "Semantic hits by threshold")
    assert checked == 30
    assert hits == 30 + 16
    (savings,) = chart_totals(page, "Estimated savings by threshold (USD)")
    assert savings > 0
    for title in ("Semantic hits by threshold", "Estimated savings by threshold (USD)"):
        x = page.locator(f'[data-chart="{title}"] .u-legend .u-series').first
        expect(x.locator(".u-label")).to_have_text("Threshold")  # was "Time"
