"""The embedded backend: one SQLite file in WAL mode, used from one worker thread.

All statements run on a single-thread executor that owns the connection, so the event loop never
blocks on disk and SQLite never sees two threads. Log records arrive in batches (one transaction
per batch, `executemany`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import orjson

from sluicegate.errors import Conflict
from sluicegate.gateway import DEFAULT_ACCOUNT, DEFAULT_GATEWAY, Gateway, GatewaySettings
from sluicegate.storage.base import LogQuery, LogRecord

T = TypeVar("T")

# Each entry upgrades the schema by one version; the index + 1 is PRAGMA user_version after it.
MIGRATIONS = [
    """
    CREATE TABLE gateways (
        account TEXT NOT NULL,
        slug TEXT NOT NULL,
        name TEXT NOT NULL,
        settings TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (account, slug)
    );
    CREATE TABLE logs (
        id TEXT PRIMARY KEY,
        ts REAL NOT NULL,
        account TEXT NOT NULL,
        gateway TEXT NOT NULL,
        provider TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        method TEXT NOT NULL,
        model TEXT,
        stream INTEGER NOT NULL,
        status INTEGER NOT NULL,
        latency_ms REAL NOT NULL,
        ttfb_ms REAL,
        tokens_in INTEGER,
        tokens_out INTEGER,
        cached_tokens INTEGER,
        reasoning_tokens INTEGER,
        usage_estimated INTEGER NOT NULL,
        cost_usd REAL,
        cache_status TEXT NOT NULL,
        error TEXT,
        metadata TEXT NOT NULL,
        request_headers TEXT NOT NULL,
        request_body BLOB,
        response_body BLOB
    );
    CREATE INDEX logs_account_gateway_id ON logs (account, gateway, id);
    CREATE INDEX logs_account_ts ON logs (account, ts);
    """,
    """
    ALTER TABLE logs ADD COLUMN step INTEGER;
    ALTER TABLE logs ADD COLUMN attempts TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE logs ADD COLUMN cache_saved_ms REAL;
    ALTER TABLE logs ADD COLUMN rate_limited INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE cache (key TEXT PRIMARY KEY, expires_at REAL NOT NULL, data BLOB NOT NULL);
    """,
]

_LOG_COLUMNS = [
    "id", "ts", "account", "gateway", "provider", "endpoint", "method", "model", "stream", "status",
    "latency_ms", "ttfb_ms", "tokens_in", "tokens_out", "cached_tokens", "reasoning_tokens",
    "usage_estimated", "cost_usd", "cache_status", "error", "metadata", "request_headers",
    "request_body", "response_body", "step", "attempts", "cache_saved_ms", "rate_limited",
]  # fmt: skip
_INSERT_LOG = (
    f"INSERT OR IGNORE INTO logs ({', '.join(_LOG_COLUMNS)}) VALUES ({', '.join('?' * len(_LOG_COLUMNS))})"
)


class SqliteDatabase:
    """`Store` and `LogSink` on one SQLite file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._connection: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self._run(self._open)

    async def close(self) -> None:
        if self._connection is not None:
            await self._run(self._connection.close)
            self._connection = None
        self._executor.shutdown(wait=True)

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process crashes
        connection.execute("PRAGMA busy_timeout=5000")  # the CLI may write while a server runs
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            connection.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")
        connection.execute(
            "INSERT OR IGNORE INTO gateways VALUES (?, ?, ?, ?, ?)",
            (DEFAULT_ACCOUNT, DEFAULT_GATEWAY, DEFAULT_GATEWAY, "{}", time.time()),
        )
        self._connection = connection

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise RuntimeError("database is not open")
        return self._connection

    async def get_gateway(self, account: str, slug: str) -> Gateway | None:
        rows = await self._run(self._select_gateways, "account = ? AND slug = ?", (account, slug))
        return rows[0] if rows else None

    async def list_gateways(self, account: str) -> list[Gateway]:
        return await self._run(self._select_gateways, "account = ?", (account,))

    def _select_gateways(self, where: str, args: tuple[Any, ...]) -> list[Gateway]:
        cursor = self._db().execute(
            f"SELECT account, slug, name, settings, created_at FROM gateways WHERE {where} ORDER BY slug",
            args,
        )
        return [
            Gateway(
                account=account,
                slug=slug,
                name=name,
                settings=GatewaySettings.model_validate_json(settings),
                created_at=created_at,
            )
            for account, slug, name, settings, created_at in cursor
        ]

    async def create_gateway(self, account: str, slug: str, name: str, settings: GatewaySettings) -> Gateway:
        gateway = Gateway(account=account, slug=slug, name=name, settings=settings, created_at=time.time())
        try:
            await self._run(
                self._db().execute,
                "INSERT INTO gateways VALUES (?, ?, ?, ?, ?)",
                (account, slug, name, settings.model_dump_json(), gateway.created_at),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"gateway {slug!r} already exists in account {account!r}") from exc
        return gateway

    async def update_gateway(
        self, account: str, slug: str, name: str | None, settings: GatewaySettings | None
    ) -> Gateway | None:
        current = await self.get_gateway(account, slug)
        if current is None:
            return None
        updated = current.model_copy(
            update={"name": name or current.name, "settings": settings or current.settings}
        )
        await self._run(
            self._db().execute,
            "UPDATE gateways SET name = ?, settings = ? WHERE account = ? AND slug = ?",
            (updated.name, updated.settings.model_dump_json(), account, slug),
        )
        return updated

    async def delete_gateway(self, account: str, slug: str) -> bool:
        cursor = await self._run(
            self._db().execute, "DELETE FROM gateways WHERE account = ? AND slug = ?", (account, slug)
        )
        return cursor.rowcount > 0

    async def cache_get(self, key: str) -> bytes | None:
        row = await self._run(
            lambda: self._db().execute("SELECT data FROM cache WHERE key = ?", (key,)).fetchone()
        )
        return bytes(row[0]) if row else None

    async def cache_put(self, key: str, data: bytes, expires_at: float) -> None:
        await self._run(
            self._db().execute,
            "INSERT OR REPLACE INTO cache (key, expires_at, data) VALUES (?, ?, ?)",
            (key, expires_at, data),
        )

    async def cache_delete(self, key: str) -> bool:
        cursor = await self._run(self._db().execute, "DELETE FROM cache WHERE key = ?", (key,))
        return bool(cursor.rowcount)

    async def cache_purge(self, prefix: str) -> int:
        # A key range instead of LIKE: prefixes may contain `%` or `_`.
        sql = "DELETE FROM cache WHERE key >= ? AND key < ?"
        cursor = await self._run(self._db().execute, sql, (prefix, prefix + "\U0010ffff"))
        return int(cursor.rowcount)

    async def cache_sweep(self, now: float) -> int:
        """Delete expired entries (run periodically; expiry itself is checked on every read)."""
        cursor = await self._run(self._db().execute, "DELETE FROM cache WHERE expires_at <= ?", (now,))
        return int(cursor.rowcount)

    async def write_logs(self, records: list[LogRecord]) -> None:
        await self._run(self._insert_logs, [_log_row(record) for record in records])

    def _insert_logs(self, rows: list[tuple[Any, ...]]) -> None:
        db = self._db()
        db.execute("BEGIN")
        try:
            db.executemany(_INSERT_LOG, rows)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def query_logs(self, query: LogQuery) -> list[LogRecord]:
        where, args = _log_filter(query)
        sql = f"SELECT {', '.join(_LOG_COLUMNS)} FROM logs WHERE {where} ORDER BY id DESC LIMIT ?"
        rows = await self._run(lambda: self._db().execute(sql, (*args, query.limit)).fetchall())
        return [_log_record(row) for row in rows]

    async def get_log(self, account: str, log_id: str) -> LogRecord | None:
        sql = f"SELECT {', '.join(_LOG_COLUMNS)} FROM logs WHERE account = ? AND id = ?"
        row = await self._run(lambda: self._db().execute(sql, (account, log_id)).fetchone())
        return _log_record(row) if row else None


