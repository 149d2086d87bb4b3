"""A table row reached with the keyboard (a log record, a spender) shows a focus ring that stands out
from the row (WCAG's 3:1 for what is not text), not only the faint background a hover also gives."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

from tests.browser.conftest import sign_in
from tests.browser.seeded import record, write
from tests.conftest import RunningGateway

if TYPE_CHECKING:
    from playwright.sync_api import Page


def luminance(color: str) -> float:
    """The relative luminance of a CSS `rgb(…)`/`rgba(…)` colour (WCAG 2's formula)."""
    red, green, blue = (int(part) / 255 for part in re.findall(r"\d+(?:\.\d+)?", color)[:3])

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(red) + 0.7152 * linear(green) + 0.0722 * linear(blue)


def contrast(one: str, other: str) -> float:
    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def tab_to(page: Page, selector: str) -> None:
    """Press Tab until the focus is on an element matching `selector`."""
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


@pytest.mark.parametrize(
    ("view", "row"), [("Logs", "table.logs tbody tr"), ("Spend", "table.spenders tbody tr")]
)
def test_a_row_reached_with_the_keyboard_has_a_visible_ring(
    page: Page, gateway: RunningGateway, view: str, row: str
) -> None:
    write(gateway, [record(token_id="tok-one"), record(token_id="tok-two")])
    sign_in(page, gateway)
    page.click(f"nav >> text={view}")
    page.locator(row).first.wait_for()
    tab_to(page, row)
    ring: dict[str, str] = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return { style: s.outlineStyle, width: s.outlineWidth, color: s.outlineColor,"
        " background: s.backgroundColor }; }"
    )
    assert ring["style"] == "solid", ring  # was none
    assert float(ring["width"].removesuffix("px")) >= 2
    assert contrast(ring["color"], ring["background"]) >= 3, ring
    assert contrast(ring["color"], "rgb(255, 255, 255)") >= 3, ring  # the card around the row
