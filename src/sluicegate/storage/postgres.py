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

import math
import re
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]
import orjson

from sluicegate.analytics import AnalyticsQuery, AnalyticsResult
from sluicegate.errors import Conflict
from sluicegate.feedback import Feedback
from sluicegate.gateway import DEFAULT_ACCOUNT, DEFAULT_GATEWAY, Gateway, GatewaySettings
from sluicegate.semantic_report import Bin
from sluicegate.spend import SpendQuery, SpendResult
from sluicegate.storage import postgres_analytics, postgres_custom, postgres_spend, semantic_whatif
from sluicegate.storage.base import (
    AuditEntry,
    CustomProvider,
    LogQuery,
    LogRecord,
    RouteVersion,
    StoredKey,
)
from sluicegate.storage.log_conditions import POSTGRES, condition_clauses, order_clause
from sluicegate.tokens import Token

DAY = 86_400
_PARTITION_NAME = re.compile(r"^logs_p(\d{8})$")

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
    postgres_analytics.MIGRATION,  # analytics roll-ups, filled from the logs already stored
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
_LOG_TYPES = [
    "text", "float8", "text", "text", "text", "text", "text", "text", "bool", "int4",
    "float8", "float8", "int8", "int8", "int8", "int8",
    "bool", "float8", "text", "text", "jsonb", "jsonb",
    "bytea", "bytea", "int4", "jsonb", "float8", "bool", "bool", "text", "text", "bool",
    "int2", "float8",
    "int8", "text", "text",
    "float8", "bool", "float8", "float8", "text", "bool",
]  # fmt: skip
_SELECT_LOGS = f"SELECT {', '.join(_LOG_COLUMNS)} FROM logs"
# The slow path of a batch holding an id already stored: one statement, each column as one array.
_INSERT_LOGS = (
    f"INSERT INTO logs ({', '.join(_LOG_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(_LOG_TYPES, start=1))
    + ") ON CONFLICT DO NOTHING RETURNING id, ts"  # the rows stored, for the roll-ups
)
_GATEWAY_COLUMNS = "account, slug, name, settings, created_at, modified_at"
_SELECT_GATEWAYS = f"SELECT {_GATEWAY_COLUMNS} FROM gateways"


