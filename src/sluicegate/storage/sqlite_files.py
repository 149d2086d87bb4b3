"""Opening one of the gateway's SQLite files (its database, the rate-limit counters): private
files, WAL, and a wait for the write lock instead of an error.

`open_sqlite` makes the files private, then connects: only for a process's first connection to a
file. A further one (the log writer's) must `connect` alone: making the file private opens and
closes it, and closing any descriptor of a file drops every POSIX lock the process holds on it,
the other connection's too (https://www.sqlite.org/howtocorrupt.html, section 2.2).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sluicegate.datafiles import private_directory, private_file, tighten

WAL_SIZE_LIMIT = 64 * 1024 * 1024  # bytes


def open_sqlite(path: Path) -> sqlite3.Connection:
    """The first connection to `path` (created 0600 in a 0700 directory if missing)."""
    private_directory(path.parent)
    # SQLite gives its -wal, -shm and -journal files the database file's mode, so a database
    # made 0600 before SQLite opens it keeps them all private too; older ones are tightened.
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        tighten(path.with_name(path.name + suffix))
    return connect(path)


def connect(path: Path) -> sqlite3.Connection:
    """A connection to `path`, made private already, usable from one worker thread at a time."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process crashes
    connection.execute("PRAGMA busy_timeout=5000")  # another connection or the CLI may be writing
    # A checkpoint that resets the WAL truncates it to this: without a limit the file keeps the
    # size of the largest transaction ever written (5.4 GB after one retention pass had deleted
    # 917,826 records in a statement per gateway) until the last connection closes.
    connection.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
    return connection
