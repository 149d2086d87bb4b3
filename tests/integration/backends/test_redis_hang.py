"""A Redis that hangs (it accepts and never answers: SIGSTOP, a frozen host, a partition): once a
call has timed out, one call at a time tries Redis again and waits for the timeout; every other
call meanwhile takes its feature's outage policy at once, also one that would have waited behind
that try's batch. Before, each call after a pause went to Redis (or queued behind the one that
did) and waited for its own timeout: with a rule, a gateway's traffic fell to a few requests a
second. Redis is hung by a proxy that holds every byte (`TcpProxy.stalled`); the pause is 0, so
the call after a failure is a try.
Needs Redis on 127.0.0.1 (skipped without it, failed with `SLUICEGATE_REQUIRE_SERVICES=1`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import pytest

from sluicegate.storage import redis_link
from sluicegate.storage.cache import CacheEntry, CacheUnavailable
from sluicegate.storage.limiter import Bucket, Claim, LimiterUnavailable
from sluicegate.storage.redis_cache import RedisCache
from sluicegate.storage.redis_cache_admission import RedisCacheAdmission
from sluicegate.storage.redis_limiter import RedisLimiter
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.tcp_proxy import TcpProxy

READ_TIMEOUT = 0.5  # seconds: a try (a new connection's handshake, tried twice) takes twice that
NOW = 1_000.0
BUCKET = Bucket("hung", limit=1000, period=3600, sliding=False)


@pytest.fixture
def hung_redis(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TcpProxy, str]]:
    """A proxy to the test's Redis, and its URL (with the test's prefix)."""
    monkeypatch.setattr(redis_link, "READ_TIMEOUT", READ_TIMEOUT)
    monkeypatch.setattr(redis_link, "PAUSE", 0.0)
    parts = urlsplit(redis_url)
    assert parts.hostname is not None
    assert parts.port is not None
    with TcpProxy((parts.hostname, parts.port)) as proxy:
        yield proxy, f"redis://127.0.0.1:{proxy.port}{parts.path}?{parts.query}"


async def only_the_try_waits(call: Callable[[], Awaitable[Any]], unavailable: type[Exception]) -> None:
    """With Redis hung and known down: the first of six calls at once tries it, and is still
    waiting for its timeout when the five others have failed with `unavailable`."""
    trying = asyncio.create_task(call())
    others = [asyncio.create_task(call()) for _ in range(5)]
    started = time.monotonic()
    await asyncio.wait(others)
    assert not trying.done()  # the others did not wait for the try
    assert time.monotonic() - started < READ_TIMEOUT
    for other in others:
        assert isinstance(other.exception(), unavailable)
    with pytest.raises(unavailable):
        await trying


async def test_decisions_take_the_policy_at_once_while_one_tries_a_hung_redis(
    hung_redis: tuple[TcpProxy, str],
) -> None:
    proxy, url = hung_redis
    limiter = RedisLimiter(url)
    await limiter.open()
    try:
        assert (await limiter.admit([Claim(BUCKET, 1)], NOW)).allowed  # a connection open
        with proxy.stalled():
            with pytest.raises(LimiterUnavailable):  # in flight as it hung: waits for its timeout
                await limiter.admit([Claim(BUCKET, 1)], NOW)
            await only_the_try_waits(lambda: limiter.admit([Claim(BUCKET, 1)], NOW), LimiterUnavailable)
        assert (await limiter.admit([Claim(BUCKET, 1)], NOW)).allowed  # a try finds it back
        assert not limiter.link.down
    finally:
        await limiter.close()


async def test_cache_lookups_take_the_policy_at_once_while_one_tries_a_hung_redis(
    hung_redis: tuple[TcpProxy, str],
) -> None:
    proxy, url = hung_redis
    cache = RedisCache(url)
    admission = RedisCacheAdmission(cache, RedisLimiter(url))
    entry = CacheEntry(200, (), b"{}", False, 1.0, NOW, NOW + 60)
    try:
        await cache.put("answer", entry)
        assert (await cache.get("answer", NOW)) is not None
        with proxy.stalled():
            with pytest.raises(CacheUnavailable):
                await cache.get("answer", NOW)
            await only_the_try_waits(lambda: cache.get("answer", NOW), CacheUnavailable)
            # The lookup that also decides the rules (one batched script call) alike.
            await only_the_try_waits(
                lambda: admission.lookup_or_admit("other", [Claim(BUCKET, 1)], NOW), CacheUnavailable
            )
        assert (await cache.get("answer", NOW)) is not None
    finally:
        await cache.close()


def test_a_gateway_with_a_rule_answers_at_once_while_redis_hangs(
    hung_redis: tuple[TcpProxy, str], make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    """The report's case: traffic under a rule, Redis stopped (SIGSTOP). Fail-open admits each
    request uncounted; only the request that tries Redis again waits for it."""
    proxy, url = hung_redis
    gateway = make_gateway(upstreams={"openai": fake.base_url}, cache_url=url)
    rules = {"rate_limits": [{"limit": 1000, "period": 3600}]}
    assert gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": rules}).is_success
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hello"}]}

    def timed() -> tuple[int, float]:
        started = time.monotonic()
        status = gateway.http.post("/v1/local/default/openai/chat/completions", json=body).status_code
        return status, time.monotonic() - started

    assert timed()[0] == 200
    with proxy.stalled():
        assert timed()[0] == 200  # the first after the hang waits for the read timeout, admitted
        with ThreadPoolExecutor(20) as pool:
            answers = list(pool.map(lambda _: timed(), range(20)))
    assert [status for status, _ in answers] == [200] * 20
    waits = sorted(seconds for _, seconds in answers)
    # One request tries Redis (two handshakes, 2 × READ_TIMEOUT); before, all 20 waited for it.
    assert waits[-2] < READ_TIMEOUT, waits
