"""Redis round trips per request (issue 26): the exact cache's lookup and the request rules'
decision share one, a token check makes none; and the decision is the one the rate-limit stage
made on its own (hits uncounted, the limit exact under concurrency).

Counted with MONITOR on a second connection to a Redis of the test's own: every command a client
sends shows up as one line (the commands a script runs show as `lua`: not round trips), so the
commands counted bound the round trips from above."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import openai
import pytest
import redis

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_semantic import stored
from tests.redis_process import RedisProcess

CHAT = "/v1/local/default/openai/chat/completions"
PLENTY = {"name": "plenty", "limit": 1000, "period": 60}
# The semantic cache's replicas follow each other's stores with a blocking read, once a second
# whatever the requests: not a request's round trip.
BACKGROUND = frozenset({"XREAD"})
HANDSHAKE = frozenset({"HELLO", "CLIENT", "AUTH", "SELECT"})  # what a new connection sends first


class RedisCommands:
    """The commands clients send one Redis, as MONITOR on a connection of its own sees them."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(url, decode_responses=True)
        self._monitor = self._client.monitor()
        self._monitor.__enter__()

    def during(self, action: Callable[[], Any]) -> list[str]:
        """The commands (their names) sent while `action` ran."""
        self._through_marker()
        action()
        return self._through_marker()

    def _through_marker(self) -> list[str]:
        """The commands since the last call: MONITOR lists them in the order the server ran them,
        so an ECHO sent now marks where they end."""
        marker = uuid.uuid4().hex
        self._client.echo(marker)
        names = []
        while (seen := self._monitor.next_command())["command"] != f"ECHO {marker}":
            name = seen["command"].split(" ", 1)[0].upper()
            if seen["client_type"] != "lua" and name not in BACKGROUND:
                names.append(name)
        return names

    def close(self) -> None:
        self._monitor.__exit__()
        self._client.close()


@pytest.fixture
def commands(own_redis: RedisProcess) -> Iterator[RedisCommands]:
    seen = RedisCommands(own_redis.url)
    yield seen
    seen.close()


def on_redis(make_gateway: Callable[..., RunningGateway], url: str, **settings: Any) -> RunningGateway:
    gateway = make_gateway(upstreams={"openai": url}, cache_url=settings.pop("cache_url"))
    saved = gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings})
    assert saved.status_code == 200, saved.text
    return gateway


def ask(gateway: RunningGateway, question: str, status: int = 200, **headers: str) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]}
    answer = httpx.post(gateway.url + CHAT, json=body, headers=headers)
    assert answer.status_code == status, answer.text
    return answer


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, own_redis: RedisProcess
) -> RunningGateway:
    return on_redis(
        make_gateway, fake.base_url, cache_url=own_redis.url, cache_enabled=True, rate_limits=[PLENTY]
    )


def test_a_miss_under_a_request_rule_is_looked_up_and_counted_in_one_round_trip(
    gateway: RunningGateway, commands: RedisCommands
) -> None:
    ask(gateway, "warm-up: the scripts are loaded, the connections open")
    sent = commands.during(lambda: ask(gateway, "a new question"))
    # The lookup with the decision, then the answer stored (a script too: stores made together
    # share one call) once the upstream has given it.
    assert sent == ["EVALSHA", "EVALSHA"], sent


async def test_misses_made_together_share_round_trips(
    gateway: RunningGateway, fake: FakeOpenAI, commands: RedisCommands
) -> None:
    ask(gateway, "warm-up: the scripts are loaded, the connections open")
    client = openai.AsyncOpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)

    async def forty_at_once() -> list[str]:
        async with client:
            answers = await asyncio.gather(
                *(
                    client.chat.completions.create(
                        model="slow-300", messages=[{"role": "user", "content": f"question {n}"}]
                    )
                    for n in range(40)
                )
            )
        return [answer.choices[0].message.content or "" for answer in answers]

    answered: list[list[str]] = []
    sent = await asyncio.to_thread(commands.during, lambda: answered.append(asyncio.run(forty_at_once())))
    assert len(answered[0]) == 40
    # One at a time, each would take two: a lookup and a store (80). The forty answers come back
    # together (the upstream takes 300 ms over each), so their stores go in a few calls, and
    # lookups made while one is on its way go together too (8 here, alone; 45 with only the
    # stores together).
    # A call made while the pool's connections are all busy opens one more, whose handshake
    # (`HELLO`) is that connection's, once: it is let through, and still counted below.
    assert set(sent) - HANDSHAKE == {"EVALSHA"}, sent
    assert len(sent) <= 30, sent
    assert len(fake.requests) == 41


