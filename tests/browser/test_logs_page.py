"""The logs page in Chromium: every gateway's requests in one table, with markers for semantic
cache hits, estimated token counts and incomplete records, and a default time range that fits
the data a new install has (issue 25)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx2 as httpx
import openai

from tests.browser.conftest import expect, sign_in
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

if TYPE_CHECKING:
    from playwright.sync_api import Page

GATEWAYS = "/api/v1/accounts/local/gateways"
SYSTEM = {"role": "system", "content": "You answer questions about accounts."}


def client(gateway: RunningGateway, slug: str = "default") -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url("openai", slug), api_key="sk-test", max_retries=0)


def ask(gateway: RunningGateway, question: str) -> Any:
    with client(gateway) as sdk:
        return sdk.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[SYSTEM, {"role": "user", "content": question}]
        )


def semantic_entries_reach(gateway: RunningGateway, count: int) -> None:
    """Entries are stored after the answer (once the models have loaded): poll /metrics."""
    deadline = time.monotonic() + 30
    while True:
        size = re.search(
            r"^sluicegate_semantic_entries (\S+)$", httpx.get(gateway.url + "/metrics").text, re.M
        )
        if size and float(size.group(1)) >= count:
            return
        assert time.monotonic() < deadline, f"the semantic index never reached {count} entries"
        time.sleep(0.02)


def test_logs_of_every_gateway_with_markers_for_semantic_hits_estimates_and_incomplete_records(
    page: Page, gateway: RunningGateway
) -> None:
    assert gateway.http.post(GATEWAYS, json={"name": "staging"}).status_code == 201
    semantic = {"settings": {"semantic_cache_enabled": True}}
    assert gateway.http.patch(GATEWAYS + "/default", json=semantic).status_code == 200
    with client(gateway, "staging") as sdk:
        staged = sdk.chat.completions.with_raw_response.create(model="gpt-4o", messages=[SYSTEM])
    with client(gateway) as sdk:  # an upstream stream without a usage chunk: the gateway counts tokens
        streamed = sdk.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[SYSTEM], stream=True, extra_headers={"x-fake-behavior": "no-usage"}
        )
        assert "".join(c.choices[0].delta.content or "" for c in streamed.parse() if c.choices)
    first = ask(gateway, "How do I reset my password?")
    semantic_entries_reach(gateway, 1)
    paraphrase = ask(gateway, "How can I reset my password?")
    assert paraphrase.headers["x-semantic-cache"] == "HIT"
    cut_short = '[{"provider": "openai", "headers": {"Authorization": "Bearer sk-cut'
    incomplete = httpx.post(f"{gateway.url}/v1/local/default", content=cut_short)
    assert incomplete.status_code == 400
    ids = {
        name: response.headers["cf-aig-log-id"]
        for name, response in [
            ("staged", staged), ("streamed", streamed), ("first", first),
            ("paraphrase", paraphrase), ("incomplete", incomplete),
        ]
    }  # fmt: skip
    records = {r["id"]: r for r in gateway.wait_for_logs(4) + gateway.wait_for_logs(1, "staging")}
    assert records[ids["streamed"]]["usage_estimated"] is True
    assert records[ids["paraphrase"]]["cache_source"] == "semantic"
    assert records[ids["incomplete"]]["degraded"]

    sign_in(page, gateway)
    page.click("nav >> text=Logs")
    rows = page.locator("table.logs tbody tr")
    expect(rows).to_have_count(len(ids))
    row = {name: page.locator(f"table.logs tr[data-id='{log_id}']") for name, log_id in ids.items()}
    assert page.locator("select[name=range]").input_value() == "24h"  # recent records: not widened
    assert page.locator(".range-note").is_hidden()
    assert row["staged"].get_attribute("data-gateway") == "staging"
    assert row["first"].get_attribute("data-gateway") == "default"
    assert row["paraphrase"].locator("td:last-child .tag").all_inner_texts() == ["HIT", "semantic"]
    assert row["first"].locator(".tag.semantic").count() == 0  # the semantic cache's miss: no mark
    assert row["streamed"].locator(".tag.estimated").count() == 1
    assert row["first"].locator(".tag.estimated").count() == 0
    degraded = row["incomplete"].locator(".tag.degraded")
    assert degraded.get_attribute("title") == f"Incomplete record: {records[ids['incomplete']]['degraded']}"
    assert row["staged"].locator(".tag.semantic, .tag.estimated, .tag.degraded").count() == 0

    row["staged"].click()  # the detail comes from the record's own gateway
    expect(page.locator("aside.detail")).to_contain_text("staging")
    page.select_option("select[name=gateway]", "staging")
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-id") == ids["staged"]

    # A token limited to staging sees its logs and nothing of the default gateway's.
    body = {"name": "staging reader", "scopes": ["read"], "gateways": ["staging"]}
    limited = gateway.http.post("/api/v1/accounts/local/tokens", json=body).json()["token"]
    page.click("text=Sign out")
    sign_in(page, gateway, limited)
    page.click("nav >> text=Logs")
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-id") == ids["staged"]
    assert page.locator("select[name=gateway] option").all_inner_texts() == ["All gateways", "staging"]


def test_the_default_range_widens_when_a_new_installs_requests_are_older(
    page: Page, make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    three_days_ago = make_gateway(clock=lambda: time.time() - 3 * 86400, upstreams={"openai": fake.base_url})
    with client(three_days_ago) as sdk:
        made = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=[SYSTEM])
    three_days_ago.wait_for_logs(1)

    sign_in(page, three_days_ago)
    page.click("nav >> text=Logs")
    row = page.locator(f"table.logs tr[data-id='{made.headers['cf-aig-log-id']}']")
    row.wait_for()
    assert page.locator("select[name=range]").input_value() == "all"
    expect(page.locator(".range-note")).to_contain_text("No requests in the last 24 hours: showing all time")

    page.select_option("select[name=range]", "24h")  # the person's own choice is kept
    page.locator("text=No requests match these filters yet.").wait_for()
    assert page.locator(".range-note").is_hidden()
    page.select_option("select[name=range]", "7d")
    row.wait_for()


def test_guardrail_findings_and_feedback_are_marked_filtered_and_summed_up(
    page: Page, gateway: RunningGateway
) -> None:
    settings = {"settings": {"guardrails": {"pii": {"action": "flag", "entities": ["email"]}}}}
    assert gateway.http.patch(GATEWAYS + "/default", json=settings).status_code == 200
    ids = {
        name: ask(gateway, question).headers["cf-aig-log-id"]
        for name, question in [
            ("flagged", "Write to alice.smith@example.com"), ("liked", "What is a sluice?"),
            ("disliked", "What is a weir?"),
        ]
    }  # fmt: skip
    gateway.wait_for_logs(3)
    for name, body in [("liked", {"feedback": 1, "score": 80}), ("disliked", {"feedback": -1})]:
        assert gateway.http.patch(f"{GATEWAYS}/default/logs/{ids[name]}", json=body).status_code == 200

    sign_in(page, gateway)
    page.click("nav >> text=Logs")
    rows = page.locator("table.logs tbody tr")
    expect(rows).to_have_count(3)
    row = {name: page.locator(f"table.logs tr[data-id='{log_id}']") for name, log_id in ids.items()}
    found = "request:flag:email, response:flag:email"
    assert row["flagged"].locator(".tag.guardrail").get_attribute("title") == f"Guardrails: {found}"
    assert row["liked"].locator(".tag.guardrail").count() == 0
    assert row["liked"].locator("td.feedback .tag").all_inner_texts() == ["👍", "80"]
    assert row["disliked"].locator("td.feedback .tag").all_inner_texts() == ["👎"]
    assert row["flagged"].locator("td.feedback .tag").count() == 0

    row["flagged"].click()
    findings = page.locator("aside.detail .findings li")
    expect(findings).to_have_count(2)
    assert findings.all_inner_texts() == found.split(", ")
    row["liked"].click()
    expect(page.locator("aside.detail")).to_contain_text("thumbs up")

    for choice, name in [("1", "liked"), ("-1", "disliked")]:
        page.select_option("select[name=feedback]", choice)
        expect(rows).to_have_count(1)
        expect(rows.first).to_have_attribute("data-id", ids[name])
    page.select_option("select[name=feedback]", "")
    expect(rows).to_have_count(3)
    page.select_option("select[name=feedback]", "0")
    page.locator("text=No requests match these filters yet.").wait_for()

    page.click("nav >> text=Overview")
    feedback = page.locator('[data-figure="Feedback"]')
    expect(feedback.locator(".value")).to_have_text("👍 1 · 👎 1")
    expect(feedback.locator(".note")).to_have_text("0 neutral · 1 scored, mean 80")
    panel = page.locator('[data-figure="Guardrails"]')
    expect(panel.locator(".value")).to_have_text("1")
    expect(panel.locator("[data-breakdown=action] .muted")).to_have_text("by action:")
    assert panel.locator("[data-breakdown=action] span[data-name]").all_inner_texts() == ["flag 2"]
    assert panel.locator("[data-breakdown=entity] span[data-name]").all_inner_texts() == ["email 2"]


def test_a_bidi_override_a_client_sent_shows_as_its_escape_not_reversed_text(
    page: Page, gateway: RunningGateway
) -> None:
    model = "gpt-4o\u202eini-m"  # would show as "gpt-4om-ini": U+202E reverses what follows
    metadata = {"user": "\u2067ana\u2069"}
    with client(gateway) as sdk:
        made = sdk.chat.completions.with_raw_response.create(
            model=model, messages=[SYSTEM], extra_headers={"cf-aig-metadata": json.dumps(metadata)}
        )
    gateway.wait_for_logs(1)

    sign_in(page, gateway)
    page.click("nav >> text=Logs")
    row = page.locator(f"table.logs tr[data-id='{made.headers['cf-aig-log-id']}']")
    cell = row.locator("td.model")
    expect(cell).to_have_text("gpt-4o\\u202eini-m")
    assert cell.locator("span.control").all_inner_texts() == ["\\u202e"]
    assert cell.evaluate("td => getComputedStyle(td).unicodeBidi") == "isolate"
    row.click()
    detail = page.locator("aside.detail")
    expect(detail.locator("dd", has_text="gpt-4o")).to_have_text("gpt-4o\\u202eini-m")
    expect(detail.locator("pre.body").first).to_contain_text('"user": "\\u2067ana\\u2069"')
    shown = detail.inner_text()
    assert "\u202e" not in shown
    assert "\u2067" not in shown


def test_a_body_cut_at_the_log_limit_is_marked_with_its_whole_size(
    page: Page, make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, log_body_limit=2048)
    long = ask(gateway, "long " * 2000)
    whole = len(long.http_request.content)
    gateway.wait_for_logs(1)

    sign_in(page, gateway)
    page.click("nav >> text=Logs")
    page.locator(f"table.logs tr[data-id='{long.headers['cf-aig-log-id']}']").click()

    sections = page.locator("aside.detail section.detail-section")
    request = sections.filter(has=page.locator("h3", has_text="Request body"))
    expect(request.locator(".body-cut")).to_have_text(
        f"Cut short: only its start is stored (logs.body_limit); the whole body was {whole:,} bytes."
    )
    expect(
        sections.filter(has=page.locator("h3", has_text="Response body")).locator(".body-cut")
    ).to_have_count(0)
