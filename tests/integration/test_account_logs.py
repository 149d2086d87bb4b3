"""Logs across gateways (`GET /api/v1/accounts/{a}/logs`) and a gateway's endpoint URLs
(`GET …/gateways/{g}/urls`), as the dashboard uses them (issue 25).

A token limited to some gateways lists only their records, as docs/security.md says of routes
that act on the token's own gateways.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI

ACCOUNT = "/api/v1/accounts/local"
MESSAGES: list[Any] = [{"role": "user", "content": "where do the logs go"}]


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeOpenAI().serve() as oa, FakeAnthropic().serve() as an:
        yield {"openai": oa, "anthropic": an}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    gateway = make_gateway(upstreams={name: fake.base_url for name, fake in fakes.items()})
    for name in ("staging", "prod"):
        assert gateway.http.post(f"{ACCOUNT}/gateways", json={"name": name}).status_code == 201
    return gateway


def chat(gateway: RunningGateway, slug: str, model: str = "gpt-4o-mini") -> str:
    """One chat completion through gateway `slug`; its log id."""
    with openai.OpenAI(
        base_url=gateway.provider_url("openai", slug), api_key="sk-test", max_retries=0
    ) as client:
        try:
            raw = client.chat.completions.with_raw_response.create(model=model, messages=MESSAGES)
        except openai.APIStatusError as error:
            return error.response.headers["cf-aig-log-id"]
        return raw.headers["cf-aig-log-id"]


def account_logs(gw: RunningGateway, token: str | None = None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return gw.http.get(f"{ACCOUNT}/logs", params=params, headers=headers)


def test_lists_every_gateways_records_newest_first_and_pages_through_them(gateway: RunningGateway) -> None:
    made = [chat(gateway, slug) for slug in ("default", "staging", "prod", "staging", "default")]
    for slug, count in (("default", 2), ("staging", 2), ("prod", 1)):
        assert len(gateway.wait_for_logs(count, slug)) == count
    records = account_logs(gateway).json()["result"]
    assert [r["id"] for r in records] == list(reversed(made))
    assert [r["gateway"] for r in records] == ["default", "staging", "prod", "staging", "default"][::-1]
    assert all(r["request_body"] is None for r in records)  # bodies only in the one-record view

    seen: list[str] = []
    cursor = None
    while True:
        page = account_logs(gateway, limit=2, **({"cursor": cursor} if cursor else {})).json()
        seen += [r["id"] for r in page["result"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))


def test_filters_apply_across_gateways_and_gateway_picks_one(gateway: RunningGateway) -> None:
    ok_default, failed_prod = chat(gateway, "default"), chat(gateway, "prod", "error-500")
    ok_prod = chat(gateway, "prod", "gpt-4o")
    gateway.wait_for_logs(1, "default")
    gateway.wait_for_logs(2, "prod")
    assert [r["id"] for r in account_logs(gateway, status="5xx").json()["result"]] == [failed_prod]
    assert [r["id"] for r in account_logs(gateway, model="gpt-4o").json()["result"]] == [ok_prod]
    only_prod = account_logs(gateway, gateway="prod").json()["result"]
    assert [r["id"] for r in only_prod] == [ok_prod, failed_prod]
    assert ok_default not in {r["id"] for r in only_prod}

    unknown = account_logs(gateway, gateway="prdo")
    assert unknown.status_code == 404
    assert "did you mean 'prod'" in unknown.json()["error"]["message"]
    bad = account_logs(gateway, status="5x")
    assert (bad.status_code, bad.json()["error"]["param"]) == (400, "status")
    misspelt = account_logs(gateway, gatway="prod")  # ignored, it listed every gateway's records
    assert misspelt.status_code == 400
    assert misspelt.json()["error"]["message"] == "unknown parameter 'gatway'; did you mean 'gateway'?"
    cursor = account_logs(gateway, cursor="not-a-cursor")
    assert (cursor.status_code, cursor.json()["error"]["param"]) == (400, "cursor")


def test_a_token_limited_to_some_gateways_lists_only_their_records(gateway: RunningGateway) -> None:
    made = {slug: chat(gateway, slug) for slug in ("default", "staging", "prod")}
    for slug in made:
        gateway.wait_for_logs(1, slug)
    body = {"name": "staging reader", "scopes": ["read"], "gateways": ["staging"]}
    limited = gateway.http.post(f"{ACCOUNT}/tokens", json=body).json()["token"]

    listing = account_logs(gateway, limited)
    assert listing.status_code == 200, listing.text
    assert [r["id"] for r in listing.json()["result"]] == [made["staging"]]
    refused = account_logs(gateway, limited, gateway="prod")
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "this token is limited to gateways 'staging', not 'prod'"
    run_only = gateway.http.post(f"{ACCOUNT}/tokens", json={"name": "runner", "scopes": ["run"]}).json()
    assert account_logs(gateway, run_only["token"]).status_code == 403  # reading logs needs `read`


def test_urls_give_each_providers_endpoint_and_a_base_url_the_openai_sdk_can_use(
    gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    answer = gateway.http.get(f"{ACCOUNT}/gateways/staging/urls")
    assert answer.status_code == 200, answer.text
    urls = answer.json()
    assert (urls["universal_path"], urls["compat_path"]) == ("/v1/local/staging", "/v1/local/staging/compat")
    by_provider = {entry["provider"]: entry for entry in urls["result"]}
    assert by_provider["openai"]["path"] == "/v1/local/staging/openai"
    assert {"openai", "anthropic", "groq", "workers-ai", "cohere"} <= set(by_provider)

    for provider, model in (("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5")):
        entry = by_provider[provider]
        client = openai.OpenAI(base_url=gateway.url + entry["openai_base_path"], api_key="k", max_retries=0)
        with client:
            reply = client.chat.completions.create(
                model=entry["openai_model_prefix"] + model, messages=MESSAGES
            )
        assert "where do the logs go" in (reply.choices[0].message.content or "")
        assert fakes[provider].requests, provider
    records = gateway.wait_for_logs(2, "staging")
    assert sorted(r["provider"] for r in records) == ["anthropic", "openai"]
    assert by_provider["cohere"]["openai_base_path"] is None  # its own API: no openai SDK snippet

    assert gateway.http.get(f"{ACCOUNT}/gateways/nope/urls").status_code == 404
