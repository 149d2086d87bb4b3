"""Leases on the token and cost reservations a process holds in Redis, and its settlements that
could not be sent.

A reservation is a member `<id>:<time>:<amount>` of a sorted set of its own beside the counter
(see `redis_limiter.py`), scored by when its lease ends, in milliseconds of Redis's clock (`TIME`
in the scripts: one clock for every replica). A process renews the leases of the reservations it
still holds every third of a lease, in one script call (`LeaseKeeper`, a background task), so a
process that dies stops renewing and its reservations stop counting within one lease, instead of
for the rest of a daily or monthly window.

Admission must not walk the reservations (500 answers streaming against one daily budget would
make every admission read 500 members, in Redis's single thread), so each set has four keys
(`ReservationKeys`): the live reservations; a running total of their amounts; the lapsed ones, kept
for the grace, scored by when their lease ended; and, in a sliding window, the live ones scored by
when they were made (the gateway's clock). Admission first moves what lapsed since the last one
(leases ended, and in a sliding window reservations a period old) from the live set to the lapsed
one, taking their amounts off the total: each reservation moves once, so admission is O(log n)
amortised. Settling removes the member from the live set (and its amount from the total) or else
from the lapsed set, and counts the use only if it found it: a settlement sent twice counts once.
So one that failed because Redis was unreachable is kept (at most `MAX_PENDING`) and sent again by
the same task once Redis answers, and at `close`. A lapsed member is dropped `GRACE` after its
lease ended; a settlement later than that counts nothing.

Choices: a lease of 30 s renewed every 10 s lets two renewals in a row fail (a Redis blip, a
stalled event loop) before a live request's reservation stops counting, while a dead process's
reservations count for 30 s at most. The grace of an hour covers a Redis outage of that long: what
was settled meanwhile still counts once it is back. A renewal that finds its reservation lapsed
brings it back (into the live set and the total): its process is alive and its answer still runs,
so it will use what it reserved; most often its lease ended in a Redis outage longer than a lease,
and leaving the in-flight answers uncounted after it would let new ones overshoot by as much.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

from sluicegate.storage.limiter import LimiterUnavailable
from sluicegate.storage.redis_batches import MAX_ITEMS
from sluicegate.storage.redis_link import RedisLink

LEASE = 30.0  # seconds a reservation counts unless renewed; renewed every third of it
GRACE = 3600.0  # seconds after its lease ends that a reservation may still be settled
MAX_PENDING = 10_000  # settlements kept while Redis is unreachable; past it the oldest are dropped
RENEW_BATCH = 1000  # reservations renewed per script call
_log = logging.getLogger(__name__)

# Lua shared by the scripts: Redis's clock in milliseconds, for leases (a script that reads TIME
# and then writes is fine since Redis 5, which replicates a script's effects rather than the
# script); a member's parts; the running total; what admission does first, to let what lapsed go.
# `held` is a set's keys as `ReservationKeys` orders them: live, total, lapsed, made.
RESERVATIONS = """
local EXACT_BELOW = 8  -- live reservations or fewer: their total is summed, not changed
local function lease_clock()
  local time = redis.call('TIME')
  return tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
end
-- A member `<id>:<time>:<amount>`: its amount, and when it was made (as written: a score).
local function reserved_amount(member)
  return tonumber(string.match(member, ':([^:]+)$'))
end
local function made_at(member)
  return string.match(member, ':([^:]+):[^:]+$')
end
-- The total of a set's live reservations, changed by `change`. Float error cannot build up: it
-- is summed from the set again when a change leaves few live (a set that never empties: a sliding
-- window's, one holding a reservation of nothing), or when it was lost apart from the set (expired,
-- deleted); it is never below 0, and deleted when none is live.
local function reserved_total(held, change)
  local live, total_key = held[1], held[2]
  local count = redis.call('ZCARD', live)
  if count == 0 then
    redis.call('DEL', total_key)
    return 0
  end
  local total = 0
  if redis.call('EXISTS', total_key) == 0 or (change ~= 0 and count <= EXACT_BELOW) then
    for _, member in ipairs(redis.call('ZRANGE', live, 0, -1)) do
      total = total + reserved_amount(member)
    end
  elseif change == 0 then
    return math.max(tonumber(redis.call('GET', total_key)), 0)
  else
    total = math.max(tonumber(redis.call('INCRBYFLOAT', total_key, string.format('%.17g', change))), 0)
    if total > 0 then return total end
  end
  redis.call('SET', total_key, string.format('%.17g', total))
  local ttl = redis.call('PTTL', live)
  if ttl > 0 then redis.call('PEXPIRE', total_key, ttl) end
  return total
