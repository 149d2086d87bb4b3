"""The state the routing engine shares between replicas: circuits per target, health per provider key.

Records are small JSON objects under string keys. `update` applies a pure function to one record
atomically: in process that is a read and a write with no `await` between them; the Redis store
(redis_state.py) uses an optimistic transaction retried on conflict, so the function may be
called more than once and must not have side effects. Most requests only `read`; records are
written when something changes (a failure, a probe, a key refused).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

Record = dict[str, Any]


class Change(NamedTuple):
    value: Record | None  # None: forget the record (back to its default)
    expires_at: float | None = None  # epoch seconds on the gateway's clock; None: kept until changed


Update = Callable[[Record | None], Change | None]
"""Given the record as stored (None when there is none), its new value, or None to leave it."""


class StateUnavailable(Exception):
    """The shared store cannot be reached, or a record kept changing under an update."""


class StateStore(Protocol):
    async def read(self, keys: Sequence[str], now: float) -> list[Record | None]: ...

    async def update(self, key: str, change: Update, now: float) -> Record | None:
        """Applies `change` atomically; returns the record as it is afterwards."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class MemoryStateStore:
    """Records in this process: exact, for one replica. Expired records are dropped when met, and
    swept when more than `max_keys` are held (then the oldest written go first)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._records: dict[str, tuple[Record, float | None]] = {}
        self._max_keys = max_keys

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def read(self, keys: Sequence[str], now: float) -> list[Record | None]:
        return [self._get(key, now) for key in keys]

    async def update(self, key: str, change: Update, now: float) -> Record | None:
        current = self._get(key, now)
        result = change(current)
        if result is None:
            return current
        self._records.pop(key, None)
        if result.value is None:
            return None
        self._records[key] = (result.value, result.expires_at)
        if len(self._records) > self._max_keys:
            self._sweep(now)
        return result.value

    def _get(self, key: str, now: float) -> Record | None:
        found = self._records.get(key)
        if found is None:
            return None
        record, expires_at = found
        if expires_at is not None and expires_at <= now:
            del self._records[key]
            return None
        return record

    def _sweep(self, now: float) -> None:
        for key in [k for k, (_, at) in self._records.items() if at is not None and at <= now]:
            del self._records[key]
        # Records that will expire go first, oldest written first: a flood of them (cooling keys,
        # keys resting per model, each a client's doing) must not push out one that never expires
        # (a disabled key).
        over = len(self._records) - self._max_keys
        if over > 0:
            expiring = [k for k, (_, at) in self._records.items() if at is not None][:over]
            for key in expiring:
                del self._records[key]
        while len(self._records) > self._max_keys:
            del self._records[next(iter(self._records))]
