"""The output items of rendered Responses answers in Redis, shared by every replica: one key per
item under the `items:` section, each written with its time to live and given it again when read
(GETEX), in one round trip per request either way.

Redis unreachable: every call raises `ItemsUnavailable` (fast: see redis_link.py); the pipeline
keeps nothing then, and answers a request that names an item 503.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from sluicegate.storage.redis_link import RedisConnection, RedisLink
from sluicegate.storage.response_items import ItemsUnavailable


class RedisItemStore:
    def __init__(self, redis: RedisConnection | str, ttl: float) -> None:
        self.ttl = ttl
        self.link = RedisLink(redis, "items:")
        self._ttl_ms = max(int(ttl * 1000), 1)

    def _key(self, scope: str, item_id: str) -> str:
        return f"{self.link.prefix}{scope}/{item_id}"

    async def put(self, scope: str, items: Mapping[str, bytes]) -> None:
        with self.link.attempt(ItemsUnavailable):
            async with self.link.client.pipeline(transaction=False) as pipe:
                for item_id, data in items.items():
                    pipe.set(self._key(scope, item_id), data, px=self._ttl_ms)
                await pipe.execute()

    async def get(self, scope: str, ids: Collection[str]) -> dict[str, bytes]:
        wanted = list(dict.fromkeys(ids))
        with self.link.attempt(ItemsUnavailable):
            async with self.link.client.pipeline(transaction=False) as pipe:
                for item_id in wanted:
                    pipe.getex(self._key(scope, item_id), px=self._ttl_ms)
                found = await pipe.execute()
        return {item_id: data for item_id, data in zip(wanted, found, strict=True) if isinstance(data, bytes)}

    async def close(self) -> None:
        await self.link.close()
