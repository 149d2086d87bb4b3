"""The shared backend for many replicas: PostgreSQL through an asyncpg connection pool.

Behaves like `sqlite.py` statement for statement (same ordering, filters, cursor and duplicate
rules); what differs is how it scales:

- Schema changes are numbered migrations recorded in `schema_migrations`. Each runs once, in its own
  transaction, under a transaction-scoped advisory lock, so replicas starting together take turns
  and the second finds the work done.
- `logs` is partitioned by range of `ts`, one partition per UTC day (`logs_pYYYYMMDD`), created just
  before the first batch that needs it. Retention (`drop_logs_before`) drops whole days, which costs
  no vacuum. Queries bounded by `since`/`until` only read the days they cover.
- Identifiers and keys are `COLLATE "C"`: ids, the log cursor and cache-key prefixes compare byte by
  byte, as in SQLite, whatever the database's default collation.
- `cache` is UNLOGGED: fast to write, emptied after a crash, which is fine for a cache.
- Analytics come from roll-up tables (`postgres_analytics.py`, SQLite's design) that each batch of
  log records adds to in its own transaction. Retention leaves them, as on SQLite.

`?schema=NAME` in the URL puts every table in that schema (created when missing), e.g. one per test.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg  # type: ignore[import-untyped]

from sluicegate.analytics import AnalyticsQuery, AnalyticsResult
from sluicegate.errors import Conflict, PreconditionFailed
from sluicegate.gateway import DEFAULT_ACCOUNT, DEFAULT_GATEWAY, Gateway, GatewaySettings
from sluicegate.semantic_report import Bin
from sluicegate.spend import SpendQuery, SpendResult
from sluicegate.storage import (
    gateway_query,
    postgres_analytics,
    postgres_custom,
    postgres_rollups,
    postgres_spend,
    semantic_whatif,
)
from sluicegate.storage.gateway_query import GatewayQuery
from sluicegate.storage.gateway_rows import ParsedGateways
from sluicegate.storage.postgres_access import PostgresAccess
from sluicegate.storage.postgres_logs import PostgresLogs
from sluicegate.storage.postgres_pool import CLOSE_SECONDS, keep_alive, quote_identifier, row_count
from sluicegate.storage.schema_version import SchemaTooNew

MIGRATION_SECONDS = 24 * 3600.0  # not `timeouts.database_statement`: a migration takes what it takes

# Version n is MIGRATIONS[n - 1]. Append; never edit one that has shipped.
MIGRATIONS = [
    """
    CREATE TABLE gateways (
        account TEXT COLLATE "C" NOT NULL,
        slug TEXT COLLATE "C" NOT NULL,
        name TEXT NOT NULL,
        settings JSONB NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (account, slug)
    );
    CREATE TABLE logs (
        id TEXT COLLATE "C" NOT NULL,
        ts DOUBLE PRECISION NOT NULL,
        account TEXT COLLATE "C" NOT NULL,
        gateway TEXT COLLATE "C" NOT NULL,
        provider TEXT NOT NULL,
        endpoint TEXT NOT NULL,
        method TEXT NOT NULL,
        model TEXT,
        stream BOOLEAN NOT NULL,
        status INTEGER NOT NULL,
        latency_ms DOUBLE PRECISION NOT NULL,
        ttfb_ms DOUBLE PRECISION,
        tokens_in BIGINT,
        tokens_out BIGINT,
        cached_tokens BIGINT,
        reasoning_tokens BIGINT,
        usage_estimated BOOLEAN NOT NULL,
        cost_usd DOUBLE PRECISION,
        cache_status TEXT NOT NULL,
        error TEXT,
        metadata JSONB NOT NULL,
        request_headers JSONB NOT NULL,
        request_body BYTEA,
        response_body BYTEA,
        step INTEGER,
        attempts JSONB NOT NULL,
        cache_saved_ms DOUBLE PRECISION,
        rate_limited BOOLEAN NOT NULL,
        PRIMARY KEY (id, ts)  -- a unique key must include the partition key
    ) PARTITION BY RANGE (ts);
    CREATE INDEX logs_account_gateway_id ON logs (account, gateway, id);
    CREATE INDEX logs_account_ts ON logs (account, ts);
    CREATE UNLOGGED TABLE cache (
        key TEXT COLLATE "C" PRIMARY KEY,
        expires_at DOUBLE PRECISION NOT NULL,
        data BYTEA NOT NULL
    );
    """,
    """
    CREATE TABLE tokens (
        id TEXT COLLATE "C" PRIMARY KEY,
        seq BIGINT GENERATED ALWAYS AS IDENTITY,
        account TEXT COLLATE "C" NOT NULL,
        secret_hash TEXT COLLATE "C" NOT NULL UNIQUE,
        body JSONB NOT NULL,
        revoked_at DOUBLE PRECISION
    );
    CREATE INDEX tokens_account ON tokens (account, seq);
    CREATE TABLE provider_keys (
        account TEXT COLLATE "C" NOT NULL,
        gateway TEXT COLLATE "C" NOT NULL,
        provider TEXT COLLATE "C" NOT NULL,
        sealed BYTEA NOT NULL,
        fingerprint TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (account, gateway, provider)
    );
    CREATE TABLE audit (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        ts DOUBLE PRECISION NOT NULL,
        account TEXT COLLATE "C" NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        details JSONB NOT NULL
    );
    CREATE INDEX audit_account_id ON audit (account, id);
    """,
    postgres_rollups.MIGRATION,  # analytics roll-ups, filled from the logs already stored
    "ALTER TABLE logs ADD COLUMN semantic_hit BOOLEAN NOT NULL DEFAULT false",
    "ALTER TABLE logs ADD COLUMN cache_source TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE logs ADD COLUMN degraded TEXT",
    "ALTER TABLE logs ADD COLUMN unpriced BOOLEAN NOT NULL DEFAULT false",
    "ALTER TABLE gateways ADD COLUMN modified_at DOUBLE PRECISION",
    """
    ALTER TABLE logs ADD COLUMN feedback SMALLINT;
    ALTER TABLE logs ADD COLUMN score DOUBLE PRECISION;
    CREATE INDEX logs_annotated ON logs (account, ts) WHERE feedback IS NOT NULL OR score IS NOT NULL;
    """,
    "ALTER TABLE logs ADD COLUMN cache_write_tokens BIGINT",
    "ALTER TABLE logs ADD COLUMN token_id TEXT",
    """
    CREATE TABLE route_versions (
        account TEXT COLLATE "C" NOT NULL,
        gateway TEXT COLLATE "C" NOT NULL,
        name TEXT COLLATE "C" NOT NULL,
        version INTEGER NOT NULL,
        route JSONB,
        ts DOUBLE PRECISION NOT NULL,
        actor TEXT NOT NULL,
        PRIMARY KEY (account, gateway, name, version)
    )
    """,
    f"CREATE INDEX logs_guarded ON logs (account, ts) WHERE {postgres_analytics.GUARDED}",
    # Key pools: several named keys per provider; the key stored before is the one named default.
    """
    ALTER TABLE provider_keys ADD COLUMN name TEXT COLLATE "C" NOT NULL DEFAULT 'default';
    ALTER TABLE provider_keys ADD COLUMN weight DOUBLE PRECISION NOT NULL DEFAULT 1;
    ALTER TABLE provider_keys DROP CONSTRAINT provider_keys_pkey;
    ALTER TABLE provider_keys ADD PRIMARY KEY (account, gateway, provider, name);
    ALTER TABLE logs ADD COLUMN key_name TEXT;
    """,
    f"""
    ALTER TABLE logs ADD COLUMN semantic_similarity DOUBLE PRECISION;
    ALTER TABLE logs ADD COLUMN semantic_verified BOOLEAN;
    ALTER TABLE logs ADD COLUMN semantic_score DOUBLE PRECISION;
    ALTER TABLE logs ADD COLUMN saved_usd DOUBLE PRECISION;
    ALTER TABLE logs ADD COLUMN shadow_of TEXT;
    ALTER TABLE logs ADD COLUMN shadow_agreed BOOLEAN;
    CREATE INDEX logs_semantic ON logs (account, ts) WHERE {semantic_whatif.SEMANTIC_LOOKUPS};
    """,
    postgres_custom.MIGRATION,
    # Listings across an account's gateways: each day's partition walked backwards in id order and
    # merged (Merge Append), where a cursor or a filter had sorted every matching row.
    "CREATE INDEX IF NOT EXISTS logs_account_id ON logs (account, id)",
    # Exports page a gateway's records in the order their transactions were given ids
    # (`postgres_logs.stored_logs`). The records stored before read as transaction 0: no rewrite.
    # Two steps: the ALTERs hold `logs` alone for a moment (no rewrite); the index is built apart,
    # under a lock that lets the log be read meanwhile (writes wait; the spool keeps them).
    """
    ALTER TABLE logs ADD COLUMN stored_xact xid8 NOT NULL DEFAULT '0';
    ALTER TABLE logs ALTER COLUMN stored_xact SET DEFAULT pg_current_xact_id();
    """,
    "CREATE INDEX logs_account_gateway_stored ON logs (account, gateway, stored_xact, id)",
    # Each body's size before it was cut to logs.body_limit (`LogRecord.request_size`).
    "ALTER TABLE logs ADD COLUMN request_size BIGINT, ADD COLUMN response_size BIGINT",
    # A gateway's version, one more at each change: its ETag, which If-Match checks (`Gateway.version`).
    "ALTER TABLE gateways ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
    # The status of the upstream's answer, NULL when none came (`LogRecord.upstream_status`).
    "ALTER TABLE logs ADD COLUMN upstream_status INTEGER",
]
_GATEWAY_COLUMNS = gateway_query.GATEWAY_COLUMNS
_SELECT_GATEWAYS = f"SELECT {_GATEWAY_COLUMNS} FROM gateways"


class PostgresDatabase(PostgresLogs, PostgresAccess, ParsedGateways):
    """`GatewayStore`, `LogSink`, `AccessStore` and `CacheStore` on one PostgreSQL database (or schema)."""

    async def open(self) -> None:
        settings = {"search_path": quote_identifier(self._schema)} if self._schema else {}
        minimum, maximum = self._pool_size
        # command_timeout bounds every statement (and asyncpg's cancel of one that overran, after
        # which a connection still stuck is closed): a server that stops answering, rather than
        # refusing, would otherwise hold each pooled connection, and whoever waits on it, forever.
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=minimum,
            max_size=maximum,
            server_settings=settings,
            command_timeout=self._statement_timeout,
            timeout=self._connect_timeout,
            init=keep_alive,
        )
        async with self._pool.acquire() as connection:
            applied = await _newest_migration(connection)
        if applied > len(MIGRATIONS):  # a newer release's: refused before anything is written
            await self.close()
            raise SchemaTooNew(applied, len(MIGRATIONS))
        async with self._pool.acquire() as connection:
            for version, script in enumerate(MIGRATIONS, start=1):
                await self._migrate(connection, version, script)
            await connection.execute(
                "INSERT INTO gateways (account, slug, name, settings, created_at)"
                " VALUES ($1, $2, $3, '{}', $4) ON CONFLICT DO NOTHING",
                DEFAULT_ACCOUNT, DEFAULT_GATEWAY, DEFAULT_GATEWAY, time.time(),
            )  # fmt: skip
            self._logs_schema = await connection.fetchval(
                "SELECT nspname FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid"
                " WHERE c.oid = 'logs'::regclass"
            )
            self._days = {day for _, day in await self._partitions(connection)}
            self._semantic = await postgres_rollups.has_semantic_column(connection)
            self._roll_up = postgres_rollups.roll_up_statement(self._semantic)

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:  # a graceful close waits for the server to see each connection off
                await asyncio.wait_for(pool.close(), CLOSE_SECONDS)
            except TimeoutError:
                pool.terminate()  # it stopped answering: nothing left to say to it

    async def _migrate(self, connection: asyncpg.Connection, version: int, script: str) -> None:
        async with connection.transaction():
            # Held until commit: a replica starting at the same moment waits here, then skips.
            await connection.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", self._lock_key, timeout=MIGRATION_SECONDS
            )
            if self._schema:
                await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(self._schema)}")
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            if await connection.fetchval("SELECT 1 FROM schema_migrations WHERE version = $1", version):
                return
            await connection.execute(script, timeout=MIGRATION_SECONDS)  # an index on a large table
            await connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)

    async def get_gateway(self, account: str, slug: str) -> Gateway | None:
        row = await self._db().fetchrow(f"{_SELECT_GATEWAYS} WHERE account = $1 AND slug = $2", account, slug)
        return (await self.gateway_rows.gateways_of([row]))[0] if row else None

    async def list_gateways(self, account: str) -> list[Gateway]:
        rows = await self._db().fetch(f"{_SELECT_GATEWAYS} WHERE account = $1 ORDER BY slug", account)
        return await self.gateway_rows.gateways_of(rows)

    async def gateway_page(self, query: GatewayQuery) -> list[Gateway]:
        sql, args = gateway_query.select_sql(query, "postgres")
        return await self.gateway_rows.gateways_of(await self._db().fetch(sql, *args))

    async def count_gateways(self, query: GatewayQuery) -> int:
        sql, args = gateway_query.count_sql(query, "postgres")
        return int(await self._db().fetchval(sql, *args))

    async def all_gateways(self) -> list[Gateway]:
        rows = await self._db().fetch(f"{_SELECT_GATEWAYS} ORDER BY slug, account")
        return await self.gateway_rows.gateways_of(rows)

    async def create_gateway(self, account: str, slug: str, name: str, settings: GatewaySettings) -> Gateway:
        gateway = Gateway(account=account, slug=slug, name=name, settings=settings, created_at=time.time())
        try:
            await self._db().execute(
                "INSERT INTO gateways (account, slug, name, settings, created_at)"
                " VALUES ($1, $2, $3, $4, $5)",
                account, slug, name, settings.model_dump_json(), gateway.created_at,
            )  # fmt: skip
        except asyncpg.UniqueViolationError as exc:
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
        sql, args = gateway_query.update_sql(account, slug, name, settings, version, time.time(), "postgres")
        row = await self._db().fetchrow(sql, *args)
        if row is None and version is not None and await self.get_gateway(account, slug) is not None:
            raise PreconditionFailed(f"gateway {slug!r} is no longer at version {version}")
        return (await self.gateway_rows.gateways_of([row]))[0] if row else None

    async def delete_gateway(self, account: str, slug: str) -> bool:
        status = await self._db().execute(
            "DELETE FROM gateways WHERE account = $1 AND slug = $2", account, slug
        )
        await self._db().execute(
            "DELETE FROM route_versions WHERE account = $1 AND gateway = $2", account, slug
        )
        return row_count(status) > 0

    async def cache_get(self, key: str) -> bytes | None:
        data: bytes | None = await self._db().fetchval("SELECT data FROM cache WHERE key = $1", key)
        return data

    async def cache_put(self, key: str, data: bytes, expires_at: float) -> None:
        await self._db().execute(
            "INSERT INTO cache (key, expires_at, data) VALUES ($1, $2, $3)"
            " ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, data = excluded.data",
            key, expires_at, data,
        )  # fmt: skip

    async def cache_delete(self, key: str) -> bool:
        return row_count(await self._db().execute("DELETE FROM cache WHERE key = $1", key)) > 0

    async def cache_purge(self, prefix: str) -> int:
        # starts_with, not LIKE: prefixes may contain `%` or `_`. The range lets the index narrow it.
        status = await self._db().execute(
            "DELETE FROM cache WHERE key >= $1 AND starts_with(key, $1)", prefix
        )
        return row_count(status)

    async def cache_sweep(self, now: float) -> int:
        """Delete expired entries (run periodically; expiry itself is checked on every read)."""
        return row_count(await self._db().execute("DELETE FROM cache WHERE expires_at <= $1", now))

    async def analytics(self, query: AnalyticsQuery) -> AnalyticsResult:
        async with self._db().acquire() as connection:
            return await postgres_analytics.analytics(connection, query, self._semantic)

    async def semantic_bins(
        self, account: str, since: float, until: float, gateways: tuple[str, ...] | None
    ) -> list[Bin]:
        sql = semantic_whatif.statement("postgres", gateways)
        rows = await self._db().fetch(sql, *semantic_whatif.arguments(account, since, until, gateways))
        return semantic_whatif.bins(rows)

    async def spend(self, query: SpendQuery) -> SpendResult:
        async with self._db().acquire() as connection:
            return await postgres_spend.spend(connection, query)


async def _newest_migration(connection: asyncpg.Connection) -> int:
    """The highest migration `schema_migrations` records (in the URL's schema), 0 before any."""
    if await connection.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return 0
    return int(await connection.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))
