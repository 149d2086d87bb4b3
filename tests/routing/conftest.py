"""The routing state store, in process and in Redis: every state test runs on both."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from sluicegate.routing.redis_state import RedisStateStore
from sluicegate.routing.state import MemoryStateStore, StateStore


@pytest.fixture(params=["memory", "redis"])
async def make_store(request: pytest.FixtureRequest) -> AsyncIterator[Callable[[], StateStore]]:
    """Stores that share their records, as replicas do: on Redis each call is another connection
    to the same keys; in process the one store is handed out each time."""
    opened: list[StateStore] = []
    shared = MemoryStateStore()
    url = request.getfixturevalue("redis_url") if request.param == "redis" else ""

    def make() -> StateStore:
        store: StateStore = RedisStateStore(url) if url else shared
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
def store(make_store: Callable[[], StateStore]) -> StateStore:
    return make_store()
