"""The embedded backend: one SQLite file in WAL mode, used from one worker thread (`sqlite_worker`).

Its schema (the migration list) is here; the log and access parts are in `sqlite_logs` and
`sqlite_access`. Log records arrive in batches (one transaction per batch, `executemany`).
"""

from __future__ import annotations

import functools
import itertools
import sqlite3
import time
from typing import Any, TypeVar

from sluicegate.analytics import AnalyticsQuery, AnalyticsResult
from sluicegate.errors import Conflict, PreconditionFailed
from sluicegate.gateway import DEFAULT_ACCOUNT, DEFAULT_GATEWAY, Gateway, GatewaySettings
from sluicegate.semantic_report import Bin
from sluicegate.spend import SpendQuery, SpendResult
from sluicegate.storage import (
    gateway_query,
    semantic_whatif,
    sqlite_analytics,
    sqlite_custom,
    sqlite_retention,
    sqlite_spend,
)
from sluicegate.storage.gateway_query import GatewayQuery
from sluicegate.storage.schema_version import SchemaTooNew
from sluicegate.storage.sqlite_access import SqliteAccess
from sluicegate.storage.sqlite_files import open_sqlite
from sluicegate.storage.sqlite_logs import SqliteLogs

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
    # Listings across an account's gateways walk `logs_account_id` in id order; those of a time
    # range choose their page in `logs_account_ts`, now with the id (`sqlite_logs.select_logs_sql`).
    # Before, both read and sorted every matching row, bodies and all: 2-9 s over a million.
    """
    CREATE INDEX IF NOT EXISTS logs_account_id ON logs (account, id);
    DROP INDEX logs_account_ts;
    CREATE INDEX logs_account_ts ON logs (account, ts, id);
    """,
    # Exports page a gateway's records in the order they were stored (`sqlite_logs.stored_logs`):
    # this index's entries are (account, gateway, rowid), so it walks them by rowid.
    "CREATE INDEX logs_account_gateway_stored ON logs (account, gateway)",
    # Each body's size before it was cut to logs.body_limit (`LogRecord.request_size`).
    """
    ALTER TABLE logs ADD COLUMN request_size INTEGER;
    ALTER TABLE logs ADD COLUMN response_size INTEGER;
    """,
    # A gateway's version, one more at each change: its ETag, which If-Match checks (`Gateway.version`).
    "ALTER TABLE gateways ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
    # The status of the upstream's answer, NULL when none came (`LogRecord.upstream_status`).
    "ALTER TABLE logs ADD COLUMN upstream_status INTEGER",
]


