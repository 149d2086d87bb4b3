"""Rate-limit counters: the protocol and the in-process backend.

A bucket is one rule applied to one scope value. `admit` checks every bucket of a request and,
only when all admit, counts the request in the `requests` ones — atomically, so concurrent
requests can never overshoot. Token and cost buckets admit while what was used is under the
limit; what a request used is `charge`d once its response has completed.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol


class LimiterUnavailable(Exception):
    """The shared counters cannot be reached; the gateway's failure policy decides what happens."""


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str  # rule and scope value: what is counted together
    limit: float
    period: int  # seconds
    sliding: bool
    unit: str = "requests"  # requests are counted on admission; tokens and cost are charged later

    @property
    def counts_requests(self) -> bool:
        return self.unit == "requests"


class Usage(NamedTuple):
    """How full one bucket is after the check: `used` of `limit`, and seconds until room frees up.

    (Named tuples, like `Verdict`: built several times per request, and a frozen dataclass's
    `__init__` costs three times as much.)
    """

    bucket: Bucket
    used: float
    reset_after: float

    @property
    def remaining(self) -> float:
        return max(self.bucket.limit - self.used, 0.0)


class Verdict(NamedTuple):
    allowed: bool
    usages: tuple[Usage, ...]
    refused_by: Usage | None = None


class Limiter(Protocol):
    async def admit(self, buckets: list[Bucket], now: float) -> Verdict: ...

    async def charge(self, bucket: Bucket, amount: float, now: float) -> None: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...


def would_admit(bucket: Bucket, used: float) -> bool:
    return used + 1 <= bucket.limit if bucket.counts_requests else used < bucket.limit


def window_start(bucket: Bucket, now: float) -> float:
    return math.floor(now / bucket.period) * bucket.period


@dataclass
class _Log:
    """A sliding window: the (time, amount) of each use within the last period, and their sum."""

    entries: deque[tuple[float, float]] = field(default_factory=deque)
    total: float = 0.0

    def trim(self, since: float) -> None:
        while self.entries and self.entries[0][0] <= since:
            self.total -= self.entries.popleft()[1]


class MemoryLimiter:
    """Counters in this process: exact, for one replica."""

    def __init__(self) -> None:
        self._fixed: dict[str, tuple[float, float]] = {}  # key -> (window start, used)
        self._sliding: dict[str, _Log] = {}

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def admit(self, buckets: list[Bucket], now: float) -> Verdict:
        usages = [self._usage(bucket, now) for bucket in buckets]
        refused = [u for u in usages if not would_admit(u.bucket, u.used)]
        if refused:
            return Verdict(False, tuple(usages), max(refused, key=lambda u: u.reset_after))
        for index, usage in enumerate(usages):
            if usage.bucket.counts_requests:
                self._add(usage.bucket, 1, now)
                # A fixed window's reset does not move; a sliding one's may start with this request.
                sliding = usage.bucket.sliding
                usages[index] = (
                    self._usage(usage.bucket, now) if sliding else usage._replace(used=usage.used + 1)
                )
        return Verdict(True, tuple(usages))

    async def charge(self, bucket: Bucket, amount: float, now: float) -> None:
        if amount > 0:
            self._add(bucket, amount, now)

    def _usage(self, bucket: Bucket, now: float) -> Usage:
        if bucket.sliding:
            log = self._sliding.get(bucket.key)
            if log is None:
                return Usage(bucket, 0.0, 0.0)
            log.trim(now - bucket.period)
            oldest = log.entries[0][0] if log.entries else now
            return Usage(bucket, log.total, max(oldest + bucket.period - now, 0.0))
        start = window_start(bucket, now)
        window, used = self._fixed.get(bucket.key, (start, 0.0))
        if window != start:
            used = 0.0
        return Usage(bucket, used, start + bucket.period - now)

    def _add(self, bucket: Bucket, amount: float, now: float) -> None:
        if bucket.sliding:
            log = self._sliding.setdefault(bucket.key, _Log())
            log.entries.append((now, amount))
            log.total += amount
            return
        start = window_start(bucket, now)
        window, used = self._fixed.get(bucket.key, (start, 0.0))
        self._fixed[bucket.key] = (start, (used if window == start else 0.0) + amount)
