"""The log on PostgreSQL: day partitions of `logs` (made before the first batch that needs one,
dropped whole by retention), batches written by binary COPY and rolled up in the same transaction,
reading, counting, deleting and annotating records."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson

from sluicegate.feedback import Feedback
from sluicegate.storage import postgres_rollups
from sluicegate.storage.base import LogQuery, LogRecord
from sluicegate.storage.log_conditions import POSTGRES, log_filter, order_clause
from sluicegate.storage.log_lines import postgres_days, postgres_insert
from sluicegate.storage.postgres_pool import PostgresPool, pg_json, pg_text, quote_identifier, row_count

DAY = 86_400
DELETE_CHUNK = 5000  # records a transaction
_PARTITION_NAME = re.compile(r"^logs_p(\d{8})$")
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
    "request_size", "response_size", "upstream_status",
]  # fmt: skip
_LOG_TYPES = [
    "text", "float8", "text", "text", "text", "text", "text", "text", "bool", "int4",
    "float8", "float8", "int8", "int8", "int8", "int8",
    "bool", "float8", "text", "text", "jsonb", "jsonb",
    "bytea", "bytea", "int4", "jsonb", "float8", "bool", "bool", "text", "text", "bool",
    "int2", "float8",
    "int8", "text", "text",
    "float8", "bool", "float8", "float8", "text", "bool",
    "int8", "int8", "int4",
]  # fmt: skip
_SELECT_LOGS = f"SELECT {', '.join(_LOG_COLUMNS)} FROM logs"
# The slow path of a batch holding an id already stored: one statement, each column as one array.
_INSERT_LOGS = (
    f"INSERT INTO logs ({', '.join(_LOG_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(_LOG_TYPES, start=1))
    + ") ON CONFLICT DO NOTHING RETURNING id, ts"  # the rows stored, for the roll-ups
)

# Spool lines parsed by PostgreSQL; one row back: the stored rows' ids and times, for the roll-ups.
_INSERT_LINES = (
    f"WITH stored AS ({postgres_insert(_LOG_COLUMNS, _LOG_TYPES)})"
    " SELECT array_agg(id), array_agg(ts) FROM stored"
)
_LINE_DAYS = postgres_days(DAY)


class PostgresLogs(PostgresPool):
    async def write_log_lines(self, lines: list[bytes]) -> bool:
        """Store spool lines, parsed by PostgreSQL (no record built in Python); False, storing
        nothing, when PostgreSQL refuses one (bad JSON, a missing field, bad base64, NUL)."""
        if not lines:
            return True
        try:
            batch = (b"[" + b",".join(lines) + b"]").decode()
        except UnicodeDecodeError:
            return False
        try:
            async with self._db().acquire() as connection:
                listed, whole = await connection.fetchrow(_LINE_DAYS, batch)
                if not whole:
                    return False
                days = set(listed)
                await self._ensure_partitions(connection, days)
                try:
                    await self._insert_lines(connection, batch)
                except asyncpg.CheckViolationError:  # a day dropped by another replica: see write_logs
                    self._days -= days
                    await self._ensure_partitions(connection, days)
                    await self._insert_lines(connection, batch)
        except (asyncpg.DataError, asyncpg.NotNullViolationError):
            return False
        return True

    async def _insert_lines(self, connection: asyncpg.Connection, batch: str) -> None:
        async with connection.transaction():
            await self._storing(connection)
            ids, times = await connection.fetchrow(_INSERT_LINES, batch)
            if ids:
                await connection.execute(self._roll_up, ids, times)

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
                await self._storing(connection)
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
            await self._storing(connection)
            stored = await connection.fetch(_INSERT_LOGS, *zip(*rows, strict=True))
            if stored:
                await connection.execute(
                    self._roll_up, [row[0] for row in stored], [row[1] for row in stored]
                )

    async def _storing(self, connection: asyncpg.Connection) -> None:
        """A batch's first statement, before its transaction takes an id: a lock every batch
        shares and nothing takes alone, so it never waits; it marks the batch as one to read below
        (`stored_logs`)."""
        await connection.execute(
            "SELECT pg_advisory_xact_lock_shared(hashtext($1))", self._lock_key + _STORING
        )

    async def _ensure_partitions(self, connection: asyncpg.Connection, days: set[int]) -> None:
        for day in sorted(days - self._days):
            async with connection.transaction():
                # IF NOT EXISTS alone races between replicas; the lock makes the check and create one step.
                await connection.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self._lock_key)
                schema = quote_identifier(self._logs_schema)
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
            f"{quote_identifier(self._logs_schema)}.logs",
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
                    table = f"{quote_identifier(self._logs_schema)}.{name}"
                    if await connection.fetchval("SELECT to_regclass($1)", table) is not None:
                        # Not already dropped by another replica's retention run.
                        dropped += await connection.fetchval(f"SELECT count(*) FROM {table}")
                        await connection.execute(f"DROP TABLE {table}")
                self._days.discard(day)
        return dropped

    async def query_logs(self, query: LogQuery) -> list[LogRecord]:
        where, args = log_filter(query, POSTGRES)
        limit = query.limit if query.limit >= 0 else None  # SQLite reads a negative LIMIT as none
        order = "ORDER BY id ASC" if query.after is not None else order_clause(query.order, POSTGRES)
        sql = f"{_SELECT_LOGS} WHERE {where} {order} LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}"
        return [_log_record(row) for row in await self._db().fetch(sql, *args, limit, query.offset)]

    async def stored_logs(self, query: LogQuery, after: str) -> list[tuple[str, LogRecord]]:
        """Records by the id of the transaction that stored them, then by id. Batches of several
        replicas commit out of their ids' order, so a read takes only those below a horizon no
        batch still open is under: the smallest id of the batches holding the storing lock, else
        the next id to be given (any later batch gets a higher one). Found first, in a statement of
        its own: a batch that ends between the two statements is seen by the second. No lock is
        waited for, and work other than log batches holds no read back."""
        xact, last_id = _stored_position(after)
        where, args = log_filter(query, POSTGRES)
        n = len(args)
        sql = (
            # Named apart: `ORDER BY stored_xact` would otherwise sort the text (output names first).
            f"SELECT stored_xact::text AS xact_text, {', '.join(_LOG_COLUMNS)} FROM logs WHERE {where}"
            f" AND (stored_xact, id) > (${n + 1}::text::xid8, ${n + 2})"
            f" AND stored_xact < ${n + 3}::text::xid8 ORDER BY stored_xact, id LIMIT ${n + 4}"
        )
        horizon = await self._db().fetchval(_HORIZON, self._lock_key + _STORING)
        rows = await self._db().fetch(sql, *args, xact, last_id, horizon, query.limit)
        return [(f"{_STORED}{row[0]}_{row[1]}", _log_record(row[1:])) for row in rows]

    async def count_matching_logs(self, query: LogQuery) -> int:
        where, args = log_filter(query, POSTGRES)
        return int(await self._db().fetchval(f"SELECT count(*) FROM logs WHERE {where}", *args))

    async def delete_matching_logs(self, query: LogQuery) -> int:
        where, args = log_filter(query, POSTGRES)
        order = order_clause(query.order, POSTGRES) if query.limit >= 0 else ""
        return await self._delete_in_steps(where, args, order, query.limit)

    async def _delete_in_steps(self, where: str, args: list[Any], order: str = "", limit: int = -1) -> int:
        """Delete the first `limit` (all, when negative) records `where` selects in `order`, a
        transaction of at most `DELETE_CHUNK` at a time: one statement for all had made one
        transaction of any size, holding its row locks (an annotation waits) until the end."""
        deleted = 0
        while limit < 0 or deleted < limit:
            step = DELETE_CHUNK if limit < 0 else min(DELETE_CHUNK, limit - deleted)
            chosen = f"SELECT id, ts FROM logs WHERE {where} {order} LIMIT ${len(args) + 1}"
            sql = f"DELETE FROM logs WHERE (id, ts) IN ({chosen})"  # ts too: it picks the partition
            count = row_count(await self._db().execute(sql, *args, step))
            deleted += count
            if count < step:
                break
        return deleted

    async def prune_rollups(self, now: float) -> int:
        """Delete the minute and hour roll-up rows past the age they are kept for (`prune`)."""
        return await postgres_rollups.prune(self._db(), now)

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
                account, gateway, log_id, row[0], feedback, score, pg_json(metadata),
            )  # fmt: skip
        return _log_record(updated)

    async def delete_logs(
        self, account: str, gateway: str, before: float | None, keep_newest: int | None
    ) -> int:
        """Retention: delete a gateway's records older than `before` (what the dropped day partitions
        left: a retention shorter than the longest), and all but the newest `keep_newest`, in steps."""
        deleted = 0
        if before is not None:
            deleted += await self._delete_in_steps(
                "account = $1 AND gateway = $2 AND ts < $3", [account, gateway, before]
            )
        if keep_newest is not None and keep_newest <= 0:
            deleted += await self._delete_in_steps("account = $1 AND gateway = $2", [account, gateway])
        elif keep_newest is not None:
            sql = "SELECT id FROM logs WHERE account = $1 AND gateway = $2 ORDER BY id DESC LIMIT 1 OFFSET $3"
            oldest_kept = await self._db().fetchval(sql, account, gateway, keep_newest - 1)
            if oldest_kept is not None:
                where = "account = $1 AND gateway = $2 AND id < $3"
                deleted += await self._delete_in_steps(where, [account, gateway, oldest_kept])
        return deleted

    async def count_logs(self, account: str, gateway: str) -> int:
        sql = "SELECT count(*) FROM logs WHERE account = $1 AND gateway = $2"
        return int(await self._db().fetchval(sql, account, gateway))


# The horizon of `stored_logs`: the next transaction id, or the smallest one of a batch under way
# (pg_locks gives 32-bit ids: widened to the 64-bit `xid8` by the next id's epoch, a running id
# being below it).
_HORIZON = """
WITH next AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::numeric AS x),
running AS (
    SELECT t.transactionid::text::numeric AS low
    FROM pg_locks a JOIN pg_locks t ON t.pid = a.pid
    WHERE a.locktype = 'advisory' AND a.granted AND a.objsubid = 1
      AND (a.classid::int8 << 32 | a.objid::int8) = hashtext($1)
      AND t.locktype = 'transactionid' AND t.mode = 'ExclusiveLock' AND t.granted
)
SELECT least(
    x,
    (SELECT min(
        CASE WHEN floor(x / 4294967296) * 4294967296 + low >= x
             THEN floor(x / 4294967296) * 4294967296 + low - 4294967296
             ELSE floor(x / 4294967296) * 4294967296 + low END) FROM running)
)::text FROM next
"""
_STORING = ":storing logs"  # the lock each batch of log records holds, shared, while it is open
_STORED = "x"  # a storage position: this, the transaction id, `_`, the record's id


def _stored_position(position: str) -> tuple[str, str]:
    if not position:
        return "0", ""
    xact, separator, last_id = position.removeprefix(_STORED).partition("_")
    if position[:1] != _STORED or not separator or not xact.isascii() or not xact.isdigit() or len(xact) > 20:
        raise ValueError(f"not a storage position of this database: {position!r}")
    return xact, last_id


def _day(ts: float) -> int:
    return math.floor(ts / DAY)


def _partition_name(day: int) -> str:
    return "logs_p" + datetime.fromtimestamp(day * DAY, UTC).strftime("%Y%m%d")


def _day_of(yyyymmdd: str) -> int:
    return _day(datetime.strptime(yyyymmdd, "%Y%m%d").replace(tzinfo=UTC).timestamp())


def _log_row(record: LogRecord) -> tuple[Any, ...]:
    return (
        pg_text(record.id), record.ts, pg_text(record.account), pg_text(record.gateway),
        pg_text(record.provider), pg_text(record.endpoint), pg_text(record.method), pg_text(record.model),
        record.stream, record.status,
        record.latency_ms, record.ttfb_ms, record.tokens_in, record.tokens_out, record.cached_tokens,
        record.reasoning_tokens, record.usage_estimated, record.cost_usd, pg_text(record.cache_status),
        pg_text(record.error), pg_json(record.metadata), pg_json(record.request_headers),
        record.request_body, record.response_body, record.step, pg_json(record.attempts),
        record.cache_saved_ms, record.rate_limited, record.semantic_hit, pg_text(record.cache_source),
        pg_text(record.degraded), record.unpriced, record.feedback, record.score,
        record.cache_write_tokens, pg_text(record.token_id), pg_text(record.key_name),
        record.semantic_similarity, record.semantic_verified, record.semantic_score,
        record.saved_usd, pg_text(record.shadow_of), record.shadow_agreed,
        record.request_size, record.response_size, record.upstream_status,
    )  # fmt: skip


def _log_record(row: asyncpg.Record) -> LogRecord:
    values = dict(zip(_LOG_COLUMNS, row, strict=True))
    for column in ("metadata", "request_headers", "attempts"):
        values[column] = orjson.loads(values[column])
    return LogRecord(**values)
