"""The charge journal: every settled count on disk before the answer that caused it ends.

    DurableLimiter.admit / settle ──► ChargeJournal.append: one line copied into a mapped segment
    DurableLimiter's copy ──► seal ──► counters.db (+ "segments ≤ n covered", same transaction) ──► unlink

No fsync: a line copied into the shared mapping is in the kernel's page cache, which a killed
process does not take with it (a power cut can; `mapped_segment.py` says why not write()). A line
holds one call's counts, each added once: ["d", key, window, amount, expires] (an amount added to a
fixed window) or ["s", key, at, amount, expires] (a use added to a sliding window). Both must be
replayed exactly once — hence the covered mark, written with the rows it covers. (An older
release wrote ["f", key, window, figure, expires], a fixed window's whole figure: read as such.)

Each process writes numbered segments in a directory of its own, held by an exclusive `flock`
(workers share the data directory). At start a process takes the locks of the directories nobody
holds (`take_orphans`), then adopts them: segments the directory's mark covers are deleted, the
others are moved into its own directory (a rename: a segment is always in exactly one place, under
one mark) and replayed.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import orjson

from sluicegate import process_dirs
from sluicegate.mapped_segment import MappedSegment, Sealer, written_part
from sluicegate.numbered_segments import NumberedSegments

DIRECTORY = "counters-journal"
SUFFIX = ".log"
# A segment lasts from one copy of the counters to the next (a second by default): 1 MiB holds
# about 7,000 lines; a busier second starts another segment.
SEGMENT_BYTES = 1 << 20
# How much of a segment made ahead is faulted in: twice what the last one held, at least this.
PREFAULT_MIN_BYTES = 64 << 10
Row = tuple[str, float, float, float]
_log = logging.getLogger(__name__)


class Replayed(NamedTuple):
    """What adopted segments hold: amounts added to fixed windows, uses added to sliding ones, and
    whole fixed-window figures (an older release's lines)."""

    fixed: list[Row]
    sliding: list[Row]
    figures: list[Row]


class ChargeJournal:
    def __init__(self, root: Path) -> None:
        self._root = root
        self.name = uuid.uuid4().hex
        self._dir = root / self.name
        self._lock = -1
        self._segment: MappedSegment | None = None
        self._sealer = Sealer()
        self._number = 0  # the segment being written (or the last one, if none is open)
        self._segments = NumberedSegments(self._dir, SUFFIX, SEGMENT_BYTES, PREFAULT_MIN_BYTES)
        self._last_used = 0  # bytes the last segment sealed held
        self._orphans: dict[str, int] = {}  # name -> the lock held, of directories left behind

    def claim(self) -> None:
        """Take a directory of our own (before the counter file names us as a running writer)."""
        self._lock = process_dirs.claim(self._root, self._dir)

    def take_orphans(self) -> None:
        """Hold the locks of the directories left by processes no longer running, for `adopt`."""
        for other in sorted(self._root.iterdir()):
            if other != self._dir and other.is_dir():
                lock = process_dirs.take(other)
                if lock is not None:
                    self._orphans[other.name] = lock

    def running(self, name: str) -> bool:
        """Whether the process that journaled as `name` may still run: its directory is there and
        is not one `take_orphans` took (nor being adopted by another process)."""
        return bool(name) and name not in self._orphans and (self._root / name).is_dir()

    def adopt(self, marks: Mapping[str, int]) -> Replayed:
        """Adopt the directories `take_orphans` took; what their segments hold beyond their `marks`
        (journal name -> highest segment covered)."""
        replayed = Replayed([], [], [])
        try:
            for name in sorted(self._orphans):
                self._adopt(self._root / name, marks.get(name, 0), replayed)
        finally:
            self.release_orphans()
        return replayed

    def release_orphans(self) -> None:
        orphans, self._orphans = self._orphans, {}
        for lock in orphans.values():
            os.close(lock)

    def others(self) -> set[str]:
        """The journal directories present besides ours (live or not yet adopted)."""
        return {path.name for path in self._root.iterdir() if path.is_dir() and path != self._dir}

    def append(self, rows: list[tuple[str, str, float, float, float]]) -> None:
        """Write one call's rows as one line. On the request path: a copy into the mapping (a new
        segment, when the line does not fit, is a few system calls)."""
        line = orjson.dumps(rows) + b"\n"
        if self._segment is not None and self._segment.append(line):
            return
        self.seal()
        self._segment = self._segments.take(len(line), self._sealer)
        self._number = _number(self._segment.path)  # the highest given out (`NumberedSegments`)
        self._segment.append(line)

    def seal(self) -> int:
        """End the segment being written; the highest number of a segment written so far (what a
        copy of the counters taken now covers; one made ahead may have a higher one). The segment
        is cut to size by `seal_detached`."""
        segment, self._segment = self._segment, None
        if segment is not None:
            self._last_used = segment.used
            self._sealer.detach(segment)
        return self._number

    def prepare_next(self) -> None:
        """Make the segment the next line starts, if none is waiting (on a worker thread:
        `NumberedSegments.make_ahead`)."""
        if self._lock >= 0:
            self._segments.make_ahead(self._last_used)

    def seal_detached(self) -> None:
        """Cut the segments `seal` ended to their size (slow: on a worker thread)."""
        self._sealer.seal_detached()

    def covered(self, number: int) -> None:
        """Segments up to `number` are in counters.db: delete them."""
        self.seal_detached()
        for segment in self._dir.glob(f"*{SUFFIX}"):
            if _number(segment) <= number:
                segment.unlink(missing_ok=True)

    def close(self) -> None:
        """Release the directory: removed when every segment was covered, else left for the next
        start to adopt."""
        self._segments.close()
        self.seal()
        self.seal_detached()
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1
        if not any(self._dir.glob(f"*{SUFFIX}")):
            process_dirs.remove(self._dir)

    def _adopt(self, other: Path, covered: int, replayed: Replayed) -> None:
        for segment in sorted(other.glob(f"*{SUFFIX}")):
            if _number(segment) <= covered or not written_part(segment.read_bytes()):
                # In counters.db already (killed before deleting it), or made ahead, never written.
                segment.unlink()
                continue
            target = self._segments.numbered()
            self._number = _number(target)
            os.rename(segment, target)
            _read(target, replayed)
        process_dirs.remove(other)


def _read(path: Path, into: Replayed) -> None:
    """Add a segment's rows to `into`. A line without its newline, or unreadable, was cut short
    (a full disk, a power cut): left out, with a warning."""
    lines = written_part(path.read_bytes()).split(b"\n")
    if lines[-1]:
        _log.warning("the charge journal %s ends in a line cut short: left out", path)
    kinds = {"d": into.fixed, "s": into.sliding, "f": into.figures}
    for line in lines[:-1]:
        try:
            rows = [
                (kinds[kind], (key, at, amount, expires))
                for kind, key, at, amount, expires in orjson.loads(line)
            ]
        except (orjson.JSONDecodeError, ValueError, TypeError, KeyError):
            _log.warning("the charge journal %s holds an unreadable line: left out", path)
            continue
        for kept, row in rows:
            kept.append(row)


def _number(segment: Path) -> int:
    try:
        return int(segment.name.removesuffix(SUFFIX))
    except ValueError:
        return 0
