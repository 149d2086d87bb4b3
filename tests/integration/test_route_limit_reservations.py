"""A dynamic route's `limit` node decides as the gateway's rules do: `then` only when what the
request may use still fits, reserved atomically when the route is planned (1 request; for tokens
and cost the prompt and the answer's cap, priced), settled to the real use once the answer has
completed, given back when it fails, is answered from the cache, or the client leaves. So requests
in flight together cannot take `then` past the limit: the rest take `else`.

Requests go through the official openai SDK to the compat endpoint; `then` is Claude Sonnet 4.6 at
the fake Anthropic, `else` the fake OpenAI. Both upstreams hold every streamed answer after its
first chunk until the test releases them, so all requests are in flight together. Each test runs
in process and on Redis (two replicas sharing it).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest

from sluicegate.gateway import plain
from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable
from tests.conftest import RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_spend import spend

MODEL = "claude-sonnet-4-6"
ROUTES = "/api/v1/accounts/local/gateways/default/routes"
HELD = {"x-fake-behavior": "pause-stream"}  # the upstream waits after its first chunk for `release`
CAP = 20  # each request's max_tokens


@pytest.fixture
def replicas(
    make_gateway: Callable[..., RunningGateway],
    fake: FakeOpenAI,
    claude: FakeAnthropic,
    backend: str,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
) -> Iterator[list[RunningGateway]]:
    upstreams = {"openai": fake.base_url, "anthropic": claude.base_url}
    names = ("a", "b") if backend == "scaled" else ("a",)
    yield [make_gateway(upstreams=upstreams, data_dir=tmp_path / name) for name in names]
    fake.release()
    claude.release()


def route(rule: dict[str, Any], otherwise: str = f"openai/{MODEL}") -> dict[str, Any]:
    return {"limit": rule, "then": {"model": f"anthropic/{MODEL}"}, "else": {"model": otherwise}}


def set_route(replicas: list[RunningGateway], node: dict[str, Any], **settings: Any) -> None:
    for replica in replicas:
        if settings:
            replica.configure(**settings)
        response = replica.http.put(f"{ROUTES}/budget", json=node)
        assert response.status_code == 200, response.text


def claude_cost(output_tokens: int, input_tokens: int = 0) -> float:
    usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    cost: float = PriceTable().cost("anthropic", MODEL, usage)
    return cost


async def together(
    replicas: list[RunningGateway], upstreams: list[FakeOpenAI | FakeAnthropic], count: int
) -> Counter[str]:
    """`count` streamed questions to `dynamic/budget`, round robin over `replicas`, every answer held
    by its upstream until all of them have been planned (each reached an upstream, or was refused);
    how many each provider answered (`cf-aig-provider`), and "429" for the refusals."""
    clients = [
        openai.AsyncOpenAI(base_url=r.provider_url("compat"), api_key="sk-test", max_retries=0)
        for r in replicas
    ]

    async def one(n: int) -> str:
        client = clients[n % len(clients)]
        try:
            async with client.chat.completions.with_streaming_response.create(
                model="dynamic/budget",
                messages=[{"role": "user", "content": f"question {n}"}],
                max_tokens=CAP,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=HELD,
            ) as response:
                lines = [line async for line in response.iter_lines()]
                assert "data: [DONE]" in lines
                return response.headers["cf-aig-provider"]
        except openai.RateLimitError:
            return "429"

    async with contextlib.AsyncExitStack() as stack:
        for client in clients:
            await stack.enter_async_context(client)
        tasks = [asyncio.create_task(one(n)) for n in range(count)]
        deadline = time.monotonic() + 8  # within the fakes' own 10 s hold
        while sum(len(u.requests) for u in upstreams) + sum(t.done() for t in tasks) < count:
            assert time.monotonic() < deadline, "the requests never were all in flight together"
            await asyncio.sleep(0.01)
        for upstream in upstreams:
            upstream.release()
        return Counter(await asyncio.gather(*tasks))


async def test_a_requests_limit_sends_no_more_than_it_counts_to_then_however_many_are_in_flight(
    replicas: list[RunningGateway], fake: FakeOpenAI, claude: FakeAnthropic
) -> None:
    set_route(replicas, route({"limit": 20, "period": 3600}))
    answered = await together(replicas, [fake, claude], 60)
    assert answered == {"anthropic": 20, "openai": 40}  # was 60 `then`: counted only once answered
    assert len(claude.requests) == 20


async def test_a_cost_limit_reserves_each_answers_cap_so_requests_in_flight_stay_within_it(
    replicas: list[RunningGateway], fake: FakeOpenAI, claude: FakeAnthropic
) -> None:
    # Each request reserves its prompt and 20 output tokens at Claude's price: at most 10 fit.
    budget = 10.5 * claude_cost(output_tokens=CAP)
    set_route(replicas, route({"unit": "cost", "limit": budget, "period": 86400}))
    answered = await together(replicas, [fake, claude], 60)
    assert 1 <= answered["anthropic"] <= 10
    assert answered["anthropic"] + answered["openai"] == 60
    # Settled to what was used (prompts of 5 words, answers of 3): the budget has room again.
    records = replicas[0].wait_for_logs(60)
    spent = sum(r["cost_usd"] for r in records if r["provider"] == "anthropic")
    assert 0 < spent <= budget
    with openai.OpenAI(
        base_url=replicas[-1].provider_url("compat"), api_key="sk-test", max_retries=0
    ) as client:
        again = client.chat.completions.with_raw_response.create(
            model="dynamic/budget", messages=[{"role": "user", "content": "once more"}], max_tokens=CAP
        )
    assert again.headers["cf-aig-provider"] == "anthropic"
    remaining = float(again.headers["x-ratelimit-remaining"])  # less this answer's reservation
    assert remaining <= budget - spent - claude_cost(output_tokens=CAP) + 1e-9
    assert again.headers["x-ratelimit-limit"] == plain(budget)


async def test_a_limit_repeating_a_gateway_rule_counts_once_in_its_bucket(
    replicas: list[RunningGateway], fake: FakeOpenAI, claude: FakeAnthropic
) -> None:
    """The route's reservation is the rule's for the request: a request sent to `then` is never
    refused by the rule it was admitted under, and the cheaper `else` fits what is left."""
    # Room for 5 of Claude's reservations (the gateway counts 10 tokens in each prompt; answers of
    # 20) and, in the half of one left, for some of GPT-4o mini's, a twenty-fourth of one each.
    limit = 5.5 * claude_cost(output_tokens=CAP, input_tokens=10)
    rule = {"unit": "cost", "limit": limit, "period": 86400}
    set_route(replicas, route(rule, otherwise="openai/gpt-4o-mini"), rate_limits=[rule])
    answered = await together(replicas, [fake, claude], 40)
    assert 1 <= answered["anthropic"] <= limit // claude_cost(output_tokens=CAP)
    assert answered["openai"] >= 1  # was none: every request looked, took `then`, and most got a 429
    records = replicas[0].wait_for_logs(40)
    refused = [r for r in records if r["status"] == 429]
    assert len(refused) == answered["429"]
    assert all("limit=else" in r["metadata"]["route_path"] for r in refused)
    # Counted once each, settled: the rule's bucket holds what the answers cost, nothing reserved.
    (budget,) = spend(replicas[0], since="1h")["budgets"]
    charged = sum(r["cost_usd"] for r in records if r["status"] == 200)
    assert budget["used"] == pytest.approx(charged, rel=1e-6)


async def test_a_reservation_is_given_back_on_a_cache_hit_or_an_upstream_error(
    replicas: list[RunningGateway], fake: FakeOpenAI, claude: FakeAnthropic
) -> None:
    set_route(replicas, route({"limit": 3, "period": 3600}))
    first, last = replicas[0], replicas[-1]

    def ask(content: str, gateway: RunningGateway = first, **headers: str) -> httpx.Response:
        body = {
            "model": "dynamic/budget",
            "messages": [{"role": "user", "content": content}],
            "max_tokens": CAP,
        }
        return httpx.post(f"{gateway.provider_url('compat')}/chat/completions", json=body, headers=headers)

    def provider(content: str, gateway: RunningGateway = first, **headers: str) -> str:
        response = ask(content, gateway, **headers)
        assert response.status_code == 200, response.text
        return response.headers["cf-aig-provider"]

    body = {"model": "dynamic/budget", "messages": [{"role": "user", "content": "held"}], "stream": True}
    url = f"{first.provider_url('compat')}/chat/completions"
    with httpx.Client(timeout=10) as client, client.stream("POST", url, json=body, headers=HELD) as held:
        assert (held.status_code, held.headers["cf-aig-provider"]) == (200, "anthropic")  # 1 of 3
        cached = {"cf-aig-cache-ttl": "600"}
        assert provider("same question", **cached) == "anthropic"  # 2 of 3
        hit = ask("same question", last, **cached)
        assert (hit.status_code, hit.headers["cf-aig-cache-status"]) == (200, "HIT")  # given back
        failed = ask("fails upstream", last, **{"x-fake-behavior": "error-500"})
        assert (failed.status_code, failed.headers["cf-aig-provider"]) == (500, "anthropic")  # given back
        limited = ask("another question", last)
        assert limited.headers["cf-aig-provider"] == "anthropic"  # 3 of 3
        assert (limited.headers["x-ratelimit-limit"], limited.headers["x-ratelimit-remaining"]) == ("3", "0")
        assert limited.headers["x-ratelimit-rule"] == "3 requests per 3600 s (fixed, per gateway)"
        assert provider("one too many") == "openai"  # was `then`: the held answer was not counted yet
        claude.release()
        assert held.read().rstrip().endswith(b"data: [DONE]")
    assert provider("still spent", last) == "openai"  # the held answer counts now it has completed
