"""Redis killed under a running gateway, then started again: each feature that uses Redis follows its
documented outage policy (docs/durability.md), no request waits on the dead server, and everything
works again once it is back, with nothing done by an operator.

    exact cache      bypassed: a miss, answered from upstream, not stored
    semantic cache   bypassed: a miss, its vectors kept
    rate limits      rate_limit_failure: open admits, closed answers 503
    circuits         not consulted: every target is tried
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import pytest
import redis

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_semantic import ready
from tests.redis_process import RedisProcess

# Latencies are bounded: no full GC pass over the heap earlier tests left in this process.
pytestmark = pytest.mark.usefixtures("still_heap")

QUESTION = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "what is a sluice gate"}]}
ROUTED = {"model": "dynamic/safe", "messages": [{"role": "user", "content": "hello"}]}
FAILING = "error-503"  # the route's first target: its circuit opens after 5 failures
# Seconds: an answer during the outage must not wait on Redis (its default retries take ~2 s). Not
# lower: with both cores busy, one answer in 25–30 runs took 0.6–1.05 s, the code of 959375f too.
FAST = 1.5


def chat(
    gateway: RunningGateway, slug: str, body: dict[str, Any], provider: str = "openai"
) -> httpx.Response:
    path = "compat/chat/completions" if provider == "compat" else "openai/chat/completions"
    return gateway.http.post(f"/v1/local/{slug}/{path}", json=body)


def ask_semantic(gateway: RunningGateway, question: str) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]}
    return chat(gateway, "sem", body)


def until(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def unreachable(gateway: RunningGateway) -> float:
    for line in gateway.http.get("/metrics").text.splitlines():
        if line.startswith("sluicegate_redis_unreachable "):
            return float(line.split()[1])
    raise AssertionError("no sluicegate_redis_unreachable in /metrics")


@pytest.mark.parametrize("policy", ["open", "closed"])
def test_redis_killed_then_restarted(
    own_redis: RedisProcess, make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, policy: str
) -> None:
    gateway = make_gateway(
        upstreams={"openai": fake.base_url}, cache_url=own_redis.url, rate_limit_failure=policy
    )
    routes = {"safe": {"fallback": [{"model": f"openai/{FAILING}"}, {"model": "openai/steady"}]}}
    own_settings = {
        "default": {"cache_enabled": True},
        # An hour's fixed window: a minute's boundary fell between the counted requests once (a slow
        # CI run), which split them over two windows: [200] * 4 + [429].
        "limited": {"rate_limits": [{"limit": 3, "period": 3600}]},
        "routed": {"routes": routes},
        "sem": {"semantic_cache_enabled": True},
    }
    for name, settings in own_settings.items():
        if name != "default":
            assert gateway.http.post("/api/v1/accounts/local/gateways", json={"name": name}).is_success
        url = f"/api/v1/accounts/local/gateways/{name}"
        assert gateway.http.patch(url, json={"settings": settings}).is_success
    ready(gateway)
    answered = {"default": 0, "limited": 0, "routed": 0, "sem": 0}

    def sent(slug: str, response: httpx.Response) -> httpx.Response:
        answered[slug] += 1
        return response

    def tried_failing() -> int:
        return sum(1 for r in fake.requests if r.json.get("model") == FAILING)

    # Before: every feature works through Redis.
    assert sent("default", chat(gateway, "default", QUESTION)).headers["cf-aig-cache-status"] == "MISS"
    assert sent("default", chat(gateway, "default", QUESTION)).headers["cf-aig-cache-status"] == "HIT"
    assert [sent("limited", chat(gateway, "limited", QUESTION)).status_code for _ in range(4)] == [
        200
    ] * 3 + [429]
    for _ in range(6):
        routed = sent("routed", chat(gateway, "routed", ROUTED, "compat"))
        assert routed.json().get("model") == "steady", routed.text
    assert tried_failing() == 5  # the circuit opened: the sixth skipped it
    assert sent("sem", ask_semantic(gateway, "How do I reset my password?")).status_code == 200
    until(
        lambda: (
            sent("sem", ask_semantic(gateway, "How can I reset my password?")).headers["x-semantic-cache"]
            == "HIT"
        ),
        "a semantic hit before the outage",
    )

    own_redis.kill()

    during: list[float] = []

    def timed(slug: str, body: dict[str, Any], provider: str = "openai") -> httpx.Response:
        started = time.perf_counter()
        response = sent(slug, chat(gateway, slug, body, provider))
        during.append(time.perf_counter() - started)
        return response

    upstream_before = len(fake.requests)
    bypassed = timed("default", QUESTION)
    assert bypassed.status_code == 200
    assert bypassed.headers["cf-aig-cache-status"] == "MISS"  # the cache is bypassed...
    assert len(fake.requests) == upstream_before + 1  # ...and the answer came from upstream
    streamed = timed("default", {**QUESTION, "stream": True})
    assert streamed.status_code == 200
    assert streamed.text.rstrip().endswith("data: [DONE]")
    limited = [timed("limited", QUESTION) for _ in range(4)]
    if policy == "open":
        assert [r.status_code for r in limited] == [200] * 4  # past the limit: nothing to count in
    else:
        assert [r.status_code for r in limited] == [503] * 4
        assert "rate limiter is unavailable" in limited[0].json()["error"]["message"]
    failing_before = tried_failing()
    assert timed("routed", ROUTED, "compat").json()["model"] == "steady"
    assert tried_failing() == failing_before + 1  # no circuit to consult: the target is tried
    paraphrase = sent("sem", ask_semantic(gateway, "How can I reset my password?"))
    assert paraphrase.status_code == 200
    assert paraphrase.headers["x-semantic-cache"] == "MISS"
    assert max(during) < FAST, during
    assert unreachable(gateway) >= 1
    purge = gateway.http.delete("/api/v1/accounts/local/gateways/default/cache")
    assert purge.status_code == 503
    assert "cannot be reached" in purge.json()["error"]["message"]

    own_redis.start()  # empty, as after a crash without persistence

    # After: each feature finds Redis again by itself.
    def cached_again() -> bool:
        return sent("default", chat(gateway, "default", QUESTION)).headers["cf-aig-cache-status"] == "HIT"

    until(cached_again, "an exact-cache hit after the restart")
    statuses: list[int] = []

    def limited_again() -> bool:
        response = sent("limited", chat(gateway, "limited", QUESTION))
        if "x-ratelimit-remaining" in response.headers or response.status_code == 429:
            statuses.append(response.status_code)  # counted in Redis again
        return response.status_code == 429

    until(limited_again, "the rate limit refusing again")
    assert statuses == [200] * 3 + [429]  # the counters start again from zero: exactly the limit

    def circuit_again() -> bool:
        failing = tried_failing()
        assert sent("routed", chat(gateway, "routed", ROUTED, "compat")).json()["model"] == "steady"
        return tried_failing() == failing  # skipped: the circuit reopened from state kept in Redis

    until(circuit_again, "the circuit opening again")
    until(
        lambda: (
            sent("sem", ask_semantic(gateway, "How can I reset my password?")).headers["x-semantic-cache"]
            == "HIT"
        ),
        "a semantic hit after the restart",
    )
    until(lambda: unreachable(gateway) == 0, "/metrics saying Redis is reachable")
    for slug, count in answered.items():  # every answer, refusals included, is in the logs
        assert len(gateway.wait_for_logs(count, slug)) == count, slug


def test_use_admitted_while_redis_stalled_counts_once_it_answers(
    own_redis: RedisProcess, make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    """Failing open admits a request unchecked, not uncharged: what a stream admitted while Redis
    stalled used is settled into the budget when it ends, Redis answering again by then (one that
    ends while Redis is still out is not: docs/limits.md)."""
    gateway = make_gateway(upstreams={"openai": fake.base_url}, cache_url=own_redis.url)
    gateway.configure(rate_limits=[{"limit": 1_000_000, "period": 86400, "unit": "tokens"}])
    assert gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "probe"}).is_success
    gateway.configure("probe", rate_limits=[{"limit": 1_000_000, "period": 3600}])
    stalled = redis.Redis.from_url(own_redis.url)
    stalled.execute_command("CLIENT", "PAUSE", 6000, "ALL")  # well past the limiter's read timeout
    stalled.close()
    streamed = {**QUESTION, "stream": True, "stream_options": {"include_usage": True}}
    with gateway.http.stream(
        "POST", "/v1/local/default/openai/chat/completions", json=streamed,
        headers={"x-fake-behavior": "pause-stream"},
    ) as answer:  # fmt: skip
        assert answer.status_code == 200  # admitted uncounted
        assert fake.first_chunk_sent.wait(10)
        resumed = redis.Redis.from_url(own_redis.url)
        resumed.execute_command("CLIENT", "UNPAUSE")
        resumed.close()
        # Requests on another gateway's request rule make the limiter try Redis again at once.
        until(lambda: chat(gateway, "probe", QUESTION) and unreachable(gateway) == 0, "Redis reachable")
        fake.release()
        events = [line for line in answer.iter_lines() if line.startswith("data: {")]
    used = json.loads(events[-1].removeprefix("data: "))["usage"]["total_tokens"]

    def budget_used() -> float:
        spend = gateway.http.get("/api/v1/accounts/local/spend", params={"by": "token"}).json()
        budgets = [b for b in spend["budgets"] if b["unit"] == "tokens"]  # none before a use counts
        return sum(float(budget["used"]) for budget in budgets)

    until(lambda: budget_used() == used, f"the budget counts the {used} tokens used")
