"""Calls to Redis that share round trips under load, and the script that runs a batch of them.

A command through redis-py costs the client about 0.1 ms of CPU (taking a pooled connection,
packing, the socket's timeout, reading and parsing the answer), nearly all of it per call, not per
item: one script call storing eight cache entries costs about a sixth of eight calls. `Coalesced`
sends what its callers give as batches: a call while nothing is on its way goes at once, alone and
from its caller's own task (an idle gateway pays nothing for batching); calls made while a batch
is on its way go together in the next, sent by a task of their own. So a busy gateway pays one
round trip for many requests, and a call waits at most for the batch before it. A call that
would fail at once when sent (`check`: Redis is known unreachable, and paused or being tried
again by the batch on its way) fails at once instead of waiting behind that batch's timeout.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import redis

T = TypeVar("T")
R = TypeVar("R")

MAX_ITEMS = 64  # items in one batch
MAX_BYTES = 1 << 20  # an item's size as `size` tells; a batch takes at least one item


class Coalesced(Generic[T, R]):
    """`await coalesced(item)` returns the result `send(items)` gave for `item` (one per item, in
    order), or raises it when it is an exception (that item's alone), or raises what sending its
    batch raised (each caller its own copy). A caller that stops
    waiting (cancelled) while its item waits in the queue leaves it there, unless `drop_abandoned`
    (an item that counts something for its caller: nobody would take the count back). Callers still
    waiting when the sending task is cancelled (a shutdown) get `unavailable(message)`.
    `check()`, before an item is queued behind a batch on its way, raises what sending it would
    raise at once (a `RedisLink.check`), so the item does not wait for that batch to fail.
    `flush()` waits until the items queued are sent."""

    def __init__(
        self,
        send: Callable[[Sequence[T]], Awaitable[Sequence[R]]],
        unavailable: Callable[[str], Exception],
        *,
        size: Callable[[T], int] = lambda _: 0,
        drop_abandoned: bool = False,
        check: Callable[[], None] = lambda: None,
    ) -> None:
        self._send = send
        self._check = check
        self._unavailable = unavailable
        self._size = size
        self._drop_abandoned = drop_abandoned
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
                result = (await self._send([item]))[0]
            finally:
                self._done()
            if isinstance(result, Exception):
                raise result
            return result
        self._check()
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
            self._give_up(self._queued)
            self._queued = []
            self._sending = None
            self._done()

    async def _send_queued(self) -> None:
        try:
            while self._queued:
                batch: list[tuple[T, asyncio.Future[R]]] = []
                try:
                    batch = self._next_batch()
                    if not batch:
                        continue
                    results = await self._send([item for item, _ in batch])
                    if len(results) != len(batch):
                        raise RuntimeError(f"{len(results)} results for a batch of {len(batch)}")
                except Exception as exc:
                    _settle(batch, None, exc)
                except BaseException:  # cancelled (at shutdown)
                    self._give_up(batch + self._queued)
                    self._queued = []
                    raise
                else:
                    _settle(batch, results, None)
        finally:
            self._sending = None
            self._done()

    def _next_batch(self) -> list[tuple[T, asyncio.Future[R]]]:
        if self._drop_abandoned:
            self._queued = [(item, future) for item, future in self._queued if not future.done()]
        taken, size = 0, 0
        for item, _ in self._queued[:MAX_ITEMS]:
            size += self._size(item)
            if taken and size > MAX_BYTES:
                break
            taken += 1
        batch, self._queued = self._queued[:taken], self._queued[taken:]
        return batch

    def _give_up(self, waiting: list[tuple[T, asyncio.Future[R]]]) -> None:
        _settle(waiting, None, self._unavailable("Redis: the process is stopping"))


def _settle(
    batch: list[tuple[T, asyncio.Future[R]]], results: Sequence[R] | None, error: Exception | None
) -> None:
    """Each waiting caller's result, or a copy of `error` of its own (a traceback is per raise)."""
    for index, (_, future) in enumerate(batch):
        if future.done():  # its caller was cancelled
            continue
        if results is not None:
            result = results[index]
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
        elif error is not None:
            own = copy.copy(error)
            own.__cause__ = error.__cause__
            future.set_exception(own)


# The Lua side: one script call that runs a function once per item of a batch, as `send` for a
# `Coalesced` of script calls (the limiter, the cache admission, the cache's stores).


def batched(function: str) -> str:
    """The body of a script that runs the Lua `function(keys, argv)` once per call of a batch, in
    order, and returns their results. KEYS: each call's keys in turn; ARGV: the number of calls,
    then per call: its number of keys and of arguments, then its arguments (`batch_arguments`).
    A call that fails (a key of the wrong type) is an error reply in its own place: the calls
    before it have run, and those after it run, as if each had been sent alone."""
    return f"""
local results, key, arg = {{}}, 1, 2
for i = 1, tonumber(ARGV[1]) do
  local key_count, arg_count = tonumber(ARGV[arg]), tonumber(ARGV[arg + 1])
  arg = arg + 2
  local keys = {{unpack(KEYS, key, key + key_count - 1)}}
  local argv = {{unpack(ARGV, arg, arg + arg_count - 1)}}
  key, arg = key + key_count, arg + arg_count
  local ran, result = pcall({function}, keys, argv)
  if ran then
    results[i] = result
  else
    results[i] = redis.error_reply(type(result) == 'table' and result.err or tostring(result))
  end
end
return results
"""


def batch_arguments(
    calls: Sequence[tuple[Sequence[str], Sequence[str | bytes | float]]],
) -> dict[str, Any]:
    """The `keys` and `args` of a `batched` script for `calls`, each its keys and arguments."""
    keys: list[str] = []
    args: list[str | bytes | float] = [len(calls)]
    for call_keys, call_args in calls:
        keys += call_keys
        args += (len(call_keys), len(call_args), *call_args)
    return {"keys": keys, "args": args}


def failed_calls(results: list[Any], unavailable: Callable[[str], Exception]) -> list[Any]:
    """A `batched` script's results, a call's error reply (Redis reached, but that call's keys
    could not be used) as the feature's own error, for its caller alone."""
    return [
        unavailable(f"Redis: {result}") if isinstance(result, redis.ResponseError) else result
        for result in results
    ]
