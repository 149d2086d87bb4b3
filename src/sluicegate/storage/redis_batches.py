"""Calls to Redis that share round trips under load.

A command through redis-py costs the client about 0.1 ms of CPU (taking a pooled connection,
packing, the socket's timeout, reading and parsing the answer), nearly all of it per call, not per
item: one script call storing eight cache entries costs about a sixth of eight calls. `Coalesced`
sends what its callers give as batches: a call while nothing is on its way goes at once, alone and
from its caller's own task (an idle gateway pays nothing for batching); calls made while a batch
is on its way go together in the next, sent by a task of their own. So a busy gateway pays one
round trip for many requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

MAX_ITEMS = 64  # items in one batch
MAX_BYTES = 4 << 20  # an item's size as `size` tells; a batch takes at least one item


class Coalesced(Generic[T, R]):
    """`await coalesced(item)` returns the result `send(items)` gave for `item` (one per item, in
    order), or raises what sending its batch raised. A caller that stops waiting (cancelled) while
    its item waits in a batch leaves it there. `flush()` waits until the items queued are sent."""

    def __init__(
        self, send: Callable[[Sequence[T]], Awaitable[Sequence[R]]], size: Callable[[T], int] = lambda _: 0
    ) -> None:
        self._send = send
        self._size = size
        self._queued: list[tuple[T, asyncio.Future[R]]] = []
        self._busy = False  # a batch is on its way
        self._idle = asyncio.Event()  # not busy, nothing queued
        self._idle.set()
        self._sending: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        if not self._busy:
            # Nothing on its way: this item goes at once, alone, and a cancelled caller takes
            # only its own item with it.
            self._started()
            try:
                return (await self._send([item]))[0]
            finally:
                self._done()
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queued.append((item, future))
        return await future

    async def flush(self) -> None:
        await self._idle.wait()

    def _started(self) -> None:
        self._busy = True
        self._idle.clear()

    def _done(self) -> None:
        """A batch is answered: what was queued meanwhile goes next, on a task of its own."""
        self._busy = False
        if self._queued:
            self._started()
            self._sending = asyncio.create_task(self._send_queued())
            self._sending.add_done_callback(self._ended)
        else:
            self._idle.set()

    def _ended(self, task: asyncio.Task[None]) -> None:
        """A task cancelled before its first step (at shutdown) never ran its `finally`."""
        if self._sending is task:
            _settle(self._queued, None, None)
            self._queued = []
            self._sending = None
            self._done()

    async def _send_queued(self) -> None:
        try:
            while self._queued:
                batch = self._next_batch()
                try:
                    results = await self._send([item for item, _ in batch])
                except Exception as exc:
                    _settle(batch, None, exc)
                except BaseException:  # cancelled (at shutdown): no caller is left waiting
                    _settle(batch + self._queued, None, None)
                    self._queued = []
                    raise
                else:
                    _settle(batch, results, None)
        finally:
            self._sending = None
            self._done()

    def _next_batch(self) -> list[tuple[T, asyncio.Future[R]]]:
        taken, size = 0, 0
        for item, _ in self._queued[:MAX_ITEMS]:
            size += self._size(item)
            if taken and size > MAX_BYTES:
                break
            taken += 1
        batch, self._queued = self._queued[:taken], self._queued[taken:]
        return batch


def _settle(
    batch: list[tuple[T, asyncio.Future[R]]], results: Sequence[R] | None, error: Exception | None
) -> None:
    """Each waiting caller's result, or `error`; with neither, the callers are cancelled."""
    for index, (_, future) in enumerate(batch):
        if future.done():  # its caller was cancelled
            continue
        if results is not None:
            future.set_result(results[index])
        elif error is not None:
            future.set_exception(error)
        else:
            future.cancel()
