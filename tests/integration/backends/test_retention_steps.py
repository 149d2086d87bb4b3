"""Retention in bounded steps: on SQLite a pass deletes a transaction of `CHUNK` records at a time
on the writer's connection (reads go on meanwhile) and leaves the WAL truncated; on both backends
it prunes the analytics roll-ups' minute and hour rows past the age they are kept for, and the day
totals stay as they were. The analytics API widens an old range to the rows kept there.

The roll-up tests need PostgreSQL on 127.0.0.1 for their PostgreSQL half (`postgres_url`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sluicegate.analytics import AnalyticsQuery
from sluicegate.retention import Retention
from sluicegate.storage.base import LogRecord
from sluicegate.storage.postgres import PostgresDatabase
from sluicegate.storage.rollup_bins import KEPT_SECONDS, kept_from
from sluicegate.storage.sqlite import SqliteDatabase
from sluicegate.storage.sqlite_retention import CHUNK
from tests.conftest import RunningGateway

DAY = 86_400
NOW = time.time()
_serial = iter(range(1, 10_000_000))


def record(ts: float, body: bytes | None = None, gateway: str = "default") -> LogRecord:
    return LogRecord(
        id=f"{int(ts * 1000):012x}{next(_serial):020x}", ts=ts, account="local", gateway=gateway,
        provider="openai", endpoint="chat/completions", method="POST", model="gpt-4o-mini", stream=False,
        status=200 if int(ts) % 7 else 500, latency_ms=100.0 + int(ts) % 900, ttfb_ms=50.0,
        tokens_in=int(ts) % 50, tokens_out=int(ts) % 30, cost_usd=0.001, request_body=body,
        upstream_status=200 if int(ts) % 7 else 500,  # answered by an upstream: in the latency roll-up
    )  # fmt: skip


async def opened(path: Path) -> SqliteDatabase:
    database = SqliteDatabase(path)
    await database.open()
    await database.update_gateway("local", "default", None, (await settings(database)))
    return database


async def settings(database: SqliteDatabase | PostgresDatabase) -> Any:
    gateway = await database.get_gateway("local", "default")
    assert gateway is not None
    return gateway.settings.model_copy(update={"retention_days": 30.0})


def connections(database: SqliteDatabase) -> list[sqlite3.Connection]:
    """The store's two connections (shared reads; the writer's), to trace what a pass runs."""
    found = [database._connection, database._writer._connection]
    return [connection for connection in found if connection is not None]


async def test_a_retention_pass_keeps_the_wal_small(tmp_path: Path) -> None:
    """16,000 records of 2 KB (~40 MB) deleted: the WAL stays under 12 MiB during the pass and is
    truncated after it. One DELETE for the gateway had made a WAL the size of every page it touched."""
    database = await opened(tmp_path / "sluicegate.db")
    wal = tmp_path / "sluicegate.db-wal"
    try:
        old = NOW - 40 * DAY
        records = [record(old + i, body=bytes([i % 251]) * 2000) for i in range(16_000)]
        for start in range(0, len(records), 2000):
            await database.write_logs(records[start : start + 2000])
        with sqlite3.connect(tmp_path / "sluicegate.db") as outside:
            outside.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes: list[int] = []
        for connection in connections(database):
            connection.set_trace_callback(
                lambda _sql: sizes.append(wal.stat().st_size if wal.exists() else 0)
            )
        deleted = await Retention(database, lambda: NOW, interval=3600).run_once()
        for connection in connections(database):
            connection.set_trace_callback(None)
        assert deleted == 16_000
        assert max(sizes) < 12 * 2**20, f"the WAL reached {max(sizes) / 2**20:.1f} MiB during the pass"
        assert wal.stat().st_size < 2**20, f"the WAL is {wal.stat().st_size / 2**20:.1f} MiB after the pass"
    finally:
        await database.close()


async def test_a_read_during_a_retention_pass_is_answered_before_the_pass_ends(tmp_path: Path) -> None:
    """The pass is held in its second step (a trace callback waits there); a read then is answered,
    and sees the first step's deletions. One DELETE on the shared connection made it wait for all."""
    database = await opened(tmp_path / "sluicegate.db")
    held, resume = threading.Event(), threading.Event()
    deletes = 0

    def trace(sql: str) -> None:
        nonlocal deletes
        if sql.startswith("DELETE FROM logs"):
            deletes += 1
            if deletes == 2:
                held.set()
                resume.wait(10)

    try:
        total = 5 * CHUNK
        await database.write_logs([record(NOW - 40 * DAY + i) for i in range(total)])
        for connection in connections(database):
            connection.set_trace_callback(trace)
        running = asyncio.create_task(Retention(database, lambda: NOW, interval=3600).run_once())
        try:
            assert await asyncio.to_thread(held.wait, 5), "the pass never began a second delete"
            left = await asyncio.wait_for(database.count_logs("local", "default"), 5)
            assert not running.done()
            assert left == total - CHUNK  # the first step's deletions, committed
        finally:
            resume.set()
        assert await running == total
        assert await database.count_logs("local", "default") == 0
        assert deletes >= total // CHUNK
    finally:
        for connection in connections(database):
            connection.set_trace_callback(None)
        await database.close()


