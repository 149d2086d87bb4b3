"""Guardrail findings summed up in analytics (issue 24): the records whose `metadata.guardrails`
holds findings, counted per finding, action and entity, on embedded and scaled storage."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway, both_backends
from tests.fakes.openai_server import FakeOpenAI

backend = both_backends
GATEWAYS = "/api/v1/accounts/local/gateways"
ANALYTICS = "/api/v1/accounts/local/analytics"
EMAIL = "alice.smith@example.com"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def guard(gateway: RunningGateway, slug: str, action: str) -> None:
    settings = {"guardrails": {"pii": {"action": action, "entities": ["email"]}}}
    response = gateway.http.patch(f"{GATEWAYS}/{slug}", json={"settings": settings})
    assert response.status_code == 200, response.text


def ask(gateway: RunningGateway, slug: str, text: str) -> None:
    with openai.OpenAI(
        base_url=gateway.provider_url("openai", slug), api_key="sk-test", max_retries=0
    ) as sdk:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}])


def test_analytics_count_the_guardrails_findings_of_the_range(gateway: RunningGateway) -> None:
    assert gateway.http.post(GATEWAYS, json={"name": "other"}).status_code == 201
    guard(gateway, "default", "flag")
    guard(gateway, "other", "redact")
    started = time.time()
    ask(gateway, "default", f"write to {EMAIL}")  # the fake echoes it: flagged both ways
    ask(gateway, "default", f"and again to {EMAIL}")
    ask(gateway, "default", "nothing to find here")
    ask(gateway, "other", f"write to {EMAIL}")  # redacted before the echo: the request only
    records = gateway.wait_for_logs(3) + gateway.wait_for_logs(1, "other")
    assert sorted(r["metadata"].get("guardrails", "") for r in records) == [
        "", "request:flag:email, response:flag:email", "request:flag:email, response:flag:email",
        "request:redact:email",
    ]  # fmt: skip

    def summary(headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
        window = {"from": started - 60, "to": time.time() + 60}
        answer = gateway.http.get(ANALYTICS, params=window | params, headers=headers)
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()["guardrails"]
        return found

    assert summary() == {
        "records": 3,
        "by_action": {"flag": 4, "redact": 1},
        "by_entity": {"email": 5},
        "findings": {"request:flag:email": 2, "response:flag:email": 2, "request:redact:email": 1},
    }
    assert summary(gateway="other") == {
        "records": 1,
        "by_action": {"redact": 1},
        "by_entity": {"email": 1},
        "findings": {"request:redact:email": 1},
    }
    assert summary(gateway="default", model="gpt-4o")["records"] == 0
    assert summary(**{"from": started - 3600, "to": started - 60})["records"] == 0
    # A token limited to a gateway counts only that gateway's findings.
    body = {"name": "reader", "scopes": ["read"], "gateways": ["other"]}
    limited = gateway.http.post("/api/v1/accounts/local/tokens", json=body).json()["token"]
    assert summary({"Authorization": f"Bearer {limited}"})["records"] == 1