class SqliteDatabase(SqliteLogs, SqliteAccess):
    """`GatewayStore` and `LogSink` on one SQLite file: gateways, the cache table and the schema here, the
    log (`sqlite_logs`) and access (`sqlite_access`) in their own modules."""

    async def open(self) -> None:
        await self._run(self._open)
        await self._reports.open()  # now, not on first use: the file just migrated, not a later one
        await self._writer.open()
        await self._cache_table.open()

    async def close(self) -> None:
        await self._reports.close()  # first: from now on a report is refused, not queued
        await self._cache_table.close()
        await self._writer.close()
        if self._connection is not None:
            await self._run(self._connection.close)
            self._connection = None
        self._executor.shutdown(wait=True)

    def _open(self) -> None:
        connection = open_sqlite(self._path)
        # One migrating process at a time: BEGIN IMMEDIATE takes the write lock before the version is
        # read, so a server and a CLI starting together cannot both apply the same migration.
        connection.execute("BEGIN IMMEDIATE")
        version = connection.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):  # a newer release's: refused before anything is written
            connection.execute("ROLLBACK")
            connection.close()
            raise SchemaTooNew(version, len(MIGRATIONS))
        if version == 0 and not connection.execute("SELECT 1 FROM sqlite_master").fetchone():
            # Only before the first table: free pages can then be given back after retention
            # (`sqlite_retention.py`). An older database needs a VACUUM for it (docs/durability.md).
            connection.execute("PRAGMA auto_vacuum=INCREMENTAL")
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

    async def prune_rollups(self, now: float) -> int:
        """Delete the minute and hour roll-up rows past the age they are kept for (`KEPT_SECONDS`)."""
        pruned = 0
        for account in await self._writer.run(sqlite_retention.rollup_accounts):
            for table, width in itertools.product(
                sqlite_retention.ROLLUP_KEYS, sqlite_retention.PRUNED_WIDTHS
            ):
                step = functools.partial(
                    sqlite_retention.prune_rollups_step, table=table, account=account, width=width, now=now
                )
                while (count := await self._writer.run(step)) > 0:
                    pruned += count
        return pruned

    async def compact(self) -> None:
        """After a retention pass: the WAL truncated, free pages given back (`sqlite_retention.py`)."""
        await self._writer.run(sqlite_retention.checkpoint)
        if await self._writer.run(sqlite_retention.needs_vacuum):
            while await self._writer.run(sqlite_retention.vacuum_step):
                pass
            await self._writer.run(sqlite_retention.checkpoint)

    async def get_gateway(self, account: str, slug: str) -> Gateway | None:
        rows = await self._run(self._select_gateways, "account = ? AND slug = ?", (account, slug))
        return rows[0] if rows else None

    async def list_gateways(self, account: str) -> list[Gateway]:
        return await self._run(self._select_gateways, "account = ?", (account,))

    async def gateway_page(self, query: GatewayQuery) -> list[Gateway]:
        sql, args = gateway_query.select_sql(query, "sqlite")
        return await self._run(
            lambda: [self.gateway_rows.gateway_of(row) for row in self._db().execute(sql, args)]
        )

    async def count_gateways(self, query: GatewayQuery) -> int:
        sql, args = gateway_query.count_sql(query, "sqlite")
        return int(await self._run(lambda: self._db().execute(sql, args).fetchone()[0]))

    async def all_gateways(self) -> list[Gateway]:
        return await self._run(self._select_gateways, "1 = 1", ())

    def _select_gateways(self, where: str, args: tuple[Any, ...]) -> list[Gateway]:
        # Settings are parsed on this worker thread, and only when their stored text changed.
        sql = f"SELECT {gateway_query.GATEWAY_COLUMNS} FROM gateways WHERE {where} ORDER BY slug"
        return [self.gateway_rows.gateway_of(row) for row in self._db().execute(sql, args)]

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
        self,
        account: str,
        slug: str,
        name: str | None,
        settings: GatewaySettings | None,
        version: int | None = None,
    ) -> Gateway | None:
        sql, args = gateway_query.update_sql(account, slug, name, settings, version, time.time(), "sqlite")

        def update() -> Gateway | None:
            rows = self._db().execute(sql, args).fetchall()  # all: the statement ends, and commits
            return self.gateway_rows.gateway_of(rows[0]) if rows else None

        updated = await self._run(update)
        if updated is None and version is not None and await self.get_gateway(account, slug) is not None:
            raise PreconditionFailed(f"gateway {slug!r} is no longer at version {version}")
        return updated

    async def delete_gateway(self, account: str, slug: str) -> bool:
        cursor = await self._run(
            self._db().execute, "DELETE FROM gateways WHERE account = ? AND slug = ?", (account, slug)
        )
        sql = "DELETE FROM route_versions WHERE account = ? AND gateway = ?"
        await self._run(self._db().execute, sql, (account, slug))
        return cursor.rowcount > 0

    async def cache_get(self, key: str) -> bytes | None:
        return await self._cache_table.get(key)  # never behind the shared connection's work

    async def cache_put(self, key: str, data: bytes, expires_at: float) -> None:
        await self._cache_table.put(key, data, expires_at)  # a lock held long: failed, not waited out

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

    async def analytics(self, query: AnalyticsQuery) -> AnalyticsResult:
        return await self._report(lambda db: sqlite_analytics.analytics(db, query))

    async def spend(self, query: SpendQuery) -> SpendResult:
        return await self._report(lambda db: sqlite_spend.spend(db, query))

    async def semantic_bins(
        self, account: str, since: float, until: float, gateways: tuple[str, ...] | None
    ) -> list[Bin]:
        sql = semantic_whatif.statement("sqlite", gateways)
        args = semantic_whatif.arguments(account, since, until, gateways)
        return await self._report(lambda db: semantic_whatif.bins(db.execute(sql, args).fetchall()))


def _statements(script: str) -> list[str]:
    """A migration script's statements (they hold no `;` inside literals)."""
    return [statement.strip() for statement in script.split(";") if statement.strip()]
