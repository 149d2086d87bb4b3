"""The routing state store the tests here run on: the in-process one. The same contracts
(*_contract.py) run on Redis in tests/integration/backends/test_redis_routing_state.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from sluicegate.routing.state import MemoryStateStore, StateStore


@pytest.fixture
async def make_store() -> AsyncIterator[Callable[[], StateStore]]:
    """Stores that share their records, as replicas do: in process the one store is handed out
    each time."""
    shared = MemoryStateStore()
    yield lambda: shared
    await shared.close()


@pytest.fixture
def store(make_store: Callable[[], StateStore]) -> StateStore:
    return make_store()
