"""The exact cache's lookup and the rate-limit decision in one script, when both are in Redis.

The script reads the cache key first; a fresh entry (judged by the gateway's clock, `now`, as
`RedisCache.get` judges it) is returned and nothing is counted. Otherwise it runs the limiter's own
`admit` (`ADMIT_FUNCTION`), so the decision is the one `RedisLimiter.admit` makes, atomically.
Lookups made while one is on its way go together in one call of the script (`redis_batches.py`),
each decided as if alone, in the order they were made.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sluicegate.storage.cache import CacheEntry, CacheUnavailable
from sluicegate.storage.cache_admission import Admission, Lookup
from sluicegate.storage.limiter import Claim, Hold
from sluicegate.storage.redis_batches import Coalesced
from sluicegate.storage.redis_cache import RedisCache
from sluicegate.storage.redis_limiter import ADMIT_FUNCTION, AdmitCall, RedisLimiter

# ARGV: the number of lookups, then per lookup: its number of keys and of arguments, then its
# arguments, as `admit` reads them (the first is now). KEYS: per lookup, the cache entry's, then
# its buckets'. An entry is `length (4 bytes) | JSON metadata | body`; the metadata's 6th item is
# its expiry. Returns per lookup {'entry', entry} or what `admit` returns.
# (Redis's Lua has `struct`, `cjson` and `unpack`; `pcall` keeps one bad entry from failing all.)
_LOOKUP_OR_ADMIT = (
    ADMIT_FUNCTION
    + """
local function expiry(entry)
  local length = struct.unpack('>I4', entry)
  return cjson.decode(string.sub(entry, 5, 4 + length))[6]
end
local function lookup_or_admit(keys, argv)
  local entry = redis.call('GET', keys[1])
  if entry then
    -- An entry this gateway cannot read (written by something else) is a miss, not an error
    -- that would fail the batch's other lookups.
    local readable, expires = pcall(expiry, entry)
    if readable and tonumber(expires) and tonumber(expires) > tonumber(argv[1]) then
      return {'entry', entry}
    end
  end
  return admit({unpack(keys, 2)}, argv)
end
local results, key, arg = {}, 1, 2
for i = 1, tonumber(ARGV[1]) do
  local key_count, arg_count = tonumber(ARGV[arg]), tonumber(ARGV[arg + 1])
  arg = arg + 2
  local keys = {unpack(KEYS, key, key + key_count - 1)}
  local argv = {unpack(ARGV, arg, arg + arg_count - 1)}
  key, arg = key + key_count, arg + arg_count
  results[i] = lookup_or_admit(keys, argv)
end
return results
"""
)


class RedisCacheAdmission:
    def __init__(self, cache: RedisCache, limiter: RedisLimiter) -> None:
        self._cache = cache
        self._limiter = limiter
        self._script = cache.link.client.register_script(_LOOKUP_OR_ADMIT)
        # A lookup whose caller has gone is not sent: its count would never be taken back.
        self._lookups: Coalesced[tuple[str, AdmitCall], Any] = Coalesced(
            self._lookup_all, CacheUnavailable, drop_abandoned=True
        )

    async def lookup_or_admit(self, key: str, claims: Sequence[Claim], now: float) -> Lookup:
        if not claims:
            return Lookup(await self._cache.get(key, now), None)
        call = self._limiter.admit_call(claims, now)
        result = await self._lookups((self._cache.key(key), call))
        if result[0] == b"entry":
            return Lookup(CacheEntry.decode(result[1]), None)
        verdict = self._limiter.verdict(call, result, now)
        return Lookup(None, Admission(verdict, call.counted(now) if verdict.allowed else ()))

    async def _lookup_all(self, lookups: Sequence[tuple[str, AdmitCall]]) -> Any:
        keys: list[str] = []
        args: list[str | float] = [len(lookups)]
        for cache_key, call in lookups:
            keys += (cache_key, *call.keys)
            args += (len(call.keys) + 1, len(call.args), *call.args)
        with self._cache.link.attempt(CacheUnavailable):
            return await self._script(keys=keys, args=args)

    async def release(self, counted: Sequence[Hold], now: float) -> None:
        await self._limiter.settle(counted, [0.0] * len(counted), now)
