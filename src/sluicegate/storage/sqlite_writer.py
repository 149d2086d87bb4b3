"""The connection that stores log batches: the database's second one, on a thread of its own.

Storing a batch runs behind requests (`background.py`: it yields the CPU to the event loop's
thread, unless the core is found busy and the log behind), so it may take a while; on the shared
connection's thread, a request-path read (a gateway or token refreshed after its `ttl`) would wait
behind it. Here reads never do: WAL lets them read while this connection writes. A write
elsewhere (an annotation, a purge) waits for the lock at most `busy_timeout`, as it would for the
CLI.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator
from pathlib import Path
from typing import TypeVar

from sluicegate.background import Background
from sluicegate.storage.sqlite_files import connect
from sluicegate.storage.unreachable import not_open, translated

T = TypeVar("T")


class SqliteWriter:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._background = Background("sqlite-logs")
        self._connection: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Connect (after the schema is migrated by the main connection)."""
        self._connection = await self._background.run(connect, self._path)  # see sqlite_files.py

    async def close(self) -> None:
        if self._connection is not None:
            await self._background.run(self._connection.close)
            self._connection = None
        self._background.shutdown(wait=True)

    async def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """Run `job` with the writer's connection, behind requests and between log batches (a
        retention chunk: reads on the shared connection go on meanwhile, under WAL)."""
        if self._connection is None:
            raise not_open()
        with translated():  # another writer's lock held past the busy timeout: a 503
            return await self._background.run(job, self._connection)

    async def write_steps(self, job: Callable[[sqlite3.Connection], Generator[None, None, T]]) -> T:
        """Run `job` with the writer's connection in steps (`Background.run_steps`), behind requests."""
        if self._connection is None:
            raise not_open()
        with translated():
            return await self._background.run_steps(job(self._connection))
