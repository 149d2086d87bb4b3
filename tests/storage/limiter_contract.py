"""The limiter contract: what every `Limiter` does alike, as tests that take the `limiter` fixture.

Not collected itself: each backend's module imports every test here and defines `limiter`,
tests/storage/test_limiter.py (in process) in the fast tier and
tests/integration/backends/test_redis_limiter.py after it.
"""

from __future__ import annotations

import asyncio

import pytest

from sluicegate.storage.limiter import Bucket, Claim, Limiter, Verdict


def bucket(
    key: str = "b", limit: float = 3, period: int = 10, sliding: bool = False, unit: str = "requests"
) -> Bucket:
    return Bucket(key, limit, period, sliding, unit)


async def admitted(limiter: Limiter, b: Bucket, times: list[float]) -> list[bool]:
    return [(await limiter.admit([Claim(b, 1)], t)).allowed for t in times]


async def reserve(limiter: Limiter, b: Bucket, amount: float, now: float) -> Verdict:
    return await limiter.admit([Claim(b, amount)], now)


async def test_fixed_window_resets_at_the_boundary(limiter: Limiter) -> None:
    b = bucket()
    assert await admitted(limiter, b, [100.0, 101.0, 109.0, 109.9]) == [True, True, True, False]
    assert await admitted(limiter, b, [110.0, 110.0, 110.5, 111.0]) == [True, True, True, False]


async def test_sliding_window_frees_room_as_requests_age(limiter: Limiter) -> None:
    b = bucket(sliding=True)
    assert await admitted(limiter, b, [100.0, 101.0, 102.0, 109.9]) == [True, True, True, False]
    verdict = await limiter.admit([Claim(b, 1)], 105.0)
    assert not verdict.allowed
    assert verdict.refused_by is not None
    assert verdict.refused_by.reset_after == pytest.approx(5.0)  # the request at 100 leaves at 110
    assert await admitted(limiter, b, [110.0, 110.5, 111.0, 112.0]) == [True, False, True, True]


async def test_a_refusal_counts_nothing_anywhere(limiter: Limiter) -> None:
    loose, tight = bucket("loose", limit=10), bucket("tight", limit=1)
    spend = bucket("spend", limit=1.0, unit="cost")
    both = [Claim(loose, 1), Claim(tight, 1), Claim(spend, 0.25)]
    assert (await limiter.admit(both, 5.0)).allowed
    for _ in range(3):
        assert not (await limiter.admit(both, 5.0)).allowed
    verdict = await limiter.admit([Claim(loose, 1), Claim(spend, 0.5)], 5.0)
    assert verdict.usages[0].used == 2  # the three refusals were not counted in `loose`
    assert verdict.usages[1].used == 0.75  # nor reserved anything in `spend`


async def test_a_reservation_must_fit_and_settling_replaces_it_with_the_use(limiter: Limiter) -> None:
    tokens = bucket("t", limit=100, unit="tokens")
    first = await reserve(limiter, tokens, 60, 1.0)
    assert first.allowed
    assert first.usages[0].used == 60  # the reservation counts at once
    assert [(h.bucket, h.amount) for h in first.holds] == [(tokens, 60)]
    assert not (await reserve(limiter, tokens, 60, 1.5)).allowed  # 60 + 60 > 100: refused before use
    await limiter.settle(first.holds, [25], 2.0)
    second = await reserve(limiter, tokens, 60, 2.0)
    assert second.allowed
    assert second.usages[0].used == 85  # 25 used + 60 reserved
    await limiter.settle(second.holds, [0], 3.0)  # failed: the reservation is released
    verdict = await reserve(limiter, tokens, 75, 3.0)
    assert verdict.allowed  # 25 + 75 fits exactly
    assert not (await reserve(limiter, tokens, 1, 3.0)).allowed


@pytest.mark.parametrize("sliding", [False, True])
async def test_a_reserved_request_counts_at_once_until_it_is_given_back(
    limiter: Limiter, sliding: bool
) -> None:
    """`reserve` (a dynamic route's limit node): a request's count that every claim sees at once,
    and that settling keeps (1) or takes back (0)."""
    requests = bucket("r", limit=2, sliding=sliding)
    first = await limiter.reserve([Claim(requests, 1)], 1.0)
    assert first.allowed
    assert [(h.bucket, h.amount) for h in first.holds] == [(requests, 1)]
    assert (await limiter.admit([Claim(requests, 1)], 1.5)).allowed
    assert not (await limiter.admit([Claim(requests, 1)], 1.5)).allowed  # the reserved one counts
    await limiter.settle(first.holds, [0], 2.0)  # given back
    kept = await limiter.reserve([Claim(requests, 1)], 2.0)
    assert kept.allowed
    assert kept.usages[0].used == 2
    await limiter.settle(kept.holds, [1], 2.5)  # kept
    (usage,) = await limiter.usage([requests], 3.0)
    assert usage.used == 2
    assert not (await limiter.reserve([Claim(requests, 1)], 3.0)).allowed
    tokens = bucket("t", limit=100, sliding=sliding, unit="tokens")
    held = await limiter.reserve([Claim(tokens, 60)], 3.0)  # a reservation, as `admit` makes it
    await limiter.settle(held.holds, [25], 3.5)
    assert (await limiter.usage([tokens], 4.0))[0].used == 25


