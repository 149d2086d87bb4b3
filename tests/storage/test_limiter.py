"""The limiter contract, run against the in-process backend and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluicegate.storage.limiter import Bucket, Limiter, MemoryLimiter
from sluicegate.storage.redis_limiter import RedisLimiter


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[Limiter]:
    backend: Limiter
    if request.param == "memory":
        backend = MemoryLimiter()
    else:
        backend = RedisLimiter(request.getfixturevalue("redis_url"))
    await backend.open()
    yield backend
    await backend.close()


def bucket(
    key: str = "b", limit: float = 3, period: int = 10, sliding: bool = False, unit: str = "requests"
) -> Bucket:
    return Bucket(key, limit, period, sliding, unit)


async def admitted(limiter: Limiter, b: Bucket, times: list[float]) -> list[bool]:
    return [(await limiter.admit([b], t)).allowed for t in times]


async def test_fixed_window_resets_at_the_boundary(limiter: Limiter) -> None:
    b = bucket()
    assert await admitted(limiter, b, [100.0, 101.0, 109.0, 109.9]) == [True, True, True, False]
    assert await admitted(limiter, b, [110.0, 110.0, 110.5, 111.0]) == [True, True, True, False]


async def test_sliding_window_frees_room_as_requests_age(limiter: Limiter) -> None:
    b = bucket(sliding=True)
    assert await admitted(limiter, b, [100.0, 101.0, 102.0, 109.9]) == [True, True, True, False]
    verdict = await limiter.admit([b], 105.0)
    assert not verdict.allowed
    assert verdict.refused_by is not None
    assert verdict.refused_by.reset_after == pytest.approx(5.0)  # the request at 100 leaves at 110
    assert await admitted(limiter, b, [110.0, 110.5, 111.0, 112.0]) == [True, False, True, True]


async def test_a_refusal_counts_nothing_anywhere(limiter: Limiter) -> None:
    loose, tight = bucket("loose", limit=10), bucket("tight", limit=1)
    assert (await limiter.admit([loose, tight], 5.0)).allowed
    for _ in range(3):
        assert not (await limiter.admit([loose, tight], 5.0)).allowed
    verdict = await limiter.admit([loose], 5.0)
    assert verdict.usages[0].used == 2  # the three refusals were not counted in `loose`


async def test_tokens_admit_while_under_the_limit_and_are_charged_later(limiter: Limiter) -> None:
    tokens = bucket("t", limit=100, unit="tokens")
    assert (await limiter.admit([tokens], 1.0)).allowed
    await limiter.charge(tokens, 60, 1.0)
    assert (await limiter.admit([tokens], 2.0)).allowed  # 60 < 100: admitted, even if it will overshoot
    await limiter.charge(tokens, 60, 2.0)
    verdict = await limiter.admit([tokens], 3.0)
    assert not verdict.allowed
    assert verdict.usages[0].used == 120
    assert (await limiter.admit([tokens], 10.0)).allowed  # next window


async def test_sliding_cost_budget(limiter: Limiter) -> None:
    spend = bucket("usd", limit=0.5, sliding=True, unit="cost")
    await limiter.charge(spend, 0.3, 1.0)
    await limiter.charge(spend, 0.25, 4.0)
    assert not (await limiter.admit([spend], 5.0)).allowed
    assert (await limiter.admit([spend], 11.5)).allowed  # the 0.3 spent at 1.0 has left the window


async def test_headers_figures(limiter: Limiter) -> None:
    b = bucket(limit=5, period=60)
    verdict = await limiter.admit([b], 130.0)
    assert verdict.usages[0].used == 1
    assert verdict.usages[0].remaining == 4
    assert verdict.usages[0].reset_after == pytest.approx(50.0)


@settings(max_examples=60, deadline=None)
@given(
    limit=st.integers(min_value=1, max_value=5),
    period=st.integers(min_value=1, max_value=20),
    gaps=st.lists(st.floats(min_value=0, max_value=6, allow_nan=False), min_size=1, max_size=40),
)
async def test_sliding_window_never_admits_more_than_the_limit_in_any_period(
    limit: int, period: int, gaps: list[float]
) -> None:
    memory = MemoryLimiter()
    b = bucket(limit=limit, period=period, sliding=True)
    now, admitted_at = 1000.0, []
    for gap in gaps:
        now += gap
        if (await memory.admit([b], now)).allowed:
            admitted_at.append(now)
    for start in admitted_at:  # every window that begins at an admission is the worst case
        assert sum(1 for t in admitted_at if start <= t < start + period) <= limit
