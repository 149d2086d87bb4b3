"""The dashboard in headless Chromium (Debian's, driven by Playwright), against a running gateway.

Set SLUICEGATE_SCREENSHOTS=docs/screenshots to keep the screenshots `test_screenshots` takes.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import httpx2 as httpx
import pytest

from sluicegate.storage.base import LogRecord
from sluicegate.storage.sqlite import SqliteDatabase
from tests.browser.conftest import expect, sign_in
from tests.conftest import RunningGateway

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

MESSAGES = [{"role": "user", "content": "what is a sluice gate"}]
PROVIDER_KEY = "sk-proj-browser-secret-0123456789"
BODY = b'{"model":"%s","messages":[{"role":"user","content":"summarise the release notes"}]}'


def chat(
    gateway: RunningGateway, model: str = "gpt-4o-mini", provider: str = "openai", **headers: str
) -> int:
    response = gateway.http.post(
        f"/v1/local/default/{provider}/chat/completions",
        json={"model": model, "messages": MESSAGES},
        headers={"Authorization": f"Bearer {PROVIDER_KEY}", **headers},
    )
    return response.status_code


def figure(page: Page, label: str) -> str:
    return page.locator(f'[data-figure="{label}"] .value').inner_text()


def chart_totals(page: Page, title: str) -> list[float]:
    """The sum of each line drawn in a chart (the page records them on the chart)."""
    plot = page.locator(f'[data-chart="{title}"] .uplot')
    plot.wait_for()
    return [
        float(total) for total in page.evaluate("(e) => JSON.parse(e.dataset.totals)", plot.element_handle())
    ]


def test_sign_in_then_charts_show_the_requests_made_here(page: Page, gateway: RunningGateway) -> None:
    assert [chat(gateway) for _ in range(3)] + [chat(gateway, "error-500")] == [200, 200, 200, 500]
    gateway.wait_for_logs(4)

    page.goto(f"{gateway.url}/dashboard")
    assert page.url.endswith("/dashboard/")
    page.fill("input[name=token]", "sg_not-a-real-token")
    page.click("button[type=submit]")
    # The alert is on the page, empty and hidden, before the answer comes: wait for its text.
    expect(page.locator(".login [role=alert]")).to_contain_text("invalid")
    page.fill("input[name=token]", gateway.settings.admin_token)
    page.click("button[type=submit]")

    page.wait_for_selector('[data-figure="Requests"]')
    assert figure(page, "Requests") == "4"
    assert figure(page, "Errors") == "1"
    assert page.locator(".chart .uplot canvas").count() == 6
    assert chart_totals(page, "Requests") == [4, 1]
    assert chart_totals(page, "Errors") == [0, 1, 0]
    latency = chart_totals(page, "Origin latency")
    assert all(total > 0 for total in latency)
    # The session survives a reload of the tab, and signing out ends it.
    page.reload()
    page.wait_for_selector('[data-figure="Requests"]')
    page.click("text=Sign out")
    page.wait_for_selector("input[name=token]")


def test_filter_by_provider(page: Page, gateway: RunningGateway) -> None:
    assert [chat(gateway), chat(gateway, "gpt-4o"), chat(gateway, provider="not-a-provider")] == [
        200,
        200,
        404,
    ]
    gateway.wait_for_logs(3)
    sign_in(page, gateway)
    page.wait_for_selector('[data-figure="Requests"]')
    assert figure(page, "Requests") == "3"
    with page.expect_response(lambda r: "/analytics" in r.url and "provider=openai" in r.url):
        page.select_option("select[name=provider]", "openai")
    expect(page.locator('[data-figure="Requests"] .value')).to_have_text("2")
    with page.expect_response(lambda r: "model=gpt-4o&" in r.url + "&"):
        page.select_option("select[name=model]", "gpt-4o")
    expect(page.locator('[data-figure="Requests"] .value')).to_have_text("1")
    assert chart_totals(page, "Requests") == [1, 0]


def test_log_detail_shows_masked_headers_bodies_and_timings(page: Page, gateway: RunningGateway) -> None:
    assert chat(gateway, **{"cf-aig-metadata": '{"user": "ada"}'}) == 200
    record = gateway.wait_for_logs(1)[0]
    sign_in(page, gateway)
    page.click("nav >> text=Logs")
    row = page.locator(f'table.logs tr[data-id="{record["id"]}"]')
    row.click()
    detail = page.locator("aside.detail")
    detail.locator("text=Response body").wait_for()
    text = detail.inner_text()
    assert "what is a sluice gate" in text  # the request body
    assert "echo: what is a sluice gate" in text  # the response body
    assert "[redacted]" in text
    assert PROVIDER_KEY not in page.content()
    assert '"user": "ada"' in text
    for label in ("Latency", "Time to first byte", "Tokens in", "Cost"):
        assert label in text
    assert row.get_attribute("class") == "selected"


def test_log_detail_says_what_an_incomplete_record_lacks(page: Page, gateway: RunningGateway) -> None:
    # A universal body cut short cannot be read to mask the key in it: it is not stored.
    cut_short = f'[{{"provider": "openai", "headers": {{"Authorization": "Bearer {PROVIDER_KEY}"'
    refused = httpx.post(f"{gateway.url}/v1/local/default", content=cut_short)
    assert refused.status_code == 400
    gateway.wait_for_logs(1)
    sign_in(page, gateway)
    page.click("nav >> text=Logs")
    page.locator(f'table.logs tr[data-id="{refused.headers["cf-aig-log-id"]}"]').click()
    callout = page.locator("aside.detail .callout.warning")
    expect(callout).to_contain_text(
        "Incomplete record: request body omitted: its credentials could not be masked"
    )
    assert PROVIDER_KEY not in page.content()


def test_a_new_request_appears_in_the_log_table_without_reloading(
    page: Page, gateway: RunningGateway
) -> None:
    assert chat(gateway) == 200
    gateway.wait_for_logs(1)
    sign_in(page, gateway)
    page.click("nav >> text=Logs")
    page.locator("table.logs tbody tr").first.wait_for()
    assert page.locator("table.logs tbody tr").count() == 1
    page.evaluate("window.stillTheSamePage = true")

    assert chat(gateway, "gpt-4o") == 200
    expect(page.locator("table.logs tbody tr")).to_have_count(2)
    newest = page.locator("table.logs tbody tr").first
    assert "gpt-4o" in newest.inner_text()
    assert "new" in (newest.get_attribute("class") or "")
    assert page.evaluate("window.stillTheSamePage") is True


def test_logs_filter_by_status_and_cache(page: Page, gateway: RunningGateway) -> None:
    assert [chat(gateway), chat(gateway, "error-503")] == [200, 503]
    gateway.wait_for_logs(2)
    sign_in(page, gateway)
    page.click("nav >> text=Logs")
    expect(page.locator("table.logs tbody tr")).to_have_count(2)
    page.select_option("select[name=status]", "5xx")
    expect(page.locator("table.logs tbody tr")).to_have_count(1)
    assert "503" in page.locator("table.logs tbody tr").first.inner_text()
    page.select_option("select[name=cached]", "true")
    page.locator("text=No requests match these filters yet.").wait_for()


def test_create_edit_and_delete_a_gateway(page: Page, gateway: RunningGateway) -> None:
    sign_in(page, gateway)
    page.click("nav >> text=Gateways")
    page.fill("form[aria-label='New gateway'] input[name=name]", "Staging EU")
    page.click("form[aria-label='New gateway'] button[type=submit]")
    editor = page.locator("form[aria-label='Edit staging-eu']")
    editor.wait_for()
    editor.locator("input[name=cache_enabled]").check()
    editor.locator("input[name=cache_ttl]").fill("600")
    editor.locator("[data-field='settings.rate_limits'] >> text=Add rule").click()
    editor.locator("[data-field='settings.rate_limits.0.limit'] input").fill("10")
    editor.locator("[data-field='settings.rate_limits.0.period'] input").fill("60")
    editor.locator("button[type=submit]").click()
    page.locator("tr[data-slug=staging-eu] >> text=on · 600 s").wait_for()

    settings = gateway.http.get("/api/v1/accounts/local/gateways/staging-eu").json()["settings"]
    assert (settings["cache_enabled"], settings["cache_ttl"]) == (True, 600)
    assert [(rule["limit"], rule["period"]) for rule in settings["rate_limits"]] == [(10, 60)]

    page.click("tr[data-slug=staging-eu] >> text=Edit")
    page.click("form[aria-label='Edit staging-eu'] >> text=Delete gateway")
    page.locator("tr[data-slug=staging-eu]").wait_for(state="detached")
    assert gateway.http.get("/api/v1/accounts/local/gateways/staging-eu").status_code == 404


def test_create_a_token_shown_once_then_revoke_it(page: Page, gateway: RunningGateway) -> None:
    probe = gateway.http.post("/api/v1/accounts/local/tokens", json={"name": "probe", "scopes": ["read"]})
    if probe.status_code == 404:
        pytest.skip("this gateway has no token API (POST /api/v1/accounts/{a}/tokens answers 404)")
    sign_in(page, gateway)
    page.click("nav >> text=Tokens")
    form = page.locator("form[aria-label='New token']")
    form.locator("input[name=name]").fill("ci-pipeline")
    form.locator("input[value=run]").uncheck()
    form.locator("input[value=read]").check()
    form.locator("input[name=gateways]").fill("default")
    form.locator("button[type=submit]").click()
    secret = page.locator(".secret-value").inner_text()
    assert secret.startswith("sg_")
    row = page.locator("table.tokens tr", has_text="ci-pipeline")
    row.wait_for()
    assert "read" in row.inner_text()
    assert "default" in row.inner_text()
    whoami = gateway.http.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"})
    assert whoami.json()["scopes"] == ["read"]

    page.click("text=I have copied it")
    assert page.locator(".secret-value").count() == 0  # shown once: gone, and no API returns it
    row.locator("text=Revoke").click()
    row.locator("text=revoked").wait_for()
    assert (
        gateway.http.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    )


def test_a_read_token_sees_no_admin_controls(page: Page, gateway: RunningGateway) -> None:
    created = gateway.http.post("/api/v1/accounts/local/tokens", json={"name": "viewer", "scopes": ["read"]})
    if created.status_code == 404:
        pytest.skip("this gateway has no token API (POST /api/v1/accounts/{a}/tokens answers 404)")
    sign_in(page, gateway, created.json()["token"])
    assert page.locator("nav.sidebar a").all_inner_texts() == [
        "Overview",
        "Accelerator",
        "Logs",
        "Spend",
        "Gateways",
    ]
    page.click("nav >> text=Gateways")
    page.locator("tr[data-slug=default]").wait_for()
    assert page.locator("form[aria-label='New gateway']").count() == 0
    assert page.locator("tr[data-slug=default] >> text=Edit").count() == 0
    page.goto(f"{gateway.url}/dashboard/#/tokens")
    page.locator("text=Nothing to show").wait_for()
    # It says why (the page wants another scope), not that the token allows no page at all.
    expect(page.locator("main .why")).to_have_text(
        "The Tokens page needs the admin scope; this token's scopes are read. Go to a page it allows"
    )
    page.click("main .why a")
    page.wait_for_selector('[data-figure="Requests"]')


def test_a_gateway_limited_admin_sees_only_its_gateways_and_no_account_controls(
    page: Page, gateway: RunningGateway
) -> None:
    assert gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "other"}).status_code == 201
    team = {"name": "team admin", "scopes": ["admin"], "gateways": ["other"]}
    sign_in(page, gateway, gateway.http.post("/api/v1/accounts/local/tokens", json=team).json()["token"])
    page.click("nav >> text=Gateways")
    page.locator("tr[data-slug=other] >> text=Edit").wait_for()
    assert page.locator("tr[data-slug=default]").count() == 0
    assert page.locator("form[aria-label='New gateway']").count() == 0  # creating one is account-wide
    page.click("nav >> text=Tokens")
    page.locator("[data-note=limited]").wait_for()  # listing tokens is account-wide
    form = page.locator("form[aria-label='New token']")
    assert form.locator("input[name=gateways]").input_value() == "other"
    form.locator("input[name=name]").fill("team-ci")
    form.locator("button[type=submit]").click()
    secret = page.locator(".secret-value").inner_text()
    minted = gateway.http.get("/api/v1/whoami", headers={"Authorization": f"Bearer {secret}"}).json()
    assert (minted["scopes"], minted["gateways"]) == (["run"], ["other"])


def test_open_mode_when_the_gateway_has_no_whoami(page: Page, gateway: RunningGateway) -> None:
    """A gateway without admin authentication (no /whoami) is used as admin once signed in with
    anything; a fresh visit asks nothing of /whoami (without a token it would be a 401)."""
    admin = {"Authorization": f"Bearer {gateway.settings.admin_token}"}
    asked: list[str | None] = []

    def no_whoami(route: Route) -> None:
        asked.append(route.request.headers.get("authorization"))
        route.fulfill(status=404, json={"error": {"message": "no"}})

    page.route("**/api/v1/whoami", no_whoami)
    page.route(
        "**/api/v1/accounts/**", lambda route: route.continue_(headers={**route.request.headers, **admin})
    )
    page.goto(f"{gateway.url}/dashboard")
    page.locator("input[name=token]").wait_for()
    assert asked == []
    page.fill("input[name=token]", "anything")
    page.click("button[type=submit]")
    page.locator(".open-mode").wait_for()
    assert asked == ["Bearer anything"]
    assert "Tokens" in page.locator("nav.sidebar").inner_text()
    page.wait_for_selector('[data-figure="Requests"]')
    page.reload()  # the open session is kept for the tab, checked again (without a token)
    page.locator(".open-mode").wait_for()
    assert asked == ["Bearer anything", None]


def test_a_fresh_visit_asks_whoami_nothing_and_shows_the_sign_in(page: Page, gateway: RunningGateway) -> None:
    statuses: list[int] = []
    page.on(
        "response", lambda response: statuses.append(response.status) if "/api/" in response.url else None
    )
    page.goto(f"{gateway.url}/dashboard")
    page.locator("input[name=token]").wait_for()
    sign_in(page, gateway)
    page.wait_for_selector('[data-figure="Requests"]')
    assert 401 not in statuses


def test_the_dashboard_files_are_served_from_the_package(gateway: RunningGateway) -> None:
    page = gateway.http.get("/dashboard/")
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    script = gateway.http.get("/dashboard/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    again = gateway.http.get("/dashboard/app.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    assert gateway.http.get("/dashboard/vendor/uPlot.iife.min.js").status_code == 200
    assert gateway.http.get("/dashboard/nope.js").status_code == 404
    assert gateway.http.get("/dashboard/..%2F..%2Fpyproject.toml").status_code == 404  # names, not paths


def seed_history(gateway: RunningGateway, hours: int = 24, seed: int = 11) -> None:
    """A day of plausible traffic written straight into the gateway's database, for screenshots."""
    rnd = random.Random(seed)
    now = time.time()
    models = [("openai", "gpt-4o-mini", 3), ("openai", "gpt-4o", 1), ("anthropic", "claude-sonnet-4-5", 2)]
    records: list[LogRecord] = []
    for minute in range(hours * 60):
        ts_minute = now - (hours * 60 - minute) * 60
        load = 6 + 5 * (1 + math.sin(minute / (hours * 60) * 2 * math.pi - 1.5))  # a daily swell
        for _ in range(rnd.randint(int(load * 0.6), int(load * 1.4))):
            provider, model, _ = rnd.choices(models, weights=[m[2] for m in models])[0]
            ts = ts_minute + rnd.uniform(0, 60)
            hit = rnd.random() < 0.27
            status = 200 if hit or rnd.random() < 0.96 else rnd.choice([429, 500, 503, 400])
            latency = (
                rnd.uniform(2, 9) if hit else rnd.lognormvariate(6.6 if model != "gpt-4o-mini" else 6.1, 0.45)
            )
            tokens_in, tokens_out = rnd.randint(40, 1800), rnd.randint(20, 700)
            cost = 0 if hit else (tokens_in * 2.5e-6 + tokens_out * 1e-5 if status == 200 else None)
            records.append(
                LogRecord(
                    id=f"{int(ts * 1000):012x}{rnd.getrandbits(80):020x}", ts=ts, account="local",
                    gateway="default", provider=provider, endpoint="chat/completions", method="POST",
                    model=model, stream=rnd.random() < 0.4, status=status, latency_ms=latency,
                    ttfb_ms=latency * 0.35, tokens_in=tokens_in if status == 200 else None,
                    tokens_out=tokens_out if status == 200 else None, cost_usd=cost,
                    cache_status="HIT" if hit else "MISS",
                    cache_saved_ms=rnd.lognormvariate(6.6, 0.4) if hit else None, rate_limited=status == 429,
                    request_headers={"content-type": "application/json", "authorization": "[redacted]"},
                    request_body=BODY % model.encode(),
                )
            )  # fmt: skip

    async def write() -> None:
        database = SqliteDatabase(gateway.settings.data_dir / "sluicegate.db")
        await database.open()
        await database.write_logs([r for r in records if r.ts < now - 120])
        await database.close()

    # Playwright's sync API keeps an event loop running in this thread: write from another one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(write())).result()


