"""Token and spend limits that hold: each answer counts as it completes, before the next request is
judged; an estimate is reserved before dispatch; unpriced models are refused where money is limited.

Clients are the official `openai` SDK (no retries, so a 429 is seen as such). The log writer is
set to flush once a minute in the sequential tests, so nothing here can lean on it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest

from sluicegate.types import Usage
from sluicegate.usage.cost import PriceTable
from tests.conftest import RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI

MODEL = "gpt-4o-mini"
# The fake counts a word as a token: 6 words are 12 prompt tokens (+3 per message, +3 priming);
# the answer "echo: <6 words>" is cut at max_tokens=6. 18 tokens in all.
SIX_WORDS = "alpha beta gamma delta epsilon zeta"
ANSWER = Usage(input_tokens=12, output_tokens=6)
SLOW_LOGS = {"log_flush_interval": 60.0, "log_batch_size": 10_000}


def set_settings(gateway: RunningGateway, **settings: Any) -> None:
    response = gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings})
    assert response.status_code == 200, response.text


def sdk(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)


def ask(client: openai.OpenAI, stream: bool = False, model: str = MODEL) -> bool:
    """One six-word question; True if answered, False if refused with a 429."""
    messages: list[Any] = [{"role": "user", "content": SIX_WORDS}]
    try:
        if stream:
            with client.chat.completions.create(
                model=model,
                messages=messages,
                max_tokens=6,
                stream=True,
                stream_options={"include_usage": True},
            ) as chunks:
                usages = [c.usage for c in chunks if c.usage]
            assert [u.total_tokens for u in usages] == [ANSWER.total_tokens]
        else:
            answer = client.chat.completions.create(model=model, messages=messages, max_tokens=6)
            assert answer.usage is not None
            assert answer.usage.total_tokens == ANSWER.total_tokens
    except openai.RateLimitError:
        return False
    return True


def answer_cost(output_tokens: int = ANSWER.output_tokens, input_tokens: int = ANSWER.input_tokens) -> float:
    cost = PriceTable().cost("openai", MODEL, Usage(input_tokens=input_tokens, output_tokens=output_tokens))
    assert cost is not None
    return cost


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_a_token_rule_counts_each_answer_before_the_next_request(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, stream: bool
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, **SLOW_LOGS)
    set_settings(gateway, rate_limits=[{"limit": 30, "period": 3600, "unit": "tokens"}])
    with sdk(gateway) as client:
        answered = [ask(client, stream) for _ in range(5)]
    # 18 used, then 18 more reserved would pass 30: the second is refused before it is sent.
    assert answered[0]
    assert sum(answered) <= 2
    assert len(fake.requests) == sum(answered)


def test_a_spend_budget_admits_what_it_is_worth(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url}, **SLOW_LOGS)
    budget = 3.5 * answer_cost()
    set_settings(gateway, rate_limits=[{"name": "budget", "limit": budget, "period": 86400, "unit": "cost"}])
    with sdk(gateway) as client:
        answered = [ask(client) for _ in range(10)]
    # Three answers are spent; a fourth's reservation would not fit in the half answer left.
    assert answered == [True] * 3 + [False] * 7


async def test_concurrent_requests_cannot_overspend(
    make_gateway: Callable[..., RunningGateway],
    fake: FakeOpenAI,
    backend: str,  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
) -> None:
    # Two gateway apps sharing Redis when scaled; counters in process are one app's own.
    replicas = [
        make_gateway(upstreams={"openai": fake.base_url}, data_dir=tmp_path / name)
        for name in (("a", "b") if backend == "scaled" else ("a",))
    ]
    words = " ".join(f"w{n}" for n in range(40))  # 46 prompt tokens; the answer is cut at 30
    budget = 10.5 * answer_cost(output_tokens=30, input_tokens=46)
    for replica in replicas:
        set_settings(replica, rate_limits=[{"limit": budget, "period": 3600, "unit": "cost"}])
    clients = [
        openai.AsyncOpenAI(base_url=r.provider_url("openai"), api_key="sk-test", max_retries=0)
        for r in replicas
    ]

    async def one(n: int) -> bool:
        try:
            await clients[n % len(clients)].chat.completions.create(
                model=MODEL, messages=[{"role": "user", "content": words}], max_tokens=30
            )
        except openai.RateLimitError:
            return False
        return True

    try:
        answered = await asyncio.gather(*(one(n) for n in range(50)))
    finally:
        for client in clients:
            await client.close()
    assert 1 <= sum(answered) <= 10
    assert len(fake.requests) == sum(answered)
    records = replicas[0].wait_for_logs(50)
    spent = sum(r["cost_usd"] or 0.0 for r in records)
    assert spent <= budget


def test_a_reservation_is_held_while_the_answer_runs_and_given_back_when_it_ends(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    # No max_tokens: each request reserves its prompt and the rule's 600: one at a time fits.
    set_settings(gateway, rate_limits=[{"limit": 1000, "period": 3600, "unit": "tokens", "reserve": 600}])
    url = gateway.provider_url("openai") + "/chat/completions"

    def post(model: str = MODEL, **headers: str) -> httpx.Response:
        return httpx.post(
            url, json={"model": model, "messages": [{"role": "user", "content": "hi"}]}, headers=headers
        )

    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with (
        httpx.Client(timeout=10) as client,
        client.stream("POST", url, json=body, headers={"x-fake-behavior": "pause-stream"}) as paused,
    ):
        assert paused.status_code == 200
        assert fake.first_chunk_sent.wait(5)
        assert post().status_code == 429  # the paused answer's reservation leaves no room
    # The client hung up mid-stream: its reservation is settled to the little it used.
    fake.release()
    records = gateway.wait_for_logs(2)
    assert "client disconnected" in (records[-1]["error"] or "")
    assert post("error-500").status_code == 500  # admitted, failed: its reservation is released
    assert post().status_code == 200  # were it still held, this one would not fit


def test_headers_are_plain_decimals_naming_the_rule(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    set_settings(
        gateway, rate_limits=[{"name": "pennies", "limit": 0.00001, "period": 86400, "unit": "cost"}]
    )
    messages: list[Any] = [{"role": "user", "content": SIX_WORDS}]
    first = sdk(gateway).chat.completions.with_raw_response.create(
        model=MODEL, messages=messages, max_tokens=6
    )
    assert first.headers["x-ratelimit-limit"] == "0.00001"
    remaining = first.headers["x-ratelimit-remaining"]  # what this answer's reservation leaves
    assert remaining.startswith("0.00000")
    assert float(remaining) > 0
    assert first.headers["x-ratelimit-rule"] == "pennies"
    refused = httpx.post(
        gateway.provider_url("openai") + "/chat/completions", json={"model": MODEL, "messages": messages}
    )
    assert refused.status_code == 429
    assert refused.headers["x-ratelimit-rule"] == "pennies"
    assert int(refused.headers["retry-after"]) >= 1
    left = refused.headers["x-ratelimit-remaining"]  # not floored to 0: the answer cost about half
    assert "e" not in left
    assert float(left) == pytest.approx(0.00001 - answer_cost(), rel=1e-6)


def test_an_unpriced_model_is_refused_where_spend_is_limited(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    set_settings(gateway, rate_limits=[{"name": "budget", "limit": 5, "period": 86400, "unit": "cost"}])
    body = {"model": "house-model-7", "messages": [{"role": "user", "content": "hi"}]}
    url = gateway.provider_url("openai") + "/chat/completions"
    refused = httpx.post(url, json=body)
    assert refused.status_code == 422
    error = refused.json()["error"]
    assert (error["code"], error["model"]) == ("unpriced_model", "house-model-7")
    for remedy in ("cf-aig-custom-cost", "fallback_price", "allow_unpriced"):
        assert remedy in error["message"]
    assert fake.requests == []
    custom = {"cf-aig-custom-cost": '{"per_token_in": 0.000001, "per_token_out": 0.000002}'}
    assert httpx.post(url, json=body, headers=custom).status_code == 200
    set_settings(
        gateway,
        rate_limits=[{"name": "budget", "limit": 5, "period": 86400, "unit": "cost"}],
        fallback_price={"input_per_mtok": 1, "output_per_mtok": 2},
    )
    assert httpx.post(url, json=body).status_code == 200
    records = gateway.wait_for_logs(3)
    # Newest first: priced by fallback_price, by the custom cost; the 422 cost nothing (no usage).
    assert [(r["status"], r["unpriced"]) for r in records] == [(200, False), (200, False), (422, False)]
    assert "has no known price" in records[2]["error"]
    assert records[0]["cost_usd"] == pytest.approx((7 * 1 + 2 * 2) / 1e6)  # 7 in, "echo: hi" out


def test_without_a_cost_rule_an_unpriced_model_passes_flagged(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    set_settings(gateway, rate_limits=[{"limit": 100, "period": 60}])
    body = {"model": "house-model-7", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(gateway.provider_url("openai") + "/chat/completions", json=body).status_code == 200
    [record] = gateway.wait_for_logs(1)
    assert (record["unpriced"], record["cost_usd"], record["tokens_in"]) == (True, None, 7)
    metrics = httpx.get(gateway.url + "/metrics").text
    assert (
        'sluicegate_unpriced_requests_total{account="local",gateway="default",model="house-model-7",'
        'provider="openai"} 1.0' in metrics
    )


def test_allow_unpriced_admits_it_under_a_cost_rule(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    set_settings(gateway, rate_limits=[{"limit": 5, "period": 86400, "unit": "cost"}], allow_unpriced=True)
    body = {"model": "house-model-7", "messages": [{"role": "user", "content": "hi"}]}
    assert httpx.post(gateway.provider_url("openai") + "/chat/completions", json=body).status_code == 200
    [record] = gateway.wait_for_logs(1)
    assert (record["unpriced"], record["cost_usd"]) == (True, None)


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        (
            {"rate_limits": [{"limit": 5, "period": 60, "unit": "tokens", "reserve": -1}]},
            "settings.rate_limits.0.reserve",
        ),
        ({"fallback_price": {"input_per_mtok": 1}}, "settings.fallback_price.output_per_mtok"),
        (
            {"fallback_price": {"input_per_mtok": -1, "output_per_mtok": 1}},
            "settings.fallback_price.input_per_mtok",
        ),
    ],
)
def test_bad_budget_settings_are_400s_naming_the_field(
    make_gateway: Callable[..., RunningGateway], settings: dict[str, Any], field: str
) -> None:
    gateway = make_gateway()
    good = {"rate_limits": [{"limit": 5, "period": 60, "unit": "tokens", "reserve": 0}]}
    assert gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": good}).is_success
    response = gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field
