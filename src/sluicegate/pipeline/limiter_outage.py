"""The rate limiter's outages, logged once when one begins and once when it ends, with counts.

While Redis is down every request with a rule meets the outage; a line for each flooded the log
(859 lines in a 5 s stall). The first failure is logged with its cause and the policy taken; the
first decision made again says how long it lasted and how many requests took the policy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

_log = logging.getLogger("sluicegate.pipeline.ratelimit")


class LimiterOutage:
    def __init__(self, fail_open: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self._fail_open = fail_open
        self._clock = clock
        self._since: float | None = None
        self._requests = 0  # requests that took the policy during this outage

    def failed(self, exc: BaseException) -> None:
        """A request met the outage (and takes the policy)."""
        self._requests += 1
        if self._since is not None:
            return
        self._since = self._clock()
        if self._fail_open:
            _log.warning(
                "rate limiter unavailable, admitting requests uncounted (fail-open) until it is back: %s", exc
            )
        else:
            _log.error("rate limiter unavailable, refusing requests (fail-closed) until it is back: %s", exc)

    def decided(self) -> None:
        """The limiter decided a request: an outage, if one was under way, is over."""
        if self._since is None:
            return
        what = "admitted uncounted (fail-open)" if self._fail_open else "refused (fail-closed)"
        _log.warning(
            "rate limiter available again after %.1f s: %d requests were %s meanwhile",
            self._clock() - self._since,
            self._requests,
            what,
        )
        self._since = None
        self._requests = 0
