"""A database write refused because its disk is full, told as such: a 507 the operator can act on,
not the 500 of a bug whose cause only the gateway's log names."""

from __future__ import annotations

import errno
import sqlite3

from sluicegate.errors import GatewayError

# PostgreSQL's SQLSTATE for a full disk (https://www.postgresql.org/docs/current/errcodes-appendix.html).
DISK_FULL_SQLSTATE = "53100"


class StorageFull(GatewayError):
    status = 507
    code = "storage_full"


def storage_full(exc: BaseException) -> StorageFull | None:
    """The error to answer for `exc` when it is a write refused for want of disk space, else None:
    SQLite's `database or disk is full`, an OSError ENOSPC, PostgreSQL's disk_full (53100)."""
    full = (
        (isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc))
        or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC)
        or getattr(exc, "sqlstate", None) == DISK_FULL_SQLSTATE
    )
    if not full:
        return None
    return StorageFull(
        "the database's disk is full: nothing was saved; free space on it (the gateway's data"
        " directory, or the PostgreSQL server's) and send the request again"
    )
