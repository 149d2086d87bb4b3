"""Where the output items of rendered Responses answers are kept, by id, for a while.

A kept item is JSON bytes under `(scope, id)` (a scope is one gateway: `account/gateway`). Reading
an item keeps it `ttl` seconds more, as writing it did: a conversation that goes on keeps its items.
The items together hold at most `max_bytes`, each counted with its key and `ENTRY_BYTES` for what
the store spends beside them (the key object, the LRU's links, Redis's key and expiry entries); an
item over `ITEM_MAX_BYTES` is not kept. `max_bytes` 0 keeps none (`item_store` is None).

- In process (`MemoryItemStore`): the least recently used go first once they hold more. Each process
  keeps its own: the workers of `serve --workers N` and replicas without Redis do not see each
  other's (`not_shared`).
- In Redis (`redis_response_items.py`), when the cache is: every replica reads what any kept. They
  share Redis with the rate-limit counters, which must not be evicted (docs/limits.md: keep
  `noeviction`), so the store bounds itself: once full, an answer's items are not kept until older
  ones expire.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from sluicegate.config import Settings
    from sluicegate.storage.redis_link import RedisConnection

# Larger than any one answer's text or tool call (about 250,000 tokens): what is over it is a
# runaway upstream's, and not kept.
ITEM_MAX_BYTES: Final = 1024 * 1024
# What an entry costs beside its item and key, in process: measured at about 370 bytes for the
# tuples, the float, the bytes and str headers and the OrderedDict's entry; Redis spends less.
ENTRY_BYTES: Final = 400


class ItemsUnavailable(Exception):
    """The store did not answer (Redis unreachable)."""


class ItemStore(Protocol):
    ttl: float
    # Each process keeps its own items: a request may name one another process rendered.
    not_shared: bool

    async def put(self, scope: str, items: Mapping[str, bytes]) -> None: ...

    async def get(self, scope: str, ids: Collection[str]) -> dict[str, bytes]:
        """The items kept under those ids (the others are not, or no longer, kept)."""
        ...


def entry_bytes(key: str, data: bytes) -> int:
    """What an item counts against the bound, by its key (scope and id) and its bytes."""
    return len(key.encode()) + len(data) + ENTRY_BYTES


class MemoryItemStore:
    """An LRU of at most `max_bytes` of entries, each kept `ttl` seconds after it was last written
    or read (by `clock`). Every item lives as long, so the least recently used is also the first
    to expire: both are dropped from the front."""

    not_shared = True

    def __init__(self, max_bytes: int, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._max_bytes = max_bytes
        self._clock = clock
        self._items: OrderedDict[tuple[str, str], tuple[float, bytes, int]] = OrderedDict()
        self._bytes = 0

    async def put(self, scope: str, items: Mapping[str, bytes]) -> None:
        expires = self._clock() + self.ttl
        for item_id, data in items.items():
            self._drop((scope, item_id))
            size = entry_bytes(scope + item_id, data)
            if len(data) <= ITEM_MAX_BYTES and size <= self._max_bytes:
                self._items[scope, item_id] = (expires, data, size)
                self._bytes += size
        self._trim()

    async def get(self, scope: str, ids: Collection[str]) -> dict[str, bytes]:
        self._trim()
        found: dict[str, bytes] = {}
        expires = self._clock() + self.ttl
        for item_id in ids:
            entry = self._items.get((scope, item_id))
            if entry is not None:
                self._items[scope, item_id] = (expires, *entry[1:])
                self._items.move_to_end((scope, item_id))
                found[item_id] = entry[1]
        return found

    def _drop(self, key: tuple[str, str]) -> None:
        entry = self._items.pop(key, None)
        if entry is not None:
            self._bytes -= entry[2]

    def _trim(self) -> None:
        now = self._clock()
        while self._items:
            key, (expires, _, _) = next(iter(self._items.items()))
            if self._bytes <= self._max_bytes and expires > now:
                return
            self._drop(key)


def item_store(
    settings: Settings, redis: RedisConnection | None, clock: Callable[[], float]
) -> ItemStore | None:
    """The store the settings ask for: None when `response_items_bytes` is 0, in Redis when the
    cache is, else in process."""
    stores = settings.stores
    if stores.response_items_bytes == 0:
        return None
    if redis is not None:
        from sluicegate.storage.redis_response_items import RedisItemStore

        return RedisItemStore(redis, stores.response_items_ttl, stores.response_items_bytes, clock)
    return MemoryItemStore(stores.response_items_bytes, stores.response_items_ttl, clock)
