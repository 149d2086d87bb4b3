"""A PostgreSQL schema of the bench's own for the gateway-pg-redis process: reachable or not,
and dropped with everything in it once the run is over."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

from bench.procs import command_name, parent_pid

T = TypeVar("T")

DEFAULT_POSTGRES_URL = os.environ.get(
    "SLUICEGATE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test"
)


class PostgresUnavailable(Exception):
    pass


class BenchSchema:
    def __init__(self, url: str) -> None:
        self.url = url
        self.name = "sluicegate_bench_" + secrets.token_hex(4)

    @property
    def gateway_url(self) -> str:
        """The database URL the gateway gets: the server, with `schema=` naming ours."""
        parts = urlsplit(self.url)
        query = "&".join(filter(None, [parts.query, urlencode({"schema": self.name})]))
        return urlunsplit(parts._replace(query=query))

    def check(self) -> None:
        asyncio.run(self._run("SELECT 1"))

    def server_pid(self) -> int | None:
        """The postmaster's pid, to count the server's CPU (its backends and their reaped work are
        its descendants), or None when the server is not a process of this machine."""
        return asyncio.run(self._connected(_postmaster_of_backend))

    def drop(self) -> None:
        asyncio.run(self._run(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))

    async def _run(self, sql: str) -> None:
        await self._connected(lambda connection: connection.execute(sql))

    async def _connected(self, action: Callable[[Any], Awaitable[T]]) -> T:
        import asyncpg  # type: ignore[import-untyped]

        try:
            connection = await asyncpg.connect(self.url, timeout=5)
        except (OSError, asyncpg.PostgresError) as exc:
            raise PostgresUnavailable(f"{self.url}: {exc}") from exc
        try:
            return await action(connection)
        finally:
            await connection.close()


async def _postmaster_of_backend(connection: Any) -> int | None:
    """The parent of this connection's backend, read while the backend lives; None unless both
    are PostgreSQL processes of this machine (a server in a container or on another host reports
    pids of its own namespace, which here may name anything)."""
    backend = await connection.fetchval("SELECT pg_backend_pid()")
    postmaster = parent_pid(backend)
    if postmaster is None or not all(command_name(pid) == "postgres" for pid in (backend, postmaster)):
        return None
    return postmaster
