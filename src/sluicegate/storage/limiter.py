"""Rate-limit counters: the protocol and the in-process backend.

A bucket is one rule applied to one scope value. `admit` checks every bucket of a request and,
only when all admit, counts the request in them — atomically, so concurrent requests can never
overshoot what they claimed. A `requests` bucket counts 1 per request. A token or cost bucket is
claimed with an estimate (a reservation) and admits only while the reservation fits; once the
response has completed, `settle` replaces the reservation with what was really used.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

# Relative slack on a limit: sums of float costs (0.1 + 0.2) must not refuse what exactly fits.
LIMIT_SLACK = 1e-9


class LimiterUnavailable(Exception):
    """The shared counters cannot be reached; the gateway's failure policy decides what happens."""


@dataclass(frozen=True, slots=True)
class Bucket:
    key: str  # rule and scope value: what is counted together
    limit: float
    period: int  # seconds
    sliding: bool
    unit: str = "requests"  # requests count 1 on admission; tokens and cost reserve, then settle

    @property
    def counts_requests(self) -> bool:
        return self.unit == "requests"


class Claim(NamedTuple):
    """What one request asks of one bucket: 1 request, or a reservation of tokens or USD."""

    bucket: Bucket
    amount: float


class Hold(NamedTuple):
    """A reservation made in a token or cost bucket, to be settled when the response completes.

    `at` is when it was made (it names the fixed window it went into); `ref` names it in a sliding
    window, in the backend's own terms.
    """

    bucket: Bucket
    amount: float
    at: float
    ref: str


def unreserved(bucket: Bucket, now: float) -> Hold:
    """A hold of nothing that no admission made: settled, it counts the use as it came, past the
    limit and into a bucket already full (usage that ran without a request admitted for it)."""
    return Hold(bucket, 0.0, now, UNRESERVED)


UNRESERVED = ""  # the `ref` of `unreserved` holds (a backend's own refs are never empty)


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
    holds: tuple[Hold, ...] = ()  # the reservations made, one per token or cost claim


class Limiter(Protocol):
    """Counters behind the rate-limit stage. A persisted backend implements the same calls."""

    async def admit(self, claims: Sequence[Claim], now: float) -> Verdict: ...

    async def reserve(self, claims: Sequence[Claim], now: float) -> Verdict:
        """As `admit`, with a hold for every claim, requests too (counted at once, as `admit` counts
        them), so that `settle` can keep a request's count (`used` 1) or take it back (0): what a
        dynamic route's limit node reserves before it knows whether its branch will answer."""
        ...

    async def usage(self, buckets: Sequence[Bucket], now: float) -> list[Usage]:
        """How full each bucket is at `now`, counting nothing (for reports of remaining budget)."""
        ...

    async def settle(self, holds: Sequence[Hold], used: Sequence[float], now: float) -> None:
        """Withdraw each hold from where it was made and count `used[i]` (what the request really
        used; 0 releases it) at `now`. Completes even when its caller is cancelled meanwhile."""
        ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...


def fits(bucket: Bucket, used: float, amount: float) -> bool:
    """Whether a claim of `amount` fits; one of nothing (an uncounted cost) still needs room left."""
    if amount <= 0:
        return used < bucket.limit
    return used + amount <= bucket.limit * (1 + LIMIT_SLACK)


def window_start(bucket: Bucket, now: float) -> float:
    return math.floor(now / bucket.period) * bucket.period


@dataclass(slots=True)
class _Entry:
    at: float
    amount: float


@dataclass
class _Log:
    """A sliding window: each use within the last period, their sum, and the open reservations."""

    entries: deque[_Entry] = field(default_factory=deque)
    total: float = 0.0
    held: dict[str, _Entry] = field(default_factory=dict)

    def trim(self, since: float) -> None:
        # A settled reservation leaves an empty entry behind: drop those too, so `oldest` is the
        # first use that still counts.
        entries = self.entries
        while entries and (entries[0].at <= since or entries[0].amount == 0):
            gone = entries.popleft()
            self.total -= gone.amount
            gone.amount = 0.0  # a reservation that aged out has nothing left to withdraw
        if not entries:
            self.total, self.held = 0.0, {}  # no float residue from many additions and removals

    def add(self, at: float, amount: float) -> _Entry:
        entry = _Entry(at, amount)
        self.entries.append(entry)
        self.total += amount
        return entry


class Changes(NamedTuple):
    """What was settled since the last `MemoryLimiter.changes()`, for a persisted copy to catch up.

    `fixed`: (key, window start, settled use, expiry) per fixed window written to, its whole
    current figure. `sliding`: (key, time, amount, expiry) per use added to a sliding window.
    Reservations still held are in neither: a restart releases them. Expiries are epoch seconds
    after which a row counts for nothing.
    """

    fixed: list[tuple[str, float, float, float]]
    sliding: list[tuple[str, float, float, float]]


