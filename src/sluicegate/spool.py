"""The log spool: every finished request's record on disk before its answer's last byte is sent.

    Logbook.take ──► Spool.append: one NDJSON line copied into a mapped segment
    Logbook's drain task ──► Spool.seal ──► sealed segments, oldest first ──► the database ──► unlink

No fsync: a line copied into the shared mapping is in the kernel's page cache, which a killed
process does not take with it (a power cut can; `mapped_segment.py` says why not write()). Each
process writes segment files in its own directory, held by an exclusive `flock`; at start a
process adopts the directories whose lock nobody holds (a gateway killed earlier), so replicas
sharing a data directory never drain each other's live file.

A segment is deleted once every record in it is in the database. A process killed while storing a
segment stores it again at the next start: records are keyed by id and stored once.

When the database is unreachable the records wait here, on disk, never in memory. `max_bytes`
bounds the spool: past it the oldest sealed segments are deleted whole (oldest first: the newest
records are those a user is most likely to look for); `dropped` counts the records lost so.
"""

from __future__ import annotations

import functools
import logging
import os
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from sluicegate import process_dirs
from sluicegate.mapped_segment import MappedSegment, Sealer, written_part
from sluicegate.numbered_segments import NumberedSegments

SUFFIX = ".ndjson"
# The space a segment takes when it starts (a bigger line gets a segment of its own size). The
# drain task seals the segment at each flush, so one rarely fills; one that does ends there.
MAPPED_BYTES = 4 << 20
# How much of a segment made ahead is faulted in before it is taken: twice what the last segment
# held (a drain seals one every flush), at least this much. Pages past it fault on first use.
PREFAULT_MIN_BYTES = 256 << 10
READ_BYTES = 64 << 10  # a segment is read back in pieces of this size (`read_pieces`)
_log = logging.getLogger(__name__)


# Runs a job on a thread other than the event loop's (`Spool`'s `ahead`).
Ahead = Callable[[Callable[[], None]], object]


