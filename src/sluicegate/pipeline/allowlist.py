"""AllowList: a token that lists `models` or `providers` sends requests for those alone.

Placed after Plan (the steps name each provider and model) and before the caches and stored keys:
a refused request is answered from no cache and never carries a provider key. Every step of a
universal request is checked, fallbacks included. A dynamic route's plan is checked at its first
target, the model the route chose for the request; the fallback targets after it that the token
may not use are left out of the plan, so the route falls back through the others only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sluicegate.allowance import Allowance
from sluicegate.errors import Forbidden
from sluicegate.exchange import Exchange, IncomingRequest, Reply, RequestPlan, Step
from sluicegate.pipeline import Handler


class AllowList:
    async def __call__(self, exchange: Exchange, call_next: Handler) -> Reply:
        token = exchange.token
        if token is not None and token.restricts:
            if exchange.plan.route_plan is not None:
                skip_disallowed_fallbacks(token, exchange.plan, exchange.request)
            check_allowed(token, exchange.plan.steps, exchange.request)
        return await call_next(exchange)


def skip_disallowed_fallbacks(token: Allowance, plan: RequestPlan, request: IncomingRequest) -> None:
    """Leave out of a route's `plan` the targets after its first that `token` may not use (the
    route's reservations for them are given back once the response completes)."""
    route_plan = plan.route_plan
    assert route_plan is not None, "a route's plan"
    kept = [0] + [
        index
        for index, step in enumerate(plan.steps)
        if index and token.refusal(step.provider.name, step.facts.model, request.method) is None
    ]
    if len(kept) == len(plan.steps):
        return
    plan.steps = [plan.steps[index] for index in kept]
    targets = tuple(route_plan.targets[index] for index in kept)
    plan.route_plan = dataclasses.replace(route_plan, targets=targets)


def check_allowed(token: Allowance, steps: Sequence[Step], request: IncomingRequest) -> None:
    """Raise `Forbidden` naming the first of `steps` that `token` may not send (its provider,
    model, or `request`'s method), with its index on the universal endpoint."""
    # A realtime session's upgrade is a GET, yet it runs a model as a POST does: one that names
    # none is refused to a model-limited token as such a POST is.
    method = "POST" if request.kind == "realtime" else request.method
    for index, step in enumerate(steps):
        refusal = token.refusal(step.provider.name, step.facts.model, method)
        if refusal is not None:
            if request.kind == "universal":
                refusal = f"step {index}: {refusal}"
            raise Forbidden(
                refusal,
                allowed_models=token.models,
                allowed_providers=token.providers,
                step=index,
            )
