"""The exact cache in Redis: stores made while one is on its way share a round trip, and what
Redis answers (or fails) reaches every store of the batch. Needs Redis on 127.0.0.1 (skipped
without it or redis-cli, failed with `SLUICEGATE_REQUIRE_SERVICES=1`)."""

from __future__ import annotations

import asyncio
import shutil

import pytest
import redis
from bench.redis_probe import RedisProbe

from sluicegate.storage.cache import CacheEntry, CacheUnavailable
from sluicegate.storage.redis_cache import RedisCache
from tests.conftest import REDIS_URL, require_service


def _entry(n: int, ttl: float = 60.0) -> CacheEntry:
    return CacheEntry(200, (("content-type", "application/json"),), b"answer %d" % n, False, 1.0, 0.0, ttl)


@pytest.fixture
def probe() -> RedisProbe:
    if shutil.which("redis-cli") is None:
        require_service("redis-cli", "not installed")
    probe = RedisProbe.for_url(REDIS_URL)
    try:
        probe.ping()
    except Exception as exc:  # RedisUnavailable
        require_service("Redis", str(exc))
    return probe


def test_stores_made_together_share_one_round_trip(probe: RedisProbe) -> None:
    async def store_twenty() -> None:
        cache = RedisCache(probe.gateway_url)
        try:
            await asyncio.gather(*(cache.put(f"k{n}", _entry(n)) for n in range(20)))
        finally:
            await cache.close()

    async def read_twenty() -> list[CacheEntry | None]:
        cache = RedisCache(probe.gateway_url)
        try:
            return [await cache.get(f"k{n}", now=1.0) for n in range(20)]
        finally:
            await cache.close()

    try:
        # One script call for the twenty, and its NOSCRIPT try the first time on this Redis.
        assert probe.round_trips(lambda: asyncio.run(store_twenty())) <= 2
        found = asyncio.run(read_twenty())
        assert [entry.body if entry else None for entry in found] == [b"answer %d" % n for n in range(20)]
        ttl = redis.Redis.from_url(probe.url).pttl(f"{probe.prefix}cache:k0")
        assert 60_000 < ttl <= 120_000  # the entry's 60 s and a minute's grace
    finally:
        probe.cleanup()


async def test_a_store_that_fails_fails_every_store_of_its_batch(refused_port: int) -> None:
    cache = RedisCache(f"redis://127.0.0.1:{refused_port}/0")
    try:
        stores = (cache.put(f"k{n}", _entry(n)) for n in range(5))
        results = await asyncio.gather(*stores, return_exceptions=True)
        assert all(isinstance(result, CacheUnavailable) for result in results), results
    finally:
        await cache.close()


async def test_close_waits_for_the_stores_under_way(probe: RedisProbe) -> None:
    cache = RedisCache(probe.gateway_url)
    try:
        stores = [asyncio.create_task(cache.put(f"late{n}", _entry(n))) for n in range(3)]
        await asyncio.sleep(0)  # they are queued, not yet answered
        await cache.close()
        assert all(store.done() for store in stores)
        client = redis.Redis.from_url(probe.url)
        assert client.exists(*(f"{probe.prefix}cache:late{n}" for n in range(3))) == 3
    finally:
        probe.cleanup()
