"""The limiter contract (tests/storage/limiter_contract.py) on Redis: the counters replicas share;
and decisions and settlements made together share script calls.

Needs Redis on 127.0.0.1 (`redis_url` in tests/conftest.py: skipped without it, failed with
`SLUICEGATE_REQUIRE_SERVICES=1`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest
import redis

from sluicegate.storage.limiter import Bucket, Claim, Limiter, LimiterUnavailable, Verdict
from sluicegate.storage.redis_limiter import RedisLimiter
from tests.fakes.tcp_proxy import TcpProxy
from tests.redis_process import RedisProcess
from tests.storage.limiter_contract import *  # noqa: F403  (every contract test runs here)


@pytest.fixture
async def limiter(redis_url: str) -> AsyncIterator[Limiter]:
    backend = RedisLimiter(redis_url)
    await backend.open()
    yield backend
    await backend.close()


def evalsha_calls(server: RedisProcess) -> int:
    with redis.Redis.from_url(server.url) as client:
        stats = client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


@pytest.fixture
async def own_limiter(own_redis: RedisProcess) -> AsyncIterator[RedisLimiter]:
    """A limiter on a Redis of the test's own, its script loaded: its calls are the only ones."""
    backend = RedisLimiter(own_redis.url)
    await backend.open()
    warm_up = await backend.admit([Claim(Bucket("warm-up", 1e9, 60, False, "tokens"), 1)], 1.0)
    await backend.settle(warm_up.holds, [1], 1.0)
    yield backend
    await backend.close()


@pytest.mark.parametrize("sliding", [False, True])
async def test_decisions_made_together_share_calls_and_count_exactly(
    own_limiter: RedisLimiter, own_redis: RedisProcess, sliding: bool
) -> None:
    requests = Bucket("together", limit=25, period=60, sliding=sliding)
    before = evalsha_calls(own_redis)
    verdicts = await asyncio.gather(*(own_limiter.admit([Claim(requests, 1)], 2.0) for _ in range(40)))
    # The first goes alone; the 39 made while it was on their way go together in the next call,
    # each decided as if alone, in order: the first 25 admitted.
    assert [verdict.allowed for verdict in verdicts] == [True] * 25 + [False] * 15
    assert [verdict.usages[0].used for verdict in verdicts[:25]] == list(range(1, 26))
    assert evalsha_calls(own_redis) - before == 2


async def test_settlements_made_together_share_calls(
    own_limiter: RedisLimiter, own_redis: RedisProcess
) -> None:
    tokens = Bucket("settled", limit=1000, period=60, sliding=False, unit="tokens")
    holds = [(await own_limiter.admit([Claim(tokens, 30)], 2.0)).holds for _ in range(20)]
    before = evalsha_calls(own_redis)
    await asyncio.gather(*(own_limiter.settle(held, [index], 3.0) for index, held in enumerate(holds)))
    assert evalsha_calls(own_redis) - before == 2
    (usage,) = await own_limiter.usage([tokens], 3.0)
    assert usage.used == sum(range(20))  # every reservation of 30 replaced by its use


async def test_closing_sends_the_settlements_queued(own_redis: RedisProcess) -> None:
    tokens = Bucket("closing", limit=1000, period=60, sliding=False, unit="tokens")
    limiter = RedisLimiter(own_redis.url)
    holds = [(await limiter.admit([Claim(tokens, 30)], 2.0)).holds for _ in range(10)]
    settling = [asyncio.create_task(limiter.settle(held, [1], 3.0)) for held in holds]
    await asyncio.sleep(0)  # the first is on its way, the others queued behind it
    await limiter.close()
    after = RedisLimiter(own_redis.url)
    try:
        (usage,) = await after.usage([tokens], 3.0)  # read before the settling tasks run on
    finally:
        await after.close()
    await asyncio.gather(*settling)
    assert usage.used == 10  # each reservation of 30 replaced by its use, 1


async def test_a_decision_whose_key_cannot_be_used_fails_alone(
    own_limiter: RedisLimiter, own_redis: RedisProcess
) -> None:
    good = Bucket("good", limit=100, period=60, sliding=False)
    spoilt = Bucket("spoilt", limit=100, period=60, sliding=True)
    with redis.Redis.from_url(own_redis.url) as client:
        client.rpush("sluicegate:rl:spoilt", "not a sorted set")  # WRONGTYPE for the script
    claims = [[Claim(good, 1)], [Claim(good, 1)], [Claim(spoilt, 1)], [Claim(good, 1)], [Claim(good, 1)]]
    verdicts = await asyncio.gather(*(own_limiter.admit(c, 2.0) for c in claims), return_exceptions=True)
    spoilt_error = verdicts.pop(2)
    assert isinstance(spoilt_error, LimiterUnavailable)
    assert "WRONGTYPE" in str(spoilt_error)
    assert [v.usages[0].used for v in verdicts if isinstance(v, Verdict)] == [1, 2, 3, 4]
    assert not own_limiter.link.down  # Redis answered: no outage, the next call goes at once
    assert (await own_limiter.admit([Claim(good, 1)], 2.0)).usages[0].used == 5


