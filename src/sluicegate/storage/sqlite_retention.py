"""Deleting from SQLite in bounded steps: log records (retention, the Cloudflare delete), roll-up
rows past the age their width is kept for, and afterwards giving the WAL and free pages back.

Each step is one transaction of at most `CHUNK` rows on the log writer's connection (`SqliteWriter.run`):
reads on the shared connection go on meanwhile (WAL), and a log batch waits at most one step. One
`DELETE` per gateway had made a transaction of up to a whole gateway's records: 917,850 records
took 43.6 s in 20 statements, a read on the shared connection waited up to 6.9 s, and the WAL grew
to the size of the largest transaction (5.4 GB in the scale test) and stayed that size.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sluicegate.storage.rollup_bins import KEPT_SECONDS, kept_from

CHUNK = 1000  # rows a step: ~50 ms of deleting log records (each in 8 indexes) on the scale test's disk
_VACUUM_PAGES = 2048  # pages a step of `incremental_vacuum` gives back (8 MiB at 4 KiB pages)
# The roll-ups' tables and their keys: a chunk is picked by key (they are WITHOUT ROWID).
ROLLUP_KEYS = {
    "analytics_rollup": "account, width, start, gateway, provider, model",
    "latency_rollup": "account, width, start, bin, gateway, provider, model",
}


def delete_logs_step(db: sqlite3.Connection, where: str, args: list[Any], order: str, limit: int) -> int:
    """Delete the first `limit` records `where` selects in `order`, in one transaction."""
    chosen = f"SELECT rowid FROM logs WHERE {where} {order} LIMIT ?"
    return _step(db, f"DELETE FROM logs WHERE rowid IN ({chosen})", [*args, limit])


def last_rowid(db: sqlite3.Connection) -> int:
    """The newest record's rowid: a delete of many steps stops there, so the records stored while
    it runs (new ones, newest first in its order) are not taken in its place."""
    return int(db.execute("SELECT coalesce(max(rowid), 0) FROM logs").fetchone()[0])


def rollup_accounts(db: sqlite3.Connection) -> list[str]:
    """Every account with roll-up rows: found key by key (a seek each), not by reading the table."""
    accounts: list[str] = []
    while row := db.execute(
        "SELECT account FROM analytics_rollup WHERE account > ? ORDER BY account LIMIT 1",
        (accounts[-1] if accounts else "",),
    ).fetchone():
        accounts.append(row[0])
    return accounts


def prune_rollups_step(db: sqlite3.Connection, table: str, account: str, width: int, now: float) -> int:
    """Delete up to `CHUNK` of `account`'s rows of `width` older than `width` is kept for."""
    key = ROLLUP_KEYS[table]
    chosen = f"SELECT {key} FROM {table} WHERE account = ? AND width = ? AND start < ? LIMIT ?"
    return _step(
        db, f"DELETE FROM {table} WHERE ({key}) IN ({chosen})", [account, width, kept_from(width, now), CHUNK]
    )


PRUNED_WIDTHS = tuple(KEPT_SECONDS)


def _step(db: sqlite3.Connection, sql: str, args: list[Any]) -> int:
    db.execute("BEGIN IMMEDIATE")
    try:
        count = db.execute(sql, args).rowcount
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return int(count)


def checkpoint(db: sqlite3.Connection) -> None:
    """Copy the WAL into the database and truncate it to nothing (it waits, at most busy_timeout,
    for a writer of another process and for readers of an older snapshot)."""
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def needs_vacuum(db: sqlite3.Connection) -> bool:
    """Whether to give free pages back to the file system: the database was made with
    `auto_vacuum=INCREMENTAL` (`sqlite.py`; an older one keeps its free pages for new records, see
    docs/durability.md for VACUUM) and over a quarter of the file is free. Less is kept: the next
    hours' records fill it again."""
    if db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        return False
    free, total = (db.execute(f"PRAGMA {name}").fetchone()[0] for name in ("freelist_count", "page_count"))
    return bool(free * 4 > total)


def vacuum_step(db: sqlite3.Connection) -> int:
    """Give up to `_VACUUM_PAGES` free pages back (one transaction); how many free pages are left."""
    db.execute(f"PRAGMA incremental_vacuum({_VACUUM_PAGES})").fetchall()
    return int(db.execute("PRAGMA freelist_count").fetchone()[0])