class PostgresDatabase:
    """`Store`, `LogSink`, `AccessStore` and `CacheStore` on one PostgreSQL database (or schema)."""

    def __init__(self, url: str, min_connections: int = 1, max_connections: int = 10) -> None:
        self._dsn, self._schema = _split_schema(url)
        self._pool_size = (min_connections, max_connections)
        self._pool: asyncpg.Pool | None = None
        self._lock_key = f"sluicegate:{self._schema or ''}"
        self._logs_schema = ""  # the schema that holds `logs`, found on open
        self._days: set[int] = set()  # days (epoch seconds // DAY) whose partition is known to exist
        self._semantic = False  # whether `logs` has the semantic cache's column (found on open)
        self._roll_up = postgres_analytics.roll_up_statement(semantic=False)

    async def open(self) -> None:
        settings = {"search_path": _quote(self._schema)} if self._schema else {}
        minimum, maximum = self._pool_size
        self._pool = await asyncpg.create_pool(
            self._dsn, min_size=minimum, max_size=maximum, server_settings=settings
        )
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
            self._semantic = await postgres_analytics.has_semantic_column(connection)
            self._roll_up = postgres_analytics.roll_up_statement(self._semantic)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _migrate(self, connection: asyncpg.Connection, version: int, script: str) -> None:
        async with connection.transaction():
            # Held until commit: a replica starting at the same moment waits here, then skips.
            await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._lock_key)
            if self._schema:
                await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(self._schema)}")
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations"
                " (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            if await connection.fetchval("SELECT 1 FROM schema_migrations WHERE version = $1", version):
                return
            await connection.execute(script)
            await connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", version)

    def _db(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("database is not open")
        return self._pool

    async def get_gateway(self, account: str, slug: str) -> Gateway | None:
        row = await self._db().fetchrow(f"{_SELECT_GATEWAYS} WHERE account = $1 AND slug = $2", account, slug)
        return _gateway(row) if row else None

    async def list_gateways(self, account: str) -> list[Gateway]:
        rows = await self._db().fetch(f"{_SELECT_GATEWAYS} WHERE account = $1 ORDER BY slug", account)
        return [_gateway(row) for row in rows]

    async def all_gateways(self) -> list[Gateway]:
        return [_gateway(row) for row in await self._db().fetch(f"{_SELECT_GATEWAYS} ORDER BY slug, account")]

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
        self, account: str, slug: str, name: str | None, settings: GatewaySettings | None
    ) -> Gateway | None:
        row = await self._db().fetchrow(
            "UPDATE gateways SET name = coalesce($3, name), settings = coalesce($4, settings),"
            f" modified_at = $5 WHERE account = $1 AND slug = $2 RETURNING {_GATEWAY_COLUMNS}",
            account, slug, name or None, settings.model_dump_json() if settings else None, time.time(),
        )  # fmt: skip
        return _gateway(row) if row else None

    async def delete_gateway(self, account: str, slug: str) -> bool:
        status = await self._db().execute(
            "DELETE FROM gateways WHERE account = $1 AND slug = $2", account, slug
        )
        await self._db().execute(
            "DELETE FROM route_versions WHERE account = $1 AND gateway = $2", account, slug
        )
        return _count(status) > 0

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
        return _count(await self._db().execute("DELETE FROM cache WHERE key = $1", key)) > 0

    async def cache_purge(self, prefix: str) -> int:
        # starts_with, not LIKE: prefixes may contain `%` or `_`. The range lets the index narrow it.
        status = await self._db().execute(
            "DELETE FROM cache WHERE key >= $1 AND starts_with(key, $1)", prefix
        )
        return _count(status)

    async def cache_sweep(self, now: float) -> int:
        """Delete expired entries (run periodically; expiry itself is checked on every read)."""
        return _count(await self._db().execute("DELETE FROM cache WHERE expires_at <= $1", now))

    async def write_logs(self, records: list[LogRecord]) -> None:
        if not records:
            return
        rows = [_log_row(record) for record in records]
        days = {_day(record.ts) for record in records}
        async with self._db().acquire() as connection:
            await self._ensure_partitions(connection, days)
            try:
                await self._insert_logs(connection, rows)
            except asyncpg.CheckViolationError:
                # "no partition for row": another replica's retention dropped a day we remembered.
                self._days -= days
                await self._ensure_partitions(connection, days)
                await self._insert_logs(connection, rows)

    async def _insert_logs(self, connection: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
        """Store the rows and add the ones stored to the analytics roll-ups, in one transaction."""
        try:  # binary COPY: measured 1.5-1.8x the rate of one INSERT … SELECT FROM unnest(…)
            async with connection.transaction():
                await connection.copy_records_to_table(
                    "logs", records=rows, columns=_LOG_COLUMNS, schema_name=self._logs_schema
                )
                await connection.execute(self._roll_up, [row[0] for row in rows], [row[1] for row in rows])
            return
        except asyncpg.UniqueViolationError:
            pass
        # An id already stored (a batch written twice): COPY takes all or nothing, so store the new
        # ones the slower way, ignoring duplicates as SQLite's INSERT OR IGNORE does; only the rows
        # stored are rolled up.
        async with connection.transaction():
            stored = await connection.fetch(_INSERT_LOGS, *zip(*rows, strict=True))
            if stored:
                await connection.execute(
                    self._roll_up, [row[0] for row in stored], [row[1] for row in stored]
                )

    async def _ensure_partitions(self, connection: asyncpg.Connection, days: set[int]) -> None:
        for day in sorted(days - self._days):
            async with connection.transaction():
                # IF NOT EXISTS alone races between replicas; the lock makes the check and create one step.
                await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._lock_key)
                schema = _quote(self._logs_schema)
                await connection.execute(
                    f"CREATE TABLE IF NOT EXISTS {schema}.{_partition_name(day)} PARTITION OF {schema}.logs"
                    f" FOR VALUES FROM ({day * DAY}) TO ({(day + 1) * DAY})"
                )
            self._days.add(day)

    async def _partitions(self, connection: asyncpg.Connection) -> list[tuple[str, int]]:
        """`(name, day)` of each existing day partition of `logs`, oldest first."""
        rows = await connection.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = $1::regclass",
            f"{_quote(self._logs_schema)}.logs",
        )
        found = [(row[0], _PARTITION_NAME.match(row[0])) for row in rows]
        days = [(name, _day_of(match[1])) for name, match in found if match]
        return sorted(days, key=lambda item: item[1])

    async def drop_logs_before(self, cutoff_ts: float) -> int:
        """Drop every day partition that ends at or before `cutoff_ts`, in all accounts.

        Whole days only: records of the cutoff's own day stay until the next day's run. Returns the
        number of records dropped. The analytics roll-ups of those days stay, as SQLite's do when
        records are deleted: a dashboard still shows the traffic of a day whose records are gone.
        """
        cutoff_day = math.floor(cutoff_ts / DAY)
        dropped = 0
        async with self._db().acquire() as connection:
            for name, day in await self._partitions(connection):
                if day >= cutoff_day:
                    break
                async with connection.transaction():
                    await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._lock_key)
                    table = f"{_quote(self._logs_schema)}.{name}"
                    if await connection.fetchval("SELECT to_regclass($1)", table) is not None:
                        # Not already dropped by another replica's retention run.
                        dropped += await connection.fetchval(f"SELECT count(*) FROM {table}")
                        await connection.execute(f"DROP TABLE {table}")
                self._days.discard(day)
        return dropped

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

    async def query_logs(self, query: LogQuery) -> list[LogRecord]:
        where, args = _log_filter(query)
        limit = query.limit if query.limit >= 0 else None  # SQLite reads a negative LIMIT as none
        order = "ORDER BY id ASC" if query.after is not None else order_clause(query.order, POSTGRES)
        sql = f"{_SELECT_LOGS} WHERE {where} {order} LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}"
        return [_log_record(row) for row in await self._db().fetch(sql, *args, limit, query.offset)]

    async def count_matching_logs(self, query: LogQuery) -> int:
        where, args = _log_filter(query)
        return int(await self._db().fetchval(f"SELECT count(*) FROM logs WHERE {where}", *args))

    async def delete_matching_logs(self, query: LogQuery) -> int:
        where, args = _log_filter(query)
        if query.limit < 0:
            return _count(await self._db().execute(f"DELETE FROM logs WHERE {where}", *args))
        order = order_clause(query.order, POSTGRES)
        chosen = f"SELECT id, ts FROM logs WHERE {where} {order} LIMIT ${len(args) + 1}"
        sql = f"DELETE FROM logs WHERE (id, ts) IN ({chosen})"  # ts too: it picks the partition
        return _count(await self._db().execute(sql, *args, query.limit))

    async def get_log(self, account: str, log_id: str) -> LogRecord | None:
        row = await self._db().fetchrow(f"{_SELECT_LOGS} WHERE account = $1 AND id = $2", account, log_id)
        return _log_record(row) if row else None

    async def annotate_log(
        self, account: str, gateway: str, log_id: str, change: Feedback
    ) -> LogRecord | None:
        where = "account = $1 AND gateway = $2 AND id = $3"
        async with self._db().acquire() as connection, connection.transaction():
            # The row lock makes a concurrent PATCH wait, so both metadata merges land.
            row = await connection.fetchrow(
                f"SELECT ts, feedback, score, metadata FROM logs WHERE {where} FOR UPDATE",
                account, gateway, log_id,
            )  # fmt: skip
            if row is None:
                return None
            feedback, score, metadata = change.apply(row[1], row[2], orjson.loads(row[3]))
            updated = await connection.fetchrow(
                f"UPDATE logs SET feedback = $5, score = $6, metadata = $7 WHERE {where} AND ts = $4"
                f" RETURNING {', '.join(_LOG_COLUMNS)}",
                account, gateway, log_id, row[0], feedback, score, _json(metadata),
            )  # fmt: skip
        return _log_record(updated)

    async def delete_logs(
        self, account: str, gateway: str, before: float | None, keep_newest: int | None
    ) -> int:
        """Retention: delete a gateway's records older than `before`, and all but the newest `keep_newest`."""
        deleted = 0
        if before is not None:
            sql = "DELETE FROM logs WHERE account = $1 AND gateway = $2 AND ts < $3"
            deleted += _count(await self._db().execute(sql, account, gateway, before))
        if keep_newest is not None and keep_newest <= 0:
            sql = "DELETE FROM logs WHERE account = $1 AND gateway = $2"
            deleted += _count(await self._db().execute(sql, account, gateway))
        elif keep_newest is not None:
            sql = (
                "DELETE FROM logs WHERE account = $1 AND gateway = $2 AND id < (SELECT id FROM logs"
                " WHERE account = $1 AND gateway = $2 ORDER BY id DESC LIMIT 1 OFFSET $3)"
            )
            deleted += _count(await self._db().execute(sql, account, gateway, keep_newest - 1))
        return deleted

    async def count_logs(self, account: str, gateway: str) -> int:
        sql = "SELECT count(*) FROM logs WHERE account = $1 AND gateway = $2"
        return int(await self._db().fetchval(sql, account, gateway))

    async def create_token(self, token: Token, secret_hash: str) -> None:
        try:
            await self._db().execute(
                "INSERT INTO tokens (id, account, secret_hash, body) VALUES ($1, $2, $3, $4)",
                token.id, token.account, secret_hash, token.model_dump_json(),
            )  # fmt: skip
        except asyncpg.UniqueViolationError as exc:
            raise Conflict(f"token {token.id!r} already exists") from exc

    async def token_by_hash(self, secret_hash: str) -> Token | None:
        sql = "SELECT body, revoked_at FROM tokens WHERE secret_hash = $1"
        row = await self._db().fetchrow(sql, secret_hash)
        return _token(row) if row else None

    async def list_tokens(self, account: str) -> list[Token]:
        sql = "SELECT body, revoked_at FROM tokens WHERE account = $1 ORDER BY seq"
        return [_token(row) for row in await self._db().fetch(sql, account)]

    async def revoke_token(self, account: str, token_id: str, at: float) -> bool:
        sql = "UPDATE tokens SET revoked_at = $1 WHERE account = $2 AND id = $3 AND revoked_at IS NULL"
        return _count(await self._db().execute(sql, at, account, token_id)) > 0

    async def update_token(self, token: Token) -> bool:
        sql = "UPDATE tokens SET body = $1 WHERE account = $2 AND id = $3 AND revoked_at IS NULL"
        return _count(await self._db().execute(sql, token.model_dump_json(), token.account, token.id)) > 0

    async def count_tokens(self) -> int:
        return int(await self._db().fetchval("SELECT count(*) FROM tokens"))

    async def put_provider_key(self, key: StoredKey, sealed: bytes) -> None:
        await self._db().execute(
            "INSERT INTO provider_keys"
            " (account, gateway, provider, name, weight, sealed, fingerprint, created_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            " ON CONFLICT (account, gateway, provider, name) DO UPDATE"
            " SET weight = excluded.weight, sealed = excluded.sealed,"
            " fingerprint = excluded.fingerprint, created_at = excluded.created_at",
            key.account, key.gateway, key.provider, key.name, key.weight, sealed, key.fingerprint,
            key.created_at,
        )  # fmt: skip

    async def provider_keys(self, account: str, gateway: str) -> list[tuple[StoredKey, bytes]]:
        sql = (
            "SELECT account, gateway, provider, fingerprint, created_at, name, weight, sealed"
            " FROM provider_keys WHERE account = $1 AND gateway = $2 ORDER BY provider, name"
        )
        rows = await self._db().fetch(sql, account, gateway)
        return [(StoredKey(*row[:7]), bytes(row[7])) for row in rows]

    async def delete_provider_key(self, account: str, gateway: str, provider: str, name: str) -> bool:
        sql = "DELETE FROM provider_keys WHERE account = $1 AND gateway = $2 AND provider = $3 AND name = $4"
        return _count(await self._db().execute(sql, account, gateway, provider, name)) > 0

    async def record_audit(self, entry: AuditEntry) -> None:
        await self._db().execute(
            "INSERT INTO audit (ts, account, actor, action, target, details) VALUES ($1, $2, $3, $4, $5, $6)",
            entry.ts, entry.account, entry.actor, entry.action, entry.target, _json(entry.details),
        )  # fmt: skip

    async def add_route_version(
        self, account: str, gateway: str, name: str, route: Any, ts: float, actor: str
    ) -> int:
        # Two saves racing for one number: the primary key refuses the second, which tries again.
        sql = (
            "INSERT INTO route_versions (account, gateway, name, version, route, ts, actor)"
            " SELECT $1, $2, $3, COALESCE(MAX(version), 0) + 1, $4::jsonb, $5, $6 FROM route_versions"
            " WHERE account = $1 AND gateway = $2 AND name = $3 RETURNING version"
        )
        text = None if route is None else _json(route)
        for _ in range(5):
            try:
                version: int = await self._db().fetchval(sql, account, gateway, name, text, ts, actor)
                return version
            except asyncpg.UniqueViolationError:
                continue
        raise RuntimeError(f"could not number a new version of route {name!r}")

    async def route_versions(self, account: str, gateway: str, name: str) -> list[RouteVersion]:
        sql = (
            "SELECT name, version, route, ts, actor FROM route_versions"
            " WHERE account = $1 AND gateway = $2 AND name = $3 ORDER BY version DESC"
        )
        rows = await self._db().fetch(sql, account, gateway, name)
        return [
            RouteVersion(r["name"], r["version"], None if r["route"] is None else orjson.loads(r["route"]),
                         r["ts"], r["actor"])
            for r in rows
        ]  # fmt: skip

    async def create_custom_provider(self, provider: CustomProvider, sealed: bytes | None) -> None:
        await postgres_custom.create(self._db(), provider, sealed)

    async def update_custom_provider(self, provider: CustomProvider, sealed: bytes | None) -> bool:
        return await postgres_custom.update(self._db(), provider, sealed)

    async def custom_providers(self, account: str) -> list[tuple[CustomProvider, bytes | None]]:
        return await postgres_custom.select(self._db(), account)

    async def delete_custom_provider(self, account: str, provider_id: str) -> bool:
        return await postgres_custom.delete(self._db(), account, provider_id)

    async def audit_log(self, account: str, limit: int) -> list[AuditEntry]:
        sql = (
            "SELECT ts, account, actor, action, target, details FROM audit"
            " WHERE account = $1 ORDER BY id DESC LIMIT $2"
        )
        rows = await self._db().fetch(sql, account, limit)
        return [
            AuditEntry(ts, account, actor, action, target, orjson.loads(details))
            for ts, account, actor, action, target, details in rows
        ]


