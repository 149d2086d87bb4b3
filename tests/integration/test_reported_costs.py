"""A charge the provider states in its answer (`usage.cost`: OpenRouter's credits, Perplexity's cost
object) is the request's cost: logged (with `metadata.cost_source: provider`) and charged to a USD
budget in place of the price table's estimate, whole and streamed, on the provider's endpoint, the
compat endpoint and a custom provider that reaches either.

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
    Case("openrouter", CUSTOM, "openai/gpt-4o-mini"),
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
    """One question; the usage object of its answer (of the stream's usage chunk), as sent."""
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
        [usage] = [chunk.usage for chunk in chunks if chunk.usage]
    return usage.to_dict()


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