async def test_a_decision_whose_caller_left_while_it_waited_is_not_counted(
    own_limiter: RedisLimiter, own_redis: RedisProcess
) -> None:
    requests = Bucket("left", limit=100, period=60, sliding=False)
    first = asyncio.create_task(own_limiter.admit([Claim(requests, 1)], 2.0))
    await asyncio.sleep(0)  # the first is on its way to Redis
    left = asyncio.create_task(own_limiter.admit([Claim(requests, 1)], 2.0))
    await asyncio.sleep(0)  # queued behind it
    left.cancel()
    assert (await first).usages[0].used == 1
    third = await own_limiter.admit([Claim(requests, 1)], 2.0)
    assert third.usages[0].used == 2  # the one that left was never sent
    assert left.cancelled()


async def test_settlements_redis_did_not_answer_count_once_each_when_it_is_back(redis_url: str) -> None:
    """One settlement ran but its answer was lost (Redis stalled), one never reached Redis (cut):
    both are kept and sent again at the clean close, and each use counts once."""
    parts = urlsplit(redis_url)
    assert parts.hostname is not None
    assert parts.port is not None
    tokens = Bucket("lost", limit=1000, period=86400, sliding=False, unit="tokens")
    with TcpProxy((parts.hostname, parts.port)) as proxy:
        limiter = RedisLimiter(f"redis://127.0.0.1:{proxy.port}{parts.path}?{parts.query}")
        await limiter.open()
        answer_lost = await limiter.admit([Claim(tokens, 100)], 2.0)  # the admit script loaded
        warm_up = await limiter.admit([Claim(Bucket("warm-up", 1000, 60, False, "tokens"), 1)], 2.0)
        await limiter.settle(warm_up.holds, [1], 2.0)  # the settle script loaded, so the next runs
        never_sent = await limiter.admit([Claim(tokens, 100)], 2.0)
        with proxy.holding_replies(), pytest.raises(LimiterUnavailable):
            await limiter.settle(answer_lost.holds, [30], 3.0)  # Redis settles it; the answer stalls
        with proxy.cut(), pytest.raises(LimiterUnavailable):
            await limiter.settle(never_sent.holds, [40], 3.0)
        for _ in range(100):  # until this limiter tries Redis again (it pauses a second after a failure)
            try:
                (before,) = await limiter.usage([tokens], 3.0)
                break
            except LimiterUnavailable:
                await asyncio.sleep(0.05)
        else:
            raise AssertionError("Redis never answered again")
        await limiter.close()
    assert before.used == 30 + 100  # the first use; the second's reservation still held
    after = RedisLimiter(redis_url)
    try:
        (usage,) = await after.usage([tokens], 3.0)
    finally:
        await after.close()
    assert usage.used == 30 + 40  # both uses, once each; no reservation left


async def used_now(limiter: RedisLimiter, bucket: Bucket, now: float) -> float:
    """What an admission counts in `bucket` (settled use and the reservations' running total): a
    claim of nothing, which counts nothing itself."""
    verdict = await limiter.admit([Claim(bucket, 0)], now)
    return verdict.usages[0].used


async def until_used(limiter: RedisLimiter, bucket: Bucket, now: float, expected: float) -> None:
    """Until an admission counts `expected`: a lease ends on Redis's clock, which the test waits for."""
    for _ in range(500):
        if await used_now(limiter, bucket, now) == expected:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"an admission never counted {expected}")


@pytest.mark.parametrize("sliding", [False, True])
async def test_a_lapsed_reservation_settled_within_the_grace_counts_its_use_once(
    redis_url: str, sliding: bool
) -> None:
    """A reservation stops counting when its lease ends (fixed window) or it is a period old
    (sliding); its settlement, sent twice, still counts the use once, and does not take its amount
    off the running total a second time: the live reservation beside it still counts."""
    tokens = Bucket("lapsed", limit=1000, period=60, sliding=sliding, unit="tokens")
    # Never opened, so nothing renews its reservation: a lease of 50 ms ends; a sliding one ages.
    dead = RedisLimiter(redis_url, lease=30.0 if sliding else 0.05)
    limiter = RedisLimiter(redis_url)
    await limiter.open()
    try:
        lapsing = await dead.admit([Claim(tokens, 600)], 1.0)
        await limiter.admit([Claim(tokens, 100)], 50.0 if sliding else 1.0)
        later = 61.5 if sliding else 2.0  # the 600, made at 1, is a period old at 61.5 (sliding)
        await until_used(limiter, tokens, later, 100)
        for _ in range(2):  # a settlement Redis ran but whose answer was lost is sent again
            await limiter.settle(lapsing.holds, [250], later)
            assert await used_now(limiter, tokens, later) == 250 + 100
    finally:
        await limiter.close()
        await dead.close()


