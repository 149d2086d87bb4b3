"""Circuit breaking for the targets of dynamic routes: consulted when a target is about to be tried,
fed by each attempt's result (see routing/circuit.py for the states).

A circuit belongs to one target (provider and model) of one gateway. Its state lives in the shared
state store, so replicas agree; the last state this replica saw of each is kept for /metrics.
"""

from __future__ import annotations

import logging

from sluicegate.exchange import IncomingRequest, RequestPlan
from sluicegate.routing.circuit import CircuitBreaker, CircuitState, Permit, counts_as_failure
from sluicegate.routing.state import StateUnavailable

_log = logging.getLogger(__name__)
_MAX_SEEN = 10_000  # circuits shown in /metrics; beyond, the oldest seen are forgotten


class TargetCircuits:
    def __init__(self, breaker: CircuitBreaker) -> None:
        self._breaker = breaker
        self.seen: dict[tuple[str, str], CircuitState] = {}  # (gateway, target) -> state, for /metrics

    async def allow(self, request: IncomingRequest, plan: RequestPlan, index: int) -> Permit | None:
        """Whether step `index` of a routed request may go now; None for any other request (or
        when the state store cannot be reached: a breaker must not take targets down with it)."""
        key = _key(request, plan, index)
        if key is None:
            return None
        try:
            permit = await self._breaker.allow("/".join(key))
        except StateUnavailable as exc:
            _log.warning("circuit state unavailable, trying the target: %s", exc)
            return None
        self._see(key, permit.circuit.state)
        return permit

    async def record(
        self, request: IncomingRequest, plan: RequestPlan, index: int, permit: Permit, status: int | None
    ) -> None:
        """Feed the breaker one attempt's result: its status, or None when no response came."""
        key = _key(request, plan, index)
        if key is None:
            return
        try:
            circuit = await self._breaker.record("/".join(key), permit, not counts_as_failure(status))
        except StateUnavailable as exc:
            _log.warning("circuit state unavailable, result not recorded: %s", exc)
            return
        self._see(key, circuit.state)

    def _see(self, key: tuple[str, str], state: CircuitState) -> None:
        seen = self.seen
        seen.pop(key, None)
        seen[key] = state
        if len(seen) > _MAX_SEEN:
            del seen[next(iter(seen))]


def _key(request: IncomingRequest, plan: RequestPlan, index: int) -> tuple[str, str] | None:
    route_plan = plan.route_plan
    if route_plan is None:
        return None
    return f"{request.account}/{request.gateway_slug}", route_plan.targets[index].id
