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

from sluicegate.analytics import AnalyticsQuery, AnalyticsResult
from sluicegate.datafiles import private_directory, private_file, tighten
from sluicegate.errors import Conflict
from sluicegate.feedback import Feedback
from sluicegate.gateway import DEFAULT_ACCOUNT, DEFAULT_GATEWAY, Gateway, GatewaySettings
from sluicegate.semantic_report import Bin
from sluicegate.slices import in_slices
from sluicegate.spend import SpendQuery, SpendResult
from sluicegate.storage import semantic_whatif, sqlite_analytics, sqlite_custom, sqlite_spend
from sluicegate.storage.base import (
    AuditEntry,
    CustomProvider,
    LogQuery,
    LogRecord,
    RouteVersion,
    StoredKey,
)
from sluicegate.storage.log_conditions import SQLITE, condition_clauses, order_clause
from sluicegate.tokens import Token

T = TypeVar("T")
ANNOTATED = sqlite_analytics.ANNOTATED
GUARDED = sqlite_analytics.GUARDED
SEMANTIC_LOOKUPS = semantic_whatif.SEMANTIC_LOOKUPS

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
    """
    CREATE TABLE tokens (
        id TEXT PRIMARY KEY,
        account TEXT NOT NULL,
        secret_hash TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        revoked_at REAL
    );
    CREATE INDEX tokens_account ON tokens (account);
    CREATE TABLE provider_keys (
        account TEXT NOT NULL,
        gateway TEXT NOT NULL,
        provider TEXT NOT NULL,
        sealed BLOB NOT NULL,
        fingerprint TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (account, gateway, provider)
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        account TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        details TEXT NOT NULL
    );
    CREATE INDEX audit_account_ts ON audit (account, ts);
    """,
    """
    ALTER TABLE logs ADD COLUMN semantic_hit INTEGER NOT NULL DEFAULT 0;
    """,
    """
    ALTER TABLE logs ADD COLUMN cache_source TEXT NOT NULL DEFAULT '';
    """,
    """
    ALTER TABLE logs ADD COLUMN degraded TEXT;
    """,
    """
    ALTER TABLE logs ADD COLUMN unpriced INTEGER NOT NULL DEFAULT 0;
    """,
    """
    ALTER TABLE gateways ADD COLUMN modified_at REAL;
    """,
    f"""
    ALTER TABLE logs ADD COLUMN feedback INTEGER;
    ALTER TABLE logs ADD COLUMN score REAL;
    CREATE INDEX logs_annotated ON logs (account, ts) WHERE {ANNOTATED};
    """,
    """
    ALTER TABLE logs ADD COLUMN cache_write_tokens INTEGER;
    """,
    # Spend reports read only this index (see `sqlite_spend.py`), never the wide rows.
    """
    ALTER TABLE logs ADD COLUMN token_id TEXT;
    CREATE INDEX logs_spend ON logs
        (account, ts, gateway, token_id, model, tokens_in, tokens_out, cost_usd, unpriced, metadata);
    """,
    """
    CREATE TABLE route_versions (
        account TEXT NOT NULL,
        gateway TEXT NOT NULL,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        route TEXT,
        ts REAL NOT NULL,
        actor TEXT NOT NULL,
        PRIMARY KEY (account, gateway, name, version)
    );
    """,
    f"""
    CREATE INDEX logs_guarded ON logs (account, ts) WHERE {GUARDED} IS NOT NULL;
    """,
    # Key pools: several named keys per provider. SQLite cannot change a primary key in place.
    """
    CREATE TABLE provider_keys_named (
        account TEXT NOT NULL,
        gateway TEXT NOT NULL,
        provider TEXT NOT NULL,
        name TEXT NOT NULL,
        weight REAL NOT NULL,
        sealed BLOB NOT NULL,
        fingerprint TEXT NOT NULL,
        created_at REAL NOT NULL,
        PRIMARY KEY (account, gateway, provider, name)
    );
    INSERT INTO provider_keys_named
        SELECT account, gateway, provider, 'default', 1.0, sealed, fingerprint, created_at FROM provider_keys;
    DROP TABLE provider_keys;
    ALTER TABLE provider_keys_named RENAME TO provider_keys;
    ALTER TABLE logs ADD COLUMN key_name TEXT;
    """,
    # The semantic cache's lookups and shadow checks, for its what-if and precision figures
    # (`semantic_whatif.py`), found by a partial index: few of all records, read by range.
    f"""
    ALTER TABLE logs ADD COLUMN semantic_similarity REAL;
    ALTER TABLE logs ADD COLUMN semantic_verified INTEGER;
    ALTER TABLE logs ADD COLUMN semantic_score REAL;
    ALTER TABLE logs ADD COLUMN saved_usd REAL;
    ALTER TABLE logs ADD COLUMN shadow_of TEXT;
    ALTER TABLE logs ADD COLUMN shadow_agreed INTEGER;
    CREATE INDEX logs_semantic ON logs (account, ts) WHERE {SEMANTIC_LOOKUPS};
    """,
    sqlite_custom.MIGRATION,
]

