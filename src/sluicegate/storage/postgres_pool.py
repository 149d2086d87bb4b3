"""The connection pool every PostgreSQL store part shares, and the helpers they use to bind values."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import orjson

from sluicegate.storage import postgres_rollups


class PostgresPool:
    def __init__(self, url: str, min_connections: int = 1, max_connections: int = 10) -> None:
        self._dsn, self._schema = split_schema(url)
        self._pool_size = (min_connections, max_connections)
        self._pool: asyncpg.Pool | None = None
        self._lock_key = f"sluicegate:{self._schema or ''}"
        self._logs_schema = ""  # the schema that holds `logs`, found on open
        self._days: set[int] = set()  # days (epoch seconds // DAY) whose partition is known to exist
        self._semantic = False  # whether `logs` has the semantic cache's column (found on open)
        self._roll_up = postgres_rollups.roll_up_statement(semantic=False)

    def _db(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database is not open")
        return self._pool


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
