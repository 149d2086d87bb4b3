"""A database that cannot be reached, or does not answer in time, is one error at the storage
boundary: `DatabaseUnavailable`, a 503 `database_unavailable` with `Retry-After` (the official SDKs
retry it), as the request path's read-through answers it (`readthrough.py`).

Without this, what the drivers raise reached the HTTP server as they are: asyncpg's connection
errors (`ConnectionResetError`, `ConnectionRefusedError`, `ConnectionDoesNotExistError`) as aiohttp's
plain-text 500, and its connect or statement timeout (`TimeoutError`, after
`timeouts.database_connect` or `timeouts.database_statement`) as aiohttp's empty 504. Every other
error (a constraint, a bug) is left as it is. A cancellation is not an error, and is never changed:
a caller's own bound (`asyncio.timeout`) still sees it.

PostgreSQL reads and writes go through `GuardedPool` (`postgres_pool.py`), the pool as every
store part sees it; SQLite's threads translate a lock held past the busy timeout (`translated`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator

from sluicegate.errors import DatabaseUnavailable

RETRY_AFTER = "1"  # seconds, as the read-through's 503
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")

Reason = Callable[[BaseException], str | None]  # a driver's own errors: why the database failed, or None


def unavailable(exc: BaseException, reason: Reason | None = None) -> DatabaseUnavailable | None:
    """The 503 that `exc`, raised by a database driver, stands for; None when it is not the database
    being unreachable or slow (and stays as it is). `reason` knows a driver's own errors."""
    if isinstance(exc, DatabaseUnavailable):
        return exc
    why = (reason(exc) if reason is not None else None) or _why(exc)
    if why is None:
        return None
    return DatabaseUnavailable(
        f"the gateway's database {why}; try again shortly", headers={"Retry-After": RETRY_AFTER}
    )


def _why(exc: BaseException) -> str | None:
    if isinstance(exc, TimeoutError):  # asyncpg's connect and statement timeouts
        return "did not answer in time"
    if isinstance(exc, OSError):  # refused, reset, no route, a name that does not resolve
        return "cannot be reached"
    if isinstance(exc, sqlite3.OperationalError) and str(exc).startswith(_SQLITE_BUSY):
        return "is locked by another writer past its busy timeout"
    return None


def not_open() -> DatabaseUnavailable:
    """Asked before the database is open or after it is closed (the gateway starts or stops)."""
    return DatabaseUnavailable(
        "the database is not open: the gateway is starting or stopping", headers={"Retry-After": RETRY_AFTER}
    )


@contextlib.contextmanager
def translated(reason: Reason | None = None) -> Iterator[None]:
    """Raise `DatabaseUnavailable` for the driver errors of the block that mean the database is
    unreachable or slow (`unavailable`); every other exception passes unchanged."""
    try:
        yield
    except Exception as exc:
        error = unavailable(exc, reason)
        if error is None or error is exc:
            raise
        raise error from exc
