"""The bench counts the PostgreSQL server's CPU as the stores-redis scenario's own (the server's work
for the gateway's logs is no other load), on the local PostgreSQL (skipped without it, failed with
`SLUICEGATE_REQUIRE_SERVICES=1`)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
from bench.postgres_schema import BenchSchema, PostgresUnavailable
from bench.procs import command_name, cpu_seconds, parent_pid

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
    assert command_name(pid) == "postgres"
    before = cpu_seconds(pid)

    async def busy_backend() -> int:  # a connection of its own, closed after
        connection = await asyncpg.connect(POSTGRES_URL, timeout=5)
        try:
            backend: int = await connection.fetchval("SELECT pg_backend_pid()")
            assert parent_pid(backend) == pid  # the postmaster, not one of its ancestors
            await connection.fetchval("SELECT count(*) FROM generate_series(1, 5000000)")
            return backend
        finally:
            await connection.close()

    backend = asyncio.run(busy_backend())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{backend}").exists():  # reaped: its CPU is now the postmaster's cutime
        assert time.monotonic() < deadline, "the backend did not exit"
        time.sleep(0.01)
    assert cpu_seconds(pid) - before > 0.1
