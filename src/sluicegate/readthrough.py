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
read: refused at once, or not answered within `read_timeout` (a stalled server, a partition). The
requests that want the same key meanwhile wait for one load and share its outcome; a load that
fails or times out caches nothing (it is cancelled, so it holds no connection), and the next
request loads afresh. A refresh is bounded the same way, so one stuck read never keeps an entry
from being refreshed once the database answers again.

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
READ_TIMEOUT = 5.0  # seconds a load may take (`timeouts.database_read`) before it counts as failed
MAX_ENTRIES = 10_000  # unknown names and bad secrets must not grow this without bound
_log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Refresh(Generic[V]):
    task: asyncio.Task[V]
    deadline: float  # event-loop time: past it, requests stop waiting (a refresh: take the expired value)


class ReadThrough(Generic[K, V]):
    def __init__(
        self,
        load: Callable[[K], Awaitable[V]],
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._read_timeout = read_timeout
        self._entries: dict[K, tuple[float, V]] = {}  # key -> (when its load began, value)
        self._refreshing: dict[K, _Refresh[V]] = {}
        self._loading: dict[K, _Refresh[V]] = {}  # first loads under way, one per key

    async def get(self, key: K) -> V:
        entry = self._entries.get(key)
        if entry is None:
            return await self._first(key)
        if 0.0 <= self._clock() - entry[0] < self._ttl:
            return entry[1]
        return await self._refreshed(key, entry[1])

    def forget(self, key: K) -> None:
        """A change made here: the next `get` loads afresh (a load or refresh under way is not kept)."""
        self._entries.pop(key, None)
        self._refreshing.pop(key, None)
        self._loading.pop(key, None)

    def forget_where(self, drop: Callable[[V], bool]) -> None:
        for key in [key for key, entry in self._entries.items() if drop(entry[1])]:
            self.forget(key)

    async def _first(self, key: K) -> V:
        """A value never seen (or forgotten): one bounded load for every request that wants it."""
        loop = asyncio.get_running_loop()
        load = self._loading.get(key)
        if load is None:
            task = loop.create_task(self._load_first(key))
            load = self._loading[key] = _Refresh(task, loop.time() + self._read_timeout)
            task.add_done_callback(lambda done: self._loaded(key, done))
        try:
            # Shielded: a request that leaves must not cancel the others' load; waited for only
            # until the deadline, not for the cancelled load to wind down (a driver's cleanup on a
            # stalled connection may take long).
            return await asyncio.wait_for(asyncio.shield(load.task), max(0.0, load.deadline - loop.time()))
        except TimeoutError as exc:
            if self._loading.get(key) is load:
                del self._loading[key]  # the next request loads afresh
            load.task.cancel()
            raise self._unavailable(exc) from exc
        except DatabaseUnavailable as exc:  # the storage's own (unreachable.py): said, as the others
            raise self._unavailable(exc) from exc
        except GatewayError:
            raise
        except Exception as exc:  # nothing known to answer with: the client may try again
            raise self._unavailable(exc) from exc

    @staticmethod
    def _unavailable(exc: BaseException) -> DatabaseUnavailable:
        _log.warning("database unreachable for a value not seen yet: %s", _reason(exc))
        return DatabaseUnavailable(
            "the gateway's database is unreachable and this replica has not seen what the"
            " request names yet; try again shortly",
            headers={"Retry-After": "1"},
        )

    async def _load_first(self, key: K) -> V:
        began = self._clock()
        value = await self._load(key)
        load = self._loading.get(key)
        if load is not None and load.task is asyncio.current_task():  # else forgotten meanwhile
            self._put(key, began, value)
        return value

    def _loaded(self, key: K, task: asyncio.Task[V]) -> None:
        load = self._loading.get(key)
        if load is not None and load.task is task:
            del self._loading[key]
        if not task.cancelled():
            task.exception()  # retrieved here: a load whose waiters all left is not an error to log

    async def _bounded(self, key: K) -> V:
        """The load, cancelled (TimeoutError) when the database does not answer within the bound
        (in this task: its value is kept the moment it comes)."""
        async with asyncio.timeout(self._read_timeout):
            return await self._load(key)

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
            value = await self._bounded(key)
        except Exception as exc:  # the database is unreachable: keep answering what we knew
            _log.warning(
                "database unreachable: serving a cached value for another %ss (%s)", self._ttl, _reason(exc)
            )
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


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer within the read timeout (timeouts.database_read)"
    return str(exc) or type(exc).__name__
