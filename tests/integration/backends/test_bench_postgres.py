"""The bench counts the PostgreSQL server's CPU as the stores-redis scenario's own (the server's work
for the gateway's logs is no other load), on the local PostgreSQL (skipped without it, failed with
`SLUICEGATE_REQUIRE_SERVICES=1`)."""

from __future__ import annotations

import asyncio

import asyncpg
from bench.postgres_schema import BenchSchema, PostgresUnavailable
from bench.procs import cpu_seconds

from tests.conftest import POSTGRES_URL, require_service


def test_the_servers_pid_accounts_for_a_backends_work_after_it_exits() -> None:
    schema = BenchSchema(POSTGRES_URL)
    try:
        pid = schema.server_pid()
    except PostgresUnavailable as exc:
        require_service("PostgreSQL", str(exc))
        raise AssertionError("unreachable") from exc
    if pid is None:
        require_service("PostgreSQL", "the server is not a process of this machine")
        raise AssertionError("unreachable")
    before = cpu_seconds(pid)

    async def busy_backend() -> None:  # a connection of its own, closed (its process reaped) after
        connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
        try:
            await connection.fetchval("SELECT count(*) FROM generate_series(1, 5000000)")
        finally:
            await connection.close()

    asyncio.run(busy_backend())
    assert cpu_seconds(pid) - before > 0.1