class Spool:
    def __init__(self, directory: Path, max_bytes: int, ahead: Ahead | None = None) -> None:
        """`ahead` runs the making of the next segment when the one being written is half full
        (default: a thread of the spool's own, at normal priority: the logbook's worker is behind
        requests, and under load would start it only after the event loop had started one itself)."""
        self._root = directory
        self._max_bytes = max_bytes
        self._segment_bytes = max(max_bytes // 16, 1)  # dropping granularity
        self._dir = directory / uuid.uuid4().hex
        self._lock = -1
        self._segment: MappedSegment | None = None
        self._sealer = Sealer()
        size = min(self._segment_bytes, MAPPED_BYTES)
        self._segments = NumberedSegments(self._dir, SUFFIX, size, PREFAULT_MIN_BYTES)
        self._executor: ThreadPoolExecutor | None = None
        self._ahead = ahead or self._on_own_thread
        self._asked_ahead = False  # for the segment being written
        self._last_used = 0  # bytes the last sealed segment held
        self._current_bytes = self._current_records = 0
        # Sealed segments, oldest first, with their size and record count.
        self._sealed: list[tuple[Path, int, int]] = []
        self.dropped = 0

    def open(self) -> None:
        """Take a directory of our own and adopt the segments of processes no longer running."""
        self._lock = process_dirs.claim(self._root, self._dir)
        for other in sorted(self._root.iterdir(), key=_mtime):
            if other != self._dir and other.is_dir():
                self._adopt(other)

    def close(self) -> None:
        """Close the files; segments not yet stored stay for the next start."""
        if self._executor is not None:
            self._executor.shutdown(wait=True)  # a segment being made is given up below
        self.seal()
        self._sealer.seal_detached()
        self._segments.close()
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1
        if not self._sealed:
            process_dirs.remove(self._dir)

    def append(self, line: bytes) -> None:
        """Write one record's line (ending in a newline). On the request path: a copy into the
        mapping (the next segment is usually made ahead: by the drain's `prepare_next`, or on the
        spool's thread once this one is half full)."""
        segment = self._segment
        if segment is None or not segment.append(line):
            self.seal()
            segment = self._start_segment(len(line))
            segment.append(line)  # sized to take it
        self._current_bytes += len(line)
        self._current_records += 1
        if self._current_bytes >= self._segment_bytes:
            self.seal()
        elif not self._asked_ahead and 2 * segment.used >= segment.size:
            # Filling faster than the drain seals it (a saturated core delays the drain): make the
            # next one now, wholly faulted in, or the loop would start it itself, a page fault per
            # page of lines (measured: 2.3 a streamed request at 32 connections).
            self._asked_ahead = True
            self._ahead(functools.partial(self._segments.make_ahead, segment.size))

    def seal(self) -> None:
        """End the segment being written: it may be read and stored from now on (it is cut to
        size by `seal_detached`, on a worker thread)."""
        if self._segment is None:
            return
        segment, self._segment = self._segment, None
        self._last_used = segment.used
        self._sealer.detach(segment)
        if self._current_records:
            self._sealed.append((segment.path, self._current_bytes, self._current_records))
        else:
            segment.path.unlink(missing_ok=True)
        self._current_bytes = self._current_records = 0
        self._drop_oldest()

    def seal_detached(self) -> None:
        """Cut the segments `seal` ended to their size (slow: on a worker thread)."""
        self._sealer.seal_detached()

    def prepare_next(self) -> None:
        """Make the segment the next line starts, if none is waiting (on a worker thread:
        `NumberedSegments.make_ahead`)."""
        if self._lock >= 0:
            self._segments.make_ahead(self._last_used)

    def sealed(self) -> list[Path]:
        """The sealed segments, oldest first."""
        return [path for path, _, _ in self._sealed]

    def stored(self, path: Path) -> None:
        """Every record of `path` is in the database: it is deleted by the next `seal_detached`
        (deleting a file is a system call; a kill before that only stores its records again, and
        a record is stored once)."""
        self._sealed = [entry for entry in self._sealed if entry[0] != path]
        self._sealer.delete(path)

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @property
    def backlog_bytes(self) -> int:
        return self._current_bytes + sum(size for _, size, _ in self._sealed)

    @property
    def backlog_records(self) -> int:
        return self._current_records + sum(count for _, _, count in self._sealed)

    def _start_segment(self, first_line: int) -> MappedSegment:
        self._segment = self._segments.take(first_line, self._sealer)
        self._current_bytes = self._current_records = 0
        self._asked_ahead = False
        return self._segment

    def _on_own_thread(self, job: Callable[[], None]) -> None:
        if self._executor is None:  # started on first use: a forked worker makes its own
            self._executor = ThreadPoolExecutor(1, "spool-ahead")
        self._executor.submit(job).add_done_callback(_said_if_failed)

    def _drop_oldest(self) -> None:
        while self._sealed and self.backlog_bytes > self._max_bytes:
            path, _, records = self._sealed.pop(0)
            path.unlink(missing_ok=True)
            self.dropped += records
            _log.error(
                "the log spool is over its limit of %d bytes (is the database down?):"
                " dropped its oldest %d records",
                self._max_bytes,
                records,
            )

    def _adopt(self, other: Path) -> None:
        """Take over the segments of `other` if no running process holds its lock."""
        with process_dirs.orphaned(other) as left:
            if not left:
                return
            for segment in sorted(other.glob(f"*{SUFFIX}")):
                data = written_part(segment.read_bytes())
                if not data:
                    segment.unlink()
                    continue
                target = self._segments.numbered()
                os.rename(segment, target)
                self._sealed.append((target, len(data), data.count(b"\n")))
            process_dirs.remove(other)
        self._drop_oldest()


def _said_if_failed(made: Future[None]) -> None:
    if not made.cancelled() and (error := made.exception()) is not None:
        # A full disk, most often: the loop starts the next segment itself; the drain reports it.
        _log.warning("the log spool's next segment could not be made ahead: %s", error)


def read_lines(path: Path) -> list[bytes]:
    """The whole lines of a segment (`read_pieces`)."""
    return [line for piece in read_pieces(path) for line in piece.split(b"\n")]


def read_pieces(path: Path) -> Iterator[bytes]:
    """A segment's whole lines, about `READ_BYTES` at a time (lines joined by newlines, without
    the last one). A last line without its newline was cut by a kill mid-write: its request never
    got its answer (the write comes before the last byte), so it is left out, as are the zeros a
    segment never sealed ends in (lines hold no zero byte).

    Each read lets go of the interpreter lock, so a worker thread splitting and scanning the pieces
    holds it a piece at a time: a thread waiting for it (the event loop) is not woken before the
    holder lets go or 5 ms pass, and a whole segment's split and scan take about a millisecond."""
    line: list[bytes] = []  # the line being read, in the pieces read so far
    try:
        with path.open("rb", buffering=0) as file:
            while piece := file.read(READ_BYTES):
                piece, zero, _ = piece.partition(b"\0")
                whole, newline, rest = piece.rpartition(b"\n")
                if newline:
                    yield b"".join([*line, whole])
                    line = []
                if rest:
                    line.append(rest)
                if zero:
                    return
    except FileNotFoundError:
        return


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
