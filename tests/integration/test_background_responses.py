"""An OpenAI background response (`background: true`) is created queued and polled with
`responses.retrieve` until done; the first poll that finds it done counts its usage, once. That poll
names no model (a GET): it is priced by the model its answer names, and flagged unpriced when nothing
prices that model, so the spend reaches the log, budgets and analytics. The official `openai` SDK
against the fake OpenAI on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def made_in_background(client: openai.OpenAI, gateway: RunningGateway, model: str) -> list[dict[str, Any]]:
    """Create a background response, poll it three times; the four records, oldest first."""
    made = client.responses.create(model=model, input="what is a gateway", background=True)
    assert (made.status, made.usage) == ("queued", None)
    for _ in range(3):
        read = client.responses.retrieve(made.id)
        assert (read.status, read.model) == ("completed", model)
        assert read.usage is not None
    return sorted(gateway.wait_for_logs(4), key=lambda record: record["id"])


def test_the_poll_that_counts_a_background_response_is_priced_by_its_answers_model(
    client: openai.OpenAI, gateway: RunningGateway
) -> None:
    create, counted, *later = made_in_background(client, gateway, "gpt-4o-mini")
    assert (create["model"], create["tokens_in"], create["cost_usd"]) == ("gpt-4o-mini", 0, 0.0)
    assert counted["model"] == "gpt-4o-mini"  # the answer's: the GET names none
    assert counted["tokens_in"] > 0
    assert counted["tokens_out"] > 0
    usage = Usage(input_tokens=counted["tokens_in"], output_tokens=counted["tokens_out"])
    cost = PriceTable().cost("openai", "gpt-4o-mini", usage)
    assert cost is not None
    assert counted["cost_usd"] == pytest.approx(cost)
    assert counted["unpriced"] is False
    assert [(r["tokens_in"], r["cost_usd"], r["metadata"]["usage_counted_in"]) for r in later] == [
        (0, 0.0, counted["id"])
    ] * 2
    totals = gateway.http.get("/api/v1/accounts/local/analytics").json()["totals"]
    assert totals["cost_usd"] == pytest.approx(cost)
    assert totals["tokens_in"] == counted["tokens_in"]


def test_a_background_response_of_a_model_nothing_prices_is_flagged_unpriced(
    client: openai.OpenAI, gateway: RunningGateway
) -> None:
    _, counted, *later = made_in_background(client, gateway, "acme-private-model")
    assert (counted["model"], counted["cost_usd"], counted["unpriced"]) == ("acme-private-model", None, True)
    assert counted["tokens_in"] > 0
    assert [(r["tokens_in"], r["unpriced"]) for r in later] == [(0, False)] * 2  # counted already
