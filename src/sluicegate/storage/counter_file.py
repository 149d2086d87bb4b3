"""`counters.db`: the embedded counters' copy on disk, shared by every process on the data directory
(the workers of `serve --workers N`, gateways started on one data directory).

A fixed window is kept as one row per writer (a process, named as its charge journal is): each
process writes only what it counted itself, never another's figure, so the window's use is the sum
of its rows and no copy overwrites another process's count. A process starting takes over the rows
of the writers no longer running (their sum becomes its own row, theirs are deleted) in the
transaction that reads the file, so two starting together never both take them; rows are thus
about one per key and process running, plus those of processes stopped since the last start.
A sliding window's uses are a row each, whoever counted them. Expired rows are deleted as copies
go, and journals' marks once their directory is gone.
"""

from __future__ import annotations

import operator
import sqlite3
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from sluicegate.storage.charge_journal import ChargeJournal, Replayed
from sluicegate.storage.limiter import Changes
from sluicegate.storage.sqlite_files import open_sqlite

Row = tuple[str, float, float, float]  # key, window start (or time of use), amount, expiry
# The writer of the rows an older release kept, one figure per window for every process: no
# process runs under it, so the first start takes them over.
LEGACY_WRITER = ""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS fixed_windows (key TEXT NOT NULL, writer TEXT NOT NULL,"
    " window REAL NOT NULL, used REAL NOT NULL, expires REAL NOT NULL, PRIMARY KEY (key, writer))",
    "CREATE INDEX IF NOT EXISTS fixed_windows_expires ON fixed_windows (expires)",
    "CREATE TABLE IF NOT EXISTS sliding_uses"
    " (key TEXT NOT NULL, at REAL NOT NULL, amount REAL NOT NULL, expires REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sliding_uses_expires ON sliding_uses (expires)",
    # Per charge journal (one per process), the highest segment whose lines the tables above hold.
    "CREATE TABLE IF NOT EXISTS journal_marks (journal TEXT PRIMARY KEY, covered INTEGER NOT NULL)",
)


class Stored(NamedTuple):
    """What `CounterFile.open` read: fixed-window rows of writers still running (`others`) and this
    writer's own (taken over from writers gone, with what their journals added), every sliding use,
    and the highest segment of this writer's journal that they cover."""

    others: list[Row]
    own: list[Row]
    sliding: list[Row]
    covered: int


def windows(rows: Iterable[Row], now: float, combine: Callable[[float, float], float]) -> dict[str, Row]:
    """Per key, its newest unexpired window with the rows' amounts in it combined (`operator.add`
    for counts of several writers; `max` for figures that each hold the ones before)."""
    kept: dict[str, Row] = {}
    for key, window, amount, expires in rows:
        if expires <= now:
            continue
        old = kept.get(key)
        if old is None or window > old[1]:
            kept[key] = (key, window, amount, expires)
        elif window == old[1]:
            kept[key] = (key, window, combine(old[2], amount), expires)
    return kept


class CounterFile:
    """The SQLite file. Every method runs on the one thread that owns the connection."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None

    def open(self, now: float, journal: ChargeJournal) -> Stored:
        """Open (or create) the file and, in one transaction, take over the fixed-window rows of
        writers no longer running and what the journals `journal` took (`take_orphans`) hold beyond
        their marks, as `journal`'s own rows and mark; read back what has not expired. A process
        starting meanwhile reads it all once this commits; a kill before the commit leaves the
        adopted segments in `journal`'s directory, uncovered, for the next start."""
        connection = open_sqlite(self._path)
        self._connection = connection
        connection.execute("BEGIN IMMEDIATE")  # what is taken over is taken by one process alone
        try:
            _upgrade(connection)
            for statement in _SCHEMA:
                connection.execute(statement)
            rows = connection.execute(
                "SELECT writer, key, window, used, expires FROM fixed_windows WHERE expires > ?", (now,)
            ).fetchall()
            marks = dict(connection.execute("SELECT journal, covered FROM journal_marks").fetchall())
            gone = {row[0] for row in rows if row[0] != journal.name and not journal.running(row[0])}
            replayed = journal.adopt(marks)
            own = _taken_over([row[1:] for row in rows if row[0] in gone], replayed, now)
            connection.executemany("DELETE FROM fixed_windows WHERE writer = ?", [(w,) for w in gone])
            connection.executemany(
                "INSERT INTO fixed_windows VALUES (?, ?, ?, ?, ?)",
                [(key, journal.name, window, used, expires) for key, window, used, expires in own],
            )
            connection.executemany(
                "INSERT INTO sliding_uses VALUES (?, ?, ?, ?)", [r for r in replayed.sliding if r[3] > now]
            )
            covered = journal.seal()
            connection.execute("INSERT INTO journal_marks VALUES (?, ?)", (journal.name, covered))
            connection.executemany(  # marks of journals whose directory is gone (adopted, or stopped)
                "DELETE FROM journal_marks WHERE journal = ?", [(j,) for j in set(marks) - journal.others()]
            )
            sliding = connection.execute(
                "SELECT key, at, amount, expires FROM sliding_uses WHERE expires > ?", (now,)
            ).fetchall()
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
        others = [row[1:] for row in rows if row[0] not in gone]
        return Stored(others, own, sliding, covered)

    def write(self, changes: Changes, now: float, writer: str, covered: int) -> None:
        """Write `writer`'s own figures (`changes.fixed`) and new sliding uses, with the highest
        segment of its journal that they cover."""
        connection = self._connection
        if connection is None:
            raise RuntimeError("the counter file is not open")
        connection.execute("BEGIN")
        try:
            connection.executemany(
                "INSERT INTO fixed_windows VALUES (?, ?, ?, ?, ?) ON CONFLICT (key, writer) DO UPDATE"
                " SET window = excluded.window, used = excluded.used, expires = excluded.expires",
                [(key, writer, window, used, expires) for key, window, used, expires in changes.fixed],
            )
            connection.executemany("INSERT INTO sliding_uses VALUES (?, ?, ?, ?)", changes.sliding)
            connection.execute("DELETE FROM fixed_windows WHERE expires <= ?", (now,))
            connection.execute("DELETE FROM sliding_uses WHERE expires <= ?", (now,))
            connection.execute(
                "INSERT INTO journal_marks VALUES (?, ?) ON CONFLICT (journal) DO UPDATE"
                " SET covered = excluded.covered",
                (writer, covered),
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _taken_over(rows: list[Row], replayed: Replayed, now: float) -> list[Row]:
    """The figure of each window that writers gone counted, with what their journals added."""
    own = windows([*rows, *replayed.fixed], now, operator.add)
    # An older release journaled each window's whole figure, which held its file row's.
    for key, window, figure, expires in windows(replayed.figures, now, max).values():
        kept = own.get(key)
        if kept is None or window > kept[1]:
            own[key] = (key, window, figure, expires)
        elif window == kept[1]:
            own[key] = (key, window, max(kept[2], figure), expires)
    return list(own.values())


def _upgrade(connection: sqlite3.Connection) -> None:
    """An older release's `fixed_windows` (one row per key, no writer): its rows become the legacy
    writer's, taken over by this start."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(fixed_windows)")}
    if not columns or "writer" in columns:
        return
    connection.execute("ALTER TABLE fixed_windows RENAME TO fixed_windows_before_writers")
    connection.execute(_SCHEMA[0])
    connection.execute(
        "INSERT INTO fixed_windows SELECT key, ?, window, used, expires FROM fixed_windows_before_writers",
        (LEGACY_WRITER,),
    )
    connection.execute("DROP TABLE fixed_windows_before_writers")  # and its index, made again after
