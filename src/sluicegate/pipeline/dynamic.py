"""Dynamic routes on the unified endpoint: `"model": "dynamic/<route>"` becomes the route's targets.

The route is planned with the request's facts (`cf-aig-metadata`, model, stream, tools, prompt
tokens counted only when a condition asks). A limit node reserves in the gateway's own counters
what its `then` branch may use, atomically, or takes `else` (pipeline/route_limits.py). Once a
response has completed, the outcome sink `charge` counts what it used in the limits that the
answering target was reached through and gives the route's other reservations back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from sluicegate.buckets import rule_facts
from sluicegate.errors import BadRequest
from sluicegate.exchange import Exchange, IncomingRequest
from sluicegate.exchange_records import RouteHolds
from sluicegate.gateway import Gateway
from sluicegate.hints import did_you_mean
from sluicegate.outcome import Outcome
from sluicegate.outcome.estimate import Estimator
from sluicegate.outcome.pricing import Pricing
from sluicegate.pipeline import route_limits
from sluicegate.pipeline.limit_headers import refusal_headers, route_figures, tightest
from sluicegate.pipeline.route_limits import RouteLimits, StepsOf
from sluicegate.routing import RouteFacts, RoutePlan, RouteRefused, plan
from sluicegate.storage.limiter import Limiter
from sluicegate.usage.cost import PriceTable
from sluicegate.usage.custom_cost import CustomCost
from sluicegate.usage.tokens import TokenCounter

DYNAMIC = "dynamic/"
ROUTE_HEADER = "cf-aig-route"  # the route's name and version: support@3
PROVIDER_HEADER = "cf-aig-provider"  # the target that answered (or was tried last): its provider
MODEL_HEADER = "cf-aig-model"  # and its model name at that provider


def is_dynamic(model: object) -> bool:
    return isinstance(model, str) and model.startswith(DYNAMIC)


class DynamicRoutes:
    def __init__(
        self,
        limiter: Limiter,
        counter: TokenCounter,
        clock: Callable[[], float] = time.time,
        estimator: Estimator | None = None,
    ) -> None:
        self._limiter = limiter
        self._counter = counter
        self._clock = clock
        self._estimator = estimator or Estimator(counter, Pricing(PriceTable()))

    async def plan(
        self,
        request: IncomingRequest,
        gateway: Gateway,
        token_id: str | None,
        metadata: Mapping[str, Any],
        payload: Mapping[str, Any],
        steps_of: StepsOf,
        custom_cost: CustomCost | None = None,
    ) -> tuple[RoutePlan, RouteHolds]:
        """The plan of the route `payload["model"]` names, for a request to `gateway` under the
        token `token_id` with the client's `metadata`, and what its limit nodes reserved (`steps_of`
        builds the steps of the targets a token or cost limit estimates, priced as the gateway's
        rules price them, `custom_cost` included); a 400 saying which routes
        exist when none. A spent limit without `else` refuses as a gateway rule does:
        `RouteRefused`, its 429 with the limit's `Retry-After` and `x-ratelimit-*` headers, and
        `cf-aig-route`."""
        name = str(payload["model"]).removeprefix(DYNAMIC)
        settings = gateway.settings
        route = settings.route(name, f"{gateway.account}/{gateway.slug}")
        if route is None:
            known = sorted(settings.routes)
            raise BadRequest(
                f"gateway {request.gateway_slug!r} has no route {name!r}{did_you_mean(name, known)}",
                field="model",
                param="model",
                routes=known,
            )
        facts = RouteFacts.from_chat(
            payload,
            metadata,
            token_id,
            count_prompt_tokens=lambda: self._counter.count_any_input(payload),
        )
        limits = RouteLimits(
            self._limiter,
            self._estimator,
            request,
            gateway,
            steps_of,
            route.start_provider,
            self._clock(),
            custom_cost,
        )
        try:
            return await plan(route, facts, limits), limits.held
        except RouteRefused as refused:
            await limits.give_back(list(limits.held.holds))  # none stands when no target is left
            rule = refused.spent[0][1]
            usage = next((usage for seen, usage in limits.spent if seen is rule), None)
            figures = refusal_headers(usage, rule_facts(rule)) if usage is not None else {}
            refused.headers = {**refused.headers, **figures, ROUTE_HEADER: _label(name, gateway)}
            raise

    async def release(self, held: RouteHolds | None, request_id: str) -> None:
        """Give back what a route's limit nodes reserved for a request that will not be sent."""
        if held is not None:
            await route_limits.release(self._limiter, list(held.holds.values()), self._clock(), request_id)

    async def charge(self, exchange: Exchange, outcome: Outcome) -> None:
        """The outcome sink: count what an answered request used in the limits its target was
        reached through, and give every other reservation of its route back."""
        await route_limits.settle(self._limiter, exchange, outcome, self._clock())


def route_headers(exchange: Exchange) -> dict[str, str]:
    """What a routed request's response says about its route and the target that answered."""
    route_plan = exchange.plan.route_plan
    if route_plan is None:
        return {}
    if not route_plan.targets:  # refused by a spent limit: no target tried
        return {ROUTE_HEADER: route_label(exchange)}
    target = route_plan.targets[exchange.plan.step_index]
    # The tightest of the limits the target was reached through, as a gateway rule says its own.
    figures = tightest(route_figures(exchange.plan))
    return {
        **figures,
        ROUTE_HEADER: route_label(exchange),
        PROVIDER_HEADER: target.provider,
        MODEL_HEADER: target.model,
    }


def route_label(exchange: Exchange) -> str:
    """`<name>`, and `@<version>` once the route has a stored version."""
    assert exchange.plan.route_plan is not None
    return _label(exchange.plan.route_plan.route, exchange.gateway)


def _label(name: str, gateway: Gateway | None) -> str:
    version = gateway.settings.route_versions.get(name) if gateway is not None else None
    return f"{name}@{version}" if version else name


def route_log_entries(exchange: Exchange) -> dict[str, str]:
    """The route, the path taken and the answering target's place, for the log record's metadata
    (a request refused by a spent limit: the path up to it, e.g. `limit=refused`, and no target)."""
    route_plan = exchange.plan.route_plan
    if route_plan is None:
        return {}
    place = ""
    if route_plan.targets:
        place = f"target={route_plan.targets[exchange.plan.step_index].where or '.'}"
    return {"route": route_label(exchange), "route_path": " ".join(filter(None, (route_plan.path, place)))}
