"""The output items of rendered Responses answers in Redis, shared by every replica: one key per
item under the `items:` section, each written with its time to live and given it again when read,
in one script call per request either way.

They share Redis with the rate-limit counters, and Redis must not evict those (docs/limits.md keeps
`noeviction`, under which a full Redis refuses the counters' writes too; a separate `?db=` shares
the instance's `maxmemory`), so the items bound themselves to `max_bytes`. Every write of an item is
counted in the slot of time it was made (`held:{slot}`, `ttl / SLOTS` long, expiring with the items
it counts); the items alive are those counted in the last `SLOTS + 1` slots, whose sum is checked
before an answer's items are written: over it, they are not kept. An item read in a later slot than
the one it is counted in moves to the current one (its value starts with that slot's number), so a
conversation that goes on is counted once, and an expired item at most one slot longer than it lives.

Redis unreachable: every call raises `ItemsUnavailable` (fast: see redis_link.py); the pipeline
keeps nothing then, and answers a request that names an item 503.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Mapping
from typing import Final

from sluicegate.storage.redis_link import RedisConnection, RedisLink
from sluicegate.storage.response_items import ENTRY_BYTES, ITEM_MAX_BYTES, ItemsUnavailable, entry_bytes

SLOTS: Final = 12
# KEYS: the window's counters, oldest first, then the items'. ARGV: how many counters, the bound,
# the items' bytes, their time to live and the counters' (ms), then the items' values.
_PUT = """
local window = tonumber(ARGV[1])
local held = tonumber(ARGV[3])
for i = 1, window do
  held = held + math.max(tonumber(redis.call('GET', KEYS[i])) or 0, 0)
end
if held > tonumber(ARGV[2]) then
  return 0
end
redis.call('INCRBY', KEYS[window], ARGV[3])
redis.call('PEXPIRE', KEYS[window], ARGV[5])
for i = window + 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i - window + 5], 'PX', ARGV[4])
end
return 1
"""
# KEYS: the current slot's counter, then the items'. ARGV: the items' time to live and the
# counters' (ms), ENTRY_BYTES, the current slot, the counters' key prefix. The items' data, or
# false where none is kept.
_GET = """
local overhead = tonumber(ARGV[3])
local found, moved = {}, 0
for i = 2, #KEYS do
  found[i - 1] = false
  local value = redis.call('GET', KEYS[i])
  if value then
    local colon = string.find(value, ':', 1, true)
    local slot, data = '', value
    if colon then
      slot, data = string.sub(value, 1, colon - 1), string.sub(value, colon + 1)
    end
    if slot == ARGV[4] then
      redis.call('PEXPIRE', KEYS[i], ARGV[1])
    else
      local counted = ARGV[5] .. slot
      if colon and redis.call('EXISTS', counted) == 1 then
        redis.call('DECRBY', counted, #KEYS[i] + #value + overhead)
      end
      value = ARGV[4] .. ':' .. data
      redis.call('SET', KEYS[i], value, 'PX', ARGV[1])
      moved = moved + #KEYS[i] + #value + overhead
    end
    found[i - 1] = data
  end
end
if moved > 0 then
  redis.call('INCRBY', KEYS[1], moved)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return found
"""


class RedisItemStore:
    not_shared = False

    def __init__(
        self,
        redis: RedisConnection | str,
        ttl: float,
        max_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`clock`: the gateways' shared time (replicas in step, as for the counters), for the slots."""
        self.ttl = ttl
        self.link = RedisLink(redis, "items:")
        self._max_bytes = max_bytes
        self._clock = clock
        self._ttl_ms = max(int(ttl * 1000), 1)
        self._slot_ms = max(math.ceil(self._ttl_ms / SLOTS), 1)
        self._counters_ttl = self._ttl_ms + self._slot_ms  # past the last item each counts
        self._held = f"{self.link.prefix}held:"  # no item's key: those have a scope, with a `/`
        self._put = self.link.client.register_script(_PUT)
        self._get = self.link.client.register_script(_GET)

    def _key(self, scope: str, item_id: str) -> str:
        return f"{self.link.prefix}{scope}/{item_id}"

    def counter(self, slot: int) -> str:
        """The key of the bytes counted in `slot`."""
        return f"{self._held}{slot}"

    def slot(self) -> int:
        return int(self._clock() * 1000) // self._slot_ms

    async def put(self, scope: str, items: Mapping[str, bytes]) -> None:
        slot = self.slot()
        keys: list[str] = []
        values: list[bytes] = []
        for item_id, data in items.items():
            if len(data) <= ITEM_MAX_BYTES:
                keys.append(self._key(scope, item_id))
                values.append(b"%d:%b" % (slot, data))
        if not keys:
            return
        size = sum(entry_bytes(key, value) for key, value in zip(keys, values, strict=True))
        window = [self.counter(slot - back) for back in range(SLOTS, -1, -1)]
        arguments: list[bytes | int | str] = [
            len(window),
            self._max_bytes,
            size,
            self._ttl_ms,
            self._counters_ttl,
            *values,
        ]
        with self.link.attempt(ItemsUnavailable):
            await self._put(keys=[*window, *keys], args=arguments)

    async def get(self, scope: str, ids: Collection[str]) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(ids))
        slot = self.slot()
        keys = [self.counter(slot), *(self._key(scope, item_id) for item_id in wanted)]
        arguments: list[bytes | int | str] = [self._ttl_ms, self._counters_ttl, ENTRY_BYTES, slot, self._held]
        with self.link.attempt(ItemsUnavailable):
            found = await self._get(keys=keys, args=arguments)
        return {item_id: data for item_id, data in zip(wanted, found, strict=True) if isinstance(data, bytes)}

    async def close(self) -> None:
        await self.link.close()
