"""`cf-aig-custom-cost` and cost rules: the header changes what the log shows (Cloudflare's meaning:
a negotiated price), never what a cost rule charges a model the operator's prices know; it prices
for the rules only a model nothing else prices.

Clients are the official `openai` SDK against the fake OpenAI (no retries, so a 429 is seen as such).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_budgets import MODEL, SIX_WORDS, answer_cost

TOKENS = "/api/v1/accounts/local/tokens"
ZERO = json.dumps({"per_token_in": 0, "per_token_out": 0})
UNPRICED = "house-model-7"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def mint(gateway: RunningGateway, **fields: Any) -> tuple[str, str]:
    response = gateway.http.post(TOKENS, json={"name": "client", "scopes": ["run"], **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"], response.json()["token"]


def sdk(gateway: RunningGateway, secret: str | None = None, **headers: str) -> openai.OpenAI:
    if secret is not None:
        headers["cf-aig-authorization"] = f"Bearer {secret}"
    return openai.OpenAI(
        base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0, default_headers=headers
    )


def ask(client: openai.OpenAI, model: str = MODEL, words: str = SIX_WORDS, cap: int = 6) -> int:
    """One question, its answer cut at `cap` words: its status."""
    try:
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": words}], max_tokens=cap
        )
    except openai.APIStatusError as error:
        return error.status_code
    return 200


@pytest.mark.parametrize("scope", ["gateway", "token", "team"])
def test_a_zero_custom_cost_is_charged_at_the_table_price(gateway: RunningGateway, scope: str) -> None:
    budget = {"name": "budget", "limit": 2.5 * answer_cost(), "period": 86400, "unit": "cost"}
    fields: dict[str, Any] = {"metadata": {"team": "red"}}
    if scope == "token":
        fields["rules"] = [budget]
    else:
        gateway.configure(rate_limits=[{**budget, "scope": "metadata.team" if scope == "team" else scope}])
    _, secret = mint(gateway, **fields)
    with sdk(gateway, secret, **{"cf-aig-custom-cost": ZERO}) as client:
        statuses = [ask(client) for _ in range(5)]
    # Two answers at gpt-4o-mini's list price spend the budget, whatever price the client names.
    assert statuses == [200, 200, 429, 429, 429]
    records = gateway.wait_for_logs(5)
    answered = [r for r in records if r["status"] == 200]
    assert len(answered) == 2
    # The log shows the client's price (Cloudflare's meaning of the header): what the rule charged
    # is in the counters, and the spend report's budgets read those.
    assert [r["cost_usd"] for r in answered] == [0.0, 0.0]


def test_the_spend_report_shows_the_logged_cost_and_the_budget_charged(gateway: RunningGateway) -> None:
    one = answer_cost()
    own = {"name": "pocket money", "limit": 10 * one, "period": 86400, "unit": "cost"}
    token_id, secret = mint(gateway, rules=[own])
    with sdk(gateway, secret, **{"cf-aig-custom-cost": ZERO}) as client:
        assert [ask(client) for _ in range(3)] == [200] * 3
    gateway.wait_for_logs(3)
    response = gateway.http.get("/api/v1/accounts/local/spend", params={"by": "token"})
    assert response.status_code == 200, response.text
    [row] = response.json()["result"]
    assert (row["key"], row["requests"], row["cost_usd"]) == (token_id, 3, 0.0)
    [budget] = row["budgets"]
    assert budget["used"] == pytest.approx(3 * one)
    assert budget["remaining"] == pytest.approx(7 * one)


def test_a_custom_cost_above_the_table_price_charges_the_table_price(gateway: RunningGateway) -> None:
    # Were the higher of the two charged, one client could spend a shared budget in one request.
    gateway.configure(rate_limits=[{"limit": 2.5 * answer_cost(), "period": 86400, "unit": "cost"}])
    dear = json.dumps({"per_token_in": 1, "per_token_out": 1})
    with sdk(gateway, **{"cf-aig-custom-cost": dear}) as client:
        assert [ask(client) for _ in range(3)] == [200, 200, 429]
    records = [r for r in gateway.wait_for_logs(3) if r["status"] == 200]
    assert [r["cost_usd"] for r in records] == [18.0, 18.0]  # 12 in + 6 out at $1 a token, as sent


def test_an_unpriced_model_is_charged_its_custom_cost_unless_the_gateway_prices_it(
    gateway: RunningGateway,
) -> None:
    # "hi" is 7 prompt tokens at the fake; its answer "echo: hi" 2. Estimated: 8 in, 2 out.
    custom = {"per_token_in": 0.000001, "per_token_out": 0.000002}
    answer = 7 * custom["per_token_in"] + 2 * custom["per_token_out"]
    rule = {"name": "budget", "limit": 2.5 * answer, "period": 86400, "unit": "cost"}
    gateway.configure(rate_limits=[rule])
    with sdk(gateway, **{"cf-aig-custom-cost": json.dumps(custom)}) as client:
        assert [ask(client, UNPRICED, "hi", 2) for _ in range(3)] == [200, 200, 429]
    records = gateway.wait_for_logs(3)
    assert [r["cost_usd"] for r in records if r["status"] == 200] == [pytest.approx(answer)] * 2
    # The gateway's fallback price is the operator's: it, not the client's, prices the model for the
    # rules (a new rule, counted afresh: two answers at the fallback, which equals that custom cost).
    fallback = {"input_per_mtok": 1, "output_per_mtok": 2}
    gateway.configure(
        rate_limits=[{**rule, "name": "fallback", "limit": 2.5 * answer}], fallback_price=fallback
    )
    with sdk(gateway, **{"cf-aig-custom-cost": ZERO}) as client:
        assert [ask(client, UNPRICED, "hi", 2) for _ in range(3)] == [200, 200, 429]
