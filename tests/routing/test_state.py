"""The state store contract (state_contract.py, run here on the in-process store), what only the
in-process store does (expiry and its size bound), and an unreachable Redis (no server needed)."""

from __future__ import annotations

import pytest

from sluicegate.routing.redis_state import RedisStateStore
from sluicegate.routing.state import Change, MemoryStateStore, StateUnavailable
from tests.routing.state_contract import *  # noqa: F403  (every contract test runs here)
from tests.routing.state_contract import NOW, increment


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


async def test_a_flood_of_expiring_records_does_not_push_out_one_that_never_expires() -> None:
    store = MemoryStateStore(max_keys=3)
    await store.update("disabled", lambda _: Change({"status": "disabled"}), NOW)
    for index in range(10):  # e.g. keys resting for many client-chosen model names
        await store.update(f"rest{index}", lambda _: Change({"status": "cooling"}, NOW + 600), NOW)
    assert await store.read(["disabled"], NOW) == [{"status": "disabled"}]
    assert sum(r is not None for r in await store.read([f"rest{i}" for i in range(10)], NOW)) == 2


async def test_an_unreachable_redis_is_reported_as_unavailable() -> None:
    store = RedisStateStore("redis://127.0.0.1:1/0")
    with pytest.raises(StateUnavailable):
        await store.read(["a"], NOW)
    with pytest.raises(StateUnavailable):
        await store.update("a", increment, NOW)
    await store.close()
