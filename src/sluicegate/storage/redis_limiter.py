"""Rate-limit counters in Redis, so N replicas enforce one limit. One round trip per check.

Windows are computed from the gateway's clock (passed in as `now`); Redis's own clock only
expires keys (a period after their last write), so replicas need clocks in step, as NTP keeps them.

A Lua script checks every bucket of a request and, only if all admit, counts it, atomically.
Fixed windows are counters keyed by window start; sliding windows are sorted sets of
`(time, id:amount)` trimmed to the last period.
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

import redis.asyncio as redis

from sluicegate.storage.limiter import Bucket, LimiterUnavailable, Usage, Verdict, window_start, would_admit

# ARGV: now, then per bucket: limit, period, sliding (0/1), counts_requests (0/1), window start, member.
# Returns: allowed (0/1), then per bucket: used (as a string), oldest time in a sliding window.
_ADMIT = """
local now = tonumber(ARGV[1])
local used, oldest = {}, {}
local allowed = 1
for i, key in ipairs(KEYS) do
  local base = 1 + (i - 1) * 6
  local limit, period = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local sliding, requests = ARGV[base + 3] == '1', ARGV[base + 4] == '1'
  local total = 0
  oldest[i] = now
  if sliding then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - period)
    local entries = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    for j = 1, #entries, 2 do
      local amount = string.match(entries[j], ':([^:]+)$')
      total = total + tonumber(amount)
      if j == 1 then oldest[i] = tonumber(entries[j + 1]) end
    end
  else
    total = tonumber(redis.call('GET', key) or '0')
  end
  used[i] = total
  if (requests and total + 1 > limit) or (not requests and total >= limit) then allowed = 0 end
end
if allowed == 1 then
  for i, key in ipairs(KEYS) do
    local base = 1 + (i - 1) * 6
    local period = tonumber(ARGV[base + 2])
    if ARGV[base + 4] == '1' then
      if ARGV[base + 3] == '1' then
        redis.call('ZADD', key, now, ARGV[base + 6] .. ':1')
        redis.call('PEXPIRE', key, math.ceil(period * 1000) + 1000)
      else
        redis.call('INCRBYFLOAT', key, 1)
        redis.call('PEXPIRE', key, math.ceil(period * 1000) + 1000)
      end
      used[i] = used[i] + 1
    end
  end
end
local result = {allowed}
for i = 1, #KEYS do
  table.insert(result, tostring(used[i]))
  table.insert(result, tostring(oldest[i]))
end
return result
"""

_CHARGE = """
local now, amount, period, sliding = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3]), ARGV[4] == '1'
if sliding then
  redis.call('ZADD', KEYS[1], now, ARGV[6] .. ':' .. amount)
  redis.call('PEXPIRE', KEYS[1], math.ceil(period * 1000) + 1000)
else
  redis.call('INCRBYFLOAT', KEYS[1], amount)
  redis.call('PEXPIRE', KEYS[1], math.ceil(period * 1000) + 1000)
end
return 1
"""


class RedisLimiter:
    def __init__(self, url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        self._prefix = query.pop("prefix", ["sluicegate:"])[0] + "rl:"
        self._client = redis.Redis.from_url(url.split("?", 1)[0])
        self._admit = self._client.register_script(_ADMIT)
        self._charge = self._client.register_script(_CHARGE)

    async def open(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()

    def _key(self, bucket: Bucket, now: float) -> str:
        if bucket.sliding:
            return self._prefix + bucket.key
        return f"{self._prefix}{bucket.key}:{window_start(bucket, now):.0f}"

    async def admit(self, buckets: list[Bucket], now: float) -> Verdict:
        args: list[str | float] = [now]
        for bucket in buckets:
            args += [
                bucket.limit, bucket.period, int(bucket.sliding), int(bucket.counts_requests),
                window_start(bucket, now), uuid.uuid4().hex,
            ]  # fmt: skip
        try:
            result = await self._admit(keys=[self._key(b, now) for b in buckets], args=args)
        except (redis.RedisError, OSError) as exc:
            raise LimiterUnavailable(f"Redis: {exc}") from exc
        allowed = int(result[0]) == 1
        usages = []
        for index, bucket in enumerate(buckets):
            used, oldest = float(result[1 + 2 * index]), float(result[2 + 2 * index])
            reset = (
                oldest + bucket.period - now
                if bucket.sliding
                else window_start(bucket, now) + bucket.period - now
            )
            usages.append(Usage(bucket, used, max(reset, 0.0)))
        refused = None
        if not allowed:
            over = [u for u in usages if not would_admit(u.bucket, u.used)]
            refused = max(over, key=lambda u: u.reset_after)
        return Verdict(allowed, tuple(usages), refused)

    async def charge(self, bucket: Bucket, amount: float, now: float) -> None:
        if amount <= 0:
            return
        start = window_start(bucket, now)
        args: list[str | float] = [
            now,
            repr(float(amount)),
            bucket.period,
            int(bucket.sliding),
            start,
            uuid.uuid4().hex,
        ]
        try:
            await self._charge(keys=[self._key(bucket, now)], args=args)
        except (redis.RedisError, OSError) as exc:
            raise LimiterUnavailable(f"Redis: {exc}") from exc
