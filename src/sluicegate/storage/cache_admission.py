"""The exact cache's lookup and a request's rate-limit decision in one step, where one store
holds both (Redis: `redis_cache_admission.py`), so that a request costs one round trip to it.

The decision is made before the lookup's answer is known, so it counts the request only when the
key holds no fresh entry: a hit is never counted, as when the rate-limit stage decides after the
cache. A request counted here and then answered without reaching the rate-limit stage (say, by
an identical request's answer it waited for) is `release`d.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol

from sluicegate.storage.cache import CacheEntry
from sluicegate.storage.limiter import Claim, Hold, Verdict


class Admission(NamedTuple):
    """A verdict made with the lookup, and every count it made (requests too), for `release`."""

    verdict: Verdict
    counted: tuple[Hold, ...]


class Lookup(NamedTuple):
    """A fresh entry (nothing counted), or else the admission of the claims (None without claims)."""

    entry: CacheEntry | None
    admission: Admission | None


class CacheAdmission(Protocol):
    async def lookup_or_admit(self, key: str, claims: Sequence[Claim], now: float) -> Lookup:
        """The entry at `key` if fresh at `now`, else the limiter's verdict on `claims`, counted
        as `Limiter.admit` counts. Raises `CacheUnavailable` when the store cannot be reached."""
        ...

    async def release(self, counted: Sequence[Hold], now: float) -> None:
        """Take back the counts of an admission; raises `LimiterUnavailable`."""
        ...
