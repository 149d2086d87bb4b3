"""The embedded default's counters: in process, journaled on the request path, copied to a SQLite
file behind it.

Requests are judged by `MemoryLimiter` alone; no decision waits for the disk. Each admission or
settlement that counts something appends one line to the charge journal (`charge_journal.py`: a
copy into a mapped segment, no fsync) before the answer's last byte. Every `interval` seconds (1 s
by default) a background task takes what settled since the last copy — each fixed window written
to, as its whole figure, and each use added to a sliding window — and writes it on a thread of its
own, in one transaction with the number of the last journal segment it covers; covered segments
are then deleted. `open()` reads the file back, then replays the segments it does not cover, once.
So neither a clean stop nor a killed process loses a settled use (a power cut may lose what the
kernel had not written yet). Reservations still held are never written: the requests that made them
did not finish, and a restart releases them.

The file (`counters.db` in the data directory) holds two small tables, each row with the time after
which it counts for nothing (expired rows are deleted as the copy goes), and the journals' marks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sluicegate.startup import StartupError
from sluicegate.storage.charge_journal import DIRECTORY, ChargeJournal
from sluicegate.storage.limiter import Bucket, Changes, Claim, Hold, MemoryLimiter, Verdict
from sluicegate.storage.sqlite_files import open_sqlite

T = TypeVar("T")
_log = logging.getLogger(__name__)
FILE_NAME = "counters.db"
DEFAULT_INTERVAL = 1.0

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS fixed_windows"
    " (key TEXT PRIMARY KEY, window REAL NOT NULL, used REAL NOT NULL, expires REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS fixed_windows_expires ON fixed_windows (expires)",
    "CREATE TABLE IF NOT EXISTS sliding_uses"
    " (key TEXT NOT NULL, at REAL NOT NULL, amount REAL NOT NULL, expires REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sliding_uses_expires ON sliding_uses (expires)",
    # Per charge journal (one per process), the highest segment whose lines the tables above hold.
    "CREATE TABLE IF NOT EXISTS journal_marks (journal TEXT PRIMARY KEY, covered INTEGER NOT NULL)",
)


class CounterFile:
    """The SQLite file. Every method runs on the one thread that owns the connection."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None

    def open(self, now: float) -> tuple[Changes, dict[str, int]]:
        """Open (or create) the file and read back what has not expired, and the journals' marks."""
        connection = open_sqlite(self._path)
        for statement in _SCHEMA:
            connection.execute(statement)
        self._connection = connection
        fixed = connection.execute(
            "SELECT key, window, used, expires FROM fixed_windows WHERE expires > ?", (now,)
        ).fetchall()
        sliding = connection.execute(
            "SELECT key, at, amount, expires FROM sliding_uses WHERE expires > ?", (now,)
        ).fetchall()
        marks = dict(connection.execute("SELECT journal, covered FROM journal_marks").fetchall())
        return Changes(fixed, sliding), marks

    def forget(self, journals: set[str]) -> None:
        """Drop the marks of journals whose directory is gone (adopted, or removed at a clean stop)."""
        if self._connection is not None and journals:
            self._connection.executemany(
                "DELETE FROM journal_marks WHERE journal = ?", [(j,) for j in journals]
            )

    def write(self, changes: Changes, now: float, journal: str, covered: int) -> None:
        connection = self._connection
        if connection is None:
            raise RuntimeError("the counter file is not open")
        connection.execute("BEGIN")
        try:
            connection.executemany(
                "INSERT INTO fixed_windows VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE"
                " SET window = excluded.window, used = excluded.used, expires = excluded.expires",
                changes.fixed,
            )
            connection.executemany("INSERT INTO sliding_uses VALUES (?, ?, ?, ?)", changes.sliding)
            connection.execute("DELETE FROM fixed_windows WHERE expires <= ?", (now,))
            connection.execute("DELETE FROM sliding_uses WHERE expires <= ?", (now,))
            connection.execute(
                "INSERT INTO journal_marks VALUES (?, ?) ON CONFLICT (journal) DO UPDATE"
                " SET covered = excluded.covered",
                (journal, covered),
            )
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class DurableLimiter(MemoryLimiter):
    """`MemoryLimiter`, journaled as it counts and copied to `CounterFile` every `interval` seconds
    and at `close`."""

    def __init__(self, path: Path, clock: Callable[[], float], interval: float = DEFAULT_INTERVAL) -> None:
        super().__init__(track=True)
        self._path = path
        self._file = CounterFile(path)
        self._charges = ChargeJournal(path.parent / DIRECTORY)
        self._covered = 0  # the journal segment the last copy covered
        self._clock = clock
        self._interval = interval
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="counters")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def open(self) -> None:
        """Read the file back and replay the journal; a file that cannot be read is a StartupError:
        starting without it would let every budget spend its whole limit again, which is for an
        operator to decide (by moving the file away), not for the gateway to do quietly."""
        now = self._clock()
        try:
            stored, replayed = await self._on_thread(self._read_back, now)
        except sqlite3.Error as exc:
            await self._on_thread(self._file.close)
            self._executor.shutdown(wait=True)
            raise StartupError(_unreadable(self._path, exc)) from exc
        self.restore(stored, now)
        # What the journal adds is in memory now, and goes into the next copy with its mark.
        self.restore(replayed, now)
        fixed = {row[0]: row for row in replayed.fixed if row[3] > now}  # the newest figure of each
        self.unwritten(Changes(list(fixed.values()), [row for row in replayed.sliding if row[3] > now]))
        self._task = asyncio.get_running_loop().create_task(self._run(), name="counters")

    async def admit(self, claims: Sequence[Claim], now: float) -> Verdict:
        verdict = await super().admit(claims, now)
        if verdict.allowed:
            self._note([claim for claim in claims if claim.bucket.counts_requests], now)
        return verdict

    async def settle(self, holds: Sequence[Hold], used: Sequence[float], now: float) -> None:
        await super().settle(holds, used, now)
        self._note([Claim(hold.bucket, amount) for hold, amount in zip(holds, used, strict=True)], now)

    async def close(self) -> None:
        """Stop copying, and write what settled since the last copy."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        try:
            await self.flush()
        except (sqlite3.Error, OSError):  # the stop goes on: the other backends must close too
            _log.exception("the last copy of the rate-limit counters to %s failed", self._path)
        finally:
            await self._on_thread(self._file.close)
            self._executor.shutdown(wait=True)
            self._charges.close()  # kept for the next start unless every segment is covered

    async def flush(self) -> None:
        """Write what settled since the last copy. On failure it is kept for the next try."""
        changes = self.changes()
        covered = self._charges.seal()  # taken together: the copy holds every line sealed so far
        if not changes.fixed and not changes.sliding and covered == self._covered:
            return
        try:
            await self._on_thread(self._file.write, changes, self._clock(), self._charges.name, covered)
        except BaseException:
            self.unwritten(changes)
            raise
        self._covered = covered
        try:  # a segment left behind is harmless: the mark says it is covered
            await self._on_thread(self._charges.covered, covered)
        except OSError:
            _log.exception("could not delete covered segments of the charge journal")
        try:  # without one, the next count starts its segment on the event loop, as before
            await self._on_thread(self._charges.prepare_next)
        except OSError:
            _log.exception("could not make the charge journal's next segment ahead")

    def _note(self, counted: Sequence[Claim], now: float) -> None:
        """Journal what `changes()` will carry for these counts (on the request path)."""
        rows = []
        for bucket, amount in counted:
            if bucket.sliding:
                if amount > 0:
                    rows.append(("s", bucket.key, now, amount, now + bucket.period))
            elif bucket.key in self._fixed:
                rows.append(("f", bucket.key, *self._settled(bucket)))
        if not rows:
            return
        try:
            self._charges.append(rows)
        except OSError:  # counting goes on; the periodic copy still takes it
            _log.exception("could not append to the charge journal")

    def _settled(self, bucket: Bucket) -> tuple[float, float, float]:
        """A fixed window's start, settled figure (reservations left out) and expiry."""
        window, used = self._fixed[bucket.key]
        held_window, held = self._holding.get(bucket.key, (window, 0.0))
        return window, max(used - held if held_window == window else used, 0.0), window + bucket.period

    def _read_back(self, now: float) -> tuple[Changes, Changes]:
        stored, marks = self._file.open(now)
        replayed = self._charges.open(marks)
        self._file.forget(set(marks) - self._charges.others())
        self._charges.prepare_next()  # so that the first count does not start a segment either
        return stored, replayed

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            if self._closing:
                return
            try:
                await self.flush()
            except (sqlite3.Error, OSError):  # a full disk must not stop counting; retried next time
                _log.exception("copying the rate-limit counters to %s failed", self._path)

    async def _on_thread(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)


def _unreadable(path: Path, exc: sqlite3.Error) -> str:
    reason = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, sqlite3.OperationalError):  # locked, unreadable: nothing wrong with the file
        return f"the rate-limit counters file {path} cannot be opened: {reason}"
    return (
        f"the rate-limit counters file {path} is damaged ({reason}): move it away and start again;"
        " the rate-limit and budget counts it held are then lost (what was counted since its last"
        " copy is replayed from the charge journal)"
    )
