"""A read-through cache of gateways, so the request path does not touch the database.

Entries live `ttl` seconds; a change made through another process (the CLI, another replica) is
seen within that time, and a change made through this process at once (`invalidate`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sluicegate.gateway import Gateway
from sluicegate.storage.base import Store


class GatewayDirectory:
    def __init__(self, store: Store, ttl: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, Gateway | None]] = {}

    async def get(self, account: str, slug: str) -> Gateway | None:
        key = (account, slug)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        gateway = await self._store.get_gateway(account, slug)
        if len(self._entries) > 10_000:  # unknown slugs must not grow this without bound
            self._entries.clear()
        self._entries[key] = (now + self._ttl, gateway)
        return gateway

    async def list(self, account: str) -> list[Gateway]:
        """Every gateway of `account`, from the store (used for error messages and listings)."""
        return await self._store.list_gateways(account)

    def invalidate(self, account: str, slug: str) -> None:
        self._entries.pop((account, slug), None)
