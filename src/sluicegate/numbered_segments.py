"""The numbered segment files of one writer (the log spool's, the charge journal's), and the next
one made ahead.

The event loop starts segments (`take`); a worker thread makes the next one ahead (`make_ahead`):
created, allocated, mapped and its first pages faulted in, all of which a request would otherwise
wait for (`mapped_segment.py` says why the faults matter). Segments are drained, covered and
adopted in number order, so a segment made ahead is given up when the loop numbered one of its own
meanwhile: taken later, it would hold newer lines under an older number.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sluicegate.mapped_segment import MappedSegment, Sealer


class NumberedSegments:
    def __init__(self, directory: Path, suffix: str, size: int, prefault_min: int) -> None:
        """Segments of `size` bytes (a bigger first line gets one of its size) in `directory`; one
        made ahead has twice what the last one held faulted in, at least `prefault_min` bytes."""
        self._directory = directory
        self._suffix = suffix
        self._size = size
        self._prefault_min = prefault_min
        self._number = 0  # the last number given out
        self._next: MappedSegment | None = None
        self._closed = False  # no segment is made ahead after `close`
        self._making = False  # a worker is making one (the drain's and the spool's may both ask)
        self._lock = threading.Lock()  # for all three: the event loop and a worker share them

    def numbered(self) -> Path:
        """The path of the next segment (numbers only grow)."""
        with self._lock:
            self._number += 1
            return self._directory / f"{self._number:012d}{self._suffix}"

    def take(self, first_line: int, sealer: Sealer) -> MappedSegment:
        """On the event loop: the segment made ahead if there is one and the line fits in it
        (else it is handed to `sealer` to be closed and deleted on a worker thread), or a new one."""
        with self._lock:
            made, self._next = self._next, None
        if made is not None and made.size >= first_line:
            return made
        if made is not None:  # a line bigger than a segment (rare): it gets one of its size
            sealer.detach(made)
            sealer.delete(made.path)
        return MappedSegment(self.numbered(), max(self._size, first_line))

    def make_ahead(self, last_used: int) -> None:
        """On a worker thread: make the next segment, if none is waiting. `last_used`: what the
        last segment held."""
        with self._lock:
            if self._next is not None or self._closed or self._making:
                return
            self._making = True
        try:
            # Made outside the lock, which the event loop takes to start a segment: making one
            # takes milliseconds, and the loop then starts its own rather than wait.
            made = MappedSegment(self.numbered(), self._size)
            made.prefault(max(2 * last_used, self._prefault_min))
            number = _number(made.path, self._suffix)
            with self._lock:
                if self._next is None and not self._closed and self._number == number:
                    self._next = made
                    return
            made.discard()  # numbered before one the loop started, or closed meanwhile
        finally:
            with self._lock:
                self._making = False

    def close(self) -> None:
        """Give up the segment made ahead, and make none after."""
        with self._lock:
            unused, self._next = self._next, None
            self._closed = True
        if unused is not None:
            unused.discard()


def _number(path: Path, suffix: str) -> int:
    return int(path.name.removesuffix(suffix))
