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
    """A finished request's usage and cost. `cost_usd` is what the log shows (the request's
    `cf-aig-custom-cost` when it sent one), None when unknown; `unpriced` says the request named a
    model that no price covers and may have cost something (not an error answer without usage).
    `saved_usd`: on a cache hit, what its usage would have cost upstream (None when unknown).
    `charged_usd`: what cost rules count, when that is not `cost_usd` (a custom cost sent for a model
    the operator's prices know: see `pricing.py`). `model`: the model the answer named, for a
    request that named none (a poll of a Replicate prediction).
    `counted_in`: the log id of the request that already counted this usage's job (`Usage.job`):
    this one counts nothing. `cost_stated`: `cost_usd` is the charge the provider's answer stated
    (`Usage.cost_usd`), not the price table's; `cost_custom`: it is the request's custom cost."""

    usage: Usage | None = None
    cost_usd: float | None = None
    unpriced: bool = False
    saved_usd: float | None = None
    charged_usd: float | None = None
    model: str | None = None
    counted_in: str | None = None
    cost_stated: bool = False
    cost_custom: bool = False

    @property
    def charge_usd(self) -> float:
        """What a cost rule counts for the request: `charged_usd`, else `cost_usd`, else nothing."""
        return (self.cost_usd if self.charged_usd is None else self.charged_usd) or 0.0


NO_OUTCOME = Outcome()

# Where outcomes go. Each sink is independent: one that fails is logged, the others still run.
Sink = Callable[[Exchange, Outcome], Awaitable[None]]
