"""What the log spool could not take: records kept in memory, and the spool's outage.

A record the spool cannot write (a full disk: a new segment cannot be allocated; a record that does
not serialise) is kept in memory, at most `LIMIT` of them (past it the oldest are dropped, and
counted), and stored from there by the next flush. They are part of the backlog the metrics and
the status report, and lost if the process is killed before that flush.

A spool outage is logged once when it begins (with its first traceback) and once when it ends,
with how many writes failed and records were dropped meanwhile: a full disk fails every request's
write, and a traceback for each flooded the log (2.3 MB in 3 s). It ends after a drain pass that
could make the next segment, with no write failed since the pass before.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from typing import NamedTuple

from sluicegate.storage.base import LogRecord

LIMIT = 10_000  # records kept in memory when the spool cannot be written (oldest dropped)
_log = logging.getLogger("sluicegate.logbook")


class Kept(NamedTuple):
    record: LogRecord
    cap: int | None  # the gateway's `max_records` when it stops inserting there
    size: int  # bytes of its spool line (0 when it could not be made)


class Unspooled:
    def __init__(self, limit: int = LIMIT, clock: Callable[[], float] = time.time) -> None:
        self._limit = limit
        self._clock = clock
        self._kept: list[Kept] = []
        self.bytes = 0
        self.dropped = 0  # since start, records dropped from memory past `limit`
        self.failing_since: float | None = None  # epoch seconds the spool began to fail
        self._failures = 0  # writes (and segments made ahead) that failed during this outage
        self._dropped_at_start = 0
        self._failed_since_pass = False

    @property
    def records(self) -> int:
        return len(self._kept)

    def keep(self, kept: Kept, exc: BaseException) -> None:
        """A record the spool refused (`exc`), kept in memory."""
        self.failed("a log record could not be written to it", exc)
        self._kept.append(kept)
        self.bytes += kept.size
        self._trim()

    def failed(self, what: str, exc: BaseException) -> None:
        """The spool failed at `what`; logged once per outage."""
        self._failures += 1
        self._failed_since_pass = True
        if self.failing_since is None:
            self.failing_since = self._clock()
            self._dropped_at_start = self.dropped
            _log.error(
                "the log spool cannot be written (%s: %s): records are kept in memory, at most %d,"
                " and stored from there; this is logged once until the spool works again",
                what,
                _reason(exc),
                self._limit,
                exc_info=None if _of_the_disk(exc) else exc,  # a full disk is said, not a bug's trace
            )

    def pass_ended(self, prepared: bool) -> None:
        """A drain pass ended; `prepared`: the next segment could be made. With no write failed
        since the pass before, the outage (if any) is over."""
        failed, self._failed_since_pass = self._failed_since_pass, False
        if failed or not prepared or self.failing_since is None:
            return
        _log.warning(
            "the log spool is written again after %.1f s: %d writes failed meanwhile,"
            " %d records were dropped from memory",
            self._clock() - self.failing_since,
            self._failures,
            self.dropped - self._dropped_at_start,
        )
        self.failing_since = None
        self._failures = 0

    def take(self) -> list[Kept]:
        """All the records kept, which are no longer (`restore` gives them back)."""
        taken, self._kept, self.bytes = self._kept, [], 0
        return taken

    def restore(self, taken: list[Kept]) -> None:
        """Records `take` gave that could not be stored: kept again, before those kept since."""
        self._kept = taken + self._kept
        self.bytes += sum(kept.size for kept in taken)
        self._trim()

    def _trim(self) -> None:
        excess = len(self._kept) - self._limit
        if excess <= 0:
            return
        if self.dropped == self._dropped_at_start:
            _log.error(
                "over %d log records are kept in memory (the spool cannot be written): the oldest"
                " are dropped (counted in dropped_records)",
                self._limit,
            )
        self.bytes -= sum(kept.size for kept in self._kept[:excess])
        del self._kept[:excess]
        self.dropped += excess


# What the disk answers (full, over quota, read-only, a file size limit): its reason says all.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def _of_the_disk(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return " ".join(str(exc).split()) or type(exc).__name__