async def test_the_reservations_total_is_zero_once_all_are_settled(redis_url: str) -> None:
    """Costs of very different sizes, reserved together and settled at nothing in another order:
    taken off the running total one by one they would leave 5.5e-16 (Redis's floats), and the set
    never empties (each read here leaves a reservation of nothing); yet nothing is left counted,
    and the whole budget fits again."""
    spend = Bucket("drift", limit=20_000.0, period=60, sliding=False, unit="cost")
    amounts = [
        1782.37810926513, 0.032628507733624, 0.2896690553552999, 0.005359356248338598,
        0.13370055490271512, 3190.781999448487, 3.948980098582996e-08, 4.2629937871385444e-08,
        4842.726219739357, 474.58616212592824,
    ]  # fmt: skip
    settled = [8, 3, 9, 5, 7, 0, 1, 4, 6, 2]  # the order of their settlements
    limiter = RedisLimiter(redis_url)
    await limiter.open()
    try:
        verdicts = await asyncio.gather(*(limiter.admit([Claim(spend, amount)], 1.0) for amount in amounts))
        assert await used_now(limiter, spend, 1.0) == pytest.approx(sum(amounts))
        for index in settled:
            await limiter.settle(verdicts[index].holds, [0], 1.0)
        assert await used_now(limiter, spend, 1.0) == 0.0
        whole = await limiter.admit([Claim(spend, 20_000.0)], 1.0)
        assert whole.allowed
        assert whole.usages[0].used == 20_000.0
    finally:
        await limiter.close()


async def test_a_lapsed_reservation_whose_answer_still_runs_counts_again_once_renewed(redis_url: str) -> None:
    """Its lease ended (Redis unreachable, or its process stalled, for a lease) and an admission
    stopped counting it; the process renews it: it counts again, and settles once."""
    tokens = Bucket("renewed", limit=1000, period=86400, sliding=False, unit="tokens")
    stalled = RedisLimiter(redis_url, lease=0.05)  # not opened: renewed below, once
    limiter = RedisLimiter(redis_url)
    await limiter.open()
    try:
        held = await stalled.admit([Claim(tokens, 600)], 1.0)
        await until_used(limiter, tokens, 1.0, 0)
        stalled.leases.lease_ms = 600_000  # renewed for ten minutes: it stays live while read
        await stalled.leases.renew()
        assert await used_now(limiter, tokens, 1.0) == 600
        await stalled.settle(held.holds, [250], 1.0)
        assert await used_now(limiter, tokens, 1.0) == 250
    finally:
        await limiter.close()
        await stalled.close()


def script_time(server: RedisProcess) -> float:
    """Microseconds Redis has spent running EVALSHA (a script's whole run) so far."""
    with redis.Redis.from_url(server.url) as client:
        return float(client.info("commandstats").get("cmdstat_evalsha", {}).get("usec", 0))


@pytest.mark.usefixtures("still_heap")
async def test_an_admission_does_not_read_every_reservation_in_flight(
    own_limiter: RedisLimiter, own_redis: RedisProcess
) -> None:
    """3,000 answers in flight against one daily budget (across replicas): an admission in that
    bucket costs Redis's single thread no more than one in an empty bucket. Reading each live
    reservation made it about 2 us per reservation: 6 ms here, for every request."""
    budget = Bucket("daily", limit=1e12, period=86400, sliding=False, unit="tokens")
    empty = Bucket("empty", limit=1e12, period=86400, sliding=False, unit="tokens")
    for _ in range(6):
        await asyncio.gather(*(own_limiter.admit([Claim(budget, 600)], 2.0) for _ in range(500)))

    async def median_time(bucket: Bucket) -> float:
        times = []
        for _ in range(15):
            before = script_time(own_redis)
            verdict = await own_limiter.admit([Claim(bucket, 600)], 2.0)
            times.append(script_time(own_redis) - before)
            await own_limiter.settle(verdict.holds, [9], 2.0)
        return sorted(times)[len(times) // 2]

    quiet, busy = await median_time(empty), await median_time(budget)
    assert (await used_now(own_limiter, budget, 2.0)) == 3000 * 600 + 15 * 9
    assert busy < 3 * quiet + 300, (quiet, busy)
