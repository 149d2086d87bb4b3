"""The exact cache in Redis, shared by every replica. One round trip per lookup."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import redis.asyncio as redis

from sluicegate.storage.cache import CacheEntry

# Redis keeps an entry this much longer than its TTL; expiry is judged on read by the gateway's
# clock, and Redis's own expiry only reclaims the memory.
_GRACE_MS = 60_000
_PURGE_BATCH = 500


class RedisCache:
    """`redis://host:port/db?prefix=sluicegate:` — keys live under the prefix, so deployments (and
    test runs) sharing one Redis never collide."""

    def __init__(self, url: str) -> None:
        query = parse_qs(urlsplit(url).query)
        self._prefix = query.pop("prefix", ["sluicegate:"])[0] + "cache:"
        clean = url.split("?", 1)[0]
        self._client = redis.Redis.from_url(clean)

    async def open(self) -> None:
        await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()

    async def get(self, key: str, now: float) -> CacheEntry | None:
        data = await self._client.get(self._prefix + key)
        if not isinstance(data, bytes):
            return None
        entry = CacheEntry.decode(data)
        return entry if entry.expires_at > now else None

    async def put(self, key: str, entry: CacheEntry) -> None:
        ttl_ms = max(int((entry.expires_at - entry.stored_at) * 1000), 1) + _GRACE_MS
        await self._client.set(self._prefix + key, entry.encode(), px=ttl_ms)

    async def delete(self, key: str) -> bool:
        return bool(await self._client.delete(self._prefix + key))

    async def purge(self, prefix: str) -> int:
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
