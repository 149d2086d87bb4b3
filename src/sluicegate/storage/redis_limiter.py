"""Rate-limit counters in Redis, so N replicas enforce one limit. One script per decision.

Windows are computed from the gateway's clock (passed in as `now`); Redis's own clock expires keys
(a period after their last write) and times leases, so replicas need clocks in step, as NTP keeps
them.

`admit` is one Lua script: it checks every claim of a request and, only if all fit, counts them,
atomically. `settle` is another: it withdraws a request's reservations and counts what it used.
Fixed windows are counters keyed by window start; sliding windows are sorted sets of
`(time, id:amount)` trimmed to the last period. A token or cost reservation is kept apart, in a
sorted set per counter under a lease that its process renews (`redis_leases.py`): admission counts
the settled use plus the running total of the reservations whose lease is live (O(log n), however
many answers are in flight), so those of a process that died stop counting within a lease.
Decisions (and settlements) made while one is on its way go together in one call of the script
(`redis_batches.py`), each decided as if alone, in the order they were made.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

from redis.commands.core import AsyncScript

from sluicegate.storage.limiter import (
    LIMIT_SLACK,
    UNRESERVED,
    Bucket,
    Claim,
    Hold,
    LimiterUnavailable,
    Usage,
    Verdict,
    fits,
    window_start,
)
from sluicegate.storage.redis_batches import Coalesced, batch_arguments, batched, failed_calls
from sluicegate.storage.redis_leases import LEASE, RESERVATIONS, Call, LeaseKeeper, ReservationKeys
from sluicegate.storage.redis_link import RedisConnection, RedisLink

# `admit(keys, argv)`: per claim `KEYS_PER_CLAIM` keys: its counter, then its reservations'
# (`ReservationKeys`). `argv`: now, slack, lease (ms), grace (ms), then per claim: limit, period,
# sliding (0/1), amount, member, held (0/1: a token or cost reservation, under a lease; else a
# request, counted for good). A request's member is an id (a sliding window's entry is
# `<id>:<amount>`); a reservation's is the whole member, `<id>:<time>:<amount>`. Returns: allowed
# (0/1), then per claim: used (as a string), oldest time in a sliding window. A function, so that a
# script doing more (the exact cache's lookup with it: redis_cache_admission.py) decides exactly as
# this one does. Reservations are counted by their running total, not read one by one.
ADMIT_FUNCTION = (
    RESERVATIONS
    + """
local function admit(keys, argv)
local now, slack = tonumber(argv[1]), tonumber(argv[2])
local lease, grace = tonumber(argv[3]), tonumber(argv[4])
local clock = lease_clock()
local used, oldest = {}, {}
local allowed = 1
for i = 1, #keys / 5 do
  local key, held = keys[5 * i - 4], {unpack(keys, 5 * i - 3, 5 * i)}
  local base = 4 + (i - 1) * 6
  local limit, period = tonumber(argv[base + 1]), tonumber(argv[base + 2])
  local sliding, amount = argv[base + 3] == '1', tonumber(argv[base + 4])
  local total = 0
  oldest[i] = now
  if sliding then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
    local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    for j = 1, #entries, 2 do
      local part = tonumber(string.match(entries[j], ':([^:]+)$'))
      total = total + part
      if j == 1 then oldest[i] = tonumber(entries[j + 1]) end
    end
  else
    total = tonumber(redis.call('GET', key) or '0')
  end
  if argv[base + 6] == '1' then
    local reserved, first = live_total(held, clock, grace, sliding and now - period or nil)
    total = total + reserved
    if first ~= nil and first < oldest[i] then oldest[i] = first end
  end
  if total < 0 then total = 0 end
  used[i] = total
  if (amount > 0 and total + amount > limit * (1 + slack)) or (amount <= 0 and total >= limit) then
    allowed = 0
  end
end
if allowed == 1 then
  for i = 1, #keys / 5 do
    local key, held = keys[5 * i - 4], {unpack(keys, 5 * i - 3, 5 * i)}
    local base = 4 + (i - 1) * 6
    local period, amount, member = tonumber(argv[base + 2]), argv[base + 4], argv[base + 5]
    local sliding = argv[base + 3] == '1'
    if argv[base + 6] == '1' then
      -- Even a reservation of nothing: its settlement counts the use only if it finds it.
      redis.call('ZADD', held[1], clock + lease, member)
      if sliding then redis.call('ZADD', held[4], argv[1], member) end
      reserved_total(held, tonumber(amount))
      keep_held(held, lease, grace)
    elseif tonumber(amount) > 0 then
      if sliding then
        redis.call('ZADD', key, now, member .. ':' .. amount)
      else
        redis.call('INCRBYFLOAT', key, amount)
      end
      redis.call('PEXPIRE', key, math.ceil(period * 1000) + 1000)
    end
    if tonumber(amount) > 0 then used[i] = used[i] + tonumber(amount) end
  end