end
-- `command key ...args` in calls of at most 1000 arguments (Lua's stack has a limit; an even
-- number, so ZADD's score-member pairs stay whole).
local function in_chunks(command, key, args)
  for i = 1, #args, 1000 do
    redis.call(command, key, unpack(args, i, math.min(i + 999, #args)))
  end
end
-- The total of a set's live reservations at `clock`, once those that lapsed since the last call
-- (lease ended; in a sliding window, made at or before `since`) are moved to the lapsed set, where
-- a settlement still finds them for the grace; and in a sliding window the earliest one's time.
-- Each reservation moves once; the many of a replica that died move in a few calls.
local function live_total(held, clock, grace, since)
  local live, lapsed, made = held[1], held[3], held[4]
  redis.call('ZREMRANGEBYSCORE', lapsed, '-inf', clock - grace)
  local gone, moved, members, first = 0, {}, {}, nil
  local ended = redis.call('ZRANGEBYSCORE', live, '-inf', clock, 'WITHSCORES')
  if #ended > 0 then
    redis.call('ZREMRANGEBYSCORE', live, '-inf', clock)
    for i = 1, #ended, 2 do
      gone = gone + reserved_amount(ended[i])
      table.insert(moved, ended[i + 1])
      table.insert(moved, ended[i])
      table.insert(members, ended[i])
    end
  end
  if since then
    if #members > 0 then in_chunks('ZREM', made, members) end
    for _, member in ipairs(redis.call('ZRANGEBYSCORE', made, '-inf', since)) do
      if redis.call('ZREM', live, member) == 1 then
        gone = gone + reserved_amount(member)
        table.insert(moved, clock)
        table.insert(moved, member)
      end
    end
    redis.call('ZREMRANGEBYSCORE', made, '-inf', since)
    local earliest = redis.call('ZRANGE', made, 0, 0, 'WITHSCORES')
    if earliest[2] then first = tonumber(earliest[2]) end
  end
  if #moved > 0 then
    in_chunks('ZADD', lapsed, moved)
    redis.call('PEXPIRE', lapsed, grace)
  end
  return reserved_total(held, -gone), first
end
-- A set's keys live as long as its reservations may (`lapsed` has its own: the grace).
local function keep_held(held, lease, grace)
  for _, key in ipairs({held[1], held[2], held[4]}) do
    redis.call('PEXPIRE', key, lease + grace)
  end
end
"""

# `renew(keys, argv)`: KEYS: each reservation's `ReservationKeys`; ARGV: lease (ms), grace (ms),
# then per reservation its member and whether its window slides (0/1). Returns per reservation 1 if
# it was still there (renewed), else 0. One that lapsed (Redis unreachable, or this process stalled,
# for a lease) while its answer still runs counts again: it is back in the live set and the total.
# (One a period old in a sliding window comes back too, and the next admission moves it again.)
_RENEW = (
    RESERVATIONS
    + """
local clock = lease_clock()
local lease, grace = tonumber(ARGV[1]), tonumber(ARGV[2])
local present = {}
for i = 1, #KEYS / 4 do
  local held = {unpack(KEYS, 4 * i - 3, 4 * i)}
  local member, sliding = ARGV[1 + 2 * i], ARGV[2 + 2 * i] == '1'
  present[i] = 1
  if redis.call('ZSCORE', held[1], member) then
    redis.call('ZADD', held[1], 'XX', clock + lease, member)
  elseif redis.call('ZREM', held[3], member) == 1 then
    redis.call('ZADD', held[1], clock + lease, member)
    if sliding then redis.call('ZADD', held[4], made_at(member), member) end
    reserved_total(held, reserved_amount(member))
  else
    present[i] = 0
  end
  if present[i] == 1 then keep_held(held, lease, grace) end
end
return present
"""
)


class ReservationKeys(NamedTuple):
    """The keys of one set of reservations (a bucket's; a fixed window's in that window), each in a
    section of its own: a bucket's key ends in a scope value a client chose, so a suffix could name
    another bucket's key."""

    live: str  # the live reservations, scored by lease end (ms, Redis's clock)
    total: str  # the sum of their amounts
    lapsed: str  # those whose lease ended (or, sliding, a period old), scored by when: for the grace
    made: str  # a sliding window's live ones, scored by when they were made (the gateway's clock)


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
        self._held: dict[str, tuple[ReservationKeys, bool]] = {}  # member -> its set, sliding
        self._pending: dict[int, tuple[float, Call]] = {}  # in order kept: (monotonic time, call)
        self._numbers = itertools.count()
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def hold(self, keys: ReservationKeys, member: str, sliding: bool) -> None:
        self._held[member] = (keys, sliding)

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
            keys = [key for _, (reservation_keys, _) in chunk for key in reservation_keys]
            args: list[str | int] = [self.lease_ms, self.grace_ms]
            for member, (_, sliding) in chunk:
                args += [member, int(sliding)]
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
