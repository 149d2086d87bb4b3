"""The limiter contract (limiter_contract.py) on the in-process backend, and what only it does;
Redis's run is tests/integration/backends/test_redis_limiter.py, with the slow tier."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluicegate.storage.limiter import Claim, Limiter, MemoryLimiter
from tests.storage.limiter_contract import *  # noqa: F403  (every contract test runs here)
from tests.storage.limiter_contract import bucket, reserve


@pytest.fixture
async def limiter() -> AsyncIterator[Limiter]:
    backend = MemoryLimiter()
    await backend.open()
    yield backend
    await backend.close()


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
        if (await memory.admit([Claim(b, 1)], now)).allowed:
            admitted_at.append(now)
    for start in admitted_at:  # every window that begins at an admission is the worst case
        assert sum(1 for t in admitted_at if start <= t < start + period) <= limit


async def test_settled_reservations_leave_nothing_behind_in_process() -> None:
    memory = MemoryLimiter()
    tokens = bucket("t", limit=1e9, period=60, sliding=True, unit="tokens")
    for n in range(1000):  # a busy window: it never empties
        held = await reserve(memory, tokens, 10, 1.0 + n / 100)
        await memory.settle(held.holds, [5], 1.0 + n / 100)
    assert memory._sliding[tokens.key].held == {}  # only open reservations are kept
