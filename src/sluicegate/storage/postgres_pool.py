"""The connection pool every PostgreSQL store part shares, and the helpers they use to bind values."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import orjson

from sluicegate.storage import postgres_rollups
from sluicegate.storage.postgres_guard import GuardedPool
from sluicegate.storage.unreachable import not_open

# TCP keepalive on each connection: an idle pooled connection to a host that vanished (a partition,
# a machine gone) is found dead within about a minute, not at its next use. asyncpg has no option
# for it (MagicStack/asyncpg#606), so it is set on the connection's socket.
KEEPALIVE = ((socket.SO_KEEPALIVE, 1),)
TCP_KEEPALIVE = (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3))
CLOSE_SECONDS = 2.0  # then the connections left (a server that stopped answering) are cut


class PostgresPool:
    def __init__(
        self,
        url: str,
        min_connections: int = 1,
        max_connections: int = 10,
        *,
        statement_timeout: float = 60.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self._dsn, self._schema = split_schema(url)
        self._pool_size = (min_connections, max_connections)
        self._statement_timeout = statement_timeout
        self._connect_timeout = connect_timeout
        self._pool: asyncpg.Pool | None = None
        self._lock_key = f"sluicegate:{self._schema or ''}"
        self._logs_schema = ""  # the schema that holds `logs`, found on open
        self._days: set[int] = set()  # days (epoch seconds // DAY) whose partition is known to exist
        self._semantic = False  # whether `logs` has the semantic cache's column (found on open)
        self._roll_up = postgres_rollups.roll_up_statement(semantic=False)

    def _db(self) -> GuardedPool:
        """The pool, whose calls raise DatabaseUnavailable (a 503) for a server unreachable or slow."""
        if self._pool is None:
            raise not_open()
        return GuardedPool(self._pool)


async def keep_alive(connection: asyncpg.Connection) -> None:
    """The pool's `init`: turn on TCP keepalive (a Unix socket has none; an asyncpg without the
    transport attribute gets none rather than an error)."""
    transport = getattr(connection, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    for option, value in KEEPALIVE:
        sock.setsockopt(socket.SOL_SOCKET, option, value)
    for name, value in TCP_KEEPALIVE:
        if hasattr(socket, name):  # Linux names; macOS has TCP_KEEPALIVE for the first
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)


def split_schema(url: str) -> tuple[str, str | None]:
    """The URL without `schema=` (asyncpg would send it to the server as a setting), and the schema."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for name, value in params if name == "schema"), None)
    rest = urlencode([(name, value) for name, value in params if name != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema or None


def quote_identifier(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def row_count(status: str) -> int:
    """Rows affected, from a command tag such as `DELETE 3` or `INSERT 0 1`."""
    return int(status.rsplit(" ", 1)[-1])


def pg_text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; one client-chosen model name must not sink a whole batch."""
    if value is not None and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def pg_json(value: Any) -> str:
    data = orjson.dumps(value)
    if b"\\u0000" in data:  # jsonb rejects NUL too; rare, so only then walk the value
        data = orjson.dumps(_without_nul(value))
    return data.decode()


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return pg_text(value)
    if isinstance(value, dict):
        return {pg_text(str(key)): _without_nul(item) for key, item in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, bytes | bytearray):
        return [_without_nul(item) for item in value]
    return value
