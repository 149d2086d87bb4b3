"""The state store contract: reads, atomic updates, concurrent updates from several replicas
(`store`, or `make_store` for stores sharing their records).

Not collected itself: test_state.py runs every test here on the in-process store (conftest.py),
tests/integration/backends/test_redis_routing_state.py on Redis, with the slow tier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sluicegate.routing.state import Change, Record, StateStore

NOW = 1_800_000_000.0


def increment(current: Record | None) -> Change:
    return Change({"n": (current or {"n": 0})["n"] + 1}, NOW + 60)


async def test_a_record_is_read_back_and_missing_ones_are_none(store: StateStore) -> None:
    assert await store.update("a", lambda _: Change({"state": "open", "until": 12.5}), NOW) == {
        "state": "open",
        "until": 12.5,
    }
    assert await store.read(["a", "b"], NOW) == [{"state": "open", "until": 12.5}, None]
    assert await store.read([], NOW) == []


async def test_an_update_sees_the_stored_record_and_can_leave_or_forget_it(store: StateStore) -> None:
    await store.update("a", increment, NOW)
    seen: list[Record | None] = []

    def look(current: Record | None) -> None:
        seen.append(current)

    assert await store.update("a", look, NOW) == {"n": 1}
    assert seen == [{"n": 1}]
    assert await store.update("a", lambda _: Change(None), NOW) is None
    assert await store.read(["a"], NOW) == [None]


async def test_concurrent_updates_from_several_replicas_all_count(
    make_store: Callable[[], StateStore],
) -> None:
    replicas = [make_store() for _ in range(4)]
    await asyncio.gather(*(replicas[i % 4].update("shared", increment, NOW) for i in range(40)))
    assert await replicas[0].read(["shared"], NOW) == [{"n": 40}]
