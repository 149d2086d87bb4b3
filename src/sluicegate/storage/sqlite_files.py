"""Opening one of the gateway's SQLite files (its database, the rate-limit counters): private
files, WAL, and a wait for the write lock instead of an error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sluicegate.datafiles import private_directory, private_file, tighten


def open_sqlite(path: Path) -> sqlite3.Connection:
    """A connection to `path` (created 0600 in a 0700 directory if missing), usable from the one
    worker thread at a time that owns it."""
    private_directory(path.parent)
    # SQLite gives its -wal, -shm and -journal files the database file's mode, so a database
    # made 0600 before SQLite opens it keeps them all private too; older ones are tightened.
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        tighten(path.with_name(path.name + suffix))
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process crashes
    connection.execute("PRAGMA busy_timeout=5000")  # another connection or the CLI may be writing
    return connection
