"""Log batches are stored through a connection and thread of their own: a read (a gateway the
request path refreshes) never waits behind one, and what the writer stores, the reads see."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
from collections.abc import Generator
from pathlib import Path

from sluicegate.storage.base import LogRecord
from sluicegate.storage.sqlite import SqliteDatabase


async def test_a_read_does_not_wait_behind_a_log_batch(tmp_path: Path) -> None:
    database = SqliteDatabase(tmp_path / "db.sqlite")
    await database.open()
    release = threading.Event()
    try:

        def slow_batch(connection: sqlite3.Connection) -> Generator[None, None, None]:
            release.wait(10)  # a batch still being stored
            yield

        storing = asyncio.ensure_future(database._writer.write_steps(slow_batch))
        gateway = await asyncio.wait_for(database.get_gateway("local", "default"), 5)
        assert gateway is not None
        assert not storing.done()
        release.set()
        await storing
        record = LogRecord(
            id="a1", ts=1.0, account="local", gateway="default", provider="openai",
            endpoint="chat/completions", method="POST", model=None, stream=False, status=200,
            latency_ms=1.0, ttfb_ms=None,
        )  # fmt: skip
        await database.write_logs([record])
        assert await database.count_logs("local", "default") == 1  # read on the other connection
    finally:
        release.set()
        await database.close()


async def test_changes_other_processes_commit_are_read_after_the_writer_connected(tmp_path: Path) -> None:
    # Opening the writer must not open and close the database file: closing any descriptor of it
    # drops the process's POSIX locks, another process then takes itself for the last connection
    # and removes the WAL the main connection still reads, whose later changes it never sees.
    path = tmp_path / "db.sqlite"
    database = SqliteDatabase(path)
    await database.open()
    try:
        assert (await database.get_gateway("local", "default")) is not None
        for name in ("renamed", "renamed again"):  # as two CLI commands would, one after the other
            change = (
                f"import sqlite3; sqlite3.connect({str(path)!r}, isolation_level=None)"
                f".execute(\"UPDATE gateways SET name = '{name}'\")"
            )
            process = await asyncio.create_subprocess_exec(sys.executable, "-c", change)
            assert await asyncio.wait_for(process.wait(), 30) == 0
            gateway = await database.get_gateway("local", "default")
            assert gateway is not None
            assert gateway.name == name
    finally:
        await database.close()


async def test_a_log_batch_holds_the_write_lock_from_its_start(tmp_path: Path) -> None:
    # The workers of `serve --workers N` share one file. A batch begun as a read (plain BEGIN, then
    # the last rowid) cannot become a write once another connection has committed since it read:
    # SQLite answers "database is locked" at once, whatever busy_timeout says, and at a stop the
    # records stayed in the spool. Another connection (as another worker would) commits here just as
    # the batch's INSERT begins.
    path = tmp_path / "db.sqlite"
    database = SqliteDatabase(path)
    await database.open()
    other = sqlite3.connect(path, isolation_level=None, timeout=0, check_same_thread=False)
    refused: list[str] = []

    def commit_elsewhere(statement: str) -> None:
        if statement.startswith("INSERT") and not refused:
            try:
                other.execute("UPDATE gateways SET created_at = created_at + 1")
                refused.append("no: the other connection committed")
            except sqlite3.OperationalError as exc:
                refused.append(str(exc))  # the batch holds the write lock: the other one waits

    writer = database._writer._connection
    assert writer is not None
    writer.set_trace_callback(commit_elsewhere)
    record = LogRecord(
        id="b1", ts=1.0, account="local", gateway="default", provider="openai",
        endpoint="chat/completions", method="POST", model=None, stream=False, status=200,
        latency_ms=1.0, ttfb_ms=None,
    )  # fmt: skip
    try:
        await database.write_logs([record])
        assert refused == ["database is locked"]
        assert await database.count_logs("local", "default") == 1
    finally:
        writer.set_trace_callback(None)
        other.close()
        await database.close()
