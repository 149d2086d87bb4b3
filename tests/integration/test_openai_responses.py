"""The Responses API through the OpenAI provider endpoint (a passthrough): the official SDK's
`responses.create`, streamed and not, logged with its usage (cache reads and reasoning included)
and priced, also when the answer is cut short by `max_output_tokens`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable
from tests.conftest import RunningGateway
from tests.fakes.openai_server import BEHAVIOR_HEADER, FakeOpenAI

PROVIDER_KEY = "sk-proj-responses-0123456789"
PROMPT = "name three colours of the rainbow please"


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=gateway.provider_url("openai"), api_key=PROVIDER_KEY, max_retries=0
    ) as client:
        yield client


def expected_cost(model: str, usage: Any) -> float:
    cost = PriceTable().cost(
        "openai",
        model,
        Usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cached_tokens=usage.input_tokens_details.cached_tokens,
            reasoning_tokens=usage.output_tokens_details.reasoning_tokens,
        ),
    )
    assert cost is not None
    return cost


def assert_logged(record: dict[str, Any], usage: Any, model: str) -> None:
    assert record["endpoint"] == "responses"
    assert record["usage_estimated"] is False
    assert (record["tokens_in"], record["tokens_out"]) == (usage.input_tokens, usage.output_tokens)
    assert record["cached_tokens"] == usage.input_tokens_details.cached_tokens
    assert record["reasoning_tokens"] == usage.output_tokens_details.reasoning_tokens
    assert record["cost_usd"] == pytest.approx(expected_cost(model, usage))


@pytest.mark.parametrize("streamed", [False, True])
def test_usage_with_cache_reads_and_reasoning_is_logged_and_priced(
    gateway: RunningGateway, client: openai.OpenAI, streamed: bool
) -> None:
    headers = {BEHAVIOR_HEADER: "cached-6,reasoning-9"}
    if streamed:
        with client.responses.stream(model="o4-mini", input=PROMPT, extra_headers=headers) as stream:
            response = stream.get_final_response()
    else:
        response = client.responses.create(model="o4-mini", input=PROMPT, extra_headers=headers)
    assert response.output_text == f"echo: {PROMPT}"
    usage = response.usage
    assert usage is not None
    assert (usage.input_tokens_details.cached_tokens, usage.output_tokens_details.reasoning_tokens) == (6, 9)

    record = gateway.wait_for_logs(1)[0]
    assert record["stream"] is streamed
    assert_logged(record, usage, "o4-mini")
    # Cache reads are cheaper than fresh input: the price is not that of plain input and output.
    plain = PriceTable().cost("openai", "o4-mini", Usage(usage.input_tokens, usage.output_tokens))
    assert plain is not None
    assert record["cost_usd"] < plain


@pytest.mark.parametrize("streamed", [False, True])
def test_an_answer_cut_short_is_logged_with_the_usage_it_reported(
    gateway: RunningGateway, client: openai.OpenAI, streamed: bool
) -> None:
    if streamed:
        events = list(client.responses.create(model="gpt-4o", input=PROMPT, max_output_tokens=3, stream=True))
        assert events[-1].type == "response.incomplete"
        response = events[-1].response
    else:
        response = client.responses.create(model="gpt-4o", input=PROMPT, max_output_tokens=3)
    assert response.status == "incomplete"
    assert response.usage is not None
    assert response.usage.output_tokens == 3

    record = gateway.wait_for_logs(1)[0]
    assert record["stream"] is streamed
    assert_logged(record, response.usage, "gpt-4o")


@pytest.mark.parametrize("streamed", [False, True])
def test_an_answer_cut_short_by_max_output_tokens_is_cached_in_either_form(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI, streamed: bool
) -> None:
    # `response.incomplete` closes a whole response (incomplete_details.reason max_output_tokens),
    # which the cache stores asked for whole: so it stores it streamed too.
    gateway.configure(cache_enabled=True)
    for expected in ("MISS", "HIT"):
        if streamed:
            with client.responses.with_streaming_response.create(
                model="gpt-4o", input=PROMPT, max_output_tokens=3, stream=True
            ) as answer:
                events = list(answer.parse())
            assert events[-1].type == "response.incomplete"
            response = events[-1].response
        else:
            raw = client.responses.with_raw_response.create(model="gpt-4o", input=PROMPT, max_output_tokens=3)
            answer, response = raw, raw.parse()
        assert answer.headers["cf-aig-cache-status"] == expected
        assert response.status == "incomplete"
        assert response.incomplete_details is not None
        assert response.incomplete_details.reason == "max_output_tokens"
    assert len(fake.requests) == 1
    hit = next(record for record in gateway.wait_for_logs(2) if record["cache_status"] == "HIT")
    assert (hit["stream"], hit["status"], hit["error"]) == (streamed, 200, None)
