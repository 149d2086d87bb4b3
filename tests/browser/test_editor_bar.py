"""The gateway editor's sticky Save/Close/Delete bar, in Chromium at 1500×1100 (the tester's
screen): no field is left under it when the page scrolls to it, as Tab and a click scroll, nor
when the page is scrolled to its end; a notice never covers its buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.browser.test_gateway_editor import open_editor
from tests.conftest import RunningGateway

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

# Whether the point at the element's centre is the element (or inside it, or its label): a click
# there reaches it, as a reader sees it.
ON_TOP = """element => {
  const box = element.getBoundingClientRect();
  const hit = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
  return hit !== null && (element.contains(hit) || [...(element.labels || [])].some(l => l.contains(hit)));
}"""
# How far below the bar's top edge the element's bottom reaches (0 or less: clear of it).
UNDER_BAR = """(element, bar) => element.getBoundingClientRect().bottom - bar.getBoundingClientRect().top"""


def name(control: Locator) -> str:
    return str(control.evaluate("e => e.name || e.textContent.trim() || e.outerHTML.slice(0, 80)"))


def test_no_field_of_the_gateway_editor_is_left_under_its_sticky_bar(
    page: Page, gateway: RunningGateway
) -> None:
    page.set_viewport_size({"width": 1500, "height": 1100})
    editor = open_editor(page, gateway)
    bar = editor.locator(".buttons.sticky")
    controls = editor.locator("input:visible, select:visible, textarea:visible, .groups button:visible")
    assert controls.count() > 20

    covered = []
    for index in range(controls.count()):
        control = controls.nth(index)
        if control.evaluate("e => e.closest('.buttons.sticky') !== null"):
            continue
        control.focus()  # the browser scrolls it into view, as Tab does
        if not control.evaluate(ON_TOP) or control.evaluate(UNDER_BAR, bar.element_handle()) > 0:
            covered.append(name(control))
    assert covered == []

    # The form scrolled to its end: its last field and the Delete button are whole and take a click.
    editor.evaluate("f => window.scrollBy(0, f.getBoundingClientRect().bottom - innerHeight)")
    last = editor.locator(".groups input:visible, .groups select:visible, .groups textarea:visible").last
    delete = bar.get_by_role("button", name="Delete gateway")
    for target in (last, delete):
        assert target.evaluate(ON_TOP), name(target)
    assert last.evaluate(UNDER_BAR, bar.element_handle()) <= 0
    last.click(timeout=2000)
    delete.click(timeout=2000)
    page.locator(".toast", has_text="deleted").wait_for()


def test_a_notice_never_covers_the_editors_buttons(page: Page, gateway: RunningGateway) -> None:
    page.set_viewport_size({"width": 1500, "height": 1100})
    editor = open_editor(page, gateway)
    editor.locator("button[type=submit]").click()  # nothing changed: a notice
    notice = page.locator(".toast")
    notice.wait_for()

    shown = notice.bounding_box()
    assert shown is not None
    for button in ("Save", "Close", "Delete gateway"):
        target = editor.locator(".buttons.sticky").get_by_role("button", name=button)
        box = target.bounding_box()
        assert box is not None
        apart = (
            shown["y"] + shown["height"] <= box["y"]
            or box["y"] + box["height"] <= shown["y"]
            or shown["x"] + shown["width"] <= box["x"]
            or box["x"] + box["width"] <= shown["x"]
        )
        assert apart, f"{notice.text_content()!r} shows over {button}"
        assert target.evaluate(ON_TOP)
    editor.get_by_role("button", name="Delete gateway").click(timeout=1000)  # not waiting the notice out
    page.locator(".toast", has_text="deleted").wait_for()
