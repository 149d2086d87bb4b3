"""Cache entries and the in-process cache backends: a byte-bounded LRU, optionally over SQLite.

Keys are `{account}/{gateway}/{digest}`, so a purge by prefix never crosses gateways.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import orjson

from sluicegate.errors import DatabaseUnavailable

_HEADER_LENGTH = struct.Struct(">I")
_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """A stored answer. `latency_ms` is the original request's: the time each hit saves."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    streamed: bool
    latency_ms: float
    stored_at: float
    expires_at: float

    @property
    def size(self) -> int:
        return len(self.body) + 256  # the body dominates; 256 covers headers and bookkeeping

    def encode(self) -> bytes:
        """`length | JSON metadata | body`: the body is stored as is, not re-encoded."""
        meta = orjson.dumps(
            [self.status, self.headers, self.streamed, self.latency_ms, self.stored_at, self.expires_at]
        )
        return _HEADER_LENGTH.pack(len(meta)) + meta + self.body

    @classmethod
    def decode(cls, data: bytes) -> CacheEntry:
        (length,) = _HEADER_LENGTH.unpack_from(data)
        status, headers, streamed, latency_ms, stored_at, expires_at = orjson.loads(
            data[_HEADER_LENGTH.size : _HEADER_LENGTH.size + length]
        )
        return cls(
            status=status,
            headers=tuple((name, value) for name, value in headers),
            body=data[_HEADER_LENGTH.size + length :],
            streamed=streamed,
            latency_ms=latency_ms,
            stored_at=stored_at,
            expires_at=expires_at,
        )


class CacheUnavailable(Exception):
    """The shared cache (Redis) cannot be reached: a lookup counts as a miss, a store is skipped."""


class Cache(Protocol):
    """Where answers are kept. Expiry is judged by the caller's clock (`now`), so tests need no sleep."""

    async def get(self, key: str, now: float) -> CacheEntry | None: ...

    async def put(self, key: str, entry: CacheEntry) -> None: ...

    async def delete(self, key: str) -> bool: ...

    async def purge(self, prefix: str) -> int:
        """Delete every entry whose key starts with `prefix`."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...


@runtime_checkable
class CacheStore(Protocol):
    """The persistent layer under the LRU (the SQLite database implements it)."""

    async def cache_get(self, key: str) -> bytes | None: ...

    async def cache_put(self, key: str, data: bytes, expires_at: float) -> None: ...

    async def cache_delete(self, key: str) -> bool: ...

    async def cache_purge(self, prefix: str) -> int: ...


@dataclass
class MemoryCache:
    """An LRU bounded in bytes; with `store`, a write-behind layer over it that survives restarts.

    The store never makes a request wait (docs/durability.md): a lookup it cannot answer (the
    database down, or locked past the store's short wait) is a miss, and a store it cannot take is
    dropped — the answer stays in memory — counted (`dropped_writes`) and logged once per outage,
    as is its end. Stores waiting to be written hold at most `max_bytes`; past that one is dropped."""

    max_bytes: int
    store: CacheStore | None = None
    _entries: OrderedDict[str, CacheEntry] = field(default_factory=OrderedDict)
    _bytes: int = 0
    _pending: set[asyncio.Task[Any]] = field(default_factory=set)
    _pending_bytes: int = 0
    dropped_writes: int = 0  # stores the store did not take, since start
    _failing_since: float | None = None  # (monotonic) the first store dropped in this outage
    _dropped_then: int = 0  # `dropped_writes` when it began

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def get(self, key: str, now: float) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is None and self.store is not None:
            try:
                data = await self.store.cache_get(key)
            except DatabaseUnavailable:
                data = None  # a miss: answered from upstream, never a wait or a 503
            if data is not None:
                entry = CacheEntry.decode(data)
                self._remember(key, entry)
        if entry is None:
            return None
        if entry.expires_at <= now:
            self._forget(key)
            return None
        self._entries.move_to_end(key)
        return entry

    async def put(self, key: str, entry: CacheEntry) -> None:
        self._remember(key, entry)
        if self.store is None:
            return
        if self._pending_bytes and self._pending_bytes + entry.size > self.max_bytes:
            self._dropped("the stores waiting to be written hold the cache's size already")
            return
        # Written behind: a hit from this replica is served from memory meanwhile.
        self._pending_bytes += entry.size
        task = asyncio.create_task(self._write(self.store, key, entry))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, store: CacheStore, key: str, entry: CacheEntry) -> None:
        try:
            await store.cache_put(key, entry.encode(), entry.expires_at)
        except DatabaseUnavailable as error:
            self._dropped(str(error.__cause__ or error))
        else:
            if self._failing_since is not None:
                _log.info(
                    "the exact cache's entries are stored in the database again after %.1f s;"
                    " %d were kept in memory only meanwhile",
                    time.monotonic() - self._failing_since,
                    self.dropped_writes - self._dropped_then,
                )
                self._failing_since = None
        finally:
            self._pending_bytes -= entry.size

    def _dropped(self, cause: str) -> None:
        if self._failing_since is None:
            _log.warning(
                "the exact cache's entries cannot be stored in the database (%s): answers are"
                " cached in this process's memory only until they can",
                cause,
            )
            self._failing_since, self._dropped_then = time.monotonic(), self.dropped_writes
        self.dropped_writes += 1

    async def delete(self, key: str) -> bool:
        found = self._forget(key)
        if self.store is None:
            return found
        await self._settle()
        return await self.store.cache_delete(key) or found

    async def purge(self, prefix: str) -> int:
        doomed = [key for key in self._entries if key.startswith(prefix)]
        for key in doomed:
            self._forget(key)
        if self.store is None:
            return len(doomed)
        await self._settle()
        return max(len(doomed), await self.store.cache_purge(prefix))

    async def _settle(self) -> None:
        """Let pending writes land first, so a purge cannot be undone by a write still in flight."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    def _remember(self, key: str, entry: CacheEntry) -> None:
        if entry.size > self.max_bytes:
            return
        self._forget(key)
        self._entries[key] = entry
        self._bytes += entry.size
        while self._bytes > self.max_bytes:
            _, oldest = self._entries.popitem(last=False)
            self._bytes -= oldest.size

    def _forget(self, key: str) -> bool:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size
        return entry is not None
