"""The upstream timeout on the client's side of a streamed answer: how long one write to it may wait.

While an upstream stream is relayed, its idle watch (upstream_idle.py) cuts a client that stops
reading. The other writes of a streamed answer have no such watch: an answer from the cache, what
a stage writes once the upstream's part has ended (a translation's error event after an upstream
that went quiet or broke off, its closing events) and the answer's end. To a client that stopped
reading with the buffers on the way full, each of them waited until that client went away, holding
the handler and, until the log stage saw the answer end, the request's log record and reservations.

`WriteWatch` bounds every write as the idle watch bounds the relay's: one still under way after
the limit cancels the task writing (the handler), which closes the connection; the log records a
client gone. One timer per answer, set again once per limit, not per chunk: a write only notes
when it began.
"""

from __future__ import annotations

import asyncio
from typing import Any


class WriteWatch:
    """Bounds each write of one answer to `limit` seconds; `since` is when the write under way
    began (loop time), None between writes. `stop()` when the answer is done."""

    __slots__ = ("_handle", "_limit", "_loop", "_task", "since")

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: float, task: asyncio.Task[Any]) -> None:
        self._loop = loop
        self._limit = limit
        self._task = task
        self.since: float | None = None
        self._handle = loop.call_at(loop.time() + limit, self._check)

    def stop(self) -> None:
        self._handle.cancel()

    def _check(self) -> None:
        since, now = self.since, self._loop.time()
        if since is not None and now >= since + self._limit:
            self._task.cancel()  # waiting on a client that stopped reading
            return
        self._handle = self._loop.call_at((now if since is None else since) + self._limit, self._check)
