"""The embedded default's counters: in process, copied to a SQLite file behind the request path.

Requests are judged by `MemoryLimiter` alone; no decision waits for the disk. Every `interval`
seconds (1 s by default) a background task takes what settled since the last copy — each fixed
window written to, as its whole figure, and each use added to a sliding window — and writes it in
one transaction on a thread of its own. `close()` (a clean stop) writes the rest; `open()` reads
the file back before the first request. So a clean stop loses nothing, and a killed process loses
at most the last `interval` of settled use. Reservations still held are never written: the
requests that made them did not finish, and a restart releases them.

The file (`counters.db` in the data directory) holds two small tables, each row with the time after
which it counts for nothing; expired rows are deleted as the copy goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sluicegate.datafiles import private_directory, private_file, tighten
from sluicegate.storage.limiter import Changes, MemoryLimiter

T = TypeVar("T")
_log = logging.getLogger(__name__)
FILE_NAME = "counters.db"
DEFAULT_INTERVAL = 1.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS fixed_windows"
    " (key TEXT PRIMARY KEY, window REAL NOT NULL, used REAL NOT NULL, expires REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS fixed_windows_expires ON fixed_windows (expires)",
    "CREATE TABLE IF NOT EXISTS sliding_uses"
    " (key TEXT NOT NULL, at REAL NOT NULL, amount REAL NOT NULL, expires REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sliding_uses_expires ON sliding_uses (expires)",
)


class CounterFile:
    """The SQLite file. Every method runs on the one thread that owns the connection."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None

    def open(self, now: float) -> Changes:
        """Open (or create) the file and read back what has not expired."""
        private_directory(self._path.parent)
        private_file(self._path)
        for suffix in ("-wal", "-shm", "-journal"):
            tighten(self._path.with_name(self._path.name + suffix))
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
        connection.execute("PRAGMA busy_timeout=5000")
        for statement in _SCHEMA:
            connection.execute(statement)
        self._connection = connection
        fixed = connection.execute(
            "SELECT key, window, used, expires FROM fixed_windows WHERE expires > ?", (now,)
        ).fetchall()
        sliding = connection.execute(
            "SELECT key, at, amount, expires FROM sliding_uses WHERE expires > ?", (now,)
        ).fetchall()
        return Changes(fixed, sliding)

    def write(self, changes: Changes, now: float) -> None:
        connection = self._connection
        if connection is None:
            raise RuntimeError("the counter file is not open")
        connection.execute("BEGIN")
        try:
            connection.executemany(
                "INSERT INTO fixed_windows VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE"
                " SET window = excluded.window, used = excluded.used, expires = excluded.expires",
                changes.fixed,
            )
            connection.executemany("INSERT INTO sliding_uses VALUES (?, ?, ?, ?)", changes.sliding)
            connection.execute("DELETE FROM fixed_windows WHERE expires <= ?", (now,))
            connection.execute("DELETE FROM sliding_uses WHERE expires <= ?", (now,))
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class DurableLimiter(MemoryLimiter):
    """`MemoryLimiter`, copied to `CounterFile` every `interval` seconds and at `close`."""

    def __init__(self, path: Path, clock: Callable[[], float], interval: float = DEFAULT_INTERVAL) -> None:
        super().__init__(track=True)
        self._path = path
        self._file = CounterFile(path)
        self._clock = clock
        self._interval = interval
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="counters")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def open(self) -> None:
        self.restore(await self._on_thread(self._file.open, self._clock()), self._clock())
        self._task = asyncio.get_running_loop().create_task(self._run(), name="counters")

    async def close(self) -> None:
        """Stop copying, and write what settled since the last copy."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        try:
            await self.flush()
        except (sqlite3.Error, OSError):  # the stop goes on: the other backends must close too
            _log.exception("the last copy of the rate-limit counters to %s failed", self._path)
        finally:
            await self._on_thread(self._file.close)
            self._executor.shutdown(wait=True)

    async def flush(self) -> None:
        """Write what settled since the last copy. On failure it is kept for the next try."""
        changes = self.changes()
        if not changes.fixed and not changes.sliding:
            return
        try:
            await self._on_thread(self._file.write, changes, self._clock())
        except BaseException:
            self.unwritten(changes)
            raise

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            if self._closing:
                return
            try:
                await self.flush()
            except (sqlite3.Error, OSError):  # a full disk must not stop counting; retried next time
                _log.exception("copying the rate-limit counters to %s failed", self._path)

    async def _on_thread(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)
