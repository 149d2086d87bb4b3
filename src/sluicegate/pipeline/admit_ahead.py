"""The request rules' decision made with the exact cache's lookup, in one round trip, when the
stores allow it (the cache and counters both in Redis; see `storage/cache_admission.py`).

The cache stage looks up through this; on a miss the request has already been judged by its
request rules, and the rate-limit stage takes that verdict (`LimitOutcome.admitted_ahead`) instead of
asking the limiter again. Rules that count tokens or cost need the request's estimate, which a
hit should not pay for: they are decided by the rate-limit stage alone, after the lookup.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sluicegate.exchange import Exchange
from sluicegate.pipeline.ratelimit import RateLimit
from sluicegate.storage.cache_admission import CacheAdmission, Lookup
from sluicegate.storage.limiter import Claim, LimiterUnavailable

_log = logging.getLogger(__name__)


class AdmitAhead:
    def __init__(
        self, store: CacheAdmission, rate_limit: RateLimit, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._clock = clock
        # A request's claims, when its rules all count requests: `RateLimit.claims_ahead`.
        self.claims = rate_limit.claims_ahead

    async def lookup(self, key: str, claims: list[Claim]) -> Lookup:
        """The fresh entry at `key`, or None and the request's `claims` judged by its request
        rules: their verdict, for the rate-limit stage. Raises `CacheUnavailable` (the rate-limit
        stage then decides on its own)."""
        return await self._store.lookup_or_admit(key, claims, self._clock())

    async def release_unused(self, exchange: Exchange) -> None:
        """Take back the counts of a request admitted ahead that never reached the rate-limit
        stage (answered by an identical request's entry or the semantic cache, or an error)."""
        admitted, exchange.limits.admitted_ahead = exchange.limits.admitted_ahead, None
        if admitted is None or not admitted.counted:
            return
        try:
            await self._store.release(admitted.counted, self._clock())
        except LimiterUnavailable as exc:
            _log.warning("could not release the counts of request %s: %s", exchange.request.id, exc)
