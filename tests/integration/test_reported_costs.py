"""A charge the provider states in its answer (`usage.cost`: OpenRouter's credits, Perplexity's cost
object) is the request's cost: logged (with `metadata.cost_source: provider`) and charged to a USD
budget in place of the price table's estimate, whole and streamed (whether or not the client asked
for the stream's usage), on the provider's endpoint and the compat endpoint. Another server's
`usage.cost` (a custom provider's) is not the charge; nor can a token's metadata claim it is.

Clients are the official `openai` SDK against fakes that price at their own rates, which the
price table's for the same models are not (tests/fakes/openai_compatibility_server.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_compatibility_server import FakeOpenRouter, FakePerplexity
from tests.fakes.openai_server import FakeOpenAI

SPEND = "/api/v1/accounts/local/spend"
BUDGET = {"name": "budget", "limit": 5.0, "period": 86400, "unit": "cost"}
MESSAGES: list[Any] = [{"role": "user", "content": "alpha beta gamma delta epsilon zeta"}]
CUSTOM = "my-router"  # a custom provider whose base URL is OpenRouter's
TOKENS = "/api/v1/accounts/local/tokens"


@dataclass(frozen=True)
class Case:
    fake: str  # "openrouter", "openrouter-byok" or "perplexity"
    provider: str  # the URL segment the client's base URL ends in
    model: str  # as the client names it


CASES = [
    Case("openrouter", "openrouter", "openai/gpt-4o-mini"),
    Case("openrouter", "openrouter", "anthropic/claude-sonnet-4-6"),  # no price in the table
    Case("openrouter-byok", "openrouter", "openai/gpt-4o-mini"),
    Case("perplexity", "perplexity-ai", "sonar"),
    Case("openrouter", "compat", "openrouter/openai/gpt-4o-mini"),
    Case("perplexity", "compat", "perplexity-ai/sonar"),
]
IDS = [f"{case.fake}-{case.provider}-{case.model.replace('/', '-')}" for case in CASES]


@pytest.fixture
def fakes() -> Iterator[dict[str, FakeOpenAI]]:
    with (
        FakeOpenRouter().serve() as router,
        FakeOpenRouter(byok=True).serve() as byok,
        FakePerplexity().serve() as perplexity,
    ):
        yield {"openrouter": router, "openrouter-byok": byok, "perplexity": perplexity}


def gateway_for(
    make_gateway: Callable[..., RunningGateway], fakes: dict[str, FakeOpenAI], case: Case
) -> RunningGateway:
    router = fakes["openrouter-byok" if case.fake == "openrouter-byok" else "openrouter"]
    gateway = make_gateway(
        upstreams={"openrouter": router.base_url, "perplexity-ai": fakes["perplexity"].base_url},
        custom_providers={CUSTOM: fakes[case.fake].base_url},
    )
    # A spend budget; models the table does not price are let through, charged what they cost.
    gateway.configure(rate_limits=[BUDGET], allow_unpriced=True)
    return gateway


def stated_charge(usage: dict[str, Any]) -> float:
    """The charge a usage object states, read as each provider documents it."""
    cost = usage["cost"]
    if isinstance(cost, dict):  # Perplexity: the sum of its parts
        return float(cost["total_cost"])
    if usage["is_byok"]:  # OpenRouter's fee, and what the client's own provider key was billed
        return float(cost + usage["cost_details"]["upstream_inference_cost"])
    return float(cost)


def ask(client: openai.OpenAI, model: str, stream: bool) -> dict[str, Any]:
    """One question; the usage object of its answer (of the stream's last chunk with one), as sent."""
    if not stream:
        answer = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=6)
        assert answer.usage is not None
        return answer.usage.to_dict()
    with client.chat.completions.create(
        model=model,
        messages=MESSAGES,
        max_tokens=6,
        stream=True,
        stream_options={"include_usage": True},
    ) as chunks:
        usages = [chunk.usage for chunk in chunks if chunk.usage]
    return usages[-1].to_dict()


def budget_used(gateway: RunningGateway) -> float:
    response = gateway.http.get(SPEND, params={"by": "model"})
    assert response.status_code == 200, response.text
    [budget] = response.json()["budgets"]
    assert budget["label"] == "budget"
    return float(budget["used"])


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_stated_charge_is_logged_and_charged(
    make_gateway: Callable[..., RunningGateway], fakes: dict[str, FakeOpenAI], case: Case, stream: bool
) -> None:
    gateway = gateway_for(make_gateway, fakes, case)
    with openai.OpenAI(
        base_url=gateway.provider_url(case.provider), api_key="sk-provider", max_retries=0
    ) as client:
        charges = [stated_charge(ask(client, case.model, stream)) for _ in range(2)]
    assert all(charge > 0 for charge in charges)
    records = gateway.wait_for_logs(2)
    assert [record["status"] for record in records] == [200, 200]
    costs = [record["cost_usd"] for record in records]
    assert None not in costs, costs  # the table prices no claude-sonnet-4-6 at OpenRouter
    assert sorted(costs) == pytest.approx(sorted(charges))
    assert all(record["metadata"].get("cost_source") == "provider" for record in records)
    assert not any(record["unpriced"] for record in records)
    assert budget_used(gateway) == pytest.approx(sum(charges))