end
local result = {allowed}
for i = 1, #keys / 5 do
  table.insert(result, tostring(used[i]))
  table.insert(result, tostring(oldest[i]))
end
return result
end
"""
)
KEYS_PER_CLAIM = 5  # as `admit` and `settle` read them


# `settle(keys, argv)`. KEYS per hold: where it was made (a reservation's live set, or the counter
# a request was counted in), where the use counts now (the counter at `now`: another one once a
# fixed window has turned), then the rest of the reservation's `ReservationKeys` (total, lapsed,
# made). ARGV: now, then per hold: period, sliding (0/1), reserved amount, member, used amount,
# new member id, held (0/1). A reservation is settled only if its member is still there, live
# (its amount leaves the total) or lapsed, so a settlement sent twice counts once; a request's
# count (released when a cache lookup answered it after all) is taken back as it was counted.
_SETTLE_FUNCTION = (
    RESERVATIONS
    + """
local function settle(keys, argv)
local now = tonumber(argv[1])
for i = 1, #keys / 5 do
  local made, key = keys[5 * i - 4], keys[5 * i - 3]
  local held = {made, keys[5 * i - 2], keys[5 * i - 1], keys[5 * i]}
  local base = 1 + (i - 1) * 7
  local period, sliding = tonumber(argv[base + 1]), argv[base + 2] == '1'
  local reserved, member = tonumber(argv[base + 3]), argv[base + 4]
  local amount = argv[base + 5]
  local change = tonumber(amount)
  if argv[base + 7] == '1' then
    if redis.call('ZREM', made, member) == 1 then
      if sliding then redis.call('ZREM', held[4], member) end
      reserved_total(held, -reserved_amount(member))
    elseif redis.call('ZREM', held[3], member) == 0 then
      change = 0
    end
  elseif sliding then
    if reserved > 0 then redis.call('ZREM', key, member) end
  elseif made == key and reserved > 0 and redis.call('EXISTS', key) == 1 then
    change = change - reserved
  end
  if sliding then
    if change > 0 then redis.call('ZADD', key, now, argv[base + 6] .. ':' .. amount) end
  elseif change ~= 0 then
    redis.call('INCRBYFLOAT', key, tostring(change))
  end
  if redis.call('EXISTS', key) == 1 then
    redis.call('PEXPIRE', key, math.ceil(period * 1000) + 1000)
  end
