"""The exact cache in Redis, shared by every replica. One round trip per lookup; stores made while
one is on its way go together in one script call (`redis_batches.py`).

Redis unreachable: every call raises `CacheUnavailable` (fast: see redis_link.py); the pipeline
treats a lookup as a miss and skips the store.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

from sluicegate.storage.cache import CacheEntry, CacheUnavailable
from sluicegate.storage.redis_batches import Coalesced, batch_arguments, batched, failed_calls
from sluicegate.storage.redis_link import RedisConnection, RedisLink

# Redis keeps an entry this much longer than its TTL; expiry is judged on read by the gateway's
# clock, and Redis's own expiry only reclaims the memory.
_GRACE_MS = 60_000
_PURGE_BATCH = 500
# `put(keys, argv)`: KEYS: the entry's; ARGV: its bytes, then its time to live in ms. Run once per
# store of a batch (`batched`).
_PUT_ALL = """
local function put(keys, argv)
  return redis.call('SET', keys[1], argv[1], 'PX', argv[2])
end
""" + batched("put")


class _Put(NamedTuple):
    key: str
    data: bytes
    ttl_ms: int


class RedisCache:
    """`redis://host:port/db?prefix=sluicegate:` — keys live under the prefix, so deployments (and
    test runs) sharing one Redis never collide."""

    def __init__(self, redis: RedisConnection | str) -> None:
        self.link = RedisLink(redis, "cache:")
        self._prefix = self.link.prefix
        self._client = self.link.client
        self._put_all = self._client.register_script(_PUT_ALL)
        self._puts: Coalesced[_Put, Any] = Coalesced(
            self._store,
            CacheUnavailable,
            size=lambda put: len(put.data),
            check=functools.partial(self.link.check, CacheUnavailable),
        )

    async def open(self) -> None:
        await self.link.probe(CacheUnavailable)

    async def close(self) -> None:
        await self._puts.flush()
        await self.link.close()

    def key(self, key: str) -> str:
        """The Redis key of the entry at `key`."""
        return self._prefix + key

    async def get(self, key: str, now: float) -> CacheEntry | None:
        with self.link.attempt(CacheUnavailable):
            data = await self._client.get(self._prefix + key)
        if not isinstance(data, bytes):
            return None
        entry = CacheEntry.decode(data)
        return entry if entry.expires_at > now else None

    async def put(self, key: str, entry: CacheEntry) -> None:
        ttl_ms = max(int((entry.expires_at - entry.stored_at) * 1000), 1) + _GRACE_MS
        await self._puts(_Put(self.key(key), entry.encode(), ttl_ms))

    async def _store(self, puts: Sequence[_Put]) -> list[Any]:
        arguments = batch_arguments([([put.key], [put.data, put.ttl_ms]) for put in puts])
        with self.link.attempt(CacheUnavailable):
            results = await self._put_all(**arguments)
        return failed_calls(results, CacheUnavailable)

    async def delete(self, key: str) -> bool:
        with self.link.attempt(CacheUnavailable):
            return bool(await self._client.delete(self._prefix + key))

    async def purge(self, prefix: str) -> int:
        with self.link.attempt(CacheUnavailable):
            return await self._purge(prefix)

    async def _purge(self, prefix: str) -> int:
        pattern = _escape(self._prefix + prefix) + "*"
        purged = 0
        batch: list[bytes] = []
        async for key in self._client.scan_iter(match=pattern, count=_PURGE_BATCH):
            batch.append(key)
            if len(batch) >= _PURGE_BATCH:
                purged += await self._client.unlink(*batch)
                batch.clear()
        if batch:
            purged += await self._client.unlink(*batch)
        return purged


def _escape(text: str) -> str:
    """Escape glob characters, so a gateway slug can never widen a purge pattern."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
