"""An append-only segment file written through a memory map: a line costs a copy, not a system call.

A `write()` releases the interpreter lock, and taking it back waits for whichever worker thread got
it meanwhile (a log batch being built): on the request path that wait, not the write, was the cost.
Bytes copied into a shared mapping are in the kernel's page cache at once, exactly as those of a
returned `write()`: a killed process loses none of them (a power cut can, as without fsync).

The file's space is allocated when the segment starts (`posix_fallocate`), so a full disk is an
`OSError` then, never a SIGBUS on a later copy. The first copy into each page faults, and on ext4
a write fault into a file mapping updates the file's times through the journal, waiting out any
commit in progress (another file's fsync: SQLite's): about 1.5 ms, several times a second under
load. A segment made ahead on a worker thread is `prefault`ed there, so the copies on the event
loop find their pages mapped for writing. `seal` truncates the file to what was written; a
segment left by a killed process ends in zero bytes instead, which `written_part` drops. Cutting
a file with dirty pages can take milliseconds, so a writer on the event loop hands its full
segments to `Sealer.detach` and a worker thread seals them (`Sealer.seal_detached`); what they
hold is readable meanwhile (`written_part`).
"""

from __future__ import annotations

import collections
import ctypes
import functools
import mmap
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

from sluicegate.datafiles import private_opener

# madvise(MADV_POPULATE_WRITE), Linux 5.14: fault a range in for writing in one call, through
# ctypes, which lets go of the interpreter lock meanwhile (`mmap.madvise` holds it through a fault
# that waits on the journal, and writing each page from Python would too: measured, both made the
# event loop wait longer than the faults they spared it).
_MADV_POPULATE_WRITE = 23


@functools.cache
def _madvise() -> Callable[[int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    function = ctypes.CDLL(None, use_errno=True).madvise
    function.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    function.restype = ctypes.c_int
    return cast(Callable[[int, int, int], int], function)


class MappedSegment:
    """One segment being written. `append` refuses (returns False) a line that would not fit."""

    def __init__(self, path: Path, size: int) -> None:
        """A new segment file of `size` bytes, its space allocated."""
        self.path = path
        self.size = size
        self.used = 0
        fd = _allocated(path, size)
        try:
            self._map = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        self._fd = fd

    def append(self, line: bytes) -> bool:
        """Copy `line` after what was written; False (nothing written) when it does not fit."""
        end = self.used + len(line)
        if end > self.size:
            return False
        self._map[self.used : end] = line
        self.used = end
        return True

    def prefault(self, length: int) -> bool:
        """Map the pages of the first `length` bytes for writing now, so that `append` copies
        into them without a page fault; their content is unchanged. False where the system
        cannot (not Linux, a kernel before 5.14): the pages then fault on first use, as before."""
        length = min(length, self.size)
        madvise = _madvise()
        if length <= 0 or madvise is None:
            return False
        view = ctypes.c_char.from_buffer(self._map)  # the mapping's address, released below
        try:
            return madvise(ctypes.addressof(view), length, _MADV_POPULATE_WRITE) == 0
        finally:
            del view

    def discard(self) -> None:
        """Close a segment made ahead and never written to, and delete its file."""
        self.seal()
        self.path.unlink(missing_ok=True)

    def seal(self) -> None:
        """Unmap and cut the file to what was written."""
        self._map.close()
        try:
            os.ftruncate(self._fd, self.used)
        finally:
            os.close(self._fd)


def _allocated(path: Path, size: int) -> int:
    fd = private_opener(str(path), os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    try:
        os.posix_fallocate(fd, 0, size)
    except BaseException:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise
    return fd


class Sealer:
    """Segments no longer written to, waiting for a worker thread to seal them, and files no
    longer needed, waiting for it to delete them."""

    def __init__(self) -> None:
        self._detached: collections.deque[MappedSegment] = collections.deque()  # thread-safe ends
        self._unneeded: collections.deque[Path] = collections.deque()

    def detach(self, segment: MappedSegment) -> None:
        self._detached.append(segment)

    def delete(self, path: Path) -> None:
        self._unneeded.append(path)

    def seal_detached(self) -> None:
        """Seal every segment detached so far and delete the files given up (on a worker thread,
        or at close)."""
        while self._detached:
            self._detached.popleft().seal()
        while self._unneeded:
            self._unneeded.popleft().unlink(missing_ok=True)


def written_part(data: bytes) -> bytes:
    """A segment's bytes without the zeros a segment never sealed ends in (lines are JSON or text,
    which hold no zero byte)."""
    return data.rstrip(b"\0")
