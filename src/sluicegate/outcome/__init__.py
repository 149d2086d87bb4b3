"""What a request used and cost: estimated before dispatch, measured once when it completes.

    RateLimit ── estimate.py: prompt tokens + max output, priced ──► reservations (before dispatch)
    Log (the single exit) ── response complete ──► Outcomes.complete(exchange)
        meter.py: usage (the provider's own figures, else counted), cost, unpriced ──► Outcome
        ──► sinks, in order: budget settlement (RateLimit.settle), route limits
          (DynamicRoutes.charge), log writer, metrics, traces

Values flow one way: a sink gets the exchange and its `Outcome`; no sink reads another's output
(the limiter never sees a log record).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sluicegate.exchange import Exchange
from sluicegate.types import Usage


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished request's usage and cost. `cost_usd` is None when unknown; `unpriced` says the
    request named a model that no price covers. `saved_usd`: on a cache hit, what its usage would
    have cost upstream (None when unknown)."""

    usage: Usage | None = None
    cost_usd: float | None = None
    unpriced: bool = False
    saved_usd: float | None = None


NO_OUTCOME = Outcome()

# Where outcomes go. Each sink is independent: one that fails is logged, the others still run.
Sink = Callable[[Exchange, Outcome], Awaitable[None]]
