"""Actions on the dashboard: a button is off while its call runs (a double click sends one call),
an expired token is listed as expired, the gateway settings form leaves the routes to the Routes
card (a save there is not undone by a stale copy here), the route versions name who saved them,
and the endpoints of a gateway low in a long list are brought into view."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from tests.browser.conftest import expect, sign_in
from tests.browser.held import Held, note_read_answers
from tests.browser.test_gateway_editor import open_editor, save
from tests.conftest import RunningGateway

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

ACCOUNT = "/api/v1/accounts/local"


def new_token_form(page: Page, gateway: RunningGateway) -> Locator:
    page.click("nav >> text=Tokens")
    form = page.locator("form[aria-label='New token']")
    form.locator("input[name=name]").fill("twice")
    return form.locator("button[type=submit]")


def new_gateway_form(page: Page, gateway: RunningGateway) -> Locator:
    page.click("nav >> text=Gateways")
    form = page.locator("form[aria-label='New gateway']")
    form.locator("input[name=name]").fill("twice")
    return form.locator("button[type=submit]")


def revoke_button(page: Page, gateway: RunningGateway) -> Locator:
    made = gateway.http.post(f"{ACCOUNT}/tokens", json={"name": "twice", "scopes": ["read"]})
    assert made.status_code == 201
    page.click("nav >> text=Tokens")
    return page.locator(f"tr[data-id='{made.json()['id']}'] >> text=Revoke")


def tokens_named_twice(gateway: RunningGateway) -> list[dict[str, Any]]:
    return [t for t in gateway.http.get(f"{ACCOUNT}/tokens").json()["result"] if t["name"] == "twice"]


@pytest.mark.parametrize(
    ("button", "method", "path", "outcome"),
    [
        (new_token_form, "POST", "/tokens", lambda g: len(tokens_named_twice(g)) == 1),
        (new_gateway_form, "POST", "/gateways", lambda g: g.http.get(f"{ACCOUNT}/gateways/twice").is_success),
        (revoke_button, "DELETE", "/tokens/", lambda g: tokens_named_twice(g)[0]["revoked"]),
    ],
    ids=["create-token", "create-gateway", "revoke-token"],
)
def test_a_double_click_sends_one_call_and_shows_no_error(
    page: Page,
    gateway: RunningGateway,
    button: Callable[[Page, RunningGateway], Locator],
    method: str,
    path: str,
    outcome: Callable[[RunningGateway], bool],
) -> None:
    note_read_answers(page)
    sign_in(page, gateway)
    target = button(page, gateway)
    calls = Held(page, f"**{ACCOUNT}{path}*", lambda request: request.method == method)
    target.dblclick()
    calls.wait()
    expect(target).to_be_disabled()  # while the call is under way
    assert len(calls.routes) == 1
    calls.release()
    assert outcome(gateway)
    expect(page.locator("main button:disabled")).to_have_count(0)  # the page is done with it
    assert page.locator(".toast.error").count() == 0
    assert calls.urls == []  # no second call came after the first


def test_an_expired_token_is_listed_as_expired_without_a_revoke_button(
    page: Page, gateway: RunningGateway
) -> None:
    for name, expires_in in [("short", 3600), ("long", 30 * 86400)]:
        made = gateway.http.post(
            f"{ACCOUNT}/tokens", json={"name": name, "scopes": ["read"], "expires_in": expires_in}
        )
        assert made.status_code == 201
    page.clock.install(time=time.time() + 86400)  # the page's now: a day on
    sign_in(page, gateway)
    page.click("nav >> text=Tokens")
    short = page.locator("table.tokens tr", has_text="short")
    expect(short.locator("td").nth(6)).to_have_text("expired")
    assert short.locator("text=Revoke").count() == 0
    long = page.locator("table.tokens tr", has_text="long")
    assert long.locator("td").nth(6).inner_text() == "active"
    assert long.locator("text=Revoke").count() == 1


def test_saving_the_settings_keeps_a_route_the_routes_card_saved(page: Page, gateway: RunningGateway) -> None:
    editor = open_editor(page, gateway)
    card = page.locator("section[aria-label='Routes']")
    card.locator("input[name=route_name]").fill("fast")
    card.locator("textarea[name=route_json]").fill('{"model": "openai/gpt-4o-mini"}')
    expect(card.locator(".route-status")).to_have_text("Valid route.")
    card.locator("text=Save route").click()
    expect(card.locator("table.versions tbody tr")).to_have_count(1)

    # The form shows no copy of the routes (it would still be the one read before the card saved).
    routes = editor.locator("fieldset[data-group='Dynamic routes']")
    expect(routes).to_contain_text("Edited in the Routes card")
    assert routes.locator("textarea, input").count() == 0
    patches: list[Any] = []
    page.on(
        "request",
        lambda request: patches.append(request.post_data_json) if request.method == "PATCH" else None,
    )
    editor.locator("input[name=cache_ttl]").fill("600")
    editor.locator("button[type=submit]").click()
    page.locator(".toast", has_text="Gateway default saved").wait_for()
    assert patches
    assert all(body == {"settings": {"cache_ttl": 600}} for body in patches)  # what was changed
    stored = gateway.http.get(f"{ACCOUNT}/gateways/default")
    assert stored.json()["settings"]["cache_ttl"] == 600
    assert list(stored.json()["settings"]["routes"]) == ["fast"]


def test_a_setting_changed_elsewhere_meanwhile_is_not_overwritten(
    page: Page, gateway: RunningGateway
) -> None:
    one = f"{ACCOUNT}/gateways/default"
    editor = open_editor(page, gateway)
    read = gateway.http.get(one).headers["ETag"]
    # Someone else changes another setting: this form's save of the TTL goes on (over their version).
    assert gateway.http.patch(one, json={"settings": {"max_attempts": 4}}).status_code == 200
    editor.locator("input[name=cache_ttl]").fill("600")
    first = save(page, editor)
    assert (first.status, first.request.headers["if-match"]) == (412, read)
    page.locator(".toast", has_text="Gateway default saved").wait_for()
    settings = gateway.http.get(one).json()["settings"]
    assert (settings["cache_ttl"], settings["max_attempts"]) == (600, 4)

    # Someone else changes the TTL itself: this form's TTL is not saved over theirs, and it says so.
    editor = page.locator("form[aria-label='Edit default']")
    expect(editor.locator("input[name=cache_ttl]")).to_have_value("600")
    assert gateway.http.patch(one, json={"settings": {"cache_ttl": 900}}).status_code == 200
    editor.locator("input[name=cache_ttl]").fill("1200")
    editor.locator("button[type=submit]").click()
    expect(editor.locator(":scope > p[role=alert]")).to_contain_text(
        "Gateway default was changed meanwhile (in another tab, by someone else, or through the API),"
        " in what you were saving (cache_ttl). Nothing was saved."
    )
    assert gateway.http.get(one).json()["settings"]["cache_ttl"] == 900
    editor.locator("[data-action=reload]").click()
    expect(page.locator("form[aria-label='Edit default'] input[name=cache_ttl]")).to_have_value("900")


def test_a_route_changed_elsewhere_meanwhile_is_not_overwritten(page: Page, gateway: RunningGateway) -> None:
    routes = f"{ACCOUNT}/gateways/default/routes"
    assert gateway.http.put(f"{routes}/support", json={"model": "openai/gpt-4o"}).status_code == 200
    open_editor(page, gateway)
    card = page.locator("section[aria-label='Routes']")
    text = card.locator("textarea[name=route_json]")
    expect(card.locator(".route-status")).to_have_text("Valid route.")
    # Another route saved elsewhere: this one's save goes on.
    assert gateway.http.put(f"{routes}/other", json={"model": "openai/gpt-4o"}).status_code == 200
    text.fill('{"model": "openai/gpt-4o-mini"}')
    expect(card.locator(".route-status")).to_have_text("Valid route.")
    card.locator("text=Save route").click()
    expect(card.locator("table.versions tbody tr")).to_have_count(2)
    # This route saved elsewhere: not overwritten.
    assert gateway.http.put(f"{routes}/support", json={"model": "openai/o3"}).status_code == 200
    text.fill('{"model": "openai/gpt-4.1"}')
    expect(card.locator(".route-status")).to_have_text("Valid route.")
    card.locator("text=Save route").click()
    expect(card.locator(".route-status")).to_contain_text("Route support was changed meanwhile")
    assert gateway.http.get(f"{routes}/support").json()["route"] == {"model": "openai/o3"}
    card.locator("[data-action=reload]").click()
    expect(card.locator("table.versions tbody tr")).to_have_count(3)
    assert '"openai/o3"' in text.input_value()


def test_a_check_of_the_text_typed_before_save_does_not_cover_the_saves_refusal(
    page: Page, gateway: RunningGateway
) -> None:
    """The card checks what is typed 250 ms after the last key; a Save clicked sooner is refused
    (the route changed meanwhile), and the check that fires after must not say "Valid route." over
    the refusal. The page's clock stands still, so the check fires only when the test says."""
    routes = f"{ACCOUNT}/gateways/default/routes"
    assert gateway.http.put(f"{routes}/support", json={"model": "openai/gpt-4o"}).status_code == 200
    page.clock.install()
    open_editor(page, gateway)
    card = page.locator("section[aria-label='Routes']")
    status = card.locator(".route-status")
    expect(status).to_have_text("Valid route.")
    page.clock.pause_at(datetime.now(UTC) + timedelta(minutes=1))
    assert gateway.http.put(f"{routes}/support", json={"model": "openai/o3"}).status_code == 200
    card.locator("textarea[name=route_json]").fill('{"model": "openai/gpt-4.1"}')
    card.locator("text=Save route").click()
    expect(status).to_contain_text("Route support was changed meanwhile")
    page.clock.run_for(1000)  # the check of the typed text would fire now
    status.locator("[data-action=reload]").click()
    expect(card.locator("table.versions tbody tr")).to_have_count(2)
    expect(status).to_contain_text("Route support was changed meanwhile")


