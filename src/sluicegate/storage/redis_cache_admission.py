"""The exact cache's lookup and the rate-limit decision in one script, when both are in Redis.

The script reads the cache key first; a fresh entry (judged by the gateway's clock, `now`, as
`RedisCache.get` judges it) is returned and nothing is counted. Otherwise it runs the limiter's own
`admit` (`ADMIT_FUNCTION`), so the decision is the one `RedisLimiter.admit` makes, atomically.
"""

from __future__ import annotations

from collections.abc import Sequence

from sluicegate.storage.cache import CacheEntry, CacheUnavailable
from sluicegate.storage.cache_admission import Admission, Lookup
from sluicegate.storage.limiter import Claim, Hold
from sluicegate.storage.redis_cache import RedisCache
from sluicegate.storage.redis_limiter import ADMIT_FUNCTION, RedisLimiter

# KEYS: the cache entry's, then the buckets'. ARGV: as `admit` reads it (ARGV[1] is now).
# An entry is `length (4 bytes) | JSON metadata | body`; the metadata's 6th item is its expiry.
_LOOKUP_OR_ADMIT = (
    ADMIT_FUNCTION
    + """
local entry = redis.call('GET', KEYS[1])
if entry then
  local length = struct.unpack('>I4', entry)
  if cjson.decode(string.sub(entry, 5, 4 + length))[6] > tonumber(ARGV[1]) then
    return {'entry', entry}
  end
end
return admit({unpack(KEYS, 2)})
"""
)


class RedisCacheAdmission:
    def __init__(self, cache: RedisCache, limiter: RedisLimiter) -> None:
        self._cache = cache
        self._limiter = limiter
        self._script = cache.link.client.register_script(_LOOKUP_OR_ADMIT)

    async def lookup_or_admit(self, key: str, claims: Sequence[Claim], now: float) -> Lookup:
        if not claims:
            return Lookup(await self._cache.get(key, now), None)
        call = self._limiter.admit_call(claims, now)
        with self._cache.link.attempt(CacheUnavailable):
            result = await self._script(keys=[self._cache.key(key), *call.keys], args=call.args)
        if result[0] == b"entry":
            return Lookup(CacheEntry.decode(result[1]), None)
        verdict = self._limiter.verdict(call, result, now)
        return Lookup(None, Admission(verdict, call.counted(now) if verdict.allowed else ()))

    async def release(self, counted: Sequence[Hold], now: float) -> None:
        await self._limiter.settle(counted, [0.0] * len(counted), now)
