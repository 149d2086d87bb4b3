"""The log on SQLite: writing batches of records (rolled up for analytics in the same
transaction), reading, counting, deleting and annotating them."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Generator
from typing import Any

import orjson

from sluicegate.feedback import Feedback
from sluicegate.storage import sqlite_analytics, sqlite_retention
from sluicegate.storage.base import LogQuery, LogRecord
from sluicegate.storage.log_conditions import SQLITE, log_filter, order_clause
from sluicegate.storage.sqlite_lines import LineRows, fitted
from sluicegate.storage.sqlite_worker import SqliteWorker

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
_INSERT_LOG = (
    f"INSERT OR IGNORE INTO logs ({', '.join(_LOG_COLUMNS)}) VALUES ({', '.join('?' * len(_LOG_COLUMNS))})"
)
_LINE_ROW = LineRows(_LOG_COLUMNS)
# Each line is turned into its row and inserted before the next is built, all in the one
# transaction. Building a row holds the interpreter lock (~25 µs for a 2.6 KB line); SQLite's
# step releases it. An event loop wanting the lock waits until the writer releases it (then, on
# its idle-class thread, the writer loses the core at once: background.py): one line's building,
# never a batch's. Inserting rows one by one costs no more than in chunks (measured, 1-500).
# A batch is stored in steps of this many lines (~1 ms of CPU): a step that starves on the
# idle-class worker sends the rest to the normal one (background.py).
_LINES_A_STEP = 16


class SqliteLogs(SqliteWorker):
    async def delete_logs(
        self, account: str, gateway: str, before: float | None, keep_newest: int | None
    ) -> int:
        """Retention: delete a gateway's records older than `before`, and all but the newest
        `keep_newest`, in steps (`sqlite_retention.py`)."""
        deleted, key = 0, [account, gateway]
        if before is not None:
            deleted += await self._delete_in_steps("account = ? AND gateway = ? AND ts < ?", [*key, before])
        if keep_newest == 0:
            deleted += await self._delete_in_steps("account = ? AND gateway = ?", key)
        elif keep_newest is not None:
            sql = "SELECT id FROM logs WHERE account = ? AND gateway = ? ORDER BY id DESC LIMIT 1 OFFSET ?"
            row = await self._run(lambda: self._db().execute(sql, (*key, keep_newest - 1)).fetchone())
            if row is not None:  # the oldest record kept
                deleted += await self._delete_in_steps(
                    "account = ? AND gateway = ? AND id < ?", [*key, row[0]]
                )
        return deleted

    async def _delete_in_steps(self, where: str, args: list[Any], order: str = "", limit: int = -1) -> int:
        """Delete the first `limit` (all, when negative) records `where` selects in `order`, a
        transaction of at most `CHUNK` at a time on the writer's connection."""
        newest = await self._writer.run(sqlite_retention.last_rowid)
        where, args = f"({where}) AND +rowid <= ?", [*args, newest]  # +: no rowid range scan
        deleted = 0
        while limit < 0 or deleted < limit:
            step = sqlite_retention.CHUNK if limit < 0 else min(sqlite_retention.CHUNK, limit - deleted)
            count = await self._writer.run(
                functools.partial(
                    sqlite_retention.delete_logs_step, where=where, args=args, order=order, limit=step
                )
            )
            deleted += count
            if count < step:
                break
        return deleted

    async def count_logs(self, account: str, gateway: str) -> int:
        sql = "SELECT count(*) FROM logs WHERE account = ? AND gateway = ?"
        return int(await self._run(lambda: self._db().execute(sql, (account, gateway)).fetchone()[0]))

    async def write_logs(self, records: list[LogRecord]) -> None:
        await self._writer.write_steps(functools.partial(_insert_logs, records=records))  # rows built there

    async def write_log_lines(self, lines: list[bytes]) -> bool:
        """Store spool lines, turned into rows without records (`sqlite_lines.py`); False (nothing
        stored) when a line is no record (malformed JSON, a required field missing, bad base64):
        the caller parses them in Python."""
        return await self._writer.write_steps(functools.partial(_insert_lines, lines=lines))

    async def query_logs(self, query: LogQuery) -> list[LogRecord]:
        sql, args = select_logs_sql(query)
        bound = (*args, query.limit, query.offset)
        # Read and turned into records on the reports' thread: the event loop gets the page whole.
        return await self._report(lambda db: [_log_record(row) for row in db.execute(sql, bound)])

    async def stored_logs(self, query: LogQuery, after: str) -> list[tuple[str, LogRecord]]:
        """Records by rowid: a transaction holds the write lock from its start (`BEGIN IMMEDIATE`),
        so each batch's rows come after every row committed before, whichever process wrote it."""
        last = _rowid_of(after)
        where, args = log_filter(query, SQLITE)
        chosen = (
            f"SELECT rowid FROM logs INDEXED BY logs_account_gateway_stored WHERE {where} AND rowid > ?"
            " ORDER BY rowid LIMIT ?"
        )
        sql = f"SELECT rowid, {', '.join(_LOG_COLUMNS)} FROM logs WHERE rowid IN ({chosen}) ORDER BY rowid"

        def read(db: sqlite3.Connection) -> list[tuple[str, LogRecord]]:
            start = last
            if not start and query.since is not None:  # no record of the range is stored before this
                start = db.execute(_FIRST_SINCE, (query.account, query.since)).fetchone()[0] - 1
            rows = db.execute(sql, (*args, start, query.limit))
            return [(f"{_STORED}{row[0]}", _log_record(row[1:])) for row in rows]

        return await self._report(read)

    async def count_matching_logs(self, query: LogQuery) -> int:
        where, args = log_filter(query, SQLITE)
        sql = f"SELECT count(*) FROM logs WHERE {where}"
        return int(await self._report(lambda db: db.execute(sql, args).fetchone()[0]))

    async def delete_matching_logs(self, query: LogQuery) -> int:
        where, args = log_filter(query, SQLITE)
        order = order_clause(query.order, SQLITE) if query.limit >= 0 else ""
        deleted = await self._delete_in_steps(where, list(args), order, query.limit)
        if deleted > sqlite_retention.CHUNK:  # the WAL back to nothing, as after a retention pass
            await self._writer.run(sqlite_retention.checkpoint)
        return deleted

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
            db.execute("COMMIT")
        except BaseException:
            _rollback(db)
            raise
        return _log_record(updated)


