"""The embedded default's counters: in process, journaled on the request path, copied to a SQLite
file behind it.

Requests are judged by `MemoryLimiter` alone; no decision waits for the disk. Each admission or
settlement that counts something appends one line to the charge journal (`charge_journal.py`: a
copy into a mapped segment, no fsync) before the answer's last byte: the amounts it adds. Every
`interval` seconds (1 s by default) a background task takes what settled since the last copy —
this process's own figure of each fixed window written to, and each use added to a sliding
window — and writes it on a thread of its own (`counter_file.py`), in one transaction with the
number of the last journal segment it covers; covered segments are then deleted. `open()` reads
the file back, summing every process's figure, then replays the segments it does not cover, once.
So neither a clean stop nor a killed process loses a settled use, whichever of the processes
sharing the file counted it (a power cut may lose what the kernel had not written yet).
Reservations still held are never written: the requests that made them did not finish, and a
restart releases them.

While running, each process counts on its own: what the others count after it started is not in
its figures (`serve --workers N` admits up to N times a limit; Redis is for limits shared live).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import operator
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sluicegate.startup import StartupError
from sluicegate.storage.charge_journal import DIRECTORY, ChargeJournal
from sluicegate.storage.counter_file import CounterFile, Stored, windows
from sluicegate.storage.limiter import Changes, Claim, Hold, MemoryLimiter, Verdict, window_start

T = TypeVar("T")
_log = logging.getLogger(__name__)
FILE_NAME = "counters.db"
DEFAULT_INTERVAL = 1.0


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
        # Per fixed window, what the processes still running had counted when this one started:
        # in its figures, never in the figure it writes as its own.
        self._others: dict[str, tuple[float, float]] = {}

    async def open(self) -> None:
        """Read the file back and replay the journal; a file that cannot be read is a StartupError:
        starting without it would let every budget spend its whole limit again, which is for an
        operator to decide (by moving the file away), not for the gateway to do quietly."""
        now = self._clock()
        try:
            stored = await self._on_thread(self._read_back, now)
        except sqlite3.Error as exc:
            await self._on_thread(self._file.close)
            self._executor.shutdown(wait=True)
            self._charges.close()
            raise StartupError(_unreadable(self._path, exc)) from exc
        self._take_back(stored, now)
        self._task = asyncio.get_running_loop().create_task(self._run(), name="counters")

    def _take_back(self, stored: Stored, now: float) -> None:
        """Count what the file holds: the others' figures as they were, and this process's own
        (taken over from processes gone, with what their journals added)."""
        others = windows(stored.others, now, operator.add)
        self._others = {key: (window, used) for key, window, used, _ in others.values()}
        totals = windows([*others.values(), *stored.own], now, operator.add)
        self.restore(Changes(list(totals.values()), stored.sliding), now)
        self._covered = stored.covered

    def changes(self) -> Changes:
        """What settled since the last call, each fixed window as this process's own figure: the
        others' part, read at start, is theirs to write."""
        changes = super().changes()
        fixed = []
        for key, window, used, expires in changes.fixed:
            others_window, others = self._others.get(key, (window, 0.0))
            fixed.append((key, window, max(used - others, 0.0) if others_window == window else used, expires))
        return Changes(fixed, changes.sliding)

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
        """Journal the amounts these counts add (on the request path)."""
        rows = []
        for bucket, amount in counted:
            if amount <= 0:
                continue
            if bucket.sliding:
                rows.append(("s", bucket.key, now, amount, now + bucket.period))
            else:
                window = window_start(bucket, now)
                rows.append(("d", bucket.key, window, amount, window + bucket.period))
        if not rows:
            return
        try:
            self._charges.append(rows)
        except OSError:  # counting goes on; the periodic copy still takes it
            _log.exception("could not append to the charge journal")

    def _read_back(self, now: float) -> Stored:
        # Our directory first: from the file's transaction on, other processes starting see us
        # running. The orphans' locks are held until they are adopted, in that transaction, so
        # the marks read there are their last and no one else takes their rows or segments.
        self._charges.claim()
        self._charges.take_orphans()
        try:
            stored = self._file.open(now, self._charges)
        finally:
            self._charges.release_orphans()  # if not adopted (an error)
        try:  # a segment left behind is harmless: the mark says it is covered
            self._charges.covered(stored.covered)
        except OSError:
            _log.exception("could not delete covered segments of the charge journal")
        self._charges.prepare_next()  # so that the first count does not start a segment either
        return stored

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
