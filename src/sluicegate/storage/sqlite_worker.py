"""The connection every SQLite store part shares: one worker thread owns it, so the event loop
never blocks on disk and SQLite never sees two threads. It answers the request path (gateways,
tokens, keys, routes) and the small admin reads and writes. Log batches are stored through a second
connection (`sqlite_writer.py`), reports read through a third (`sqlite_reports.py`) and the exact
cache's entries through two more (`sqlite_cache.py`), so neither a batch, a report of many records
nor a cache store that meets another writer's lock ever holds up a request's read."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sluicegate.storage.gateway_rows import GatewayRows
from sluicegate.storage.sqlite_cache import SqliteCacheTable
from sluicegate.storage.sqlite_reports import SqliteReports
from sluicegate.storage.sqlite_writer import SqliteWriter
from sluicegate.storage.unreachable import not_open, translated

T = TypeVar("T")


class SqliteWorker:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._connection: sqlite3.Connection | None = None
        self._writer = SqliteWriter(path)  # log batches: their own connection and thread
        self._reports = SqliteReports(path)  # reports over many records: theirs too
        self._cache_table = SqliteCacheTable(path)  # the exact cache's lookups and stores: theirs
        self.gateway_rows = GatewayRows()  # its gateways' parsed settings

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` on the worker's thread; a lock held past the busy timeout by another
        writer is a DatabaseUnavailable (a 503), as PostgreSQL out of reach is."""
        with translated():
            return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def _report(self, job: Callable[[sqlite3.Connection], T]) -> T:
        """`job(connection)` on the reports' connection and thread, never in the request path's way."""
        return await self._reports.run(job)

    @property
    def reports(self) -> SqliteReports:
        """The reports' connection and thread: `reports.run(job)` is what every report does."""
        return self._reports

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise not_open()
        return self._connection
