"""The state store contract: reads, atomic updates, forgetting, expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from sluicegate.routing.redis_state import RedisStateStore
from sluicegate.routing.state import Change, MemoryStateStore, Record, StateStore, StateUnavailable

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


async def test_the_in_process_store_forgets_a_record_when_it_expires() -> None:
    store = MemoryStateStore()
    await store.update("a", lambda _: Change({"x": 1}, NOW + 10), NOW)
    await store.update("kept", lambda _: Change({"x": 2}), NOW)
    assert await store.read(["a", "kept"], NOW + 9.9) == [{"x": 1}, {"x": 2}]
    assert await store.read(["a", "kept"], NOW + 10) == [None, {"x": 2}]


async def test_the_in_process_store_stays_within_its_size() -> None:
    store = MemoryStateStore(max_keys=3)
    for index in range(3):
        await store.update(f"old{index}", lambda _: Change({"x": 1}, NOW + 1), NOW)
    await store.update("new", lambda _: Change({"x": 1}), NOW + 5)  # the three old ones have expired
    assert await store.read(["old0", "old1", "old2", "new"], NOW + 5) == [None, None, None, {"x": 1}]
    for index in range(5):
        await store.update(f"k{index}", lambda _: Change({"x": 1}), NOW)
    assert sum(r is not None for r in await store.read([f"k{i}" for i in range(5)], NOW)) == 3


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


async def test_an_unreachable_redis_is_reported_as_unavailable() -> None:
    store = RedisStateStore("redis://127.0.0.1:1/0")
    with pytest.raises(StateUnavailable):
        await store.read(["a"], NOW)
    with pytest.raises(StateUnavailable):
        await store.update("a", increment, NOW)
    await store.close()