def _log_filter(query: LogQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = ["account = ?"]
    args: list[Any] = [query.account]
    for column, value in (("gateway", query.gateway), ("provider", query.provider), ("model", query.model)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    bounds: tuple[tuple[str, object], ...] = (
        ("ts >= ?", query.since),
        ("ts < ?", query.until),
        ("status >= ?", query.status_min),
        ("status <= ?", query.status_max),
        ("id < ?", query.cursor),
    )
    for clause, bound in bounds:
        if bound is not None:
            clauses.append(clause)
            args.append(bound)
    if query.cached is not None:
        clauses.append("cache_status = 'HIT'" if query.cached else "cache_status != 'HIT'")
    return " AND ".join(clauses), args


def _log_row(record: LogRecord) -> tuple[Any, ...]:
    return (
        record.id, record.ts, record.account, record.gateway, record.provider, record.endpoint,
        record.method, record.model, int(record.stream), record.status, record.latency_ms,
        record.ttfb_ms, record.tokens_in, record.tokens_out, record.cached_tokens,
        record.reasoning_tokens, int(record.usage_estimated), record.cost_usd, record.cache_status,
        record.error, orjson.dumps(record.metadata).decode(), orjson.dumps(record.request_headers).decode(),
        record.request_body, record.response_body, record.step, orjson.dumps(record.attempts).decode(),
        record.cache_saved_ms, int(record.rate_limited),
    )  # fmt: skip


def _log_record(row: tuple[Any, ...]) -> LogRecord:
    values = dict(zip(_LOG_COLUMNS, row, strict=True))
    values["stream"] = bool(values["stream"])
    values["usage_estimated"] = bool(values["usage_estimated"])
    values["rate_limited"] = bool(values["rate_limited"])
    values["metadata"] = orjson.loads(values["metadata"])
    values["request_headers"] = orjson.loads(values["request_headers"])
    values["attempts"] = orjson.loads(values["attempts"])
    return LogRecord(**values)
