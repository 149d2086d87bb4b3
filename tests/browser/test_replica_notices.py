"""The dashboard's notice of log records waiting for the database (issue 21): PostgreSQL cut (a proxy
that drops its connections), requests answered meanwhile, and the notice says how many records
wait on disk; once the database is back and has them, it goes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import openai

from tests.browser.conftest import expect, sign_in
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.tcp_proxy import TcpProxy
from tests.integration.test_database_outage import proxy, through  # noqa: F401  (the proxy fixture)

if TYPE_CHECKING:
    from playwright.sync_api import Page

ANSWERED = 5


def spool(gateway: RunningGateway) -> dict[str, object]:
    response = gateway.http.get("/api/v1/status")
    assert response.status_code == 200, response.text
    status: dict[str, object] = response.json()["log_spool"]
    return status


def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def test_a_notice_shows_the_log_backlog_while_the_database_is_down(
    page: Page,
    make_gateway: Callable[..., RunningGateway],
    fake: FakeOpenAI,
    postgres_url: str,
    proxy: TcpProxy,  # noqa: F811
) -> None:
    gateway = make_gateway(database_url=through(postgres_url, proxy), upstreams={"openai": fake.base_url})
    sdk = openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)
    question: list[Any] = [{"role": "user", "content": "hello"}]
    sdk.chat.completions.create(model="gpt-4o-mini", messages=question)  # the replica knows the gateway
    sign_in(page, gateway)  # ...and the token, as it would in use
    assert len(gateway.wait_for_logs(1)) == 1
    expect(page.locator(".notices")).to_be_empty()
    with proxy.cut(), sdk:
        for _ in range(ANSWERED):
            sdk.chat.completions.create(model="gpt-4o-mini", messages=question)
        until(lambda: spool(gateway)["failing_since"] is not None, "storing failing")
        page.click("nav >> text=Logs")  # a page (re)opened checks at once, then every 10 s
        notice = page.locator("[data-notice=log-backlog]")
        expect(notice).to_contain_text(f"{ANSWERED} log records")
        expect(notice).to_contain_text("The database has not taken log records since")
        expect(notice).to_contain_text("wait on this replica's disk")
    until(lambda: spool(gateway)["backlog_records"] == 0, "the backlog stored")
    assert not spool(gateway)["behind"]
    page.click("nav >> text=Overview")
    expect(page.locator("[data-notice]")).to_have_count(0)
    assert len(gateway.wait_for_logs(1 + ANSWERED)) == 1 + ANSWERED
