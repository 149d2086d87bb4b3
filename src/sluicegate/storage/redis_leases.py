"""Leases on the token and cost reservations a process holds in Redis, and its settlements that
could not be sent.

A reservation is a member `<id>:<time>:<amount>` of a sorted set of its own beside the counter
(see `redis_limiter.py`), scored by when its lease ends, in milliseconds of Redis's clock (`TIME`
in the scripts: one clock for every replica). Admission counts the members whose lease is live. A
process renews the leases of the reservations it still holds every third of a lease, in one script
call (`LeaseKeeper`, a background task), so a process that dies stops renewing and its
reservations stop counting within one lease, instead of for the rest of a daily or monthly window.

Settling removes the member and counts the use only if the member was still there: a settlement
sent twice counts once. So one that failed because Redis was unreachable is kept (at most
`MAX_PENDING`) and sent again by the same task once Redis answers, and at `close`. A member whose
lease ended more than `GRACE` ago is dropped by the next admission in its set; a settlement later
than that counts nothing.

Choices: a lease of 30 s renewed every 10 s lets two renewals in a row fail (a Redis blip, a
stalled event loop) before a live request's reservation stops counting, while a dead process's
reservations count for 30 s at most. The grace of an hour covers a Redis outage of that long: what
was settled meanwhile still counts once it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sluicegate.storage.limiter import LimiterUnavailable
from sluicegate.storage.redis_batches import MAX_ITEMS
from sluicegate.storage.redis_link import RedisLink

LEASE = 30.0  # seconds a reservation counts unless renewed; renewed every third of it
GRACE = 3600.0  # seconds after its lease ends that a reservation may still be settled
MAX_PENDING = 10_000  # settlements kept while Redis is unreachable; past it the oldest are dropped
RENEW_BATCH = 1000  # reservations renewed per script call
_log = logging.getLogger(__name__)

# Redis's clock in milliseconds, for leases. (A script that reads TIME and then writes is fine
# since Redis 5, which replicates a script's effects rather than the script.)
LEASE_CLOCK = """
local function lease_clock()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
"""

# `renew(keys, argv)`: KEYS: each reservation's set; ARGV: lease (ms), grace (ms), then each
# reservation's member. Returns per reservation 1 if it was still there (renewed), else 0.
_RENEW = (
    LEASE_CLOCK
    + """
local clock = lease_clock()
local lease, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local present = {}
for i, key in ipairs(KEYS) do
  present[i] = 0
  if redis.call('ZSCORE', key, ARGV[2 + i]) then
    redis.call('ZADD', key, 'XX', clock + lease, ARGV[2 + i])
    redis.call('PEXPIRE', key, lease + grace)
    present[i] = 1
  end
end
return present
"""
)

Call = tuple[list[str], list[str | float]]  # a script call's keys and arguments


class LeaseKeeper:
    """The reservations this process holds (to renew) and its settlements kept for another try.
    `settle_all(calls)` sends settlements as one batch (each call's result, or an exception for a
    call Redis refused); it raises `LimiterUnavailable` when Redis cannot be reached."""

    def __init__(
        self,
        link: RedisLink,
        settle_all: Callable[[Sequence[Call]], Awaitable[Sequence[Any]]],
        lease: float = LEASE,
    ) -> None:
        self._link = link
        self._settle_all = settle_all
        self._renew = link.client.register_script(_RENEW)
        self.lease = lease
        self.lease_ms = max(round(lease * 1000), 1)
        self.grace_ms = round(GRACE * 1000)
        self._held: dict[str, str] = {}  # member -> its set
        self._pending: dict[int, tuple[float, Call]] = {}  # in order kept: (monotonic time, call)
        self._numbers = itertools.count()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def hold(self, key: str, member: str) -> None:
        self._held[member] = key

    def release(self, member: str) -> None:
        self._held.pop(member, None)

    def keep(self, call: Call) -> None:
        """A settlement Redis did not take: sent again by `send_pending`."""
        if len(self._pending) >= MAX_PENDING:
            del self._pending[next(iter(self._pending))]
            _log.error("more than %d rate-limit settlements wait for Redis: the oldest dropped", MAX_PENDING)
        self._pending[next(self._numbers)] = (time.monotonic(), call)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="leases")

    async def close(self) -> None:
        """Stop renewing (a round on its way ends first), then try the kept settlements once."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        with contextlib.suppress(LimiterUnavailable):
            await self.send_pending()
        if self._pending:
            _log.error("%d rate-limit settlements could not reach Redis before the stop", len(self._pending))

    async def tend(self) -> None:
        """One round: the kept settlements, then the renewals. Raises `LimiterUnavailable`."""
        await self.send_pending()
        await self.renew()

    async def send_pending(self) -> None:
        """Send the kept settlements, `MAX_ITEMS` per call, oldest first; each one that Redis took
        (or refused for good: a key of the wrong type) is forgotten."""
        too_old = time.monotonic() - GRACE
        for number in [n for n, (kept, _) in self._pending.items() if kept < too_old]:
            del self._pending[number]
            _log.error("a rate-limit settlement waited for Redis longer than %g s: dropped", GRACE)
        while self._pending:
            batch = list(itertools.islice(self._pending.items(), MAX_ITEMS))
            results = await self._settle_all([call for _, (_, call) in batch])
            for (number, _), result in zip(batch, results, strict=True):
                if isinstance(result, Exception):
                    _log.error("a kept rate-limit settlement was refused by Redis: %s", result)
                self._pending.pop(number, None)

    async def renew(self) -> None:
        """Renew every lease held, `RENEW_BATCH` per call; one whose reservation is gone (settled,
        dropped, or lost with a restarted Redis) is no longer held."""
        held = list(self._held.items())
        for start in range(0, len(held), RENEW_BATCH):
            chunk = held[start : start + RENEW_BATCH]
            keys = [key for _, key in chunk]
            args: list[str | int] = [self.lease_ms, self.grace_ms, *(member for member, _ in chunk)]
            with self._link.attempt(LimiterUnavailable):
                present = await self._renew(keys=keys, args=args)
            for (member, _), there in zip(chunk, present, strict=True):
                if not there:
                    self._held.pop(member, None)

    async def _run(self) -> None:
        every = self.lease / 3
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), every)
            if self._closing:
                return
            try:
                await self.tend()
            except LimiterUnavailable:
                pass  # the link has logged the outage; the next round tries again
            except Exception:  # a bug must not end the renewals of every later request
                _log.exception("renewing rate-limit reservations failed")
