"""The SQLite reports' connection (`storage/sqlite_reports.py`): opened with the store, never
after; refusing reports cleanly once closed; a running report interrupted by close(); and the
request path's reads never waiting behind a report (review of 73b1254)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from sluicegate.endpoints.log_params import log_query
from sluicegate.errors import DatabaseUnavailable
from sluicegate.gateway import GatewaySettings
from sluicegate.storage.sqlite import SqliteDatabase

# About 20 s of SQLite's time: far longer than any close() may wait.
LONG_REPORT = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 60000000)"
    " SELECT count(*) FROM n"
)
ALL_LOGS = log_query("local", None, {})  # an account's log count: a report


def descriptors_of(path: Path) -> list[str]:
    """This process's open descriptors of `path` (Linux)."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target == str(path):
            found.append(fd)
    return found


async def held_report(database: SqliteDatabase) -> tuple[asyncio.Task[int], threading.Event]:
    """A report that has read the log and holds its thread until the returned event is set."""
    started, release = threading.Event(), threading.Event()

    def report(connection: sqlite3.Connection) -> int:
        count = int(connection.execute("SELECT count(*) FROM logs").fetchone()[0])
        started.set()
        release.wait(30)
        return count

    task = asyncio.create_task(database.reports.run(report))
    assert await asyncio.to_thread(started.wait, 10)
    return task, release


async def test_request_path_reads_answer_while_a_report_runs(database: SqliteDatabase) -> None:
    await database.create_gateway("local", "fresh", "Fresh", GatewaySettings())
    report, release = await held_report(database)
    try:
        # What a gateway's first request reads: the gateway, its stored keys, custom providers.
        gateway = await asyncio.wait_for(database.get_gateway("local", "fresh"), 5)
        assert gateway is not None
        assert await asyncio.wait_for(database.provider_keys("local", "fresh"), 5) == []
        assert await asyncio.wait_for(database.custom_providers("local"), 5) == []
        assert not report.done()
    finally:
        release.set()
    assert await report == 0


async def test_a_report_after_close_is_database_unavailable(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "sluicegate.db")
    await database.open()
    await database.close()
    with pytest.raises(DatabaseUnavailable):
        await database.count_matching_logs(ALL_LOGS)


async def test_a_report_asked_while_closing_is_refused_and_leaves_no_connection(tmp_path: Path) -> None:
    path = tmp_path / "sluicegate.db"
    database = SqliteDatabase(path)
    await database.open()
    report, release = await held_report(database)
    closing = asyncio.create_task(database.close())
    await asyncio.sleep(0)  # close() has begun: it waits for the held report's thread
    try:
        with pytest.raises(DatabaseUnavailable):
            await asyncio.wait_for(database.count_matching_logs(ALL_LOGS), 5)
    finally:
        release.set()
        await asyncio.wait_for(closing, 10)
    assert await report == 0
    assert descriptors_of(path) == []  # no connection reopened behind close(), left for the GC


async def test_close_interrupts_a_running_report(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "sluicegate.db")
    await database.open()
    started = threading.Event()

    def report(connection: sqlite3.Connection) -> int:
        started.set()
        return int(connection.execute(LONG_REPORT).fetchone()[0])

    running = asyncio.create_task(database.reports.run(report))
    assert await asyncio.to_thread(started.wait, 10)
    await asyncio.wait_for(database.close(), 5)
    with pytest.raises(DatabaseUnavailable):
        await running


async def test_reports_read_the_file_the_store_opened(database: SqliteDatabase, tmp_path: Path) -> None:
    path = tmp_path / "sluicegate.db"
    moved = tmp_path / "moved.db"
    path.rename(moved)  # the file removed from under the running store (a restore, a cleanup)

    assert await database.count_matching_logs(ALL_LOGS) == 0
    assert not path.exists()  # not created afresh beside the store's own -wal and -shm files
