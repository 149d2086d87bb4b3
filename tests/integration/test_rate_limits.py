"""Rate limits through the gateway: refusals, headers, windows, scopes, Redis (budgets: test_budgets.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from tests.conftest import FakeClock, RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.openai_server import FakeOpenAI
from tests.redis_process import RedisProcess

CHAT = "/v1/local/default/openai/chat/completions"


def set_rules(gateway: RunningGateway, *rules: dict[str, Any], **settings: Any) -> httpx.Response:
    return gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": {"rate_limits": list(rules), **settings}}
    )


def ask(gateway: RunningGateway, content: str = "hi", **headers: str) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}]}
    return gateway.http.post(CHAT, json=body, headers=headers)


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, clock: FakeClock
) -> RunningGateway:
    return make_gateway(clock=clock, upstreams={"openai": fake.base_url})


def test_refusal_is_a_429_naming_the_rule_and_never_reaches_the_upstream(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    assert set_rules(gateway, {"name": "three a minute", "limit": 3, "period": 60}).status_code == 200
    answers = [ask(gateway) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["x-ratelimit-remaining"] for a in answers[:3]] == ["2", "1", "0"]
    refused = answers[3]
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "three a minute" in refused.json()["error"]["message"]
    assert refused.json()["error"]["rule"]["limit"] == 3
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-limit"] == "3"
    assert len(fake.requests) == 3
    record = gateway.wait_for_logs(4)[0]
    assert (record["status"], record["rate_limited"]) == (429, True)


def test_fixed_window_opens_again_at_the_boundary(gateway: RunningGateway, clock: FakeClock) -> None:
    clock.now = 1_800_000_000.0  # a multiple of 60: a window starts here
    set_rules(gateway, {"limit": 2, "period": 60})
    assert [ask(gateway).status_code for _ in range(3)] == [200, 200, 429]
    clock.advance(59.9)
    assert ask(gateway).status_code == 429
    clock.advance(0.1)
    assert ask(gateway).status_code == 200


def test_sliding_window(gateway: RunningGateway, clock: FakeClock) -> None:
    set_rules(gateway, {"limit": 2, "period": 60, "technique": "sliding"})
    assert ask(gateway).status_code == 200
    clock.advance(30)
    assert ask(gateway).status_code == 200
    clock.advance(29)
    assert ask(gateway).status_code == 429
    clock.advance(1.5)  # the first request is now older than 60 s
    assert ask(gateway).status_code == 200
    assert ask(gateway).status_code == 429


def test_per_metadata_scope(gateway: RunningGateway) -> None:
    set_rules(gateway, {"limit": 1, "period": 60, "scope": "metadata.user"})
    ada, bob = {"cf-aig-metadata": '{"user": "ada"}'}, {"cf-aig-metadata": '{"user": "bob"}'}
    assert [ask(gateway, **ada).status_code, ask(gateway, **bob).status_code] == [200, 200]
    assert [ask(gateway, **ada).status_code, ask(gateway, **bob).status_code] == [429, 429]


def test_per_model_scope_and_the_strictest_rule_decides(gateway: RunningGateway) -> None:
    set_rules(
        gateway,
        {"limit": 10, "period": 60},
        {"name": "per model", "limit": 1, "period": 60, "scope": "model"},
    )
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert ask(gateway).status_code == 200
    assert gateway.http.post(CHAT, json=body).status_code == 200  # another model, another bucket
    refused = ask(gateway)
    assert refused.status_code == 429
    assert "per model" in refused.json()["error"]["message"]


def test_cache_hits_are_not_counted(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    set_rules(gateway, {"limit": 1, "period": 60}, cache_enabled=True)
    assert ask(gateway, "cached").headers["cf-aig-cache-status"] == "MISS"
    for _ in range(3):
        hit = ask(gateway, "cached")
        assert (hit.status_code, hit.headers["cf-aig-cache-status"]) == (200, "HIT")
    assert ask(gateway, "not cached").status_code == 429
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        ({"limit": 0, "period": 60}, "settings.rate_limits.0.limit"),
        ({"limit": 5, "period": -1}, "settings.rate_limits.0.period"),
        ({"limit": 5, "period": 60, "technique": "leaky"}, "settings.rate_limits.0.technique"),
        ({"limit": 5, "period": 60, "unit": "bytes"}, "settings.rate_limits.0.unit"),
        ({"limit": 5, "period": 60, "scope": "planet"}, "settings.rate_limits.0.scope"),
        ({"period": 60}, "settings.rate_limits.0.limit"),
    ],
)
def test_bad_rules_are_400s_naming_the_field(
    gateway: RunningGateway, rule: dict[str, Any], field: str
) -> None:
    response = set_rules(gateway, rule)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


async def test_two_gateways_sharing_redis_admit_exactly_the_limit(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, redis_url: str, tmp_path: Path
) -> None:
    replicas = [
        make_gateway(upstreams={"openai": fake.base_url}, cache_url=redis_url, data_dir=tmp_path / name)
        for name in ("a", "b")
    ]
    for replica in replicas:
        assert set_rules(replica, {"limit": 50, "period": 3600, "technique": "sliding"}).status_code == 200
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "load"}]}
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as client:
        answers = await asyncio.gather(
            *(client.post(replicas[n % 2].url + CHAT, json=body) for n in range(200))
        )
    statuses = [answer.status_code for answer in answers]
    assert statuses.count(200) == 50
    assert statuses.count(429) == 150
    assert len(fake.requests) == 50


@pytest.mark.parametrize(("policy", "status"), [("open", 200), ("closed", 503)])
def test_redis_down_follows_the_configured_policy(
    make_gateway: Callable[..., RunningGateway],
    fake: FakeOpenAI,
    own_redis: RedisProcess,
    policy: str,
    status: int,
) -> None:
    gateway = make_gateway(
        upstreams={"openai": fake.base_url}, cache_url=own_redis.url, rate_limit_failure=policy
    )
    set_rules(gateway, {"limit": 100, "period": 60})
    assert ask(gateway).status_code == 200
    own_redis.kill()
    answer = ask(gateway)
    assert answer.status_code == status
    if status == 503:
        assert "rate limiter is unavailable" in answer.json()["error"]["message"]


def test_a_refusal_to_wait_long_tells_the_sdks_not_to_retry(
    gateway: RunningGateway, clock: FakeClock
) -> None:
    """The JavaScript SDKs sleep whatever Retry-After says (an hour here, twice with their default
    two retries); `x-should-retry: false`, which they read first, makes them fail at once. A short
    wait is left to them."""
    clock.now = 1_800_000_000.0  # a multiple of 3600: the hour's window starts here
    set_rules(gateway, {"limit": 1, "period": 3600}, {"limit": 100, "period": 10})
    assert [ask(gateway).status_code for _ in range(2)] == [200, 429]
    refused = ask(gateway)
    assert (refused.headers["retry-after"], refused.headers["x-should-retry"]) == ("3600", "false")

    set_rules(gateway, {"limit": 1, "period": 30})
    clock.advance(3600)
    assert [ask(gateway).status_code for _ in range(2)] == [200, 429]
    short = ask(gateway)
    assert int(short.headers["retry-after"]) <= 30
    assert "x-should-retry" not in short.headers


def test_a_rule_keeps_its_count_when_rules_are_added_or_removed_before_it(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    daily = {"name": "daily", "limit": 3, "period": 86400}
    assert set_rules(gateway, daily).status_code == 200
    assert [ask(gateway).status_code for _ in range(3)] == [200] * 3
    per_user = {"name": "per user", "limit": 100, "period": 60, "scope": "metadata.user"}
    moved = set_rules(gateway, per_user, daily)
    assert moved.status_code == 200, moved.text
    assert ask(gateway).status_code == 429
    # A counter sent back with the rules (as read) is the gateway's to keep, not the client's.
    shown = moved.json()["settings"]["rate_limits"]
    swapped = [{**shown[0], "counter": shown[1]["counter"]}, {**shown[1], "counter": shown[0]["counter"]}]
    assert set_rules(gateway, *swapped).json()["settings"]["rate_limits"] == shown
    assert set_rules(gateway, daily).status_code == 200
    assert ask(gateway).status_code == 429
    assert set_rules(gateway, {**daily, "limit": 4}).status_code == 200  # a changed rule counts afresh
    assert ask(gateway).status_code == 200
    assert len(fake.requests) == 4


def test_counters_sent_with_new_rules_are_not_taken(gateway: RunningGateway) -> None:
    """Two rules sent naming one counter would count in one bucket, requests and tokens mixed."""
    rules = [
        {"limit": 5, "period": 60, "counter": "shared"},
        {"limit": 1000, "period": 60, "unit": "tokens", "counter": "shared"},
    ]
    created = gateway.http.post(
        "/api/v1/accounts/local/gateways", json={"name": "Counted", "settings": {"rate_limits": rules}}
    )
    assert created.status_code in (200, 201), created.text
    counters = [rule["counter"] for rule in created.json()["settings"]["rate_limits"]]
    assert "shared" not in counters
    assert len(set(counters)) == 2
    token = gateway.http.post(
        "/api/v1/accounts/local/tokens", json={"name": "t", "scopes": ["run"], "rules": rules}
    )
    assert token.status_code == 201, token.text
    assert "shared" not in [rule["counter"] for rule in token.json()["rules"]]
