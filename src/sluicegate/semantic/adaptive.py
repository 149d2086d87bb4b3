"""A gateway's effective semantic threshold, adapted from shadow verdicts to an error bound.

Shadow mode (`pipeline.shadow`) sends some semantic hits upstream again and says whether the fresh
answer agreed with the cached one; each verdict comes with the similarity of the hit. With a
`semantic_max_error` of e, the gateway serves hits only from the lowest threshold t (in steps of
0.01, from its configured `semantic_threshold` up) at which the recent verdicts of hits at least
as similar as t disagree at most e of the time:

    error(t) = disagreeing / all, over the gateway's last `WINDOW` verdicts (at most `MAX_AGE`
               seconds old) whose similarity ≥ t;     t with no such verdict counts as within e.

So disagreements at similarity s raise the threshold just above s; verdicts of hits above it
keep coming in, and once agreeing ones have diluted (or outlived) the disagreements below, the
threshold falls back toward the configured one, never below it. Each replica keeps its own
verdicts, in memory: a restart starts again from the configured threshold.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

WINDOW = 200  # recent verdicts per gateway
MAX_AGE = 3600.0  # seconds a verdict counts
STEP = 0.01


@dataclass(frozen=True, slots=True)
class Verdict:
    at: float
    similarity: float
    agreed: bool


class AdaptiveThresholds:
    def __init__(self, clock: Callable[[], float] = time.time, window: int = WINDOW) -> None:
        self._clock = clock
        self._window = window
        self._verdicts: dict[str, deque[Verdict]] = {}
        self._lock = threading.Lock()

    def record(self, gateway: str, similarity: float, agreed: bool) -> None:
        """One shadow verdict of `gateway` (`account/slug`)."""
        with self._lock:
            kept = self._verdicts.setdefault(gateway, deque(maxlen=self._window))
            kept.append(Verdict(self._clock(), similarity, agreed))

    def threshold(self, gateway: str, configured: float, max_error: float | None) -> float:
        """The threshold to serve hits from (see the module docstring); `configured` when there
        is no bound or no recent verdict."""
        if max_error is None:
            return configured
        recent = self.verdicts(gateway)
        if not recent:
            return configured
        candidate = configured
        while candidate < 1.0:
            seen = [v for v in recent if v.similarity >= candidate]
            if not seen or sum(not v.agreed for v in seen) <= max_error * len(seen):
                return candidate
            candidate = round((math.floor(candidate / STEP + 1e-9) + 1) * STEP, 2)  # the next step up
        return 1.0

    def verdicts(self, gateway: str) -> list[Verdict]:
        """The verdicts that count now, oldest first."""
        oldest = self._clock() - MAX_AGE
        with self._lock:
            kept = self._verdicts.get(gateway)
            return [] if kept is None else [v for v in kept if v.at > oldest]
