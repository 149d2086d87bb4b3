"""Dynamic routes on the unified endpoint: `"model": "dynamic/<route>"` becomes the route's targets.

The route is planned with the request's facts (`cf-aig-metadata`, model, stream, tools, prompt
tokens counted only when a condition asks). A limit node looks at the gateway's own counters: a
claim of nothing reads a bucket without counting in it. Once a response has completed, the
outcome sink `charge` counts it in the limits that the answering target was reached through.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from sluicegate.buckets import rule_facts
from sluicegate.errors import BadRequest
from sluicegate.exchange import Exchange, IncomingRequest
from sluicegate.gateway import Gateway, RateLimitRule
from sluicegate.hints import did_you_mean
from sluicegate.outcome import Outcome
from sluicegate.pipeline.limit_headers import refusal_headers
from sluicegate.pipeline.rule_buckets import gateway_rule_index, shared_bucket
from sluicegate.routing import RouteFacts, RoutePlan, RouteRefused, plan
from sluicegate.routing.plan import Holds
from sluicegate.storage.limiter import Claim, Limiter, LimiterUnavailable, Usage
from sluicegate.types import CacheStatus
from sluicegate.usage.tokens import TokenCounter

_log = logging.getLogger(__name__)
DYNAMIC = "dynamic/"
ROUTE_HEADER = "cf-aig-route"  # the route's name and version: support@3
PROVIDER_HEADER = "cf-aig-provider"  # the target that answered (or was tried last): its provider
MODEL_HEADER = "cf-aig-model"  # and its model name at that provider


def is_dynamic(model: object) -> bool:
    return isinstance(model, str) and model.startswith(DYNAMIC)


class DynamicRoutes:
    def __init__(
        self, limiter: Limiter, counter: TokenCounter, clock: Callable[[], float] = time.time
    ) -> None:
        self._limiter = limiter
        self._counter = counter
        self._clock = clock

    async def plan(
        self,
        request: IncomingRequest,
        gateway: Gateway,
        token_id: str | None,
        metadata: Mapping[str, Any],
        payload: Mapping[str, Any],
    ) -> RoutePlan:
        """The plan of the route `payload["model"]` names, for a request to `gateway` under the
        token `token_id` with the client's `metadata`; a 400 saying which routes exist when none.
        A spent limit without `else` refuses as a gateway rule does: `RouteRefused`, its 429 with
        the limit's `Retry-After` and `x-ratelimit-*` headers, and `cf-aig-route`."""
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
        spent: list[tuple[RateLimitRule, Usage]] = []  # each limit found spent, with its bucket's figures
        try:
            return await plan(route, facts, self._holds(request, gateway, spent))
        except RouteRefused as refused:
            rule = refused.spent[0][1]
            usage = next((usage for seen, usage in spent if seen is rule), None)
            figures = refusal_headers(usage, rule_facts(rule)) if usage is not None else {}
            refused.headers = {**refused.headers, **figures, ROUTE_HEADER: _label(name, gateway)}
            raise

    def _holds(
        self, request: IncomingRequest, gateway: Gateway, spent: list[tuple[RateLimitRule, Usage]]
    ) -> Holds:
        async def holds(rule: RateLimitRule, scope: str) -> bool:
            # Counted as requests and claiming 0: the check admits while the bucket has room, adds nothing.
            bucket = dataclasses.replace(shared_bucket(rule, scope, request, gateway), unit="requests")
            try:
                verdict = await self._limiter.admit([Claim(bucket, 0)], self._clock())
            except LimiterUnavailable as exc:
                # The gateway's own rules apply their failure policy; a route just takes `then`.
                _log.warning("rate limiter unavailable while planning a route, taking then: %s", exc)
                return True
            if verdict.refused_by is not None:
                spent.append((rule, verdict.refused_by))
            return verdict.allowed

        return holds

    async def charge(self, exchange: Exchange, outcome: Outcome) -> None:
        """The outcome sink: count an answered request in the limits its target was reached through."""
        route_plan, gateway = exchange.plan.route_plan, exchange.gateway
        if (
            route_plan is None
            or gateway is None
            or exchange.cache.status is CacheStatus.HIT
            or not 0 < exchange.response.status < 400
        ):
            return
        target = route_plan.targets[exchange.plan.step_index]
        now = self._clock()
        try:
            for passed in target.limits:
                if gateway_rule_index(passed.rule, gateway) is not None:
                    continue  # it shares the bucket of a gateway rule, which RateLimit counts
                bucket = shared_bucket(passed.rule, passed.scope, exchange.request, gateway)
                if bucket.counts_requests:
                    await self._limiter.admit([Claim(bucket, 1)], now)
                    continue
                if exchange.counted_by_gateway:
                    continue  # its usage is the tokens the gateway counted: no model used them
                # A reservation of nothing, settled at once with what was used: counted even past the limit.
                verdict = await self._limiter.admit([Claim(bucket, 0)], now)
                if verdict.holds:
                    await self._limiter.settle(verdict.holds, [_used(bucket.unit, outcome)], now)
        except LimiterUnavailable as exc:
            _log.warning("could not count request %s in its route's limits: %s", exchange.request.id, exc)


def route_headers(exchange: Exchange) -> dict[str, str]:
    """What a routed request's response says about its route and the target that answered."""
    route_plan = exchange.plan.route_plan
    if route_plan is None:
        return {}
    if not route_plan.targets:  # refused by a spent limit: no target tried
        return {ROUTE_HEADER: route_label(exchange)}
    target = route_plan.targets[exchange.plan.step_index]
    return {ROUTE_HEADER: route_label(exchange), PROVIDER_HEADER: target.provider, MODEL_HEADER: target.model}


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


def _used(unit: str, outcome: Outcome) -> float:
    if unit == "tokens":
        return outcome.usage.total_tokens if outcome.usage is not None else 0
    return outcome.charge_usd  # stated by the provider, else the operator's price; never a custom cost
