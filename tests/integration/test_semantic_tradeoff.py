"""The operator's view of the semantic cache's trade-off, through the gateway with the openai SDK
(the real packaged models, the fake upstream on loopback): each lookup's best candidate logged
with its similarity and verdict, the threshold what-if built from them, shadow mode, and a
threshold adapted to `semantic_max_error`. On SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import FakeClock, RunningGateway, both_backends
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_semantic import ask, stored

backend = both_backends
SEED = "How do I reset my password?"
SETTINGS = "/api/v1/accounts/local/gateways/default"


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, clock: FakeClock
) -> RunningGateway:
    return make_gateway(clock=clock, upstreams={"openai": fake.base_url})


def configure(gateway: RunningGateway, **settings: Any) -> None:
    response = gateway.http.patch(SETTINGS, json={"settings": {"semantic_cache_enabled": True, **settings}})
    assert response.status_code == 200, response.text


def report(gateway: RunningGateway, clock: FakeClock) -> dict[str, Any]:
    period = {"from": clock.now - 3600, "to": clock.now + 60, "gateway": "default"}
    response = gateway.http.get("/api/v1/accounts/local/analytics/semantic", params=period)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def shadows(gateway: RunningGateway, count: int) -> list[dict[str, Any]]:
    """The shadow requests' records, oldest first, once there are `count` of them."""
    deadline = time.monotonic() + 20
    while True:
        found = [r for r in gateway.logs(limit=200) if r["cache_source"] == "shadow"]
        if len(found) >= count:
            return found[::-1]
        assert time.monotonic() < deadline, f"{len(found)} shadow records, expected {count}"
        time.sleep(0.02)


def test_each_lookup_logs_its_best_candidate_and_the_what_if_counts_them(
    gateway: RunningGateway, clock: FakeClock
) -> None:
    """A hit, a candidate below the threshold that the verifier accepts (judged after the answer),
    one above it that the verifier refuses, one too far to judge: each record says so, and the
    what-if counts as hits at t only the verified candidates that reach t."""
    configure(gateway)
    ask(gateway, SEED)
    stored(gateway, 1)
    assert ask(gateway, "How can I reset my password?").headers["x-semantic-cache"] == "HIT"
    assert ask(gateway, "Could you help me reset my password?").headers["x-semantic-cache"] == "MISS"
    assert ask(gateway, "How do I reset my account password?").headers["x-semantic-cache"] == "MISS"
    # Newest first, by id (the time each request came): a record that waited for its verdict
    # keeps its place.
    refused, below, hit, seed = gateway.wait_for_logs(4)
    assert seed["semantic_similarity"] is None  # an empty scope: nothing to compare with
    assert hit["semantic_similarity"] > 0.95
    assert hit["semantic_verified"] is True
    assert 0.8 < below["semantic_similarity"] < 0.9
    assert below["semantic_verified"] is True
    assert below["semantic_score"] is not None  # the NLI model judged it
    assert refused["semantic_similarity"] > 0.9
    assert refused["semantic_verified"] is False
    assert hit["saved_usd"] > 0
    assert hit["cost_usd"] == 0
    ask(gateway, "Tell me a joke about cats")
    far = gateway.wait_for_logs(5)[0]
    assert far["semantic_similarity"] < 0.7
    assert far["semantic_verified"] is None

    result = report(gateway, clock)
    assert (result["lookups"], result["with_candidate"], result["hits"]) == (5, 4, 1)
    rows = {row["threshold"]: row for row in result["thresholds"]}
    assert sorted(rows) == [round(0.70 + i / 100, 2) for i in range(30)]
    assert rows[0.95]["hits"] == 1
    assert rows[0.85]["hits"] == 2
    assert rows[0.7]["hits"] == 2
    assert rows[0.85]["savings_usd"] == pytest.approx(hit["saved_usd"] + below["cost_usd"])
    assert rows[0.95]["savings_usd"] == pytest.approx(hit["saved_usd"])
    assert rows[0.9]["hit_rate"] == pytest.approx(1 / 5)
    assert result["effective"]["default"] == {"configured": 0.9, "effective": 0.9, "max_error": None}