def test_route_versions_name_the_token_that_saved_them(page: Page, gateway: RunningGateway) -> None:
    ops = gateway.http.post(f"{ACCOUNT}/tokens", json={"name": "ops-bot", "scopes": ["admin"]}).json()
    routes = f"{ACCOUNT}/gateways/default/routes/support"
    saved_by_ops = gateway.http.put(
        routes, json={"model": "openai/gpt-4o"}, headers={"Authorization": f"Bearer {ops['token']}"}
    )
    assert saved_by_ops.status_code == 200
    open_editor(page, gateway)
    card = page.locator("section[aria-label='Routes']")
    card.locator("textarea[name=route_json]").fill('{"model": "openai/gpt-4o-mini"}')
    expect(card.locator(".route-status")).to_have_text("Valid route.")
    card.locator("text=Save route").click()
    rows = card.locator("table.versions tbody tr")
    expect(rows).to_have_count(2)
    me = page.locator("nav.sidebar .who .small").nth(1).inner_text()  # this session's token name
    assert [row.locator("td").nth(2).inner_text() for row in rows.all()] == [me, "ops-bot"]
    assert rows.nth(1).locator("td").nth(2).get_attribute("title") == ops["id"]


def test_the_endpoints_of_a_gateway_in_a_long_list_are_brought_into_view(
    page: Page, gateway: RunningGateway
) -> None:
    for n in range(30):
        assert gateway.http.post(f"{ACCOUNT}/gateways", json={"name": f"team {n:02}"}).status_code == 201
    sign_in(page, gateway)
    page.click("nav >> text=Gateways")
    page.click("tr[data-slug=default] >> text=Endpoints")
    card = page.locator("section[aria-label=Endpoints]")
    card.wait_for()
    expect(card).to_be_in_viewport()