_LOG_COLUMNS = [
    "id", "ts", "account", "gateway", "provider", "endpoint", "method", "model", "stream", "status",
    "latency_ms", "ttfb_ms", "tokens_in", "tokens_out", "cached_tokens", "reasoning_tokens",
    "usage_estimated", "cost_usd", "cache_status", "error", "metadata", "request_headers",
    "request_body", "response_body", "step", "attempts", "cache_saved_ms", "rate_limited", "semantic_hit",
    "cache_source",
    "degraded",
    "unpriced", "feedback", "score",
    "cache_write_tokens", "token_id", "key_name",
    "semantic_similarity", "semantic_verified", "semantic_score", "saved_usd", "shadow_of", "shadow_agreed",
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
        private_directory(self._path.parent)
        # SQLite gives its -wal, -shm and -journal files the database file's mode, so a database
        # made 0600 before SQLite opens it keeps them all private too; older ones are tightened.
        private_file(self._path)
        for suffix in ("-wal", "-shm", "-journal"):
            tighten(self._path.with_name(self._path.name + suffix))
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process crashes
        connection.execute("PRAGMA busy_timeout=5000")  # the CLI may write while a server runs
        # One migrating process at a time: BEGIN IMMEDIATE takes the write lock before the version is
        # read, so a server and a CLI starting together cannot both apply the same migration.
        connection.execute("BEGIN IMMEDIATE")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in _statements(script):
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version={number}")
        connection.execute("COMMIT")
        connection.execute(
            "INSERT OR IGNORE INTO gateways (account, slug, name, settings, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (DEFAULT_ACCOUNT, DEFAULT_GATEWAY, DEFAULT_GATEWAY, "{}", time.time()),
        )
        sqlite_analytics.install(connection)  # roll-up tables; filled from existing logs once
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

    async def all_gateways(self) -> list[Gateway]:
        return await self._run(self._select_gateways, "1 = 1", ())

    def _select_gateways(self, where: str, args: tuple[Any, ...]) -> list[Gateway]:
        cursor = self._db().execute(
            f"SELECT account, slug, name, settings, created_at, modified_at FROM gateways WHERE {where}"
            " ORDER BY slug",
            args,
        )
        return [
            Gateway(
                account=account,
                slug=slug,
                name=name,
                settings=GatewaySettings.model_validate_json(settings, context={"stored": True}),
                created_at=created_at,
                modified_at=modified_at,
            )
            for account, slug, name, settings, created_at, modified_at in cursor
        ]

    async def create_gateway(self, account: str, slug: str, name: str, settings: GatewaySettings) -> Gateway:
        gateway = Gateway(account=account, slug=slug, name=name, settings=settings, created_at=time.time())
        try:
            await self._run(
                self._db().execute,
                "INSERT INTO gateways (account, slug, name, settings, created_at) VALUES (?, ?, ?, ?, ?)",
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
            update={
                "name": name or current.name,
                "settings": settings or current.settings,
                "modified_at": time.time(),
            }
        )
        await self._run(
            self._db().execute,
            "UPDATE gateways SET name = ?, settings = ?, modified_at = ? WHERE account = ? AND slug = ?",
            (updated.name, updated.settings.model_dump_json(), updated.modified_at, account, slug),
        )
        return updated

    async def delete_gateway(self, account: str, slug: str) -> bool:
        cursor = await self._run(
            self._db().execute, "DELETE FROM gateways WHERE account = ? AND slug = ?", (account, slug)
        )
        sql = "DELETE FROM route_versions WHERE account = ? AND gateway = ?"
        await self._run(self._db().execute, sql, (account, slug))
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

    async def create_token(self, token: Token, secret_hash: str) -> None:
        try:
            await self._run(
                self._db().execute,
                "INSERT INTO tokens (id, account, secret_hash, body, revoked_at) VALUES (?, ?, ?, ?, NULL)",
                (token.id, token.account, secret_hash, token.model_dump_json()),
            )
        except sqlite3.IntegrityError as exc:
            raise Conflict("a token with this id or secret exists") from exc

    async def token_by_hash(self, secret_hash: str) -> Token | None:
        sql = "SELECT body, revoked_at FROM tokens WHERE secret_hash = ?"
        row = await self._run(lambda: self._db().execute(sql, (secret_hash,)).fetchone())
        return Token.model_validate_json(row[0]).model_copy(update={"revoked_at": row[1]}) if row else None

    async def list_tokens(self, account: str) -> list[Token]:
        sql = "SELECT body, revoked_at FROM tokens WHERE account = ? ORDER BY rowid"
        rows = await self._run(lambda: self._db().execute(sql, (account,)).fetchall())
        return [
            Token.model_validate_json(body).model_copy(update={"revoked_at": revoked})
            for body, revoked in rows
        ]

    async def revoke_token(self, account: str, token_id: str, at: float) -> bool:
        sql = "UPDATE tokens SET revoked_at = ? WHERE account = ? AND id = ? AND revoked_at IS NULL"
        cursor = await self._run(self._db().execute, sql, (at, account, token_id))
        return bool(cursor.rowcount)

    async def update_token(self, token: Token) -> bool:
        sql = "UPDATE tokens SET body = ? WHERE account = ? AND id = ? AND revoked_at IS NULL"
        cursor = await self._run(self._db().execute, sql, (token.model_dump_json(), token.account, token.id))
        return bool(cursor.rowcount)

    async def count_tokens(self) -> int:
        return int(await self._run(lambda: self._db().execute("SELECT count(*) FROM tokens").fetchone()[0]))

    async def put_provider_key(self, key: StoredKey, sealed: bytes) -> None:
        await self._run(
            self._db().execute,
            "INSERT OR REPLACE INTO provider_keys"
            " (account, gateway, provider, name, weight, sealed, fingerprint, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key.account, key.gateway, key.provider, key.name, key.weight, sealed, key.fingerprint,
             key.created_at),
        )  # fmt: skip

    async def provider_keys(self, account: str, gateway: str) -> list[tuple[StoredKey, bytes]]:
        sql = (
            "SELECT account, gateway, provider, fingerprint, created_at, name, weight, sealed"
            " FROM provider_keys WHERE account = ? AND gateway = ? ORDER BY provider, name"
        )
        rows = await self._run(lambda: self._db().execute(sql, (account, gateway)).fetchall())
        return [(StoredKey(*row[:7]), bytes(row[7])) for row in rows]

    async def delete_provider_key(self, account: str, gateway: str, provider: str, name: str) -> bool:
        sql = "DELETE FROM provider_keys WHERE account = ? AND gateway = ? AND provider = ? AND name = ?"
        cursor = await self._run(self._db().execute, sql, (account, gateway, provider, name))
        return bool(cursor.rowcount)

    async def record_audit(self, entry: AuditEntry) -> None:
        await self._run(
            self._db().execute,
            "INSERT INTO audit (ts, account, actor, action, target, details) VALUES (?, ?, ?, ?, ?, ?)",
            (
                entry.ts,
                entry.account,
                entry.actor,
                entry.action,
                entry.target,
                orjson.dumps(entry.details).decode(),
            ),
        )

    async def add_route_version(
        self, account: str, gateway: str, name: str, route: Any, ts: float, actor: str
    ) -> int:
        # One statement: SQLite runs it alone, so two saves cannot take the same number.
        sql = (
            "INSERT INTO route_versions (account, gateway, name, version, route, ts, actor)"
            " SELECT ?, ?, ?, COALESCE(MAX(version), 0) + 1, ?, ?, ? FROM route_versions"
            " WHERE account = ? AND gateway = ? AND name = ? RETURNING version"
        )
        text = None if route is None else orjson.dumps(route).decode()
        args = (account, gateway, name, text, ts, actor, account, gateway, name)
        row = await self._run(lambda: self._db().execute(sql, args).fetchone())
        return int(row[0])

    async def route_versions(self, account: str, gateway: str, name: str) -> list[RouteVersion]:
        sql = (
            "SELECT name, version, route, ts, actor FROM route_versions"
            " WHERE account = ? AND gateway = ? AND name = ? ORDER BY version DESC"
        )
        rows = await self._run(lambda: self._db().execute(sql, (account, gateway, name)).fetchall())
        return [
            RouteVersion(row[0], row[1], None if row[2] is None else orjson.loads(row[2]), row[3], row[4])
            for row in rows
        ]

    async def create_custom_provider(self, provider: CustomProvider, sealed: bytes | None) -> None:
        await self._run(sqlite_custom.create, self._db(), provider, sealed)

    async def update_custom_provider(self, provider: CustomProvider, sealed: bytes | None) -> bool:
        return await self._run(sqlite_custom.update, self._db(), provider, sealed)

    async def custom_providers(self, account: str) -> list[tuple[CustomProvider, bytes | None]]:
        return await self._run(sqlite_custom.select, self._db(), account)

    async def delete_custom_provider(self, account: str, provider_id: str) -> bool:
        return await self._run(sqlite_custom.delete, self._db(), account, provider_id)

    async def audit_log(self, account: str, limit: int) -> list[AuditEntry]:
        sql = (
            "SELECT ts, account, actor, action, target, details FROM audit WHERE account = ? ORDER BY id DESC"
        )
        sql += " LIMIT ?"
        rows = await self._run(lambda: self._db().execute(sql, (account, limit)).fetchall())
        return [
            AuditEntry(ts, acc, actor, action, target, orjson.loads(details))
            for ts, acc, actor, action, target, details in rows
        ]

    async def delete_logs(
        self, account: str, gateway: str, before: float | None, keep_newest: int | None
    ) -> int:
        """Retention: delete a gateway's records older than `before`, and all but the newest `keep_newest`."""
        deleted = 0
        if before is not None:
            sql = "DELETE FROM logs WHERE account = ? AND gateway = ? AND ts < ?"
            deleted += (await self._run(self._db().execute, sql, (account, gateway, before))).rowcount
        if keep_newest == 0:
            sql = "DELETE FROM logs WHERE account = ? AND gateway = ?"
            deleted += (await self._run(self._db().execute, sql, (account, gateway))).rowcount
        elif keep_newest is not None:
            sql = (
                "DELETE FROM logs WHERE account = ? AND gateway = ? AND id < (SELECT id FROM logs"
                " WHERE account = ? AND gateway = ? ORDER BY id DESC LIMIT 1 OFFSET ?)"
            )
            args = (account, gateway, account, gateway, keep_newest - 1)
            deleted += (await self._run(self._db().execute, sql, args)).rowcount
        return int(deleted)

    async def count_logs(self, account: str, gateway: str) -> int:
        sql = "SELECT count(*) FROM logs WHERE account = ? AND gateway = ?"
        return int(await self._run(lambda: self._db().execute(sql, (account, gateway)).fetchone()[0]))

    async def write_logs(self, records: list[LogRecord]) -> None:
        await self._run(self._insert_logs, records)  # rows are built on the database thread too

    async def analytics(self, query: AnalyticsQuery) -> AnalyticsResult:
        return await self._run(sqlite_analytics.analytics, self._db(), query)

    async def spend(self, query: SpendQuery) -> SpendResult:
        return await self._run(sqlite_spend.spend, self._db(), query)

    async def semantic_bins(
        self, account: str, since: float, until: float, gateways: tuple[str, ...] | None
    ) -> list[Bin]:
        sql = semantic_whatif.statement("sqlite", gateways)
        args = semantic_whatif.arguments(account, since, until, gateways)
        return semantic_whatif.bins(await self._run(lambda: self._db().execute(sql, args).fetchall()))

    def _insert_logs(self, records: list[LogRecord]) -> None:
        rows = [_log_row(record) for record in in_slices(records)]
        db = self._db()
        db.execute("BEGIN")
        try:
            last = sqlite_analytics.last_log_rowid(db)
            db.executemany(_INSERT_LOG, rows)
            sqlite_analytics.roll_up(db, after_rowid=last)  # in the same transaction as the rows
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def query_logs(self, query: LogQuery) -> list[LogRecord]:
        where, args = _log_filter(query)
        order = "ORDER BY id ASC" if query.after is not None else order_clause(query.order, SQLITE)
        sql = f"SELECT {', '.join(_LOG_COLUMNS)} FROM logs WHERE {where} {order} LIMIT ? OFFSET ?"
        rows = await self._run(lambda: self._db().execute(sql, (*args, query.limit, query.offset)).fetchall())
        return [_log_record(row) for row in rows]

    async def count_matching_logs(self, query: LogQuery) -> int:
        where, args = _log_filter(query)
        sql = f"SELECT count(*) FROM logs WHERE {where}"
        return int(await self._run(lambda: self._db().execute(sql, args).fetchone()[0]))

    async def delete_matching_logs(self, query: LogQuery) -> int:
        where, args = _log_filter(query)
        if query.limit < 0:
            sql, bound = f"DELETE FROM logs WHERE {where}", args
        else:
            chosen = f"SELECT id FROM logs WHERE {where} {order_clause(query.order, SQLITE)} LIMIT ?"
            sql, bound = f"DELETE FROM logs WHERE id IN ({chosen})", [*args, query.limit]
        return int((await self._run(self._db().execute, sql, bound)).rowcount)

    async def get_log(self, account: str, log_id: str) -> LogRecord | None:
        sql = f"SELECT {', '.join(_LOG_COLUMNS)} FROM logs WHERE account = ? AND id = ?"
        row = await self._run(lambda: self._db().execute(sql, (account, log_id)).fetchone())
        return _log_record(row) if row else None

    async def annotate_log(
        self, account: str, gateway: str, log_id: str, change: Feedback
    ) -> LogRecord | None:
        return await self._run(self._annotate, (account, gateway, log_id), change)

    def _annotate(self, key: tuple[str, str, str], change: Feedback) -> LogRecord | None:
        db, where = self._db(), "account = ? AND gateway = ? AND id = ?"
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(f"SELECT feedback, score, metadata FROM logs WHERE {where}", key).fetchone()
            if row is None:
                db.execute("ROLLBACK")
                return None
            feedback, score, metadata = change.apply(row[0], row[1], orjson.loads(row[2]))
            db.execute(
                f"UPDATE logs SET feedback = ?, score = ?, metadata = ? WHERE {where}",
                (feedback, score, orjson.dumps(metadata).decode(), *key),
            )
            updated = db.execute(f"SELECT {', '.join(_LOG_COLUMNS)} FROM logs WHERE {where}", key).fetchone()
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
        return _log_record(updated)