def test_a_hit_under_a_request_rule_takes_one_round_trip(
    gateway: RunningGateway, commands: RedisCommands
) -> None:
    assert ask(gateway, "asked twice").headers["cf-aig-cache-status"] == "MISS"
    sent = commands.during(lambda: ask(gateway, "asked twice"))
    assert len(sent) <= 1, sent


def test_a_token_check_takes_no_round_trip(
    make_gateway: Callable[..., RunningGateway],
    fake: FakeOpenAI,
    own_redis: RedisProcess,
    commands: RedisCommands,
) -> None:
    gateway = on_redis(make_gateway, fake.base_url, cache_url=own_redis.url, authentication=True)
    created = gateway.http.post("/api/v1/accounts/local/tokens", json={"name": "runner", "scopes": ["run"]})
    auth = {"cf-aig-authorization": f"Bearer {created.json()['token']}"}
    ask(gateway, "the token's first use", **auth)
    assert commands.during(lambda: [ask(gateway, f"question {n}", **auth) for n in range(3)]) == []
    ask(gateway, "no token", status=401)


async def test_a_request_answered_by_an_identical_one_it_waited_for_is_not_counted(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, own_redis: RedisProcess
) -> None:
    rule = {"limit": 3, "period": 3600}
    gateway = on_redis(
        make_gateway, fake.base_url, cache_url=own_redis.url, cache_enabled=True, rate_limits=[rule]
    )
    client = openai.AsyncOpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)
    question = [{"role": "user", "content": "asked ten times at once"}]
    async with client:
        answers = await asyncio.gather(
            *(client.chat.completions.create(model="slow-300", messages=question) for _ in range(10))  # type: ignore[arg-type]
        )
    assert len({answer.id for answer in answers}) == 1
    assert len(fake.requests) == 1
    # One request counted (the one that went upstream): two more fit, the next does not.
    for n, status in enumerate((200, 200, 429)):
        ask(gateway, f"another question {n}", status=status)


def test_a_semantic_hit_after_an_exact_miss_is_not_counted(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, own_redis: RedisProcess
) -> None:
    rule = {"limit": 3, "period": 3600}
    gateway = on_redis(
        make_gateway,
        fake.base_url,
        cache_url=own_redis.url,
        cache_enabled=True,
        semantic_cache_enabled=True,
        rate_limits=[rule],
    )
    ask(gateway, "How do I reset my password?")
    stored(gateway, 1)
    hits = [ask(gateway, "How can I reset my password?").headers for _ in range(3)]
    assert hits[0]["x-semantic-cache"] == "HIT"  # the next two may be exact hits of what it served
    assert [h["cf-aig-cache-status"] for h in hits] == ["HIT"] * 3
    assert len(fake.requests) == 1
    ask(gateway, "Tell me a joke about cats")
    ask(gateway, "What is the capital of France?")
    ask(gateway, "One more than the limit", status=429)


async def test_two_replicas_admit_exactly_the_limit_with_the_cache_on(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, redis_url: str, tmp_path: Path
) -> None:
    rule = {"limit": 50, "period": 3600, "technique": "sliding"}
    replicas = [
        make_gateway(upstreams={"openai": fake.base_url}, cache_url=redis_url, data_dir=tmp_path / name)
        for name in ("a", "b")
    ]
    for replica in replicas:
        settings = {"cache_enabled": True, "rate_limits": [rule]}
        assert replica.http.patch(
            "/api/v1/accounts/local/gateways/default", json={"settings": settings}
        ).is_success
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=200)) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    replicas[n % 2].url + CHAT,
                    json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question {n}"}]},
                )
                for n in range(200)
            )
        )
    statuses = [answer.status_code for answer in answers]
    assert (statuses.count(200), statuses.count(429)) == (50, 150)
    assert len(fake.requests) == 50


@pytest.mark.parametrize(("policy", "status"), [("open", 200), ("closed", 503)])
def test_redis_down_bypasses_the_cache_and_follows_the_limit_policy(
    make_gateway: Callable[..., RunningGateway],
    fake: FakeOpenAI,
    own_redis: RedisProcess,
    policy: str,
    status: int,
) -> None:
    gateway = make_gateway(
        upstreams={"openai": fake.base_url}, cache_url=own_redis.url, rate_limit_failure=policy
    )
    settings = {"cache_enabled": True, "rate_limits": [PLENTY]}
    assert gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": settings}
    ).is_success
    ask(gateway, "asked before and during the outage")
    own_redis.kill()
    answer = ask(gateway, "asked before and during the outage", status=status)
    if status == 200:
        assert answer.headers["cf-aig-cache-status"] == "MISS"
        assert len(fake.requests) == 2
    else:
        assert "rate limiter is unavailable" in answer.json()["error"]["message"]
        assert len(fake.requests) == 1
