"""The records too costly to build on the event loop (redaction rules, a universal request's body),
built on a thread of their own as soon as they come and handed to the spool.

A record reaches the spool only once built, and until then it is in memory: a killed process loses
what waits here. So nothing waits for the log's flush interval, for the database, or behind the
log's idle-class work (`background.py`: on a core that never idles that thread starves, and with it
the last seconds of answers went unlogged after a `kill -9`). The thread is a normal one: the build
is work the request has already caused, done a few milliseconds after its answer, one batch at a
time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from sluicegate.exchange import Exchange
from sluicegate.outcome import Outcome
from sluicegate.storage.base import LogRecord

_log = logging.getLogger(__name__)
Finished = tuple[Exchange, Outcome]
BuildAll = Callable[[list[Finished]], list[tuple[Exchange, LogRecord]]]
ToSpool = Callable[[Exchange, LogRecord], None]


class SpoolBuilder:
    def __init__(self, build_all: BuildAll, to_spool: ToSpool, batch_size: int) -> None:
        self._build_all = build_all
        self._to_spool = to_spool
        self._batch_size = batch_size
        self._unbuilt: list[Finished] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._thread = ThreadPoolExecutor(1, "log-build")
        self._task: asyncio.Task[None] | None = None
        # One build at a time: a `drain` that came while the task builds a batch waits for it,
        # so what was added before the drain is spooled when it returns.
        self._building = asyncio.Lock()

    @property
    def waiting(self) -> int:
        """Records answered and not yet built: in memory, for the few milliseconds of a build."""
        return len(self._unbuilt)

    def add(self, finished: Finished) -> None:
        self._unbuilt.append(finished)
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="log-build")

    async def drain(self) -> None:
        """Build and spool what waits now (before a flush, which stores what is spooled)."""
        await self._build_waiting()

    async def close(self) -> None:
        """Build and spool everything added so far, then stop."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._build_waiting()  # (never started: a logbook closed before its start)
        self._thread.shutdown(wait=False)

    async def _run(self) -> None:
        while not self._closing:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._build_waiting()
            except Exception:  # (a build never raises: `Logbook._build_all`) nothing must end it
                _log.exception("building log records failed")
        await self._build_waiting()

    async def _build_waiting(self) -> None:
        loop = asyncio.get_running_loop()
        async with self._building:
            while self._unbuilt:
                batch, self._unbuilt = self._unbuilt[: self._batch_size], self._unbuilt[self._batch_size :]
                for exchange, record in await loop.run_in_executor(self._thread, self._build_all, batch):
                    self._to_spool(exchange, record)