class MemoryLimiter:
    """Counters in this process: exact, for one replica.

    With `track=True` it also notes what settles (see `changes`), cheaply enough for the request
    path (an append or a set insert per count), so that `DurableLimiter` can copy it to disk.
    """

    def __init__(self, track: bool = False) -> None:
        self._fixed: dict[str, tuple[float, float]] = {}  # key -> (window start, used)
        self._holding: dict[str, tuple[float, float]] = {}  # key -> (window start, held in it)
        self._sliding: dict[str, _Log] = {}
        self._refs = itertools.count()
        self._track = track
        self._dirty: dict[str, int] = {}  # fixed keys written since `changes`, with their period
        self._journal: list[tuple[str, float, float, float]] = []

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def usage(self, buckets: Sequence[Bucket], now: float) -> list[Usage]:
        return [self._usage(bucket, now) for bucket in buckets]

    def changes(self) -> Changes:
        """What settled since the last call (see `Changes`); only with `track=True`."""
        fixed = []
        for key, period in self._dirty.items():
            window, used = self._fixed[key]
            held_window, held = self._holding.get(key, (window, 0.0))
            settled = used - held if held_window == window else used
            fixed.append((key, window, max(settled, 0.0), window + period))
        journal, self._journal, self._dirty = self._journal, [], {}
        return Changes(fixed, journal)

    def unwritten(self, changes: Changes) -> None:
        """`changes` could not be written: hand them out again with the next `changes()`."""
        for key, window, _, expires in changes.fixed:  # written whole: the newest figure goes
            self._dirty.setdefault(key, round(expires - window))
        self._journal[:0] = changes.sliding

    def restore(self, changes: Changes, now: float) -> None:
        """Take back what a persisted copy holds (at start, before any request): rows whose
        expiry has passed are skipped; sliding uses in time order."""
        for key, window, used, expires in changes.fixed:
            if expires > now:
                self._fixed[key] = (window, used)
        for key, at, amount, expires in sorted(changes.sliding, key=lambda row: row[1]):
            if expires > now and amount > 0:
                self._sliding.setdefault(key, _Log()).add(at, amount)

    async def admit(self, claims: Sequence[Claim], now: float) -> Verdict:
        return self._admit(claims, now, False)

    async def reserve(self, claims: Sequence[Claim], now: float) -> Verdict:
        # A request's claim is held as a reservation is: it counts at once, and is journaled (a
        # durable copy) only once `settle` keeps it.
        return self._admit(claims, now, True)

    def _admit(self, claims: Sequence[Claim], now: float, hold_all: bool) -> Verdict:
        usages = [self._usage(bucket, now) for bucket, _ in claims]
        refused = [
            u for u, (_, amount) in zip(usages, claims, strict=True) if not fits(u.bucket, u.used, amount)
        ]
        if refused:
            return Verdict(False, tuple(usages), max(refused, key=lambda u: u.reset_after))
        holds = []
        for index, (bucket, amount) in enumerate(claims):
            held = hold_all or not bucket.counts_requests
            entry = self._add(bucket, amount, now, held)
            if held:
                holds.append(Hold(bucket, amount, now, self._hold(bucket, entry)))
            # A fixed window's reset does not move; a sliding one's may start with this request.
            usage = usages[index]
            usages[index] = (  # (a named tuple's `_replace` costs three times a new one)
                self._usage(bucket, now)
                if bucket.sliding
                else Usage(bucket, usage.used + amount, usage.reset_after)
            )
        return Verdict(True, tuple(usages), None, tuple(holds))

    async def settle(self, holds: Sequence[Hold], used: Sequence[float], now: float) -> None:
        for hold, amount in zip(holds, used, strict=True):
            bucket = hold.bucket
            if bucket.sliding:
                log = self._sliding.get(bucket.key)
                entry = log.held.pop(hold.ref, None) if log is not None else None
                if log is not None and entry is not None:  # else it has left the window already
                    log.total -= entry.amount
                    entry.amount = 0.0
                self._add(bucket, amount, now)
                continue
            start = window_start(bucket, now)
            window, counted = self._fixed.get(bucket.key, (start, 0.0))
            if window != start:
                counted = 0.0
            elif window_start(bucket, hold.at) == start:
                counted -= hold.amount  # reserved in this same window: take it back
                held_window, held = self._holding.get(bucket.key, (start, 0.0))
                if held_window == start:
                    self._holding[bucket.key] = (start, max(held - hold.amount, 0.0))
            self._fixed[bucket.key] = (start, max(counted + amount, 0.0))
            if self._track:
                self._dirty[bucket.key] = bucket.period

    def _usage(self, bucket: Bucket, now: float) -> Usage:
        if bucket.sliding:
            log = self._sliding.get(bucket.key)
            if log is None:
                return Usage(bucket, 0.0, 0.0)
            log.trim(now - bucket.period)
            oldest = log.entries[0].at if log.entries else now
            return Usage(bucket, max(log.total, 0.0), max(oldest + bucket.period - now, 0.0))
        start = window_start(bucket, now)
        window, used = self._fixed.get(bucket.key, (start, 0.0))
        if window != start:
            used = 0.0
        return Usage(bucket, used, start + bucket.period - now)

    def _add(self, bucket: Bucket, amount: float, now: float, held: bool = False) -> _Entry | None:
        """Count `amount` at `now` (`held`: as a reservation, to be settled); the sliding window's
        new entry, if one was made."""
        if amount <= 0:
            return None
        if bucket.sliding:
            if self._track and not held:
                self._journal.append((bucket.key, now, amount, now + bucket.period))
            return self._sliding.setdefault(bucket.key, _Log()).add(now, amount)
        start = window_start(bucket, now)
        window, used = self._fixed.get(bucket.key, (start, 0.0))
        self._fixed[bucket.key] = (start, (used if window == start else 0.0) + amount)
        if held:
            held_window, holding = self._holding.get(bucket.key, (start, 0.0))
            self._holding[bucket.key] = (start, (holding if held_window == start else 0.0) + amount)
        elif self._track:
            self._dirty[bucket.key] = bucket.period
        return None

    def _hold(self, bucket: Bucket, entry: _Entry | None) -> str:
        """A reference to a reservation's sliding entry, for `settle` to find it by ("" for none)."""
        if entry is None:
            return ""
        ref = str(next(self._refs))
        self._sliding[bucket.key].held[ref] = entry
        return ref
