"""A short-lived read-through cache that keeps answering while its database is slow or down.

Gateways, tokens and provider keys are read through these on the request path. A fresh entry is
answered at once; a missing one is loaded (the request waits: there is nothing else to answer).
An expired one is refreshed by one task per key: the request that starts it waits at most
`STALE_WAIT` for it, every other request meanwhile gets the expired value at once, and a refresh
that fails keeps the expired value for another `ttl`. So a database that is slow or unreachable
costs a request at most `STALE_WAIT` once per key and `ttl`, and never an error, for anything
the gateway has already seen. What it has not seen yet is a 503 (`DatabaseUnavailable`) while the
database cannot be read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from sluicegate.errors import DatabaseUnavailable, GatewayError

K = TypeVar("K")
V = TypeVar("V")
STALE_WAIT = 0.05  # seconds a request waits for a refresh before it takes the expired value
MAX_ENTRIES = 10_000  # unknown names and bad secrets must not grow this without bound
_log = logging.getLogger(__name__)


class ReadThrough(Generic[K, V]):
    def __init__(
        self, load: Callable[[K], Awaitable[V]], ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}
        self._refreshing: dict[K, asyncio.Task[V]] = {}

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        if entry is None:
            try:
                return self._put(key, await self._load(key))
            except GatewayError:
                raise
            except Exception as exc:  # nothing known to answer with: the client may try again
                _log.warning("database unreachable for a value not seen yet: %s", exc)
                raise DatabaseUnavailable(
                    "the gateway's database is unreachable and this replica has not seen what the"
                    " request names yet; try again shortly",
                    headers={"Retry-After": "1"},
                ) from exc
        if entry[0] > self._clock():
            return entry[1]
        if key in self._refreshing:
            return entry[1]
        task = asyncio.get_running_loop().create_task(self._refresh(key, entry[1]))
        self._refreshing[key] = task
        task.add_done_callback(lambda done: self._done(key, done))
        with contextlib.suppress(TimeoutError):
            return await asyncio.wait_for(asyncio.shield(task), STALE_WAIT)
        return entry[1]

    def forget(self, key: K) -> None:
        """A change made here: the next `get` loads afresh (a refresh under way is not kept)."""
        self._entries.pop(key, None)
        self._refreshing.pop(key, None)

    def forget_where(self, drop: Callable[[V], bool]) -> None:
        for key in [key for key, entry in self._entries.items() if drop(entry[1])]:
            self.forget(key)

    async def _refresh(self, key: K, stale: V) -> V:
        try:
            value = await self._load(key)
        except Exception:  # the database is unreachable: keep answering what we knew
            _log.warning("database unreachable: serving a cached value for another %ss", self._ttl)
            value = stale
        if self._refreshing.get(key) is asyncio.current_task():  # else forgotten meanwhile
            self._put(key, value)
        return value

    def _done(self, key: K, task: asyncio.Task[V]) -> None:
        if self._refreshing.get(key) is task:
            del self._refreshing[key]

    def _put(self, key: K, value: V) -> V:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (self._clock() + self._ttl, value)
        return value