end
return 1
end
"""
)


_ADMIT_ALL = ADMIT_FUNCTION + batched("admit")
_SETTLE_ALL = _SETTLE_FUNCTION + batched("settle")


class AdmitCall(NamedTuple):
    """One call of `admit(keys)`: the claims, the script's keys and arguments, and each claim's
    member: a request's id in a sliding window, a reservation's whole member."""

    claims: tuple[Claim, ...]
    keys: list[str]
    args: list[str | float]
    members: tuple[str, ...]

    def counted(self, now: float) -> tuple[Hold, ...]:
        """Every claim as a hold, as an admission at `now` counted it (settled at 0, it is undone)."""
        return tuple(
            Hold(bucket, amount, now, member if _held(bucket) else f"{member}:{_number(amount)}")
            for (bucket, amount), member in zip(self.claims, self.members, strict=True)
        )


class RedisLimiter:
    def __init__(self, redis: RedisConnection | str, lease: float = LEASE) -> None:
        self.link = RedisLink(redis, "rl:")
        self._prefix = self.link.prefix
        # Reservations in sections of their own: a bucket's key ends in a scope value a client
        # chose, so a suffix could name another bucket's counter.
        section = self._prefix.removesuffix(":")
        self._held_prefixes = ReservationKeys(*(f"{section}-{part}:" for part in ReservationKeys._fields))
        self._client = self.link.client
        self._admit_all = self._client.register_script(_ADMIT_ALL)
        self._settle_all = self._client.register_script(_SETTLE_ALL)
        # A decision whose caller has gone is not sent: its count would never be taken back (a
        # reservation's lease would end it). A settlement is sent whatever its caller does.
        # A call Redis would fail at once (down: paused, or tried by the batch on its way) is not
        # queued behind that batch's timeout.
        check = functools.partial(self.link.check, LimiterUnavailable)
        self._admits: Coalesced[Call, Any] = Coalesced(
            self._batch(self._admit_all), LimiterUnavailable, drop_abandoned=True, check=check
        )
        self._settles: Coalesced[Call, Any] = Coalesced(
            self._batch(self._settle_all), LimiterUnavailable, check=check
        )
        self.leases = LeaseKeeper(self.link, self._batch(self._settle_all), lease)
        self._settling: set[asyncio.Future[Any]] = set()
        self._closing = False

    def _batch(self, script: AsyncScript) -> Callable[[Sequence[Call]], Awaitable[Any]]:
        async def send(calls: Sequence[Call]) -> Any:
            with self.link.attempt(LimiterUnavailable):
                results = await script(**batch_arguments(calls))
            return failed_calls(results, LimiterUnavailable)

        return send

    async def open(self) -> None:
        await self.link.probe(LimiterUnavailable)
        self.leases.start()

    async def close(self) -> None:
        # Settlements on their way or queued are sent first: they take back reservations. (`wait`:
        # a close cut short by its deadline leaves them to finish, not cancelled.) None starts after;
        # those kept since Redis failed them get one more try.
        self._closing = True
        if self._settling:
            await asyncio.wait(self._settling)
        await self.leases.close()
        await self.link.close()

    def _key(self, bucket: Bucket, now: float, prefix: str | None = None) -> str:
        if bucket.sliding:
            return (prefix or self._prefix) + bucket.key
        return f"{prefix or self._prefix}{bucket.key}:{window_start(bucket, now):.0f}"

    def _held_keys(self, bucket: Bucket, at: float) -> ReservationKeys:
        """The keys of the reservations made in `bucket` at `at` (a fixed window's: of that window)."""
        return ReservationKeys(*(self._key(bucket, at, prefix) for prefix in self._held_prefixes))

    async def admit(self, claims: Sequence[Claim], now: float) -> Verdict:
        call = self.admit_call(claims, now)
        result = await self._admits((call.keys, call.args))
        return self.verdict(call, result, now)

    async def reserve(self, claims: Sequence[Claim], now: float) -> Verdict:
        # A request's count is made as `admit` makes it (every rule's request claim reads it), and
        # its hold takes it back as a cache admission's release does.
        call = self.admit_call(claims, now)
        verdict = self.verdict(call, await self._admits((call.keys, call.args)), now)
        return verdict._replace(holds=call.counted(now)) if verdict.allowed else verdict

    def admit_call(self, claims: Sequence[Claim], now: float) -> AdmitCall:
        """The keys and arguments of `admit(keys)` (`ADMIT_FUNCTION`) for `claims`."""
        leases = self.leases
        args: list[str | float] = [now, LIMIT_SLACK, leases.lease_ms, leases.grace_ms]
        keys, members = [], []
        for bucket, amount in claims:
            held = _held(bucket)
            if held:
                member = f"{uuid.uuid4().hex}:{_number(now)}:{_number(amount)}"
            else:
                member = uuid.uuid4().hex if bucket.sliding else ""
            members.append(member)
            keys += [self._key(bucket, now), *self._held_keys(bucket, now)]
            args += [bucket.limit, bucket.period, int(bucket.sliding), _number(amount), member, int(held)]
        return AdmitCall(tuple(claims), keys, args, tuple(members))

    def verdict(self, call: AdmitCall, result: Sequence[bytes], now: float) -> Verdict:
        """What `admit(keys)` answered for `call`; its reservations are held (renewed) from now."""
        claims = call.claims
        allowed = int(result[0]) == 1
        usages = []
        for index, (bucket, _) in enumerate(claims):
            used, oldest = float(result[1 + 2 * index]), float(result[2 + 2 * index])
            reset = (
                oldest + bucket.period - now
                if bucket.sliding
                else window_start(bucket, now) + bucket.period - now
            )
            usages.append(Usage(bucket, used, max(reset, 0.0)))
        if not allowed:
            over = [u for u, c in zip(usages, claims, strict=True) if not fits(u.bucket, u.used, c.amount)]
            return Verdict(False, tuple(usages), max(over, key=lambda u: u.reset_after))
        holds = []
        for index, hold in enumerate(call.counted(now)):
            if _held(hold.bucket):
                start = KEYS_PER_CLAIM * index + 1
                held_keys = ReservationKeys(*call.keys[start : start + KEYS_PER_CLAIM - 1])
                self.leases.hold(held_keys, hold.ref, hold.bucket.sliding)
                holds.append(hold)
        return Verdict(True, tuple(usages), None, tuple(holds))

    async def usage(self, buckets: Sequence[Bucket], now: float) -> list[Usage]:
        """Read in one round trip (a pipeline, not a transaction: a report, not a decision). It reads
        every live reservation rather than the total, which only an admission brings up to date."""
        pipeline = self._client.pipeline(transaction=False)
        pipeline.time()
        for bucket in buckets:
            key = self._key(bucket, now)
            if bucket.sliding:
                pipeline.zrangebyscore(key, f"({now - bucket.period}", "+inf", withscores=True)
            else:
                pipeline.get(key)
            pipeline.zrange(self._held_keys(bucket, now).live, 0, -1, withscores=True)
        with self.link.attempt(LimiterUnavailable):
            (seconds, micros), *results = await pipeline.execute()
        clock = seconds * 1000 + micros // 1000  # Redis's, as the scripts read it for leases
        usages = []
        for index, bucket in enumerate(buckets):
            result, reservations = results[2 * index], results[2 * index + 1]
            live = _live(reservations, clock, now - bucket.period if bucket.sliding else None)
            held = sum(amount for _, amount in live)
            if not bucket.sliding:
                reset = window_start(bucket, now) + bucket.period - now
                usages.append(Usage(bucket, max(float(result or 0) + held, 0.0), reset))
                continue
            used = sum(float(member.rsplit(b":", 1)[1]) for member, _ in result) + held
            oldest = min([at for _, at in result[:1]] + [at for at, _ in live], default=now)
            usages.append(Usage(bucket, max(used, 0.0), max(oldest + bucket.period - now, 0.0)))
        return usages

    async def settle(self, holds: Sequence[Hold], used: Sequence[float], now: float) -> None:
        keys: list[str] = []
        args: list[str | float] = [now]
        kept: Call = ([], [now])  # the reservations' part: sent again if Redis does not take it
        for hold, amount in zip(holds, used, strict=True):
            bucket, held = hold.bucket, _held(hold.bucket) and hold.ref != UNRESERVED
            live, total, lapsed, index = self._held_keys(bucket, hold.at)
            made = live if held else self._key(bucket, hold.at)
            hold_keys = [made, self._key(bucket, now), total, lapsed, index]
            hold_args: list[str | float] = [
                bucket.period, int(bucket.sliding), _number(hold.amount), hold.ref,
                _number(amount), uuid.uuid4().hex, int(held),
            ]  # fmt: skip
            keys += hold_keys
            args += hold_args
            if held:
                self.leases.release(hold.ref)
                kept[0].extend(hold_keys)
                kept[1].extend(hold_args)
        if not keys:
            return
        if self._closing:
            raise LimiterUnavailable("Redis: the process is stopping")
        # Shielded: a client that hangs up meanwhile must not leave the script half-known; and
        # `close` waits for it.
        settling = asyncio.ensure_future(self._settle((keys, args), kept))
        self._settling.add(settling)
        settling.add_done_callback(self._settling.discard)
        await asyncio.shield(settling)

    async def _settle(self, call: Call, kept: Call) -> None:
        try:
            await self._settles(call)
        except LimiterUnavailable as exc:
            if not kept[0]:
                raise
            # Redis may or may not have run it: sent again, it counts once either way. (A request's
            # count taken back twice would not, so that part is not kept.)
            self.leases.keep(kept)
            raise LimiterUnavailable(f"{exc} (kept, and sent again once Redis answers)") from exc


def _held(bucket: Bucket) -> bool:
    """Whether a claim in `bucket` is a reservation (tokens, cost: settled later, under a lease)."""
    return not bucket.counts_requests


def _live(
    reservations: Sequence[tuple[bytes, float]], clock: float, since: float | None
) -> list[tuple[float, float]]:
    """The time and amount of each reservation (member `<id>:<time>:<amount>`, scored by its lease's
    end) whose lease is live at `clock` and, in a sliding window, made after `since`: what
    `live_total` (redis_leases.py) leaves counted."""
    live = []
    for member, expires in reservations:
        _, at, amount = member.rsplit(b":", 2)
        if expires > clock and (since is None or float(at) > since):
            live.append((float(at), float(amount)))
    return live


def _number(amount: float) -> str:
    """An amount as Lua reads it back exactly (repr round-trips a float)."""
    return repr(float(max(amount, 0.0)))