def select_logs_sql(query: LogQuery) -> tuple[str, list[Any]]:
    """A page of records as the store reads it (then binds limit and offset): the page's rows are
    chosen by rowid first, so the order is found in an index (`logs_account_id`, `…_gateway_id`,
    `…_ts`) or sorted with the few columns that decide it, never with whole rows and bodies."""
    where, args = log_filter(query, SQLITE)
    order = "ORDER BY id ASC" if query.after is not None else order_clause(query.order, SQLITE)
    chosen = f"SELECT rowid FROM logs WHERE {where} {order} LIMIT ? OFFSET ?"
    return f"SELECT {', '.join(_LOG_COLUMNS)} FROM logs WHERE rowid IN ({chosen}) {order}", args


_STORED = "s"  # a storage position: this, then the rowid
# The first rowid of any record of the account at or after a time: read in the (account, ts, id)
# index alone (its entries end with the rowid), it bounds where a fresh export of a range starts.
# None yet: every one stored later comes after the last rowid.
_FIRST_SINCE = (
    "SELECT coalesce((SELECT min(rowid) FROM logs INDEXED BY logs_account_ts WHERE account = ? AND ts >= ?),"
    " (SELECT max(rowid) + 1 FROM logs), 1)"
)


def _rowid_of(position: str) -> int:
    if not position:
        return 0
    digits = position.removeprefix(_STORED)
    if position[:1] != _STORED or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"not a storage position of this database: {position!r}")
    return int(digits)


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
        record.request_size, record.response_size, record.upstream_status,
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


def _insert_logs(db: sqlite3.Connection, records: list[LogRecord]) -> Generator[None, None, None]:
    """The records stored in one transaction, in steps of `_LINES_A_STEP` (`Background.run_steps`)."""
    # IMMEDIATE: the write lock from the start. Begun as a read (the last rowid), the transaction
    # cannot become a write once another process (a worker of `serve --workers N`) has committed
    # since: SQLite answers "database is locked" at once, whatever busy_timeout says.
    db.execute("BEGIN IMMEDIATE")
    try:
        last = sqlite_analytics.last_log_rowid(db)
        for start in range(0, len(records), _LINES_A_STEP):
            rows = [_log_row(record) for record in records[start : start + _LINES_A_STEP]]
            try:
                db.executemany(_INSERT_LOG, rows)
            except OverflowError:  # again, fitted: the rows stored before it are kept once (OR IGNORE)
                db.executemany(_INSERT_LOG, [fitted(row) for row in rows])
            yield
        sqlite_analytics.roll_up(db, after_rowid=last)  # in the same transaction as the rows
        db.execute("COMMIT")  # inside: a COMMIT that fails must end the transaction too
    except BaseException:
        _rollback(db)
        raise


def _insert_lines(db: sqlite3.Connection, lines: list[bytes]) -> Generator[None, None, bool]:
    """The lines stored in one transaction, in steps of `_LINES_A_STEP` (`Background.run_steps`)."""
    db.execute("BEGIN IMMEDIATE")  # as `_insert_logs`
    try:
        last = sqlite_analytics.last_log_rowid(db)
        for start in range(0, len(lines), _LINES_A_STEP):
            for line in lines[start : start + _LINES_A_STEP]:
                row = _LINE_ROW(line)
                try:
                    db.execute(_INSERT_LOG, row)
                except OverflowError:
                    db.execute(_INSERT_LOG, fitted(row))
            yield
        sqlite_analytics.roll_up(db, after_rowid=last)
        db.execute("COMMIT")  # inside: a COMMIT that fails must end the transaction too
    except (ValueError, sqlite3.IntegrityError, sqlite3.OperationalError):
        # A line that is no record (ValueError: `LineRefused`, bad JSON or base64; IntegrityError:
        # null in a NOT NULL column), or a failing disk, which the Python way then reports.
        _rollback(db)
        return False
    except BaseException:
        _rollback(db)
        raise
    return True


def _rollback(db: sqlite3.Connection) -> None:
    """End the transaction, whatever failed: a COMMIT that failed (a full disk) leaves it open, and
    every later batch's BEGIN would then fail, after the disk has room again too."""
    if db.in_transaction:
        db.execute("ROLLBACK")
