"""The routing state contracts (tests/routing/*_contract.py: the store, circuits, key pools) on
Redis, the store replicas share, and how Redis expires a record.

Needs Redis on 127.0.0.1 (`redis_url` in tests/conftest.py: skipped without it, failed with
`SLUICEGATE_REQUIRE_SERVICES=1`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from sluicegate.routing.redis_state import RedisStateStore
from sluicegate.routing.state import Change, StateStore
from tests.routing.circuit_contract import *  # noqa: F403  (every contract test runs here)
from tests.routing.keypool_contract import *  # noqa: F403
from tests.routing.state_contract import *  # noqa: F403
from tests.routing.state_contract import NOW


@pytest.fixture
async def make_store(redis_url: str) -> AsyncIterator[Callable[[], StateStore]]:
    """Stores that share their records, as replicas do: each call is another connection to the
    same keys."""
    opened: list[StateStore] = []

    def make() -> StateStore:
        opened.append(RedisStateStore(redis_url))
        return opened[-1]

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
def store(make_store: Callable[[], StateStore]) -> StateStore:
    return make_store()


async def test_redis_expires_a_record_after_its_time_on_the_gateway_clock(redis_url: str) -> None:
    import redis.asyncio as redis

    store = RedisStateStore(redis_url)
    await store.update("a", lambda _: Change({"x": 1}, NOW + 30), NOW)
    await store.update("kept", lambda _: Change({"x": 1}), NOW)
    prefix = redis_url.split("prefix=")[1] + "route:"
    client = redis.Redis.from_url(redis_url.split("?")[0])
    try:
        assert 29_000 < await client.pttl(prefix + "a") <= 30_000
        assert await client.pttl(prefix + "kept") == -1  # no expiry
    finally:
        await client.aclose()
        await store.close()