@pytest.fixture(params=["sqlite", "postgres"])
def make_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[], SqliteDatabase | PostgresDatabase]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        return lambda: PostgresDatabase(url)
    return lambda: SqliteDatabase(tmp_path / "sluicegate.db")


async def rollup_rows(
    database: SqliteDatabase | PostgresDatabase, table: str, width: int, before: int
) -> int:
    sql = f"SELECT count(*) FROM {table} WHERE width = {width} AND start < {before}"
    if isinstance(database, PostgresDatabase):
        return int(await database._db().fetchval(sql))
    return int(await database._run(lambda: database._db().execute(sql).fetchone()[0]))


async def test_retention_prunes_minute_and_hour_rollups_and_day_totals_stay(
    make_database: Callable[[], SqliteDatabase | PostgresDatabase],
) -> None:
    database = make_database()
    await database.open()
    try:
        await database.update_gateway("local", "default", None, (await settings(database)).model_copy(
            update={"retention_days": 400.0}))  # fmt: skip
        # Ten hours of a record every 7 minutes, 100, 50 and 3 days ago: minute and hour rows on both
        # sides of both ages (a few day partitions on PostgreSQL).
        times = [NOW - age * DAY + i * 420 for age in (100, 50, 3) for i in range(86)]
        await database.write_logs([record(ts) for ts in times])
        first_day = (NOW - 121 * DAY) // DAY * DAY
        days = AnalyticsQuery(account="local", since=first_day, until=first_day + 122 * DAY, interval="day")
        before = await database.analytics(days)
        for table in ("analytics_rollup", "latency_rollup"):
            assert await rollup_rows(database, table, 60, kept_from(60, NOW)) > 0
            assert await rollup_rows(database, table, 3600, kept_from(3600, NOW)) > 0
        assert (
            await Retention(database, lambda: NOW, interval=3600).run_once() == 0
        )  # no record is 400 days old
        for table in ("analytics_rollup", "latency_rollup"):
            assert await rollup_rows(database, table, 60, kept_from(60, NOW)) == 0, table
            assert await rollup_rows(database, table, 3600, kept_from(3600, NOW)) == 0, table
            assert await rollup_rows(database, table, 60, 2**62) > 0, f"{table}: the kept minutes went too"
            assert await rollup_rows(database, table, 3600, 2**62) > 0, f"{table}: the kept hours went too"
        after = await database.analytics(days)
        assert after.model_dump() == before.model_dump()
        assert after.totals.requests == len(times)
    finally:
        await database.close()


def test_an_old_range_is_widened_to_the_rows_kept_or_refused(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    gateway = make_gateway()  # no upstream: the figures of no traffic, over old ranges
    now = time.time()
    old = now - (KEPT_SECONDS[60] + DAY)
    refused = gateway.http.get(
        "/api/v1/accounts/local/analytics", params={"interval": "minute", "from": old, "to": old + 3600}
    )
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "interval"
    assert "interval=hour" in refused.json()["error"]["message"]
    hours = gateway.http.get(
        "/api/v1/accounts/local/analytics", params={"interval": "hour", "from": old + 1800, "to": old + 7200}
    )
    assert hours.status_code == 200
    assert hours.json()["from"] == (old + 1800) // 3600 * 3600
    older = now - (KEPT_SECONDS[3600] + 2 * DAY)
    days = gateway.http.get(
        "/api/v1/accounts/local/analytics", params={"interval": "day", "from": older + 3600, "to": now}
    )
    assert days.status_code == 200
    assert days.json()["from"] == (older + 3600) // DAY * DAY
    assert days.json()["to"] == pytest.approx(now)
