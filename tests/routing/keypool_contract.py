"""Key pools over the state store (`store`, or `make_store` for replicas sharing it): weighted
choice among named keys; disable a key its refusal said is invalid; rest a key for a target (a
model at a route) on another 401 or 403 for it; cool down on 429; next key.

Not collected itself: test_keypool.py runs every test here on the in-process store (conftest.py),
tests/integration/backends/test_redis_routing_state.py on Redis, with the slow tier.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest

from sluicegate.routing.keypool import (
    DEFAULT_COOLDOWN,
    MODEL_REST,
    KeyEvent,
    KeyPool,
    KeyPools,
    KeyStatus,
    RestTarget,
)
from sluicegate.routing.state import StateStore
from tests.conftest import FakeClock

POOL = "local/default/openai"
CHAT = "local/chat/completions"
KEYS = KeyPool.model_validate(
    {"keys": [{"name": "main", "weight": 3}, {"name": "spare"}, {"name": "backup", "weight": 0.5}]}
).keys


@pytest.fixture
def pools(store: StateStore, clock: FakeClock) -> KeyPools:
    return KeyPools(store, clock, random.Random(11).random)


def at(model: str | None, route: str = CHAT) -> RestTarget:
    return RestTarget(model, route)


async def names(
    pools: KeyPools, count: int, exclude: tuple[str, ...] = (), target: RestTarget | None = None
) -> Counter[str]:
    picks = [await pools.pick(POOL, KEYS, exclude, target) for _ in range(count)]
    return Counter(pick.key.name if pick.key else "-" for pick in picks)


async def test_keys_are_chosen_by_weight(pools: KeyPools) -> None:
    counts = await names(pools, 4500)
    # shares 3 : 1 : 0.5 of 4,500 are 3,000, 1,000 and 500; sd at most ~32
    assert abs(counts["main"] - 3000) < 160
    assert abs(counts["spare"] - 1000) < 160
    assert abs(counts["backup"] - 500) < 120


async def test_a_key_refused_as_invalid_is_disabled_until_enabled(pools: KeyPools, clock: FakeClock) -> None:
    event = await pools.report(POOL, "main", 401, invalid=True)
    assert event is not None
    assert (event.name, event.status, event.reason) == ("main", KeyStatus.DISABLED, "upstream answered 401")
    await pools.report(POOL, "spare", 403, invalid=True)
    clock.advance(10 * 86400)
    assert await names(pools, 50) == Counter({"backup": 50})
    await pools.report(POOL, "main", 429, retry_after=1)  # a disabled key stays disabled
    assert (await pools.health(POOL, KEYS))["main"].status is KeyStatus.DISABLED
    await pools.enable(POOL, "main")
    assert "main" in await names(pools, 50)


async def test_a_key_answered_429_cools_down_for_retry_after(pools: KeyPools, clock: FakeClock) -> None:
    event = await pools.report(POOL, "main", 429, retry_after=20)
    assert event is not None
    assert (event.status, event.until) == (KeyStatus.COOLING, clock.now + 20)
    assert "main" not in await names(pools, 100)
    clock.advance(19.9)
    assert "main" not in await names(pools, 100)
    clock.advance(0.1)
    assert "main" in await names(pools, 100)


async def test_without_retry_after_a_429_cools_for_a_minute(pools: KeyPools, clock: FakeClock) -> None:
    await pools.report(POOL, "main", 429)
    clock.advance(DEFAULT_COOLDOWN - 0.1)
    assert (await pools.health(POOL, KEYS))["main"].status is KeyStatus.COOLING
    clock.advance(0.1)
    assert (await pools.health(POOL, KEYS))["main"].status is KeyStatus.OK


async def test_a_shorter_second_429_does_not_cut_a_cooldown(pools: KeyPools, clock: FakeClock) -> None:
    await pools.report(POOL, "main", 429, retry_after=30)
    event = await pools.report(POOL, "main", 429, retry_after=5)
    assert event is not None
    assert event.until == clock.now + 30


async def test_the_request_moves_to_the_next_key(pools: KeyPools) -> None:
    tried: list[str] = []
    for _ in range(len(KEYS)):
        pick = await pools.pick(POOL, KEYS, exclude=tried)
        assert pick.key is not None
        tried.append(pick.key.name)
        await pools.report(POOL, pick.key.name, 429, retry_after=5)
    assert sorted(tried) == ["backup", "main", "spare"]
    last = await pools.pick(POOL, KEYS, exclude=tried)
    assert last.key is None


async def test_with_every_key_out_the_pick_says_when_one_frees(pools: KeyPools, clock: FakeClock) -> None:
    await pools.report(POOL, "main", 401, invalid=True)
    await pools.report(POOL, "spare", 429, retry_after=40)
    await pools.report(POOL, "backup", 429, retry_after=15)
    assert await pools.pick(POOL, KEYS) == (None, 15, False)
    await pools.report(POOL, "spare", 403, invalid=True)
    await pools.report(POOL, "backup", 401, invalid=True)
    assert await pools.pick(POOL, KEYS) == (None, None, False)


async def test_a_403_for_a_model_rests_the_key_for_that_model_only(pools: KeyPools, clock: FakeClock) -> None:
    event = await pools.report(POOL, "main", 403, target=at("gpt-5-pro"))
    assert event is not None
    assert (event.status, event.until) == (KeyStatus.RESTING, clock.now + MODEL_REST)
    assert "main" not in await names(pools, 50, target=at("gpt-5-pro"))
    assert "main" in await names(pools, 50, target=at("gpt-4o-mini"))
    assert "main" in await names(pools, 50)  # a request without a target
    assert (await pools.health(POOL, KEYS))["main"].status is KeyStatus.OK  # the key itself is fine
    for name in ("spare", "backup"):
        await pools.report(POOL, name, 403, target=at("gpt-5-pro"))
    pick = await pools.pick(POOL, KEYS, target=at("gpt-5-pro"))
    assert pick == (None, MODEL_REST, True)
    clock.advance(MODEL_REST)
    assert "main" in await names(pools, 50, target=at("gpt-5-pro"))  # tried again after the rest


async def test_a_refusal_not_said_to_be_of_the_key_rests_it_for_that_route_only(pools: KeyPools) -> None:
    """A 401 from a destination the client named (another Azure resource in the path) rests the
    key for that destination: the same model at the gateway's own resource still gets it."""
    event = await pools.report(
        POOL, "main", 401, target=at("gpt-4o", "local/elsewhere/gpt-4o/chat/completions")
    )
    assert event is not None
    assert event.status is KeyStatus.RESTING
    assert "main" not in await names(
        pools, 50, target=at("gpt-4o", "local/elsewhere/gpt-4o/chat/completions")
    )
    assert "main" in await names(pools, 50, target=at("gpt-4o", "local/ours/gpt-4o/chat/completions"))
    assert (await pools.health(POOL, KEYS))["main"].status is KeyStatus.OK