def test_shadow_mode_checks_a_hit_upstream_after_the_answer_and_estimates_precision(
    gateway: RunningGateway, fake: FakeOpenAI, clock: FakeClock
) -> None:
    configure(gateway, semantic_shadow_rate=1.0)
    ask(gateway, SEED)
    stored(gateway, 1)
    # The shadow request is the hit's request again: the fake answers it slowly. The client's
    # answer does not wait for it.
    started = time.monotonic()
    hit = ask(gateway, "How can I reset my password?", **{"x-fake-behavior": "slow-3000"})
    assert time.monotonic() - started < 2.5
    assert hit.headers["x-semantic-cache"] == "HIT"
    assert hit.parse().choices[0].message.content == "echo: How do I reset my password?"
    assert not any("shadow" in name.lower() for name in hit.headers)
    (shadow,) = shadows(gateway, 1)
    assert shadow["shadow_of"] == hit.headers["cf-aig-log-id"]
    assert shadow["shadow_agreed"] is True
    assert shadow["semantic_score"] > 0.9
    assert shadow["cost_usd"] > 0
    assert shadow["status"] == 200
    assert len(fake.requests) == 2
    assert fake.requests[1].json["messages"][-1]["content"] == "How can I reset my password?"
    assert 'cache_source="shadow"' in httpx.get(gateway.url + "/metrics").text

    fake.answer = lambda text: "The weather in Paris is sunny and warm today."  # it changed its mind
    ask(gateway, "How can I reset my password?")
    second = shadows(gateway, 2)[1]
    assert second["shadow_agreed"] is False
    result = report(gateway, clock)
    assert {k: result["shadow"][k] for k in ("requests", "checked", "agreed", "precision")} == {
        "requests": 2,
        "checked": 2,
        "agreed": 1,
        "precision": 0.5,
    }
    assert 0 < result["shadow"]["precision_low"] < 0.5
    row = next(r for r in result["thresholds"] if r["threshold"] == 0.9)
    assert (row["shadow_checked"], row["shadow_agreed"], row["precision"]) == (2, 1, 0.5)
    # Shadow requests are neither lookups nor hits in the cache's figures.
    assert (result["lookups"], result["hits"]) == (3, 2)


def test_shadow_requests_are_sampled_and_capped(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    configure(gateway, semantic_shadow_rate=1.0, semantic_shadow_per_minute=2)
    ask(gateway, SEED)
    stored(gateway, 1)
    for _ in range(4):
        assert ask(gateway, "How can I reset my password?").headers["x-semantic-cache"] == "HIT"
    shadows(gateway, 2)
    gateway.wait_for_logs(7)
    assert len([r for r in gateway.logs() if r["cache_source"] == "shadow"]) == 2
    assert len(fake.requests) == 3  # the seed and two shadows: the cap held

    configure(gateway, semantic_shadow_rate=0.0)  # off: no shadow at all
    ask(gateway, "How can I reset my password?")
    assert len(fake.requests) == 3


def test_max_error_raises_the_threshold_on_disagreement_and_lets_it_fall_back(
    gateway: RunningGateway, fake: FakeOpenAI, clock: FakeClock
) -> None:
    """With semantic_max_error 0.25: one shadow check that disagrees at similarity s raises the
    threshold above s (the same question then misses); agreeing checks of hits above it bring it
    back to the configured threshold once disagreements are at most a quarter, never below."""
    configure(gateway, semantic_shadow_rate=1.0, semantic_shadow_per_minute=100, semantic_max_error=0.25)
    paraphrase = "What should I do to reset my password?"
    ask(gateway, SEED)
    stored(gateway, 1)
    fake.answer = lambda text: "The weather in Paris is sunny and warm today."
    hit = ask(gateway, paraphrase)
    assert hit.headers["x-semantic-cache"] == "HIT"
    similarity = float(hit.headers["x-semantic-similarity"])
    assert shadows(gateway, 1)[0]["shadow_agreed"] is False
    raised = report(gateway, clock)["effective"]["default"]
    assert raised["configured"] == 0.9
    assert raised["effective"] > similarity
    assert ask(gateway, paraphrase).headers["x-semantic-cache"] == "MISS"  # the raise in force

    fake.answer = None  # fresh answers agree again: the seed itself hits, checked each time
    effective = []
    for checked in range(2, 5):
        assert ask(gateway, SEED).headers["x-semantic-cache"] == "HIT"
        shadows(gateway, checked)
        effective.append(report(gateway, clock)["effective"]["default"]["effective"])
    assert effective[0] > 0.9
    assert effective[1] > 0.9
    assert effective[2] == 0.9  # 1 of 4: within it, back to the configured threshold, not below


def test_max_error_without_shadow_mode_is_refused(gateway: RunningGateway) -> None:
    response = gateway.http.patch(SETTINGS, json={"settings": {"semantic_max_error": 0.02}})
    assert response.status_code == 400
    assert "semantic_shadow_rate" in response.text


def test_the_what_if_refuses_a_reversed_range_and_an_unknown_gateway(gateway: RunningGateway) -> None:
    response = gateway.http.get("/api/v1/accounts/local/analytics/semantic", params={"from": 10, "to": 5})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "from"
    response = gateway.http.get("/api/v1/accounts/local/analytics/semantic", params={"gateway": "defualt"})
    assert response.status_code == 404
    assert "default" in response.text


def test_an_sdk_client_never_sees_the_shadow(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    """A streamed hit with shadow mode on: the client reads the cached answer, whole, once."""
    configure(gateway, semantic_shadow_rate=1.0)
    ask(gateway, SEED)
    stored(gateway, 1)
    client = openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)
    with client:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "How can I reset my password?"},
            ],
            stream=True,
        )
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "echo: How do I reset my password?"
    (shadow,) = shadows(gateway, 1)
    assert shadow["stream"] is True
    assert shadow["shadow_agreed"] is True
