"""The `Database` contracts (tests/storage/*_contract.py: the store, log conditions, spool lines
parsed by the database) on PostgreSQL, and what only PostgreSQL does: replicas opening it at once,
logs partitioned by day and dropped a day at a time.

Needs PostgreSQL on 127.0.0.1 (`postgres_url` in tests/conftest.py: skipped without it, failed
with `SLUICEGATE_REQUIRE_SERVICES=1`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg
import pytest

from sluicegate.storage.base import LogQuery
from sluicegate.storage.postgres import MIGRATIONS, PostgresDatabase
from sluicegate.storage.postgres_logs import _LOG_COLUMNS, _log_row
from tests.storage.database_contract import *  # noqa: F403  (every contract test runs here)
from tests.storage.database_contract import DAY, T0, record
from tests.storage.gateway_page_contract import *  # noqa: F403
from tests.storage.log_conditions_contract import *  # noqa: F403
from tests.storage.log_lines_contract import *  # noqa: F403
from tests.storage.stored_order_contract import *  # noqa: F403


@pytest.fixture
def make_database(postgres_url: str) -> Callable[[], PostgresDatabase]:
    """New, unopened instances over one schema (so a test can open it twice, or from two "replicas")."""
    return lambda: PostgresDatabase(postgres_url)


@pytest.fixture
async def postgres(postgres_url: str) -> AsyncIterator[PostgresDatabase]:
    backend = PostgresDatabase(postgres_url)
    await backend.open()
    yield backend
    await backend.close()


# ---- replicas opening at once


async def test_two_replicas_opening_at_once_both_succeed(postgres_url: str) -> None:
    replicas = [PostgresDatabase(postgres_url) for _ in range(3)]
    try:
        await asyncio.gather(*(replica.open() for replica in replicas))
        for replica in replicas:
            assert [g.slug for g in await replica.list_gateways("local")] == ["default"]
    finally:
        await asyncio.gather(*(replica.close() for replica in replicas))
    async with catalog(postgres_url) as (connection, schema):
        versions = await connection.fetch(f'SELECT version FROM "{schema}".schema_migrations ORDER BY 1')
    assert [row[0] for row in versions] == list(range(1, len(MIGRATIONS) + 1))


# ---- PostgreSQL: partitions by day


class catalog:
    """A plain connection to the test database, and the test's schema name."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.schema = parse_qs(parts.query)["schema"][0]
        self.url = urlunsplit(parts._replace(query=""))

    async def __aenter__(self) -> tuple[asyncpg.Connection, str]:
        self.connection = await asyncpg.connect(self.url)
        return self.connection, self.schema

    async def __aexit__(self, *exc: object) -> None:
        await self.connection.close()


async def partitions(url: str) -> list[str]:
    async with catalog(url) as (connection, schema):
        rows = await connection.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace"
            " WHERE p.relname = 'logs' AND n.nspname = $1 ORDER BY 1",
            schema,
        )
    return [row[0] for row in rows]


def day_name(ts: float) -> str:
    return "logs_p" + datetime.fromtimestamp(ts, UTC).strftime("%Y%m%d")


async def test_each_day_written_gets_its_partition(postgres: PostgresDatabase, postgres_url: str) -> None:
    assert await partitions(postgres_url) == []
    await postgres.write_logs([record(ts=T0 + 10), record(ts=T0 + DAY - 0.001), record(ts=T0 + 2 * DAY)])
    assert await partitions(postgres_url) == [day_name(T0), day_name(T0 + 2 * DAY)]
    await postgres.write_logs([record(ts=T0 + DAY + 1)])
    assert await partitions(postgres_url) == [day_name(T0 + d * DAY) for d in range(3)]


async def test_drop_logs_before_drops_whole_days(postgres: PostgresDatabase, postgres_url: str) -> None:
    days = [[record(ts=T0 + d * DAY + n * 600, account=f"a{n % 2}") for n in range(d + 1)] for d in range(4)]
    await postgres.write_logs([r for day in days for r in day])
    assert await postgres.drop_logs_before(T0 + DAY) == 1  # only day 0 ends by then
    assert await postgres.drop_logs_before(T0 + 2 * DAY + 3_600) == 2  # day 2 has only begun: kept
    assert await partitions(postgres_url) == [day_name(T0 + 2 * DAY), day_name(T0 + 3 * DAY)]
    kept = [r for a in ("a0", "a1") for r in await postgres.query_logs(LogQuery(account=a))]
    assert sorted(r.id for r in kept) == sorted(r.id for r in days[2] + days[3])
    assert await postgres.drop_logs_before(T0) == 0

    await postgres.write_logs([again := record(ts=T0 + 5)])  # a dropped day is created again when written
    assert await postgres.get_log("local", again.id) == again


