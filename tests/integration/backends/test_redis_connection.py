"""One Redis client per process: every Redis feature of a gateway shares the one `connect_redis`
makes from `cache_url`, each under its own key prefix, and closing a feature leaves it open.

Needs Redis on 127.0.0.1 (`redis_url` in tests/conftest.py: skipped without it, failed with
`SLUICEGATE_REQUIRE_SERVICES=1`).
"""

from __future__ import annotations

from pathlib import Path

from sluicegate.app import create_semantic_cache, create_state_store
from sluicegate.config import load_settings
from sluicegate.routing.redis_state import RedisStateStore
from sluicegate.storage import connect_redis, create_cache, create_limiter
from sluicegate.storage.cache import CacheEntry
from sluicegate.storage.redis_cache import RedisCache
from sluicegate.storage.redis_limiter import RedisLimiter
from sluicegate.storage.sqlite import SqliteDatabase


async def test_every_redis_feature_shares_one_client(redis_url: str, tmp_path: Path) -> None:
    settings = load_settings(environ={}, data_dir=tmp_path / "data", cache_url=redis_url)
    redis = connect_redis(settings)
    assert redis is not None
    database = SqliteDatabase(tmp_path / "sluicegate.db")
    cache = create_cache(settings, database, redis)
    limiter = create_limiter(settings, redis)
    state = create_state_store(redis)
    assert isinstance(cache, RedisCache)
    assert isinstance(limiter, RedisLimiter)
    assert isinstance(state, RedisStateStore)
    feed = create_semantic_cache(settings, cache, redis, clock=lambda: 0.0)._feed
    assert feed is not None
    links = [cache.link, limiter.link, state.link, feed._link]
    assert all(link.client is redis.client for link in links)
    prefix = redis_url.split("prefix=", 1)[1]
    assert [link.prefix for link in links] == [
        f"{prefix}{s}" for s in ("cache:", "rl:", "route:", "semantic")
    ]

    await cache.open()
    await cache.close()  # a feature closing does not close the shared client...
    await limiter.close()
    await state.close()
    await cache.put("k", CacheEntry(200, (), b"still open", False, 1.0, 0.0, expires_at=2e9))
    assert await redis.client.exists(f"{prefix}cache:k") == 1
    await redis.close()  # ...its owner does, once