def _split_schema(url: str) -> tuple[str, str | None]:
    """The URL without `schema=` (asyncpg would send it to the server as a setting), and the schema."""
    parts = urlsplit(url)
    params = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for name, value in params if name == "schema"), None)
    rest = urlencode([(name, value) for name, value in params if name != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema or None


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _count(status: str) -> int:
    """Rows affected, from a command tag such as `DELETE 3` or `INSERT 0 1`."""
    return int(status.rsplit(" ", 1)[-1])


def _day(ts: float) -> int:
    return math.floor(ts / DAY)


def _partition_name(day: int) -> str:
    return "logs_p" + datetime.fromtimestamp(day * DAY, UTC).strftime("%Y%m%d")


def _day_of(yyyymmdd: str) -> int:
    return _day(datetime.strptime(yyyymmdd, "%Y%m%d").replace(tzinfo=UTC).timestamp())


def _gateway(row: asyncpg.Record) -> Gateway:
    account, slug, name, settings, created_at, modified_at = row
    return Gateway(
        account=account,
        slug=slug,
        name=name,
        settings=GatewaySettings.model_validate_json(settings, context={"stored": True}),
        created_at=created_at,
        modified_at=modified_at,
    )


def _token(row: asyncpg.Record) -> Token:
    return Token.model_validate_json(row[0]).model_copy(update={"revoked_at": row[1]})


def _log_filter(query: LogQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    conditions: tuple[tuple[str, object], ...] = (
        ("account = ${}", query.account),
        ("gateway = ${}", query.gateway),
        ("gateway = ANY(${})", None if query.gateways is None else list(query.gateways)),
        ("provider = ${}", query.provider),
        ("model = ${}", query.model),
        ("ts >= ${}", query.since),
        ("ts < ${}", query.until),
        ("status >= ${}", query.status_min),
        ("status <= ${}", query.status_max),
        ("id < ${}", query.cursor),
        ("id > ${}", query.after),
        ("feedback = ${}", query.feedback),
        ("score >= ${}::float8", query.score_min),
        ("score <= ${}::float8", query.score_max),
    )
    for clause, value in conditions:
        if value is not None:
            args.append(value)
            clauses.append(clause.format(len(args)))
    if query.cached is not None:
        clauses.append("cache_status = 'HIT'" if query.cached else "cache_status != 'HIT'")
    clauses += condition_clauses(query.conditions, POSTGRES, args)
    return " AND ".join(clauses), args


def _log_row(record: LogRecord) -> tuple[Any, ...]:
    return (
        _text(record.id), record.ts, _text(record.account), _text(record.gateway), _text(record.provider),
        _text(record.endpoint), _text(record.method), _text(record.model), record.stream, record.status,
        record.latency_ms, record.ttfb_ms, record.tokens_in, record.tokens_out, record.cached_tokens,
        record.reasoning_tokens, record.usage_estimated, record.cost_usd, _text(record.cache_status),
        _text(record.error), _json(record.metadata), _json(record.request_headers),
        record.request_body, record.response_body, record.step, _json(record.attempts),
        record.cache_saved_ms, record.rate_limited, record.semantic_hit, _text(record.cache_source),
        _text(record.degraded), record.unpriced, record.feedback, record.score,
        record.cache_write_tokens, _text(record.token_id), _text(record.key_name),
        record.semantic_similarity, record.semantic_verified, record.semantic_score,
        record.saved_usd, _text(record.shadow_of), record.shadow_agreed,
    )  # fmt: skip


def _log_record(row: asyncpg.Record) -> LogRecord:
    values = dict(zip(_LOG_COLUMNS, row, strict=True))
    for column in ("metadata", "request_headers", "attempts"):
        values[column] = orjson.loads(values[column])
    return LogRecord(**values)


def _text(value: str | None) -> str | None:
    """PostgreSQL text cannot hold NUL; one client-chosen model name must not sink a whole batch."""
    if value is not None and "\x00" in value:
        return value.replace("\x00", "\ufffd")
    return value


def _json(value: Any) -> str:
    data = orjson.dumps(value)
    if b"\\u0000" in data:  # jsonb rejects NUL too; rare, so only then walk the value
        data = orjson.dumps(_without_nul(value))
    return data.decode()


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, dict):
        return {_text(str(key)): _without_nul(item) for key, item in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, bytes | bytearray):
        return [_without_nul(item) for item in value]
    return value
