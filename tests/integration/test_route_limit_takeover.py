"""A dynamic route's `limit` node repeating one of the gateway's `rate_limits` reserves in that
rule's bucket, and the rule takes the reservation over as its own claim for the request: the rule
still refuses a model it cannot price, counts the request once however many nodes repeat it, and
reserves for every target the request may reach, not only the node's `then`.

Requests go through the official openai SDK to the compat endpoint (the fake OpenAI and Anthropic
upstreams); each test runs in process and on Redis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_route_limit_reservations import CAP, HELD, ROUTES, claude_cost

MODEL = "claude-sonnet-4-6"


@pytest.fixture
def routed(
    make_gateway: Callable[..., RunningGateway],
    fake: FakeOpenAI,
    claude: FakeAnthropic,
    backend: str,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
) -> Iterator[RunningGateway]:
    upstreams = {"openai": fake.base_url, "anthropic": claude.base_url}
    yield make_gateway(upstreams=upstreams, data_dir=tmp_path / "a")
    fake.release()
    claude.release()


def set_route(gateway: RunningGateway, node: dict[str, Any], rule: dict[str, Any]) -> None:
    gateway.configure(rate_limits=[rule])
    response = gateway.http.put(f"{ROUTES}/lim", json=node)
    assert response.status_code == 200, response.text


def ask(gateway: RunningGateway, model: str, content: str = "a question") -> Any:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="sk-test", max_retries=0) as client:
        try:
            return client.chat.completions.with_raw_response.create(
                model=model, messages=[{"role": "user", "content": content}], max_tokens=CAP
            )
        except openai.APIStatusError as error:
            return error.response


def test_a_limit_repeating_a_cost_rule_still_refuses_a_model_without_a_price(routed: RunningGateway) -> None:
    rule = {"unit": "cost", "limit": 1, "period": 86400}
    unpriced = "openai/no-such-priced-model"
    set_route(routed, {"limit": rule, "then": {"model": unpriced}, "else": {"model": unpriced}}, rule)
    for model in (unpriced, "dynamic/lim"):
        refused = ask(routed, model)
        assert refused.status_code == 422, (model, refused.text)  # dynamic/lim was 200: spend unmetered
        error = refused.json()["error"]
        assert (error["code"], error["model"]) == ("unpriced_model", "no-such-priced-model")
    assert ask(routed, f"anthropic/{MODEL}").status_code == 200  # a priced model is admitted


def test_two_limits_repeating_one_rule_count_an_answered_request_once(
    routed: RunningGateway, fake: FakeOpenAI, claude: FakeAnthropic
) -> None:
    rule = {"limit": 4, "period": 3600}
    node = {
        "fallback": [
            {"limit": rule, "then": {"model": f"openai/{MODEL}"}},
            {"limit": rule, "then": {"model": f"anthropic/{MODEL}"}},
        ]
    }
    set_route(routed, node, rule)
    statuses = [ask(routed, "dynamic/lim", f"question {n}").status_code for n in range(5)]
    assert statuses == [200, 200, 200, 200, 429]  # was [200, 200, 429, 429, 429]: each counted twice
    assert (len(fake.requests), len(claude.requests)) == (4, 0)


def test_a_limit_taken_over_reserves_for_the_fallback_beyond_it(
    routed: RunningGateway, fake: FakeOpenAI
) -> None:
    """fallback[{limit R then cheap}, Claude]: the request may end at Claude, so the rule R
    reserves Claude's estimate, as it does for any request with a fallback, not the cheap one's."""
    limit = 1.5 * claude_cost(output_tokens=CAP, input_tokens=10)  # room for one Claude reservation
    rule = {"unit": "cost", "limit": limit, "period": 86400}
    node = {
        "fallback": [
            {"limit": rule, "then": {"model": "openai/gpt-4o-mini"}},
            {"model": f"anthropic/{MODEL}"},
        ]
    }
    set_route(routed, node, rule)
    body = {
        "model": "dynamic/lim",
        "messages": [{"role": "user", "content": "held"}],
        "max_tokens": CAP,
        "stream": True,
    }
    url = f"{routed.provider_url('compat')}/chat/completions"
    with httpx.Client(timeout=10) as client, client.stream("POST", url, json=body, headers=HELD) as held:
        assert (held.status_code, held.headers["cf-aig-provider"]) == (200, "openai")  # in flight
        second = ask(routed, "dynamic/lim", "another")
        assert second.status_code == 429, second.text  # was 200: both reserved GPT-4o mini's estimate
        assert second.json()["error"]["rule"]["limit"] == pytest.approx(limit)
        fake.release()
        assert held.read().rstrip().endswith(b"data: [DONE]")
    # Settled to what the held answer cost (GPT-4o mini's): there is room again.
    assert ask(routed, "dynamic/lim", "once more").status_code == 200
