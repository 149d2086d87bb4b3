"""The store of Responses output items: per scope, kept `ttl` seconds after their last use, the
least recently used dropped first past `max_bytes`; in Redis, the same but for the byte bound."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from sluicegate.config import Settings
from sluicegate.storage import unshared_workers_warning
from sluicegate.storage.redis_response_items import SLOTS, RedisItemStore
from sluicegate.storage.response_items import (
    ENTRY_BYTES,
    ITEM_MAX_BYTES,
    ItemStore,
    ItemsUnavailable,
    MemoryItemStore,
    entry_bytes,
)
from tests.conftest import FakeClock


async def test_items_are_read_back_by_id_within_their_scope_only(clock: FakeClock) -> None:
    store = MemoryItemStore(1000, 60, clock)
    await store.put("acct/gw", {"msg_1": b"one", "fc_2": b"two"})
    assert await store.get("acct/gw", ["fc_2", "msg_1", "msg_9"]) == {"fc_2": b"two", "msg_1": b"one"}
    assert await store.get("acct/other", ["msg_1"]) == {}


async def test_an_item_lives_ttl_seconds_after_its_last_use(clock: FakeClock) -> None:
    store = MemoryItemStore(1000, 60, clock)
    await store.put("s", {"used": b"u", "unused": b"n"})
    clock.advance(50)
    assert await store.get("s", ["used"]) == {"used": b"u"}  # named again: 60 s more
    clock.advance(50)
    assert await store.get("s", ["used", "unused"]) == {"used": b"u"}
    clock.advance(61)
    assert await store.get("s", ["used"]) == {}


def entry(scope: str, item_id: str, data: bytes) -> int:
    return len(scope) + len(item_id) + len(data) + ENTRY_BYTES


async def test_past_its_bytes_the_least_recently_used_go_first(clock: FakeClock) -> None:
    store = MemoryItemStore(2 * entry("s", "a", b"aaaa") + 2, 60, clock)
    await store.put("s", {"a": b"aaaa", "b": b"bbbb"})
    assert await store.get("s", ["a"]) == {"a": b"aaaa"}  # b is now the least recently used
    await store.put("s", {"c": b"cccc"})
    assert await store.get("s", ["a", "b", "c"]) == {"a": b"aaaa", "c": b"cccc"}
    await store.put("s", {"big": b"x" * 900})  # more than the whole store: not kept
    assert await store.get("s", ["a", "big", "c"]) == {"a": b"aaaa", "c": b"cccc"}
    await store.put("s", {"a": b"aaaaa"})  # written again: its new bytes count, not the old
    assert await store.get("s", ["a", "c"]) == {"a": b"aaaaa", "c": b"cccc"}


async def test_each_entry_counts_its_key_and_what_the_store_spends_on_it(clock: FakeClock) -> None:
    """Many small items (function calls) are bounded by what they cost, not by their bytes alone."""
    store = MemoryItemStore(10 * entry("acct/gw", "fc_00", b"{}"), 60, clock)
    await store.put("acct/gw", {f"fc_{n:02}": b"{}" for n in range(25)})
    kept = await store.get("acct/gw", [f"fc_{n:02}" for n in range(25)])
    assert sorted(kept) == [f"fc_{n:02}" for n in range(15, 25)]  # the last ten written


async def test_an_item_over_its_own_bound_is_not_kept(clock: FakeClock) -> None:
    store = MemoryItemStore(4 * ITEM_MAX_BYTES, 60, clock)
    await store.put("s", {"huge": b"x" * (ITEM_MAX_BYTES + 1), "fits": b"x" * ITEM_MAX_BYTES})
    assert list(await store.get("s", ["huge", "fits"])) == ["fits"]


def test_workers_without_redis_are_warned_that_each_keeps_its_own_items_and_counts(
    make_settings: Callable[..., Settings],
) -> None:
    warning = unshared_workers_warning(make_settings(cache_url=""), 4)
    assert warning is not None
    assert "3 times in 4" in warning
    assert "stores.cache_url" in warning
    # Nor does any worker read a Replicate prediction left running (pipeline/jobs.py), items kept or not.
    assert "no worker reads a prediction left running" in warning
    no_items = unshared_workers_warning(make_settings(cache_url="", stores={"response_items_bytes": 0}), 4)
    assert no_items is not None
    assert "no worker reads a prediction left running" in no_items
    assert "item_reference" not in no_items
    assert unshared_workers_warning(make_settings(cache_url=""), 1) is None
    assert unshared_workers_warning(make_settings(cache_url="redis://127.0.0.1:6379/0"), 4) is None


def test_workers_without_redis_are_warned_that_limits_and_routing_state_are_per_worker(
    make_settings: Callable[..., Settings],
) -> None:
    """Each worker counts every rule on its own (durable_limiter.py) and keeps its own circuits and
    key health (routing/state.py): the warning said only items and predictions."""
    for response_items_bytes in (0, 1 << 20):
        stores = {"response_items_bytes": response_items_bytes}
        warning = unshared_workers_warning(make_settings(cache_url="", stores=stores), 3)
        assert warning is not None
        assert "rate-limit and budget counters" in warning
        assert "admits up to 3 times its amount" in warning
        assert "circuits and key pools' health" in warning


@pytest.fixture
async def redis_store(redis_url: str, clock: FakeClock) -> AsyncIterator[RedisItemStore]:
    store = RedisItemStore(redis_url, ttl=60, max_bytes=1024 * 1024, clock=clock)
    yield store
    await store.close()


async def every_key(store: RedisItemStore) -> dict[bytes, int]:
    """Each key the store wrote, with the ms it has left to live (-1: none set)."""
    client = store.link.client
    return {key: await client.pttl(key) async for key in client.scan_iter(match=store.link.prefix + "*")}


async def held(store: RedisItemStore) -> int:
    counters = [store.counter(store.slot() - back) for back in range(SLOTS + 1)]
    return sum(int(value) for value in await store.link.client.mget(counters) if value is not None)


async def test_redis_keeps_them_per_scope_and_gives_them_their_ttl_again(redis_store: RedisItemStore) -> None:
    store: ItemStore = redis_store
    await store.put("acct/gw", {"msg_1": b"one"})
    assert await store.get("acct/gw", ["msg_1", "msg_1", "nope"]) == {"msg_1": b"one"}
    assert await store.get("acct/other", ["msg_1"]) == {}
    key = redis_store.link.prefix + "acct/gw/msg_1"
    await redis_store.link.client.pexpire(key, 1000)
    await store.get("acct/gw", ["msg_1"])
    assert await redis_store.link.client.pttl(key) > 59_000


async def test_every_key_in_redis_expires(redis_store: RedisItemStore, clock: FakeClock) -> None:
    await redis_store.put("acct/gw", {"msg_1": b"one", "fc_2": b"two"})
    clock.advance(30)
    await redis_store.get("acct/gw", ["msg_1"])  # moved to the slot of now
    keys = await every_key(redis_store)
    assert len(keys) == 4  # two items, the counters of two slots
    assert all(0 < left <= 65_000 for left in keys.values())


async def test_redis_keeps_no_more_than_its_bytes(redis_url: str, clock: FakeClock) -> None:
    """They share Redis with the rate-limit counters, which Redis must not evict: once full, an
    answer's items are not kept (those kept stay), until the slots that counted the old ones pass."""
    item = b"x" * 1000
    store = RedisItemStore(redis_url, ttl=60, max_bytes=0, clock=clock)
    size = entry_bytes(store.link.prefix + "s/m00", b"%d:%b" % (store.slot(), item))
    store._max_bytes = 10 * size + size // 2
    try:
        for n in range(12):
            await store.put("s", {f"m{n:02}": item})
        kept = await store.get("s", [f"m{n:02}" for n in range(12)])
        assert sorted(kept) == [f"m{n:02}" for n in range(10)]
        assert await held(store) <= store._max_bytes
        clock.advance(65)  # by the count, the first ones have expired (Redis's own clock has not moved)
        await store.put("s", {"later": item})
        assert await store.get("s", ["later"]) == {"later": item}
        await store.put("s", {"huge": b"x" * (ITEM_MAX_BYTES + 1)})
        assert await store.get("s", ["huge"]) == {}
    finally:
        await store.close()


async def test_an_item_read_again_is_counted_once(redis_store: RedisItemStore, clock: FakeClock) -> None:
    await redis_store.put("s", {"a": b"aaaa", "b": b"bbbb"})
    written = await held(redis_store)
    for _ in range(6):
        clock.advance(15)  # three slots on: each read moves both to the slot of now
        assert await redis_store.get("s", ["a", "b"]) == {"a": b"aaaa", "b": b"bbbb"}
        assert await held(redis_store) == written
    clock.advance(65)  # their time to live and a slot on: no slot in the window holds them
    assert await held(redis_store) == 0


async def test_an_unreachable_redis_says_so(refused_port: int) -> None:
    store = RedisItemStore(f"redis://127.0.0.1:{refused_port}/0", ttl=60, max_bytes=1000)
    with pytest.raises(ItemsUnavailable):
        await store.put("s", {"a": b"a"})
    with pytest.raises(ItemsUnavailable):
        await store.get("s", ["a"])
    await store.close()