def test_screenshots(page: Page, gateway: RunningGateway, tmp_path: Path) -> None:
    """Every page rendered with data, without errors; kept in SLUICEGATE_SCREENSHOTS when it is set."""
    folder = Path(os.environ.get("SLUICEGATE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    enable = {"settings": {"cache_enabled": True, "rate_limits": [{"limit": 600, "period": 60}]}}
    assert gateway.http.patch("/api/v1/accounts/local/gateways/default", json=enable).is_success
    assert gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "Production EU"}).is_success
    for model in ("gpt-4o-mini", "gpt-4o", "gpt-4o-mini", "error-429"):
        chat(gateway, model, **{"cf-aig-metadata": '{"team": "search", "user": "ada"}'})
    gateway.wait_for_logs(4)
    seed_history(gateway)

    def shot(name: str, full_page: bool = True) -> None:
        page.wait_for_timeout(400)  # let the charts and transitions settle
        page.screenshot(path=str(folder / f"{name}.png"), full_page=full_page)

    page.goto(f"{gateway.url}/dashboard")
    page.locator("input[name=token]").wait_for()
    shot("login")
    sign_in(page, gateway)
    page.wait_for_selector(".chart .uplot")
    shot("overview")
    page.click("nav >> text=Accelerator")
    page.wait_for_selector(".chart .uplot")
    shot("accelerator")
    page.click("nav >> text=Logs")
    page.locator("table.logs tbody tr").first.wait_for()
    shot("logs", full_page=False)  # the table runs on for pages
    page.locator("table.logs tbody tr").nth(1).click()
    page.locator("aside.detail >> text=Response body").wait_for()
    shot("log-detail", full_page=False)
    page.click("nav >> text=Gateways")
    page.click("tr[data-slug=default] >> text=Edit")
    page.locator("form.editor").wait_for()
    shot("gateways", full_page=False)  # the editor runs on; its buttons stay at the window's foot
    page.click("nav >> text=Tokens")
    form = page.locator("form[aria-label='New token']")
    form.locator("input[name=name]").fill("dashboard-viewer")
    form.locator("input[value=read]").check()
    form.locator("button[type=submit]").click()
    page.locator(".secret-value").wait_for()
    shot("tokens")
    assert sorted(p.name for p in folder.glob("*.png")) == [
        f"{name}.png"
        for name in sorted(["accelerator", "gateways", "log-detail", "login", "logs", "overview", "tokens"])
    ]
