"""A dynamic route's limit nodes, decided as the gateway's own rules are: an atomic admission that
reserves what the request may use, settled to what it used once the response has completed.

As a route is planned (routing/plan.py), a limit node's `then` branch is planned first, then
`RouteLimits.take` claims the limit's bucket for it: 1 request, or the costliest of the branch's
targets' estimates (prompt tokens counted, plus the answer's cap or the rule's `reserve`, priced
for cost), as `RateLimit` reserves. When the claim does not fit, the route takes `else`. The holds
go with the plan (`RequestPlan.route_holds`); `settle` (the outcome sink `DynamicRoutes.charge`)
counts what the answering target used in the limits it was reached through and gives every other
hold back: a cache hit, an error, a target reached otherwise (a fallback) counts nothing. A node
repeating one of the gateway's `rate_limits` counts in that rule's bucket; its hold is then the
rule's own for the request (`RateLimit` takes it over, with every other node's hold in that bucket,
and claims only what they fall short of its reservation for the whole route: `taken_over`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from sluicegate.exchange import Exchange, IncomingRequest, Step
from sluicegate.exchange_records import RouteHolds
from sluicegate.gateway import Gateway, RateLimitRule
from sluicegate.outcome import Outcome
from sluicegate.outcome.estimate import Estimator
from sluicegate.pipeline.ratelimit import reservation
from sluicegate.pipeline.rule_buckets import gateway_rule_index, shared_bucket
from sluicegate.routing.plan import Target
from sluicegate.storage.limiter import Claim, Hold, Limiter, LimiterUnavailable, Usage, unreserved
from sluicegate.types import CacheStatus
from sluicegate.usage.custom_cost import CustomCost

_log = logging.getLogger(__name__)

StepsOf = Callable[[Sequence[Target], str | None], Awaitable[list[Step]]]
"""The steps that send the request to `targets`, of a route starting at a provider (None: it
depends on the request), as the planner builds them (pipeline/compat.py)."""


class RouteLimits:
    """The `Limits` (routing/plan.py) of one request's route: its holds in `held`, and each limit
    found spent with its bucket's figures in `spent` (what a refusal says)."""

    def __init__(
        self,
        limiter: Limiter,
        estimator: Estimator,
        request: IncomingRequest,
        gateway: Gateway,
        steps_of: StepsOf,
        start: str | None,
        now: float,
        custom_cost: CustomCost | None = None,
    ) -> None:
        self._limiter, self._estimator = limiter, estimator
        self._custom_cost = custom_cost
        self._request, self._gateway = request, gateway
        self._steps_of, self._start, self._now = steps_of, start, now
        self.held = RouteHolds()
        self.spent: list[tuple[RateLimitRule, Usage]] = []

    async def take(self, rule: RateLimitRule, scope: str, where: str, targets: Sequence[Target]) -> bool:
        bucket = shared_bucket(rule, scope, self._request, self._gateway)
        try:
            if not targets:  # its branch plans nothing to send: whether it has room only
                (usage,) = await self._limiter.usage([bucket], self._now)
                if usage.used < bucket.limit:
                    return True
                self.spent.append((rule, usage))
                return False
            amount = 1.0 if bucket.counts_requests else await self._estimate(rule, targets)
            verdict = await self._limiter.reserve([Claim(bucket, amount)], self._now)
        except LimiterUnavailable as exc:
            # The gateway's own rules apply their failure policy; a route takes `then`, and counts
            # it once answered (`settle`) should the limiter be back.
            _log.warning("rate limiter unavailable while planning a route, taking then: %s", exc)
            return True
        (usage,) = verdict.usages
        if not verdict.allowed:
            self.spent.append((rule, usage))
            return False
        self.held.holds[where] = verdict.holds[0]
        self.held.figures[where] = usage
        return True

    async def give_back(self, wheres: Sequence[str]) -> None:
        holds = [self.held.holds.pop(where) for where in wheres if where in self.held.holds]
        for where in wheres:
            self.held.figures.pop(where, None)
        await release(self._limiter, holds, self._now, self._request.id)

    async def _estimate(self, rule: RateLimitRule, targets: Sequence[Target]) -> float:
        """What `targets` may use under `rule`, as `RateLimit` reserves it: the costliest one's
        estimate (priced as the gateway's rules price it, the client's custom cost included). A
        model without a price reserves $0 (the limit must still have room); where the limit repeats
        a gateway cost rule, that rule refuses the request (`RateLimit`), unless `allow_unpriced`."""
        steps = await self._steps_of(targets, self._start)
        fallback = self._gateway.settings.fallback_price
        estimates = await self._estimator.estimate(
            steps, self._request.method, rule.unit == "cost", self._custom_cost, fallback
        )
        return reservation(rule, estimates)


async def release(limiter: Limiter, holds: Sequence[Hold], now: float, request_id: str) -> None:
    """Give `holds` back (nothing used)."""
    if not holds:
        return
    try:
        await limiter.settle(holds, [0.0] * len(holds), now)
    except LimiterUnavailable as exc:
        _log.warning("could not give back the route reservations of request %s: %s", request_id, exc)


async def settle(limiter: Limiter, exchange: Exchange, outcome: Outcome, now: float) -> None:
    """Count what the answering target used in the limits it was reached through, in place of
    their holds, and give every other hold of the route back. Taken once (`route_holds`)."""
    plan, gateway = exchange.plan, exchange.gateway
    held, plan.route_holds = plan.route_holds, None
    route_plan = plan.route_plan
    own = held.holds if held is not None else {}
    if route_plan is None or gateway is None or not (own or route_plan.targets):
        return
    answered = (
        bool(route_plan.targets)
        and exchange.cache.status is not CacheStatus.HIT
        and 0 < exchange.response.status < 400
    )
    passed = route_plan.targets[plan.step_index].limits if answered else ()
    through = {limit.where for limit in passed}
    holds = list(own.values())
    # A bucket counts the request once, however many of the limits it passed count in it (nodes
    # repeating one rule); the others' holds, and those of limits it did not pass, are given back.
    counted: set[str] = set()
    used = []
    for where, hold in own.items():
        key = hold.bucket.key
        used.append(_used(hold, outcome, exchange) if where in through and key not in counted else 0.0)
        if where in through:
            counted.add(key)
    for limit in passed:
        if limit.where in own or gateway_rule_index(limit.rule, gateway) is not None:
            continue  # settled above; or a gateway rule's bucket, which the rate-limit stage counts
        # Taken with nothing reserved (the limiter was unreachable as the route was planned; a
        # semantic hit's shadow request): counted as it comes, past the limit if it is full.
        hold = unreserved(shared_bucket(limit.rule, limit.scope, exchange.request, gateway), now)
        if hold.bucket.key in counted:
            continue
        counted.add(hold.bucket.key)
        holds.append(hold)
        used.append(_used(hold, outcome, exchange))
    if not holds:
        return
    try:
        await limiter.settle(holds, used, now)
    except LimiterUnavailable as exc:
        _log.warning("could not count request %s in its route's limits: %s", exchange.request.id, exc)


def _used(hold: Hold, outcome: Outcome, exchange: Exchange) -> float:
    unit = hold.bucket.unit
    if unit == "requests":
        return 1.0
    if exchange.counted_by_gateway:
        return 0.0  # a token count the gateway answered: no model used any tokens
    if unit == "tokens":
        return outcome.usage.total_tokens if outcome.usage is not None else 0
    return outcome.charge_usd  # stated by the provider, else the operator's price; never a custom cost
