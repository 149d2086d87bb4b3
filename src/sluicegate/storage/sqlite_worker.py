"""The connection every SQLite store part shares: one worker thread owns it, so the event loop
never blocks on disk and SQLite never sees two threads."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sluicegate.background import Background

T = TypeVar("T")


class SqliteWorker:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._background = Background()  # the executor's one thread's
        self._connection: sqlite3.Connection | None = None

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    async def _run_in_background(self, function: Callable[..., T], *args: Any) -> T:
        """`_run` for work no request waits for (storing log batches): it yields the CPU to the
        event loop's thread (background.py)."""
        return await self._run(self._background.run, functools.partial(function, *args))

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError("database is not open")
        return self._connection
