"""A short-lived read-through cache that keeps answering while its database is slow or down.

Gateways, tokens and provider keys are read through these on the request path. A fresh entry is
answered at once; a missing one is loaded (the request waits: there is nothing else to answer).
An entry is fresh for `ttl` from when its load began, so while the database answers within
`STALE_WAIT`, a change made elsewhere is seen by every request that arrives more than `ttl` after
it, however long the gateway was idle before.

An expired entry is refreshed by one task per key, and every request for that key meanwhile waits
for it — one database read for a whole burst, which all see what it read — but only until
`STALE_WAIT` after the refresh began. A refresh still under way then has shown the database to be
slow: those requests, and any that arrive while it goes on, get the expired value at once. A
refresh that fails keeps the expired value for another `ttl`. So a database that is slow or
unreachable costs a request at most `STALE_WAIT`, once per key and `ttl`, and never an error, for
anything the gateway has already seen; a healthy one costs the requests that meet a refresh its
round trip. What it has not seen yet is a 503 (`DatabaseUnavailable`) while the database cannot be
read.

`clock` only ages entries (the tests move it); `STALE_WAIT` is real time. A clock that goes back
(a wall clock stepped) expires entries rather than keeping them for as long as it went back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from sluicegate.errors import DatabaseUnavailable, GatewayError

K = TypeVar("K")
V = TypeVar("V")
STALE_WAIT = 0.05  # seconds a request waits for a refresh before it takes the expired value
MAX_ENTRIES = 10_000  # unknown names and bad secrets must not grow this without bound
_log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Refresh(Generic[V]):
    task: asyncio.Task[V]
    deadline: float  # event-loop time: past it, requests stop waiting and take the expired value


class ReadThrough(Generic[K, V]):
    def __init__(
        self, load: Callable[[K], Awaitable[V]], ttl: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}  # key -> (when its load began, value)
        self._refreshing: dict[K, _Refresh[V]] = {}

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        if entry is None:
            return await self._first(key)
        if 0.0 <= self._clock() - entry[0] < self._ttl:
            return entry[1]
        return await self._refreshed(key, entry[1])

    def forget(self, key: K) -> None:
        """A change made here: the next `get` loads afresh (a refresh under way is not kept)."""
        self._entries.pop(key, None)
        self._refreshing.pop(key, None)

    def forget_where(self, drop: Callable[[V], bool]) -> None:
        for key in [key for key, entry in self._entries.items() if drop(entry[1])]:
            self.forget(key)

    async def _first(self, key: K) -> V:
        began = self._clock()
        try:
            return self._put(key, began, await self._load(key))
        except GatewayError:
            raise
        except Exception as exc:  # nothing known to answer with: the client may try again
            _log.warning("database unreachable for a value not seen yet: %s", exc)
            raise DatabaseUnavailable(
                "the gateway's database is unreachable and this replica has not seen what the"
                " request names yet; try again shortly",
                headers={"Retry-After": "1"},
            ) from exc

    async def _refreshed(self, key: K, stale: V) -> V:
        """The value of an expired entry: its refresh's, if that comes within its `STALE_WAIT`."""
        loop = asyncio.get_running_loop()
        refresh = self._refreshing.get(key)
        if refresh is None:
            task = loop.create_task(self._refresh(key, stale))
            refresh = self._refreshing[key] = _Refresh(task, loop.time() + STALE_WAIT)
            task.add_done_callback(lambda done: self._done(key, done))
        wait = refresh.deadline - loop.time()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(asyncio.shield(refresh.task), wait)
        return stale  # the database is slow: it must not hold the request up

    async def _refresh(self, key: K, stale: V) -> V:
        began = self._clock()
        try:
            value = await self._load(key)
        except Exception:  # the database is unreachable: keep answering what we knew
            _log.warning("database unreachable: serving a cached value for another %ss", self._ttl)
            value, began = stale, self._clock()
        refresh = self._refreshing.get(key)
        if refresh is not None and refresh.task is asyncio.current_task():  # else forgotten meanwhile
            self._put(key, began, value)
        return value

    def _done(self, key: K, task: asyncio.Task[V]) -> None:
        refresh = self._refreshing.get(key)
        if refresh is not None and refresh.task is task:
            del self._refreshing[key]

    def _put(self, key: K, began: float, value: V) -> V:
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (began, value)
        return value
