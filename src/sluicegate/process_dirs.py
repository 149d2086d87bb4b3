"""Directories of one process each, under a root they share (the log spool, the charge journal).

A process writes only in its own directory, held by an exclusive `flock` on its `lock` file for as
long as the process lives (workers and replicas may share the data directory). At start a process
adopts what the others left: a directory whose lock nobody holds belonged to a process no longer
running.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from sluicegate.datafiles import DIRECTORY_MODE, private_directory, private_opener

LOCK = "lock"
_log = logging.getLogger(__name__)


def claim(root: Path, directory: Path) -> int:
    """Make `directory` under `root` (made ours alone: an older one may be readable) and hold its
    lock; the lock's descriptor, to close at the end."""
    private_directory(directory)
    os.chmod(root, DIRECTORY_MODE)
    # Locked before it is named `lock`: a process starting meanwhile (another worker of `serve
    # --workers N`) finds no lock (a directory being made) or a held one, never a free one it would
    # take for a dead process's and remove, files and all, under this one.
    unnamed = directory / f".{LOCK}-{os.getpid()}"
    lock = private_opener(str(unnamed), os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.rename(unnamed, directory / LOCK)
    return lock


@contextlib.contextmanager
def orphaned(directory: Path) -> Iterator[bool]:
    """Whether `directory` was left by a process no longer running; if so, its lock is ours inside."""
    lock = take(directory)
    try:
        yield lock is not None
    finally:
        if lock is not None:
            os.close(lock)


def remove(directory: Path) -> None:
    """Delete `directory` and the files in it."""
    for leftover in directory.iterdir():
        leftover.unlink(missing_ok=True)
    try:
        directory.rmdir()
    except OSError:  # something else was put there: leave it
        _log.warning("could not remove the directory %s", directory)


def take(directory: Path) -> int | None:
    """The lock of `directory`, held, if no running process holds it (and it has one); else None."""
    try:
        lock = os.open(directory / LOCK, os.O_RDWR)
    except FileNotFoundError:
        return None  # being created by a process starting now, or not such a directory
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        return None  # a live process's
    return lock