def test_a_client_cannot_claim_the_cost_came_from_the_provider(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    # `cost_source` is the gateway's entry: a client's metadata must not make a table price pass
    # for a provider's stated charge in the logs.
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    with (
        openai.OpenAI(
            base_url=gateway.provider_url("openai"),
            api_key="sk-test",
            max_retries=0,
            default_headers={"cf-aig-metadata": '{"cost_source": "provider"}'},
        ) as client,
        pytest.raises(openai.BadRequestError) as refused,
    ):
        ask(client, "gpt-4o-mini", stream=False)
    assert "'cost_source' is written by the gateway itself" in refused.value.message
    assert fake.requests == []


STREAMED = [
    Case("openrouter", "openrouter", "anthropic/claude-sonnet-4-6"),  # no price in the table
    Case("openrouter", "openrouter", "openai/gpt-4o-mini"),
    Case("openrouter", "compat", "openrouter/openai/gpt-4o-mini"),
    Case("perplexity", "perplexity-ai", "sonar"),
]


@pytest.mark.parametrize(
    "case", STREAMED, ids=[f"{c.fake}-{c.provider}-{c.model.replace('/', '-')}" for c in STREAMED]
)
def test_a_stream_the_client_asked_no_usage_of_is_charged_the_stated_cost(
    make_gateway: Callable[..., RunningGateway], fakes: dict[str, FakeOpenAI], case: Case
) -> None:
    # The SDKs' default: no stream_options. The gateway asks OpenRouter for the usage chunk itself
    # (Perplexity's chunks carry it unasked), bills its stated charge, and the client still gets
    # the stream it asked for: no usage chunk.
    gateway = gateway_for(make_gateway, fakes, case)
    with openai.OpenAI(
        base_url=gateway.provider_url(case.provider), api_key="sk-provider", max_retries=0
    ) as client:
        charge = stated_charge(ask(client, case.model, stream=True))  # the same question, asked with usage
        with client.chat.completions.create(
            model=case.model, messages=MESSAGES, max_tokens=6, stream=True
        ) as stream:
            chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    if case.fake == "openrouter":
        assert all(chunk.choices for chunk in chunks), "the usage chunk reached a client that did not ask"
        assert all(chunk.usage is None for chunk in chunks)
        upstream = fakes[case.fake].requests[-1].json
        assert upstream["stream_options"] == {"include_usage": True}
    records = gateway.wait_for_logs(2)
    assert [record["cost_usd"] for record in records] == pytest.approx([charge, charge])
    assert all(record["metadata"].get("cost_source") == "provider" for record in records)
    assert not any(record["usage_estimated"] for record in records)
    assert budget_used(gateway) == pytest.approx(2 * charge)


def test_a_custom_providers_usage_cost_is_not_taken_as_its_charge(
    make_gateway: Callable[..., RunningGateway], fakes: dict[str, FakeOpenAI]
) -> None:
    # A custom provider may be any server of OpenAI's API (a LiteLLM proxy, a vLLM extension) whose
    # `usage.cost`, if any, is its own figure: the price table prices it, here OpenAI's gpt-4o-mini.
    gateway = gateway_for(make_gateway, fakes, Case("openrouter", CUSTOM, "gpt-4o-mini"))
    with openai.OpenAI(base_url=gateway.provider_url(CUSTOM), api_key="sk-provider", max_retries=0) as client:
        usage = ask(client, "gpt-4o-mini", stream=False)
    [record] = gateway.wait_for_logs(1)
    table = usage["prompt_tokens"] * 0.15e-6 + usage["completion_tokens"] * 0.6e-6  # OpenAI's list price
    assert stated_charge(usage) != pytest.approx(table)
    assert record["cost_usd"] == pytest.approx(table)
    assert "cost_source" not in record["metadata"]


@pytest.mark.parametrize("key", ["cost_source", "route", "guardrails"])
def test_a_token_cannot_carry_a_key_the_gateway_writes(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, key: str
) -> None:
    # A token's metadata goes into every request's record: it must not say the cost came from the
    # provider (or name a route, or guardrail findings), as a client's cf-aig-metadata may not.
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    created = gateway.http.post(TOKENS, json={"name": "t", "scopes": ["run"], "metadata": {key: "provider"}})
    assert created.status_code == 400, created.text
    assert f"'{key}' is written by the gateway itself" in created.text
    minted = gateway.http.post(TOKENS, json={"name": "t", "scopes": ["run"], "metadata": {"team": "a"}})
    assert minted.status_code == 201, minted.text
    changed = gateway.http.patch(f"{TOKENS}/{minted.json()['id']}", json={"metadata": {key: "x"}})
    assert changed.status_code == 400, changed.text
    assert f"'{key}' is written by the gateway itself" in changed.text
