"""The upstream timeout as an idle bound: how long the gateway waits on an upstream for nothing.

An exchange may take as long as its upstream keeps sending: a stream that sends steadily is never
cut. What is bounded is waiting: from sending the request until the answer starts (its first body
bytes; an answer read whole, all of it), then each wait for a stream's next bytes. Time the gateway
spends elsewhere (writing to a slow client) is not waiting on the upstream, so it never counts.

aiohttp's `sock_read` is such a bound, but it re-arms a timer on every read from the socket. Here
each exchange holds one timer at a time: a read only notes when the wait for it began
(`waiting_since`, None between waits), and the timer, when it fires, either finds the current wait
too long or sets itself again for when that wait would be. A steady stream re-arms it once per
timeout, not once per chunk.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import StreamReader


class IdleWatch:
    """The idle bound of one upstream exchange, started when its request is sent.

    Before the answer's headers, a wait found too long cancels `task` (the one sending; the sender
    tells it from another cancellation by `expired`); after them (`watch(content)`), it fails the
    body's reader with `TimeoutError`, which the read waiting on it raises. `stop()` when done."""

    __slots__ = ("_content", "_handle", "_limit", "_loop", "_task", "expired", "waiting_since")

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: float, task: asyncio.Task[Any]) -> None:
        self._loop = loop
        self._limit = limit
        self._task = task
        self._content: StreamReader | None = None
        self.expired = False
        # When the current wait on the upstream began; None while the gateway is not waiting on it.
        self.waiting_since: float | None = loop.time()
        self._handle = loop.call_at(self.waiting_since + limit, self._check)

    def watch(self, content: StreamReader) -> None:
        """The answer's headers are in: a wait too long now fails the reads of `content`."""
        self._content = content

    def stop(self) -> None:
        self._handle.cancel()

    def _check(self) -> None:
        now = self._loop.time()
        since = self.waiting_since
        if since is None:
            due = now + self._limit  # not waiting: no wait can end sooner than a whole limit from now
        elif now - since >= self._limit:
            self._expire()
            return
        else:
            due = since + self._limit
        self._handle = self._loop.call_at(due, self._check)

    def _expire(self) -> None:
        self.expired = True
        if self._content is None:
            self._task.cancel()
        else:
            self._content.set_exception(TimeoutError(f"the upstream sent nothing for {self._limit:g} s"))
