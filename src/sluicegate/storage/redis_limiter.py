"""Rate-limit counters in Redis, so N replicas enforce one limit. One script per decision.

Windows are computed from the gateway's clock (passed in as `now`); Redis's own clock only
expires keys (a period after their last write), so replicas need clocks in step, as NTP keeps them.

`admit` is one Lua script: it checks every claim of a request and, only if all fit, counts them,
atomically. `settle` is another: it withdraws a request's reservations and counts what it used.
Fixed windows are counters keyed by window start; sliding windows are sorted sets of
`(time, id:amount)` trimmed to the last period. Decisions (and settlements) made while one is on
its way go together in one call of the script (`redis_batches.py`), each decided as if alone, in
the order they were made.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NamedTuple

from redis.commands.core import AsyncScript

from sluicegate.storage.limiter import (
    LIMIT_SLACK,
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
from sluicegate.storage.redis_link import RedisConnection, RedisLink

# `admit(keys, argv)`: one claim per key of `keys`. `argv`: now, slack, then per claim: limit, period,
# sliding (0/1), amount, member id. Returns: allowed (0/1), then per claim: used (as a string),
# oldest time in a sliding window. A function, so that a script doing more (the exact cache's
# lookup with it: redis_cache_admission.py) decides exactly as this one does.
ADMIT_FUNCTION = """
local function admit(keys, argv)
local now, slack = tonumber(argv[1]), tonumber(argv[2])
local used, oldest = {}, {}
local allowed = 1
for i, key in ipairs(keys) do
  local base = 2 + (i - 1) * 5
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
  if total < 0 then total = 0 end
  used[i] = total
  if (amount > 0 and total + amount > limit * (1 + slack)) or (amount <= 0 and total >= limit) then
    allowed = 0
  end
end
if allowed == 1 then
  for i, key in ipairs(keys) do
    local base = 2 + (i - 1) * 5
    local period, amount = tonumber(argv[base + 2]), argv[base + 4]
    if tonumber(amount) > 0 then
      if argv[base + 3] == '1' then
        redis.call('ZADD', key, now, argv[base + 5] .. ':' .. amount)
      else
        redis.call('INCRBYFLOAT', key, amount)
      end
      redis.call('PEXPIRE', key, math.ceil(period * 1000) + 1000)
      used[i] = used[i] + tonumber(amount)
    end
  end
end
local result = {allowed}
for i = 1, #keys do
  table.insert(result, tostring(used[i]))
  table.insert(result, tostring(oldest[i]))
end
return result
end
"""


# `settle(keys, argv)`. KEYS per hold: where it was reserved, where the use counts now (the same
# key unless a fixed window has turned since). ARGV: now, then per hold: period, sliding (0/1),
# reserved amount, reserved member, used amount, new member id.
_SETTLE_FUNCTION = """
local function settle(keys, argv)
local now = tonumber(argv[1])
for i = 1, #keys / 2 do
  local reserved_key, key = keys[2 * i - 1], keys[2 * i]
  local base = 1 + (i - 1) * 6
  local period, sliding = tonumber(argv[base + 1]), argv[base + 2] == '1'
  local reserved, member = tonumber(argv[base + 3]), argv[base + 4]
  local amount = argv[base + 5]
  if sliding then
    if reserved > 0 then redis.call('ZREM', key, member) end
    if tonumber(amount) > 0 then redis.call('ZADD', key, now, argv[base + 6] .. ':' .. amount) end
  else
    local change = tonumber(amount)
    if reserved_key == key and reserved > 0 and redis.call('EXISTS', key) == 1 then
      change = change - reserved
    end
    if change ~= 0 then redis.call('INCRBYFLOAT', key, tostring(change)) end
  end
  if redis.call('EXISTS', key) == 1 then
    redis.call('PEXPIRE', key, math.ceil(period * 1000) + 1000)
  end