async def test_replicas_running_retention_at_once_drop_each_day_once(postgres_url: str) -> None:
    replicas = [PostgresDatabase(postgres_url) for _ in range(3)]
    await asyncio.gather(*(replica.open() for replica in replicas))
    try:
        await replicas[0].write_logs([record(ts=T0 + d * DAY) for d in range(4)])
        dropped = await asyncio.gather(*(replica.drop_logs_before(T0 + 3 * DAY) for replica in replicas))
        assert sum(dropped) == 3
    finally:
        await asyncio.gather(*(replica.close() for replica in replicas))
    assert await partitions(postgres_url) == [day_name(T0 + 3 * DAY)]


async def test_a_day_dropped_by_another_replica_is_recreated(
    postgres: PostgresDatabase, postgres_url: str
) -> None:
    await postgres.write_logs([record(ts=T0 + 1)])  # this replica now remembers day 0
    other = PostgresDatabase(postgres_url)
    await other.open()
    try:
        assert await other.drop_logs_before(T0 + DAY) == 1
    finally:
        await other.close()
    await postgres.write_logs([late := record(ts=T0 + 2)])
    assert await postgres.get_log("local", late.id) == late


async def test_replicas_writing_a_new_day_at_once_both_land(postgres_url: str) -> None:
    replicas = [PostgresDatabase(postgres_url) for _ in range(3)]
    await asyncio.gather(*(replica.open() for replica in replicas))
    try:
        batches = [[record(ts=T0 + 5 * DAY + n) for n in range(20)] for _ in replicas]
        await asyncio.gather(*(r.write_logs(batch) for r, batch in zip(replicas, batches, strict=True)))
        stored = await replicas[0].query_logs(LogQuery(account="local", limit=100))
        assert len(stored) == 60
    finally:
        await asyncio.gather(*(replica.close() for replica in replicas))
    assert await partitions(postgres_url) == [day_name(T0 + 5 * DAY)]


# ---- PostgreSQL: the storage order of transactions that commit out of turn


async def test_a_batch_committed_after_a_later_one_is_read_before_it(
    postgres: PostgresDatabase, postgres_url: str
) -> None:
    """Two replicas' batches: the one whose transaction took its id first commits last. A read of
    the storage order meanwhile stops below it, waiting for nothing, so it never passes over its
    record; read again from its position once that batch committed, it finds both. A transaction
    that stores no log records holds no read back."""
    gateway = LogQuery(account="local", gateway="default", limit=100)
    first, slow, fast = record(ts=T0 + 1), record(ts=T0 + 2), record(ts=T0 + 3)
    async with catalog(postgres_url) as (bystander, _):
        await bystander.execute("BEGIN")
        await bystander.execute("SELECT pg_current_xact_id()")  # open all along, elsewhere
        await postgres.write_logs([first])
        assert [r.id for _, r in await postgres.stored_logs(gateway, "")] == [first.id]
        async with postgres._db().acquire() as connection:
            transaction = connection.transaction()
            await transaction.start()
            await postgres._storing(connection)
            await connection.execute("SELECT pg_current_xact_id()")  # its id taken, as its COPY takes it
            await asyncio.wait_for(postgres.write_logs([fast]), 5)  # another replica's, committed at once

            page = await asyncio.wait_for(postgres.stored_logs(gateway, ""), 5)
            assert [r.id for _, r in page] == [first.id]
            await connection.copy_records_to_table(
                "logs", records=[_log_row(slow)], columns=_LOG_COLUMNS, schema_name=postgres._logs_schema
            )
            await transaction.commit()
        rest = await postgres.stored_logs(gateway, page[-1][0])
        assert [r.id for _, r in rest] == [slow.id, fast.id]
        await bystander.execute("ROLLBACK")


async def test_records_stored_before_the_storage_order_come_first_by_id(
    postgres: PostgresDatabase, postgres_url: str
) -> None:
    newer, older = record(ts=T0 + 2), record(ts=T0 + 1)
    await postgres.write_logs([newer])
    await postgres.write_logs([older])
    async with catalog(postgres_url) as (connection, schema):
        # As the migration leaves the records it found: transaction 0.
        await connection.execute(f"UPDATE \"{schema}\".logs SET stored_xact = '0' WHERE id = $1", older.id)
    later = record(ts=T0)
    await postgres.write_logs([later])
    gateway = LogQuery(account="local", gateway="default", limit=100)
    assert [r.id for _, r in await postgres.stored_logs(gateway, "")] == [older.id, newer.id, later.id]
