"""The store of Responses output items: per scope, kept `ttl` seconds after their last use, the
least recently used dropped first past `max_bytes`; in Redis, the same but for the byte bound."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from sluicegate.storage.redis_response_items import RedisItemStore
from sluicegate.storage.response_items import ItemStore, ItemsUnavailable, MemoryItemStore
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


async def test_past_its_bytes_the_least_recently_used_go_first(clock: FakeClock) -> None:
    store = MemoryItemStore(10, 60, clock)
    await store.put("s", {"a": b"aaaa", "b": b"bbbb"})
    assert await store.get("s", ["a"]) == {"a": b"aaaa"}  # b is now the least recently used
    await store.put("s", {"c": b"cccc"})
    assert await store.get("s", ["a", "b", "c"]) == {"a": b"aaaa", "c": b"cccc"}
    await store.put("s", {"big": b"x" * 11})  # more than the whole store: not kept
    assert await store.get("s", ["a", "big", "c"]) == {"a": b"aaaa", "c": b"cccc"}
    await store.put("s", {"a": b"A"})  # written again: its new bytes count, not the old
    assert await store.get("s", ["a", "c"]) == {"a": b"A", "c": b"cccc"}


@pytest.fixture
async def redis_store(redis_url: str) -> AsyncIterator[RedisItemStore]:
    store = RedisItemStore(redis_url, ttl=60)
    yield store
    await store.close()


async def test_redis_keeps_them_per_scope_and_gives_them_their_ttl_again(redis_store: RedisItemStore) -> None:
    store: ItemStore = redis_store
    await store.put("acct/gw", {"msg_1": b"one"})
    assert await store.get("acct/gw", ["msg_1", "msg_1", "nope"]) == {"msg_1": b"one"}
    assert await store.get("acct/other", ["msg_1"]) == {}
    key = redis_store.link.prefix + "acct/gw/msg_1"
    await redis_store.link.client.pexpire(key, 1000)
    await store.get("acct/gw", ["msg_1"])
    assert await redis_store.link.client.pttl(key) > 59_000


async def test_an_unreachable_redis_says_so(refused_port: int) -> None:
    store = RedisItemStore(f"redis://127.0.0.1:{refused_port}/0", ttl=60)
    with pytest.raises(ItemsUnavailable):
        await store.put("s", {"a": b"a"})
    with pytest.raises(ItemsUnavailable):
        await store.get("s", ["a"])
    await store.close()
