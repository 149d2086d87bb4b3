"""The asyncpg pool as every PostgreSQL store part sees it (`PostgresPool._db`): its calls raise
`DatabaseUnavailable` (a 503) for a server out of reach or slow (`unreachable.py`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from sluicegate.storage.unreachable import translated

# The server is gone, stopping, starting, or full: nothing the request did wrong (unreachable.py).
_DOWN = (
    asyncpg.PostgresConnectionError,  # class 08, and ConnectionDoesNotExistError (closed mid-call)
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)


def down(exc: BaseException) -> str | None:
    """Why asyncpg's `exc` means the server is out of reach (None: it does not; OSError and the
    connect and statement timeouts' TimeoutError are `unreachable.py`'s own)."""
    if isinstance(exc, _DOWN) and not isinstance(exc, asyncpg.ProtocolViolationError):  # (08P01: a bug)
        return "cannot be reached"
    if isinstance(exc, asyncpg.InterfaceError) and ("closed" in str(exc) or "closing" in str(exc)):
        return "cannot be reached"  # a connection, or the pool, closed under the call
    return None


def _guarded(name: str) -> Callable[..., Awaitable[Any]]:
    """The pool's call `name`, its errors translated (`translated(down)`)."""

    async def call(self: GuardedPool, *args: Any, **kwargs: Any) -> Any:
        with translated(down):
            return await getattr(self._pool, name)(*args, **kwargs)

    call.__name__ = name
    return call


class GuardedPool:
    """The asyncpg pool whose calls, and the blocks of its `acquire()`, raise `DatabaseUnavailable`
    for a database unreachable or slow (`unreachable.py`). What it does not wrap is the pool's own."""

    __slots__ = ("_pool",)

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    fetch = _guarded("fetch")
    fetchrow = _guarded("fetchrow")
    fetchval = _guarded("fetchval")
    execute = _guarded("execute")
    executemany = _guarded("executemany")

    @contextlib.asynccontextmanager
    async def acquire(self, *args: Any, **kwargs: Any) -> AsyncIterator[asyncpg.Connection]:
        """The pool's connection; what its block raises is translated as the calls' errors are, so
        a TimeoutError or OSError of the block's own (a timer of its own, other I/O) would be taken
        for the database's: keep those outside `acquire()` blocks (none is inside one today)."""
        with translated(down):
            async with self._pool.acquire(*args, **kwargs) as connection:
                yield connection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)
