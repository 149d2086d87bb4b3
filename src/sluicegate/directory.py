"""A read-through cache of gateways, so the request path does not touch the database.

Entries live `ttl` seconds; a change made through another process (the CLI, another replica) is
seen within that time, and a change made through this process at once (`invalidate`). While the
database is down, the gateways already seen keep being answered (see `readthrough.py`).

`watchers` are told of each gateway read from the store (first read or refresh), as the admin API
tells them of one it saves: a replica learns so of a change made through another (the semantic
cache turned on there warms its models up here too).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from sluicegate.gateway import Gateway
from sluicegate.readthrough import READ_TIMEOUT, ReadThrough
from sluicegate.storage.base import GatewayStore


class GatewayDirectory:
    def __init__(
        self,
        store: GatewayStore,
        ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        read_timeout: float = READ_TIMEOUT,
        watchers: Sequence[Callable[[Gateway], None]] = (),
    ) -> None:
        self._store = store
        self._watchers = watchers
        self._entries: ReadThrough[tuple[str, str], Gateway | None] = ReadThrough(
            self._load, ttl, clock, read_timeout
        )

    async def get(self, account: str, slug: str) -> Gateway | None:
        return await self._entries.get((account, slug))

    async def _load(self, key: tuple[str, str]) -> Gateway | None:
        gateway = await self._store.get_gateway(*key)
        if gateway is not None:
            for watch in self._watchers:
                watch(gateway)
        return gateway

    async def list(self, account: str) -> list[Gateway]:
        """Every gateway of `account`, from the store (used for error messages and listings)."""
        return await self._store.list_gateways(account)

    def invalidate(self, account: str, slug: str) -> None:
        self._entries.forget((account, slug))