async def test_a_key_cooling_after_a_429_makes_no_key_for_a_model_a_429(pools: KeyPools) -> None:
    await pools.report(POOL, "main", 403, target=at("gpt-5-pro"))
    await pools.report(POOL, "spare", 429, retry_after=30)
    await pools.report(POOL, "backup", 401, invalid=True)
    assert await pools.pick(POOL, KEYS, target=at("gpt-5-pro")) == (None, 30, False)  # 429: retry in 30 s


async def test_a_long_model_name_is_neither_stored_nor_shown_whole(pools: KeyPools) -> None:
    model = "m" * 100_000
    event = await pools.report(POOL, "main", 403, target=at(model))
    assert event is not None
    assert len(event.reason) < 200
    assert "main" not in await names(pools, 20, target=at(model))
    assert "main" in await names(pools, 20, target=at(model[:-1]))


async def test_other_answers_change_nothing(pools: KeyPools) -> None:
    for status in (200, 400, 404, 500, 503):
        assert await pools.report(POOL, "main", status) is None
    assert {h.status for h in (await pools.health(POOL, KEYS)).values()} == {KeyStatus.OK}


async def test_replicas_share_key_health(make_store: Callable[[], StateStore], clock: FakeClock) -> None:
    one, two = KeyPools(make_store(), clock), KeyPools(make_store(), clock)
    await one.report(POOL, "main", 401, invalid=True)
    await one.report(POOL, "spare", 429)
    assert [h.status for h in (await two.health(POOL, KEYS)).values()] == [
        KeyStatus.DISABLED,
        KeyStatus.COOLING,
        KeyStatus.OK,
    ]


async def test_pools_are_separate(pools: KeyPools) -> None:
    await pools.report(POOL, "main", 401, invalid=True)
    other = await pools.health("local/default/anthropic", KEYS)
    assert other["main"].status is KeyStatus.OK


async def test_what_is_reported_and_stored_names_the_key_and_nothing_more(
    pools: KeyPools, store: StateStore, clock: FakeClock
) -> None:
    event = await pools.report(POOL, "main", 401, invalid=True)
    assert event == KeyEvent("main", KeyStatus.DISABLED, 0.0, "upstream answered 401")
    (record,) = await store.read([f"key:{POOL}/main"], clock.now)
    assert record == {"status": "disabled", "until": 0.0, "reason": "upstream answered 401"}
