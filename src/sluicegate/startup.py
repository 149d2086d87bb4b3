"""What keeps `serve` from starting, said in one line: `error: …` and exit 2, as a configuration
error is, never a traceback (nothing is wrong with the code when PostgreSQL is down)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import pwd
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from sluicegate.config import given_as
from sluicegate.errors import DatabaseUnavailable
from sluicegate.shutdown import close_within
from sluicegate.storage import Database, describe_database
from sluicegate.storage.schema_version import SchemaTooNew


class StartupError(Exception):
    """The server cannot start; the message says why, in one line."""


async def open_database(database: Database, url: str) -> None:
    """`database.open()`, a database that cannot be used reported as a StartupError naming it."""
    import asyncpg  # type: ignore[import-untyped]  # here: every CLI command imports this module

    # What opening a database raises when it cannot be reached or used: refused, unknown host, timed
    # out, a database or role that does not exist, a password refused, a file that cannot be opened.
    unusable = (OSError, TimeoutError, sqlite3.Error, asyncpg.PostgresError, asyncpg.InterfaceError)
    try:
        await database.open()
    except asyncio.CancelledError:  # a stop during start-up (server.py): close what it had opened
        await close_within("database", database.close())
        raise
    except SchemaTooNew as exc:  # a newer release's database: never used by an older one
        raise StartupError(f"database {describe_database(url)}: {exc}") from exc
    except (*unusable, DatabaseUnavailable) as exc:  # (the storage's own 503: a lock held past its wait)
        cause = exc.__cause__ if isinstance(exc, DatabaseUnavailable) and exc.__cause__ else exc
        raise StartupError(f"database {describe_database(url)}: {_reason(cause)}") from exc


def check_data_dir(data_dir: Path) -> None:
    """A StartupError naming the setting when the data directory is a file, or lies under one (the
    server would otherwise stop at the first file it makes there, `[Errno 20] Not a directory`)."""
    for path in (data_dir, *data_dir.parents):
        if path.exists():
            if not path.is_dir():
                where = "is a file" if path == data_dir else f"lies under {path.resolve()}, a file"
                raise StartupError(
                    f"{given_as('data_dir')}: the data directory {data_dir.resolve()} {where}: give a"
                    " directory (it is made when missing)"
                )
            return


# The parts of the data directory a start makes or opens, besides the database: what each is.
_PARTS = {
    "spool": ("the log spool", "directory"),
    "counters-journal": ("the charge journal", "directory"),
    "counters.db": ("the rate-limit counters file", "file"),
    "semantic.vectors": ("the semantic cache's journal", "file"),
}
# Errors that say the path is not what the gateway makes there (a file for a directory, a link
# to nowhere): moving it away is the fix. Others (permission denied) are about whose it is.
_NOT_WHAT_IT_MAKES = (errno.ENOTDIR, errno.EISDIR, errno.ENOENT, errno.ELOOP, errno.EEXIST)


def data_dir_error(data_dir: Path, exc: OSError) -> StartupError:
    """What a file of the data directory that cannot be made or opened keeps from starting, naming
    the setting that chose the directory, the part of it at fault and what to do about it."""
    if exc.filename is None:
        return StartupError(str(exc))
    # Both made from the same setting, so compared as given: resolving would follow a link at fault.
    root, path = Path(os.path.abspath(data_dir)), Path(os.path.abspath(str(exc.filename)))
    if not path.is_relative_to(root):
        return StartupError(str(exc))
    setting = f"{given_as('data_dir')}: data directory {root}"
    if path == root:
        return StartupError(f"{setting}: {exc}")
    part = root / path.relative_to(root).parts[0]
    what, kind = _PARTS.get(part.name, (part.name, "file or directory"))
    reason = (exc.strerror or str(exc)).lower()
    at = "" if path == part else f" ({path})"
    said = f"{setting}: {part} ({what}) cannot be used: {reason}{at}"
    if exc.errno in _NOT_WHAT_IT_MAKES:
        return StartupError(
            f"{said}: it must be a {kind} the gateway can make or open: move it away and start again"
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        name, uid = _user()
        return StartupError(
            f"{said}: the user the gateway runs as ({name}, uid {uid}) must be able to write it: give it"
            f" to that user (`chown -R {uid} {part}`; was the gateway run as another user before?)"
        )
    return StartupError(said)  # (a full disk, a read-only file system: the reason says it)


@contextlib.contextmanager
def data_files(data_dir: Path) -> Iterator[None]:
    """A part of the data directory the block makes or opens (the spool, the counters) that cannot
    be: one line naming it and what to do (`data_dir_error`), not a traceback."""
    try:
        yield
    except OSError as exc:
        raise data_dir_error(data_dir, exc) from exc


def _user() -> tuple[str, int]:
    uid = os.geteuid()
    try:
        return pwd.getpwuid(uid).pw_name, uid
    except KeyError:  # (a container's user without a passwd entry)
        return "no name", uid


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return " ".join(str(exc).split()) or type(exc).__name__