async def test_requests_are_counted_without_holds(limiter: Limiter) -> None:
    verdict = await limiter.admit([Claim(bucket(), 1)], 1.0)
    assert verdict.allowed
    assert verdict.holds == ()


async def test_settling_after_the_fixed_window_turned_counts_in_the_new_window(limiter: Limiter) -> None:
    spend = bucket("usd", limit=1.0, period=10, unit="cost")
    held = await reserve(limiter, spend, 0.75, 8.0)
    await limiter.settle(held.holds, [0.5], 12.0)  # reserved in [0, 10), finished in [10, 20)
    verdict = await reserve(limiter, spend, 0.5, 12.0)
    assert verdict.allowed
    assert verdict.usages[0].used == pytest.approx(1.0)  # 0.5 used this window + 0.5 reserved
    assert not (await reserve(limiter, spend, 0.01, 13.0)).allowed


async def test_sliding_settlement_counts_the_use_from_when_it_ended(limiter: Limiter) -> None:
    spend = bucket("usd", limit=0.5, period=10, sliding=True, unit="cost")
    held = await reserve(limiter, spend, 0.4, 1.0)
    assert not (await reserve(limiter, spend, 0.2, 2.0)).allowed
    await limiter.settle(held.holds, [0.3], 4.0)
    assert (await reserve(limiter, spend, 0.2, 4.0)).allowed  # 0.3 + 0.2
    assert not (await reserve(limiter, spend, 0.1, 12.0)).allowed  # the 0.3 counts until 14
    later = await reserve(limiter, spend, 0.25, 14.5)  # the 0.2 reserved at 4 has left too
    assert later.allowed
    assert later.usages[0].used == pytest.approx(0.25)


async def test_a_reservation_that_aged_out_settles_only_its_use(limiter: Limiter) -> None:
    tokens = bucket("t", limit=100, period=10, sliding=True, unit="tokens")
    held = await reserve(limiter, tokens, 90, 1.0)
    await limiter.settle(held.holds, [30], 20.0)  # a request that ran longer than the window
    verdict = await reserve(limiter, tokens, 70, 20.0)
    assert verdict.allowed
    assert verdict.usages[0].used == 100


async def test_tiny_costs_add_up_without_float_drift(limiter: Limiter) -> None:
    spend = bucket("usd", limit=0.00001, period=60, sliding=True, unit="cost")
    for _ in range(10):  # ten reservations of a tenth of the budget, settled at a tenth
        held = await reserve(limiter, spend, 0.000001, 1.0)
        assert held.allowed
        await limiter.settle(held.holds, [0.000001], 1.0)
    verdict = await reserve(limiter, spend, 0.000001, 1.0)
    assert not verdict.allowed
    assert verdict.usages[0].used == pytest.approx(0.00001)


async def test_concurrent_reservations_never_exceed_the_limit(limiter: Limiter) -> None:
    spend = bucket("usd", limit=1.0, unit="cost")
    verdicts = await asyncio.gather(*(reserve(limiter, spend, 0.3, 1.0) for _ in range(20)))
    assert sum(v.allowed for v in verdicts) == 3


async def test_headers_figures(limiter: Limiter) -> None:
    b = bucket(limit=5, period=60)
    verdict = await limiter.admit([Claim(b, 1)], 130.0)
    assert verdict.usages[0].used == 1
    assert verdict.usages[0].remaining == 4
    assert verdict.usages[0].reset_after == pytest.approx(50.0)


async def test_a_claim_of_nothing_still_needs_room_left(limiter: Limiter) -> None:
    spend = bucket("usd", limit=1.0, unit="cost")
    assert (await reserve(limiter, spend, 0, 1.0)).allowed  # e.g. an unpriced model, allowed
    assert (await reserve(limiter, spend, 1.0, 1.0)).allowed
    assert not (await reserve(limiter, spend, 0, 1.0)).allowed  # the budget is spent


async def test_usage_reads_without_counting(limiter: Limiter) -> None:
    fixed, sliding = (
        bucket("f", limit=5, period=60),
        bucket("s", limit=1.0, period=10, sliding=True, unit="cost"),
    )
    held = await limiter.admit([Claim(fixed, 1), Claim(sliding, 0.25)], 130.0)
    await limiter.settle(held.holds, [0.125], 132.0)
    for _ in range(2):  # reading twice: nothing was counted by the first read
        first, second = await limiter.usage([fixed, sliding], 135.0)
        assert (first.used, first.remaining, first.reset_after) == (1, 4, pytest.approx(45.0))
        assert (second.used, second.reset_after) == (0.125, pytest.approx(7.0))  # counts until 142
    assert [u.used for u in await limiter.usage([bucket("never")], 135.0)] == [0]