end
return 1
end
"""


_ADMIT_ALL = ADMIT_FUNCTION + batched("admit")
_SETTLE_ALL = _SETTLE_FUNCTION + batched("settle")
Call = tuple[list[str], list[str | float]]  # a script call's keys and arguments


class AdmitCall(NamedTuple):
    """One call of `admit(keys)`: the claims, the script's keys and arguments, and the member id
    each claim has in a sliding window."""

    claims: tuple[Claim, ...]
    keys: list[str]
    args: list[str | float]
    members: tuple[str, ...]

    def counted(self, now: float) -> tuple[Hold, ...]:
        """Every claim as a hold, as an admission at `now` counted it (settled at 0, it is undone)."""
        return tuple(
            Hold(bucket, amount, now, f"{member}:{_number(amount)}")
            for (bucket, amount), member in zip(self.claims, self.members, strict=True)
        )


class RedisLimiter:
    def __init__(self, redis: RedisConnection | str) -> None:
        self.link = RedisLink(redis, "rl:")
        self._prefix = self.link.prefix
        self._client = self.link.client
        self._admit_all = self._client.register_script(_ADMIT_ALL)
        self._settle_all = self._client.register_script(_SETTLE_ALL)
        # A decision whose caller has gone is not sent: its count would never be taken back. A
        # settlement is sent whatever its caller does.
        self._admits: Coalesced[Call, Any] = Coalesced(
            self._batch(self._admit_all), LimiterUnavailable, drop_abandoned=True
        )
        self._settles: Coalesced[Call, Any] = Coalesced(self._batch(self._settle_all), LimiterUnavailable)
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

    async def close(self) -> None:
        # Settlements on their way or queued are sent first: they take back reservations. (`wait`:
        # a close cut short by its deadline leaves them to finish, not cancelled.) None starts after.
        self._closing = True
        if self._settling:
            await asyncio.wait(self._settling)
        await self.link.close()

    def _key(self, bucket: Bucket, now: float) -> str:
        if bucket.sliding:
            return self._prefix + bucket.key
        return f"{self._prefix}{bucket.key}:{window_start(bucket, now):.0f}"

    async def admit(self, claims: Sequence[Claim], now: float) -> Verdict:
        call = self.admit_call(claims, now)
        result = await self._admits((call.keys, call.args))
        return self.verdict(call, result, now)

    def admit_call(self, claims: Sequence[Claim], now: float) -> AdmitCall:
        """The keys and arguments of `admit(keys)` (`ADMIT_FUNCTION`) for `claims`."""
        args: list[str | float] = [now, LIMIT_SLACK]
        members = []
        for bucket, amount in claims:
            member = uuid.uuid4().hex if bucket.sliding else ""
            members.append(member)
            args += [bucket.limit, bucket.period, int(bucket.sliding), _number(amount), member]
        keys = [self._key(claim.bucket, now) for claim in claims]
        return AdmitCall(tuple(claims), keys, args, tuple(members))

    def verdict(self, call: AdmitCall, result: Sequence[bytes], now: float) -> Verdict:
        """What `admit(keys)` answered for `call`."""
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
        holds = tuple(hold for hold in call.counted(now) if not hold.bucket.counts_requests)
        return Verdict(True, tuple(usages), None, holds)

    async def usage(self, buckets: Sequence[Bucket], now: float) -> list[Usage]:
        """Read in one round trip (a pipeline, not a transaction: a report, not a decision)."""
        pipeline = self._client.pipeline(transaction=False)
        for bucket in buckets:
            key = self._key(bucket, now)
            if bucket.sliding:
                pipeline.zrangebyscore(key, f"({now - bucket.period}", "+inf", withscores=True)
            else:
                pipeline.get(key)
        with self.link.attempt(LimiterUnavailable):
            results = await pipeline.execute()
        usages = []
        for bucket, result in zip(buckets, results, strict=True):
            if not bucket.sliding:
                reset = window_start(bucket, now) + bucket.period - now
                usages.append(Usage(bucket, max(float(result or 0), 0.0), reset))
                continue
            used = sum(float(member.rsplit(b":", 1)[1]) for member, _ in result)
            oldest = result[0][1] if result else now
            usages.append(Usage(bucket, max(used, 0.0), max(oldest + bucket.period - now, 0.0)))
        return usages

    async def settle(self, holds: Sequence[Hold], used: Sequence[float], now: float) -> None:
        keys: list[str] = []
        args: list[str | float] = [now]
        for hold, amount in zip(holds, used, strict=True):
            bucket = hold.bucket
            keys += [self._key(bucket, hold.at), self._key(bucket, now)]
            args += [
                bucket.period, int(bucket.sliding), _number(hold.amount), hold.ref,
                _number(amount), uuid.uuid4().hex,
            ]  # fmt: skip
        if not keys:
            return
        if self._closing:
            raise LimiterUnavailable("Redis: the process is stopping")
        # Shielded: a client that hangs up meanwhile must not leave the script half-known; and
        # `close` waits for it.
        settling = asyncio.ensure_future(self._settles((keys, args)))
        self._settling.add(settling)
        settling.add_done_callback(self._settling.discard)
        await asyncio.shield(settling)


def _number(amount: float) -> str:
    """An amount as Lua reads it back exactly (repr round-trips a float)."""
    return repr(float(max(amount, 0.0)))
