"""What the drivers raise for a database out of reach or slow is a 503 `database_unavailable` with
`Retry-After`, at the storage boundary; any other error passes unchanged."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg  # type: ignore[import-untyped]
import pytest

from sluicegate.errors import DatabaseUnavailable
from sluicegate.storage.postgres_guard import GuardedPool
from sluicegate.storage.unreachable import translated


@pytest.mark.parametrize(
    "error",
    [
        ConnectionResetError(104, "Connection reset by peer"),
        ConnectionRefusedError(111, "Connect call failed"),
        TimeoutError(),
        sqlite3.OperationalError("database is locked"),
    ],
)
def test_an_unreachable_or_slow_database_is_a_503(error: Exception) -> None:
    with pytest.raises(DatabaseUnavailable) as raised, translated():
        raise error
    assert (raised.value.status, raised.value.code) == (503, "database_unavailable")
    assert raised.value.headers == {"Retry-After": "1"}
    assert raised.value.__cause__ is error


@pytest.mark.parametrize(
    "error", [ValueError("a bug"), sqlite3.IntegrityError("UNIQUE constraint failed"), KeyError("x")]
)
def test_any_other_error_passes_unchanged(error: Exception) -> None:
    with pytest.raises(type(error)) as raised, translated():
        raise error
    assert raised.value is error


class _Pool:
    """An asyncpg pool whose server closed the connection under every call."""

    async def fetchrow(self, *_: object) -> None:
        raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[object]:
        yield object()


async def test_the_pool_translates_its_calls_and_its_acquired_blocks_but_not_a_constraint() -> None:
    pool = GuardedPool(_Pool())
    with pytest.raises(DatabaseUnavailable):
        await pool.fetchrow("SELECT 1")
    with pytest.raises(DatabaseUnavailable):
        async with pool.acquire():
            raise ConnectionResetError(104, "Connection reset by peer")
    with pytest.raises(asyncpg.UniqueViolationError):
        async with pool.acquire():
            raise asyncpg.UniqueViolationError("duplicate key")


def test_a_protocol_violation_is_a_bug_not_an_outage() -> None:
    """08P01 is a PostgresConnectionError, but one a malformed call causes: it stays as it is."""
    from sluicegate.storage.postgres_guard import down

    assert down(asyncpg.ProtocolViolationError("bind message supplies 1 parameters")) is None
    assert down(asyncpg.CannotConnectNowError("the database system is starting up")) == "cannot be reached"
