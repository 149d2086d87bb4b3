"""The upstream timeout as an idle bound: how long an upstream exchange may go without progress.

An exchange may take as long as it keeps moving: a stream that sends steadily to a client that
reads it is never cut. What is bounded is standing still: from sending the request until the
answer starts (its first body bytes; an answer read whole, all of it), then between a stream's
steps, where a step is the upstream sending the next bytes or the client taking them (the write
to it returning). A client that stops reading holds the upstream connection (and the request's
reservations) for no longer than an upstream that stops sending.

aiohttp's `sock_read` is such a bound (for the upstream's side only), but it re-arms a timer on
every read from the socket. Here each exchange holds one timer at a time: a step only notes when
it happened (`progress`) and who the relay is waiting on (`reader`), and the timer, when it fires,
either finds the exchange still too long or sets itself again for when it would be. A steady
stream re-arms it once per timeout, not once per chunk.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import StreamReader


class IdleWatch:
    """The idle bound of one upstream exchange, started when its request is sent.

    Before the answer's headers, a wait found too long cancels `task` (the one sending; the sender
    tells it from another cancellation by `expired`). After them (`watch(content)`), while the
    relay waits on the upstream (`reader` None), it fails the body's reader with `TimeoutError`,
    which the read waiting on it raises; while the relay waits on its client (`reader`: the task
    writing to it, blocked when the client stops reading), it cancels that task, which closes the
    stream and its client's connection. `stop()` when done."""

    __slots__ = ("_content", "_handle", "_limit", "_loop", "expired", "progress", "reader", "task")

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: float, task: asyncio.Task[Any]) -> None:
        self._loop = loop
        self._limit = limit
        self.task = task
        self._content: StreamReader | None = None
        self.expired = False
        self.progress = loop.time()  # when the exchange last moved: sent, a chunk in, a chunk taken
        self.reader: asyncio.Task[Any] | None = None  # the task the relay waits on, if it does
        self._handle = loop.call_at(self.progress + limit, self._check)

    def watch(self, content: StreamReader) -> None:
        """The answer's headers are in: a wait too long now fails the reads of `content`."""
        self._content = content

    def stop(self) -> None:
        self._handle.cancel()

    def _check(self) -> None:
        due = self.progress + self._limit
        if self._loop.time() >= due:
            self._expire()
        else:
            self._handle = self._loop.call_at(due, self._check)

    def _expire(self) -> None:
        self.expired = True
        if self._content is None:
            self.task.cancel()
        elif self.reader is not None:
            self.reader.cancel()  # blocked writing to a client that stopped reading
        else:
            self._content.set_exception(TimeoutError(f"the upstream sent nothing for {self._limit:g} s"))
