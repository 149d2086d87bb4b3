"""A database migrated by a newer Sluicegate is refused by this one, SQLite and PostgreSQL alike:
`serve` (one process and `--workers 2`) and `migrate` say so in one line naming both schema
versions and what to do, exit 2, and write nothing to it. Before, an older release started on it
without a word: it had no migration left to apply, and wrote rows without the columns it lacks.

The newer release is stood for by this one's schema with its version raised by one, as the next
release's first migration would leave it."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from sluicegate import __version__
from sluicegate.storage import describe_database
from sluicegate.storage.postgres import MIGRATIONS as POSTGRES_MIGRATIONS
from sluicegate.storage.sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from tests.integration.test_serve_startup import EXIT_TIMEOUT, assert_one_line_error, serve, serve_command
from tests.ports import free_port


def refusal(url: str, found: int, known: int) -> str:
    return (
        f"error: database {describe_database(url)}: its schema is version {found}, but this"
        f" Sluicegate ({__version__}) knows versions up to {known}: a newer Sluicegate has migrated"
        " it; run that one (or a later one), or restore a backup taken before the upgrade"
    )


def migrate(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    _, environment = serve_command(tmp_path, 0, 1, **env)
    return subprocess.run(
        [sys.executable, "-m", "sluicegate", "migrate"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT,
    )


@pytest.fixture
def newer_sqlite(tmp_path: Path) -> Path:
    """The data directory's database, migrated by this release, its version then raised by one."""
    assert migrate(tmp_path).returncode == 0
    database = tmp_path / "data" / "sluicegate.db"
    with contextlib.closing(sqlite3.connect(database)) as connection:  # closed: the WAL checkpointed
        connection.execute(f"PRAGMA user_version={len(SQLITE_MIGRATIONS) + 1}")
    return database


@pytest.mark.parametrize("workers", [1, 2], ids=["one process", "workers"])
def test_serve_refuses_a_sqlite_database_of_a_newer_release(
    tmp_path: Path, newer_sqlite: Path, workers: int
) -> None:
    before = newer_sqlite.read_bytes()
    started = serve(tmp_path, free_port(), workers)
    url = f"sqlite:///{newer_sqlite}"
    assert_one_line_error(started, refusal(url, len(SQLITE_MIGRATIONS) + 1, len(SQLITE_MIGRATIONS)))
    assert newer_sqlite.read_bytes() == before  # nothing written, not even the default gateway
    assert not newer_sqlite.with_name("sluicegate.db-wal").exists()


def test_migrate_refuses_a_sqlite_database_of_a_newer_release(tmp_path: Path, newer_sqlite: Path) -> None:
    migrated = migrate(tmp_path)
    url = f"sqlite:///{newer_sqlite}"
    assert_one_line_error(migrated, refusal(url, len(SQLITE_MIGRATIONS) + 1, len(SQLITE_MIGRATIONS)))


def recorded(postgres_url: str, sql: str) -> list[int]:
    """Run `sql` in the test's schema; the versions `schema_migrations` records after it."""
    schema = postgres_url.rsplit("schema=", 1)[1]

    async def run() -> list[int]:
        connection = await asyncpg.connect(postgres_url.split("?", 1)[0], timeout=5)
        try:
            await connection.execute(f'SET search_path TO "{schema}"')
            if sql:
                await connection.execute(sql)
            return [row[0] for row in await connection.fetch("SELECT version FROM schema_migrations")]
        finally:
            await connection.close()

    return asyncio.run(run())


@pytest.mark.parametrize("workers", [1, 2], ids=["one process", "workers"])
def test_serve_refuses_a_postgres_schema_of_a_newer_release(
    tmp_path: Path, postgres_url: str, workers: int
) -> None:
    assert migrate(tmp_path, SLUICEGATE_DATABASE_URL=postgres_url).returncode == 0
    newer = len(POSTGRES_MIGRATIONS) + 1
    versions = recorded(postgres_url, f"INSERT INTO schema_migrations (version) VALUES ({newer})")
    started = serve(tmp_path, free_port(), workers, SLUICEGATE_DATABASE_URL=postgres_url)
    assert_one_line_error(started, refusal(postgres_url, newer, len(POSTGRES_MIGRATIONS)))
    migrated = migrate(tmp_path, SLUICEGATE_DATABASE_URL=postgres_url)
    assert_one_line_error(migrated, refusal(postgres_url, newer, len(POSTGRES_MIGRATIONS)))
    assert recorded(postgres_url, "") == versions  # nothing applied
