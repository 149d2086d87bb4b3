"""The read-through cache of gateways, tokens and keys keeps answering while its database is down
or hangs, and a change made here is never overwritten by a refresh that was under way."""

from __future__ import annotations

import asyncio

import pytest

from sluicegate import readthrough
from sluicegate.errors import DatabaseUnavailable
from sluicegate.readthrough import STALE_WAIT, ReadThrough


class Database:
    def __init__(self) -> None:
        self.value = "v1"
        self.down = False
        self.hang = asyncio.Event()
        self.hang.set()
        self.loads = self.done = 0
        self.answered = asyncio.Condition()

    async def load(self, key: str) -> str:
        self.loads += 1
        value = f"{key}:{self.value}"  # read when asked: a hanging load answers what was there
        await self.hang.wait()
        async with self.answered:
            self.done += 1
            self.answered.notify_all()
        if self.down:
            raise ConnectionError("the database is down")
        return value


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a test of a database that answers at once: requests wait for its refresh up to 5 s, not
    50 ms of real time (STALE_WAIT), which a loaded machine can let pass before the refresh runs,
    and then answer the expired value. The tests of a slow database keep the real wait."""
    monkeypatch.setattr(readthrough, "STALE_WAIT", 5.0)


async def test_an_expired_value_is_answered_while_the_database_is_down(patient: None) -> None:
    database, clock = Database(), Clock()
    cache = ReadThrough(database.load, ttl=1.0, clock=clock)
    assert await cache.get("g") == "g:v1"
    database.down, clock.now = True, 5.0
    assert await cache.get("g") == "g:v1"  # no error: the known value
    assert database.loads == 2
    assert await cache.get("g") == "g:v1"  # kept for another ttl: not tried again at once
    assert database.loads == 2
    database.down, database.value, clock.now = False, "v2", 10.0
    assert await cache.get("g") == "g:v2"


async def test_a_hanging_database_costs_one_request_at_most_the_stale_wait() -> None:
    database, clock = Database(), Clock()
    cache = ReadThrough(database.load, ttl=1.0, clock=clock)
    await cache.get("g")
    database.hang.clear()
    clock.now = 5.0
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await cache.get("g") == "g:v1"
    assert loop.time() - started < STALE_WAIT * 4
    started = loop.time()
    assert await cache.get("g") == "g:v1"  # the refresh is under way: answered at once
    assert loop.time() - started < STALE_WAIT / 2
    assert database.loads == 2
    database.hang.set()


async def test_a_change_made_here_is_not_overwritten_by_a_refresh_under_way() -> None:
    database, clock = Database(), Clock()
    cache = ReadThrough(database.load, ttl=1.0, clock=clock)
    await cache.get("g")
    database.hang.clear()
    clock.now = 5.0
    await cache.get("g")  # starts a refresh that hangs
    cache.forget("g")  # e.g. the gateway was changed through this process
    database.value = "v2"
    database.hang.set()
    assert await cache.get("g") == "g:v2"
    async with database.answered:  # the old refresh has its answer too: it must not be kept
        await database.answered.wait_for(lambda: database.done == 3)
    clock.now = 5.5  # within the ttl of the fresh value
    assert await cache.get("g") == "g:v2"
    assert database.loads == 3


async def test_a_first_lookup_waits_for_the_database() -> None:
    database = Database()
    cache = ReadThrough(database.load, ttl=1.0, clock=Clock())
    database.down = True
    with pytest.raises(DatabaseUnavailable) as refused:  # nothing known: nothing else to answer
        await cache.get("new")
    assert refused.value.status == 503
    assert isinstance(refused.value.__cause__, ConnectionError)
    assert database.loads == 1


class Gated:
    """A database whose reads wait at a gate the test opens: `asked` is set once a read has begun,
    `answered` as one returns."""

    def __init__(self) -> None:
        self.value = "v1"
        self.loads = 0
        self.asked = asyncio.Event()
        self.gate = asyncio.Event()
        self.gate.set()
        self.answered = asyncio.Event()
        self.down = False

    async def load(self, key: str) -> str:
        self.loads += 1
        self.asked.set()
        await self.gate.wait()
        self.answered.set()
        if self.down:
            raise ConnectionError("the database is down")
        return f"{key}:{self.value}"


async def expired_cache(database: Gated, clock: Clock) -> ReadThrough[str, str]:
    """A cache holding g:v1 and left idle past its ttl; the database now holds v2 behind a shut gate."""
    cache = ReadThrough(database.load, ttl=1.0, clock=clock)
    assert await cache.get("g") == "g:v1"
    database.value, clock.now = "v2", 60.0
    database.gate.clear()
    database.asked.clear()
    database.answered.clear()
    return cache


async def test_a_burst_after_idle_sees_the_refreshed_value_from_one_read(patient: None) -> None:
    database, clock = Gated(), Clock()
    cache = await expired_cache(database, clock)
    first = [asyncio.create_task(cache.get("g")) for _ in range(25)]
    await database.asked.wait()  # the refresh has begun: the first 25 are waiting on it
    later = [asyncio.create_task(cache.get("g")) for _ in range(25)]
    database.gate.set()
    assert await asyncio.gather(*first, *later) == ["g:v2"] * 50
    assert database.loads == 2  # the first load and one refresh for the whole burst


async def test_a_slow_database_answers_a_burst_with_the_expired_value_within_the_wait() -> None:
    database, clock = Gated(), Clock()
    cache = await expired_cache(database, clock)
    loop = asyncio.get_running_loop()
    started = loop.time()
    burst = [asyncio.create_task(cache.get("g")) for _ in range(50)]
    assert await asyncio.gather(*burst) == ["g:v1"] * 50  # the gate is still shut
    assert loop.time() - started < STALE_WAIT * 4
    started = loop.time()
    assert await cache.get("g") == "g:v1"  # the refresh is known slow: no more waiting for it
    assert loop.time() - started < STALE_WAIT / 2
    assert database.loads == 2
    database.gate.set()  # it answers late: its value is kept, and answered from then on
    await database.answered.wait()
    assert await cache.get("g") == "g:v2"
    assert database.loads == 2


async def test_a_failing_database_answers_a_burst_with_the_expired_value() -> None:
    database, clock = Gated(), Clock()
    cache = await expired_cache(database, clock)
    database.down = True
    database.gate.set()
    burst = [asyncio.create_task(cache.get("g")) for _ in range(50)]
    assert await asyncio.gather(*burst) == ["g:v1"] * 50
    assert database.loads == 2
    clock.now = 60.5  # kept for another ttl without asking again
    assert await cache.get("g") == "g:v1"
    assert database.loads == 2


async def test_a_clock_that_goes_back_expires_entries(patient: None) -> None:
    database, clock = Gated(), Clock()
    clock.now = 3600.0
    cache = ReadThrough(database.load, ttl=1.0, clock=clock)
    assert await cache.get("g") == "g:v1"
    database.value, clock.now = "v2", 0.0  # the wall clock stepped back an hour
    assert await cache.get("g") == "g:v2"


async def test_a_first_load_not_answered_is_one_503_for_all_its_waiters_and_caches_nothing() -> None:
    database = Database()
    database.hang.clear()  # a stalled server: no answer, no error
    cache = ReadThrough(database.load, ttl=1.0, clock=Clock(), read_timeout=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    burst = [asyncio.create_task(cache.get("g")) for _ in range(20)]
    outcomes = await asyncio.gather(*burst, return_exceptions=True)
    assert all(isinstance(outcome, DatabaseUnavailable) for outcome in outcomes), outcomes
    assert loop.time() - started < 0.5
    assert database.loads == 1  # one load for the whole burst, given up at its deadline
    database.hang.set()  # the stall ends: the next request loads afresh, nothing was kept
    assert await cache.get("g") == "g:v1"
    assert database.loads == 2
