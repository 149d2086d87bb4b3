"""The connection that answers reports: log listings and counts, analytics, spend, the semantic
what-if. A third connection to the database, read-only, on a thread of its own.

A report may read for seconds (a year of records); on the shared connection's thread every
request-path read (a gateway or token seen for the first time, a refresh after its `ttl`: see
`readthrough.py`) would queue behind it. WAL lets this connection read while the others read and
write, so the request path never waits for a report, and a report never waits for a log batch.
Reports run one at a time, in the order asked.

The thread runs at a lower CPU priority (Linux nice 10, per thread): a report that sorts for
seconds then leaves the core to the event loop whenever it wants it, on a machine with as few
cores as busy threads. Unlike the log writer's idle class (`background.py`) it is never starved:
it still gets about a tenth of a busy core.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from sluicegate.storage.sqlite_files import connect
from sluicegate.storage.unreachable import not_open, translated

T = TypeVar("T")
NICENESS = 10
INTERRUPT_EVERY = 0.05  # seconds: close() interrupts again until the reports' thread is free


def _lower_priority() -> None:
    """Make the calling thread nicer. Only on Linux is nice per thread, and a thread's native id a
    valid `PRIO_PROCESS` target: elsewhere (macOS, the BSDs) that id could name another process."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)


class SqliteReports:
    """Opened by the store right after it migrated the schema, so it reads the file the store
    opened (not one that replaced it since); closed once, and refusing reports after that."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(1, "sqlite-reports", initializer=_lower_priority)
        self._connection: sqlite3.Connection | None = None
        self._closed = False
        self._closing = threading.Lock()  # interrupt() from the loop never meets close() on the thread

    async def open(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._open)

    def _open(self) -> None:
        # `connect`, never `open_sqlite`: see sqlite_files.py on closing a file's descriptors.
        connection = connect(self._path)
        connection.execute("PRAGMA query_only=1")  # reports never write
        self._connection = connection

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """`job(connection)` on the reports' thread; its rows are best turned into results there too,
        so the event loop gets them whole. After `close()`: DatabaseUnavailable (a 503)."""
        if self._closed:
            raise not_open()
        with translated():  # a lock held past the busy timeout (a WAL checkpoint's): a 503
            return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, job)

    def _call(self, job: Callable[[sqlite3.Connection], T]) -> T:
        connection = self._connection
        if self._closed or connection is None:  # not open yet, or queued behind close()
            raise not_open()
        try:
            return job(connection)
        except sqlite3.OperationalError as error:
            if self._closed:  # interrupted by close()
                raise not_open() from error
            raise

    async def close(self) -> None:
        """Refuse new reports, interrupt the one running (a report may read for minutes), then
        close the connection on its thread once the reports queued before have been refused."""
        if self._closed:
            return
        self._closed = True
        closed = asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        # A statement that began just after an interrupt is not stopped by it: interrupt until the
        # thread gets to `_close` (each statement running then stops with an error).
        while True:
            self._interrupt()
            done, _ = await asyncio.wait({closed}, timeout=INTERRUPT_EVERY)
            if done:
                break
        await closed
        self._executor.shutdown(wait=True)

    def _interrupt(self) -> None:
        with self._closing:
            if self._connection is not None:
                self._connection.interrupt()

    def _close(self) -> None:
        with self._closing:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