def _statements(script: str) -> list[str]:
    """A migration script's statements (they hold no `;` inside literals)."""
    return [statement.strip() for statement in script.split(";") if statement.strip()]


def _log_filter(query: LogQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = ["account = ?"]
    args: list[Any] = [query.account]
    for column, value in (("gateway", query.gateway), ("provider", query.provider), ("model", query.model)):
        if value is not None:
            clauses.append(f"{column} = ?")
            args.append(value)
    if query.gateways is not None:
        clauses.append(f"gateway IN ({', '.join('?' * len(query.gateways))})")
        args.extend(query.gateways)
    bounds: tuple[tuple[str, object], ...] = (
        ("ts >= ?", query.since),
        ("ts < ?", query.until),
        ("status >= ?", query.status_min),
        ("status <= ?", query.status_max),
        ("id < ?", query.cursor),
        ("id > ?", query.after),
        ("feedback = ?", query.feedback),
        ("score >= ?", query.score_min),
        ("score <= ?", query.score_max),
    )
    for clause, bound in bounds:
        if bound is not None:
            clauses.append(clause)
            args.append(bound)
    if query.cached is not None:
        clauses.append("cache_status = 'HIT'" if query.cached else "cache_status != 'HIT'")
    clauses += condition_clauses(query.conditions, SQLITE, args)
    return " AND ".join(clauses), args


def _log_row(record: LogRecord) -> tuple[Any, ...]:
    return (
        record.id, record.ts, record.account, record.gateway, record.provider, record.endpoint,
        record.method, record.model, int(record.stream), record.status, record.latency_ms,
        record.ttfb_ms, record.tokens_in, record.tokens_out, record.cached_tokens,
        record.reasoning_tokens, int(record.usage_estimated), record.cost_usd, record.cache_status,
        record.error, orjson.dumps(record.metadata).decode(), orjson.dumps(record.request_headers).decode(),
        record.request_body, record.response_body, record.step, orjson.dumps(record.attempts).decode(),
        record.cache_saved_ms, int(record.rate_limited), int(record.semantic_hit), record.cache_source,
        record.degraded, int(record.unpriced), record.feedback, record.score,
        record.cache_write_tokens, record.token_id, record.key_name,
        record.semantic_similarity, _flag(record.semantic_verified), record.semantic_score,
        record.saved_usd, record.shadow_of, _flag(record.shadow_agreed),
    )  # fmt: skip


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _log_record(row: tuple[Any, ...]) -> LogRecord:
    values = dict(zip(_LOG_COLUMNS, row, strict=True))
    values["stream"] = bool(values["stream"])
    values["usage_estimated"] = bool(values["usage_estimated"])
    values["rate_limited"] = bool(values["rate_limited"])
    values["semantic_hit"] = bool(values["semantic_hit"])
    values["unpriced"] = bool(values["unpriced"])
    for name in ("semantic_verified", "shadow_agreed"):
        values[name] = None if values[name] is None else bool(values[name])
    values["metadata"] = orjson.loads(values["metadata"])
    values["request_headers"] = orjson.loads(values["request_headers"])
    values["attempts"] = orjson.loads(values["attempts"])
    return LogRecord(**values)
