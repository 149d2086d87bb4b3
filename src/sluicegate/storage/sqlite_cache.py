"""The exact cache's table on SQLite, read and written through connections of its own, each on a
thread of its own: the cache never makes a request wait for the database (docs/durability.md).

On the shared connection (`sqlite_worker.py`), a store that met another writer's lock (a CLI's
`BEGIN EXCLUSIVE`, a backup, a long log batch) sat in SQLite's busy timeout (5 s), and the next
request's lookup queued behind it: 17, 5020, 540, 15 ms for sequential misses. Here a lookup reads
through a read-only connection, which under WAL reads beside any writer and queues behind other
lookups only. A store goes through a connection that waits for the lock at most `WRITE_WAIT`; one
that fails makes the stores of the next `REST` seconds fail at once, on the thread, so the stores
queued behind it do not each wait too. A store that fails is dropped: the answer is still served
from this process's memory (`MemoryCache`, which counts and logs it). Purges and deletes (admin
calls, which may wait) stay on the shared connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sluicegate.storage.sqlite_files import connect
from sluicegate.storage.unreachable import not_open, translated

T = TypeVar("T")
WRITE_WAIT = 0.5  # seconds a store waits for another writer's lock (a log batch takes a few ms)
READ_WAIT = 0.1  # seconds a lookup waits, should a reader ever be locked out (a WAL recovery)
REST = 1.0  # seconds after a store failed on the lock during which stores fail at once
_BUSY = "database is locked"


class SqliteCacheTable:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._reads = ThreadPoolExecutor(1, "sqlite-cache-reads")
        self._writes = ThreadPoolExecutor(1, "sqlite-cache-writes")
        self._reader: sqlite3.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        self._resting_until = 0.0  # (monotonic) read and written on the writes' thread only

    async def open(self) -> None:
        """Connect, after the schema is migrated (`connect`, never `open_sqlite`: see sqlite_files.py)."""
        self._reader = await self._on(self._reads, self._connect, READ_WAIT, True)
        self._writer = await self._on(self._writes, self._connect, WRITE_WAIT, False)

    async def close(self) -> None:
        for executor, connection in ((self._reads, self._reader), (self._writes, self._writer)):
            if connection is not None:
                await self._on(executor, connection.close)
        self._reader = self._writer = None
        self._reads.shutdown(wait=True)
        self._writes.shutdown(wait=True)

    async def get(self, key: str) -> bytes | None:
        with translated():  # a lock past READ_WAIT: DatabaseUnavailable, which the cache takes for a miss
            return await self._on(self._reads, self._select, key)

    async def put(self, key: str, data: bytes, expires_at: float) -> None:
        with translated():  # the lock past WRITE_WAIT, or resting: DatabaseUnavailable, the store dropped
            await self._on(self._writes, self._insert, key, data, expires_at)

    def _connect(self, wait: float, read_only: bool) -> sqlite3.Connection:
        connection = connect(self._path)
        connection.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
        if read_only:
            connection.execute("PRAGMA query_only=1")
        return connection

    def _select(self, key: str) -> bytes | None:
        if self._reader is None:
            raise not_open()
        row = self._reader.execute("SELECT data FROM cache WHERE key = ?", (key,)).fetchone()
        return bytes(row[0]) if row else None

    def _insert(self, key: str, data: bytes, expires_at: float) -> None:
        if self._writer is None:
            raise not_open()
        if time.monotonic() < self._resting_until:
            raise sqlite3.OperationalError(f"{_BUSY} (a store just now waited for it in vain)")
        sql = "INSERT OR REPLACE INTO cache (key, expires_at, data) VALUES (?, ?, ?)"
        try:
            self._writer.execute(sql, (key, expires_at, data))
        except sqlite3.OperationalError as error:
            if str(error).startswith(_BUSY):
                self._resting_until = time.monotonic() + REST
            raise

    async def _on(self, executor: ThreadPoolExecutor, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(executor, function, *args)
