"""The exact cache's lookup and the rate-limit decision in one script, when both are in Redis.

The script reads the cache key first; a fresh entry (judged by the gateway's clock, `now`, as
`RedisCache.get` judges it) is returned and nothing is counted. Otherwise it runs the limiter's own
`admit` (`ADMIT_FUNCTION`), so the decision is the one `RedisLimiter.admit` makes, atomically.
Lookups made while one is on its way go together in one call of the script (`redis_batches.py`),
each decided as if alone, in the order they were made.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sluicegate.storage.cache import CacheEntry, CacheUnavailable
from sluicegate.storage.cache_admission import Admission, Lookup
from sluicegate.storage.limiter import Claim, Hold
from sluicegate.storage.redis_batches import Coalesced, batch_arguments, batched, failed_calls
from sluicegate.storage.redis_cache import RedisCache
from sluicegate.storage.redis_limiter import ADMIT_FUNCTION, AdmitCall, RedisLimiter

# `lookup_or_admit(keys, argv)`: KEYS: the cache entry's, then the buckets'; ARGV: as `admit` reads
# them (the first is now). An entry is `length (4 bytes) | JSON metadata | body`; the metadata's 6th
# item is its expiry. Returns {'entry', entry} or what `admit` returns. Run once per lookup of a
# batch (`batched`).
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
"""
    + batched("lookup_or_admit")
)


class RedisCacheAdmission:
    def __init__(self, cache: RedisCache, limiter: RedisLimiter) -> None:
        self._cache = cache
        self._limiter = limiter
        self._script = cache.link.client.register_script(_LOOKUP_OR_ADMIT)
        # A lookup whose caller has gone is not sent: its count would never be taken back.
        self._lookups: Coalesced[tuple[str, AdmitCall], Any] = Coalesced(
            self._lookup_all,
            CacheUnavailable,
            drop_abandoned=True,
            check=functools.partial(cache.link.check, CacheUnavailable),
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
        arguments = batch_arguments([([cache_key, *call.keys], call.args) for cache_key, call in lookups])
        with self._cache.link.attempt(CacheUnavailable):
            results = await self._script(**arguments)
        return failed_calls(results, CacheUnavailable)

    async def release(self, counted: Sequence[Hold], now: float) -> None:
        await self._limiter.settle(counted, [0.0] * len(counted), now)
