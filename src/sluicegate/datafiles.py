"""The gateway's files on disk, readable by their owner only, whatever the umask.

The database holds sealed provider keys, token hashes and request bodies; the semantic journal holds
vectors of questions. Directories the gateway creates are 0700 and every file it writes is 0600. A
directory that already exists is left as it is (it may be shared, like /tmp), but the files in it
are tightened when opened, so data written by an older version is covered too.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

DIRECTORY_MODE = 0o700
FILE_MODE = 0o600
_log = logging.getLogger(__name__)


def private_directory(path: Path) -> None:
    """Create `path` and its missing parents with mode 0700; existing ones are not changed."""
    missing = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIRECTORY_MODE)
        except FileExistsError:
            continue  # made meanwhile by another process (a CLI, a second worker): theirs to set
        os.chmod(directory, DIRECTORY_MODE)  # mkdir's mode is masked by the umask


def private_file(path: Path) -> None:
    """Make sure `path` exists with mode 0600 (created so, or tightened)."""
    os.close(private_opener(str(path), os.O_WRONLY | os.O_CREAT))


def private_opener(path: str, flags: int) -> int:
    """An `opener` for `open()`: a new file is made 0600, an existing one is tightened to 0600."""
    descriptor = os.open(path, flags, FILE_MODE)
    try:
        if stat.S_IMODE(os.fstat(descriptor).st_mode) != FILE_MODE:
            os.fchmod(descriptor, FILE_MODE)
    except PermissionError:  # another user's file that we may write to: say so, do not stop
        _log.warning("cannot make %s private (mode 0600): it belongs to another user", path)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def tighten(path: Path) -> None:
    """Mode 0600 for `path` if it exists (files that another program creates, e.g. SQLite's -wal)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode != FILE_MODE:
        try:
            os.chmod(path, FILE_MODE)
        except PermissionError:
            _log.warning("cannot make %s private (mode 0600): it belongs to another user", path)
