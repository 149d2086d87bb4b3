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
from sluicegate.storage.cache_admission import Lookup
from sluicegate.storage.limiter import Bucket, Claim
from sluicegate.storage.redis_cache import RedisCache
from sluicegate.storage.redis_cache_admission import RedisCacheAdmission
from sluicegate.storage.redis_limiter import RedisLimiter
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
            await cache.put("warm-up", _entry(0))  # the script is loaded, a connection open
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
        # The warm-up (and its NOSCRIPT try, on a Redis that has not seen the script), then the
        # first of the twenty alone (nothing was on its way), then the nineteen together.
        assert probe.round_trips(lambda: asyncio.run(store_twenty())) <= 4
        assert probe.round_trips(lambda: asyncio.run(store_twenty())) == 3
        found = asyncio.run(read_twenty())
        assert [entry.body if entry else None for entry in found] == [b"answer %d" % n for n in range(20)]
        ttl = redis.Redis.from_url(probe.url).pttl(f"{probe.prefix}cache:k0")
        assert 60_000 < ttl <= 120_000  # the entry's 60 s and a minute's grace
    finally:
        probe.cleanup()


async def test_stores_that_cannot_reach_redis_each_raise_the_caches_error(refused_port: int) -> None:
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


def test_lookups_made_together_are_each_decided_as_if_alone(probe: RedisProbe) -> None:
    """Hits and misses with one, two or no bucket, in one script call: each gets its own entry or
    verdict, and a full bucket refuses only the lookups that count in it."""
    now = 1_000.0
    tight = Bucket("tight", limit=2, period=60, sliding=False)
    roomy = Bucket("roomy", limit=100, period=60, sliding=True)
    asked: list[tuple[str, list[Claim]]] = [
        ("stored", [Claim(tight, 1)]),  # a hit: nothing counted
        ("new-1", [Claim(tight, 1)]),
        ("new-2", [Claim(tight, 1), Claim(roomy, 1)]),
        ("new-3", [Claim(tight, 1)]),  # the third in `tight`: refused
        ("new-4", [Claim(roomy, 1)]),
        ("stored", [Claim(roomy, 1), Claim(tight, 1)]),  # a hit again, whatever the buckets
    ]

    async def look_up(asking: list[tuple[str, list[Claim]]], store: bool) -> list[Lookup]:
        cache, limiter = RedisCache(probe.gateway_url), RedisLimiter(probe.gateway_url)
        admission = RedisCacheAdmission(cache, limiter)
        try:
            if store:
                await cache.put("stored", _entry(7, ttl=2_000.0))
            return list(await asyncio.gather(*(admission.lookup_or_admit(k, c, now) for k, c in asking)))
        finally:
            await cache.close()
            await limiter.close()

    found: list[Lookup] = []
    try:
        # The entry stored and both scripts loaded first, so that only the lookups are counted.
        asyncio.run(look_up([("warm-up", [Claim(roomy, 0)])], store=True))
        trips = probe.round_trips(lambda: found.extend(asyncio.run(look_up(asked, store=False))))
        assert trips == 2  # the first alone (nothing was on its way), then the five others together
        entries = [lookup.entry.body if lookup.entry else None for lookup in found]
        assert entries == [b"answer 7", None, None, None, None, b"answer 7"]
        verdicts = [lookup.admission.verdict.allowed if lookup.admission else None for lookup in found]
        assert verdicts == [None, True, True, False, True, None]
        second = found[2].admission
        assert second is not None
        assert [(usage.bucket.key, usage.used) for usage in second.verdict.usages] == [
            ("tight", 2),
            ("roomy", 1),
        ]
    finally:
        probe.cleanup()
