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
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from sluicegate.storage.sqlite_files import connect

T = TypeVar("T")
NICENESS = 10


def _lower_priority() -> None:
    """Make the calling thread nicer (Linux: nice is per thread), where the system allows it."""
    if hasattr(os, "setpriority"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)


class SqliteReports:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(1, "sqlite-reports", initializer=_lower_priority)
        self._connection: sqlite3.Connection | None = None

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """`job(connection)` on the reports' thread; its rows are best turned into results there too,
        so the event loop gets them whole."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, job)

    def _call(self, job: Callable[[sqlite3.Connection], T]) -> T:
        if self._connection is None:
            # Opened on first use, after the main connection migrated the schema. `connect`, never
            # `open_sqlite`: see sqlite_files.py on closing a file's descriptors.
            self._connection = connect(self._path)
            self._connection.execute("PRAGMA query_only=1")  # reports never write
        return job(self._connection)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
