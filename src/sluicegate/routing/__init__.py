"""Dynamic routing: a route (a tree of nodes) evaluated per request into an ordered list of targets.

    route.py      parse and validate a route: parse_route, parse_routes -> Route (or RouteInvalid)
    plan.py       plan(route, facts, holds) -> RoutePlan: targets in fallback order, and the path taken
    circuit.py    per-target circuit breaker over a shared state store
    keypool.py    weighted choice among a provider's named keys; disable on 401, rest a key for a model
                  on its 403, cool down on 429
    state.py      the state store protocol and its in-process backend (redis_state.py: Redis)

Nothing here imports the pipeline: the gateway hands in the request's facts and a `holds` callable
backed by its limiter, and walks the plan's targets as it walks the universal endpoint's steps.
"""

from sluicegate.routing.facts import RouteFacts
from sluicegate.routing.plan import Decision, LimitPass, RoutePlan, RouteRefused, Target, plan
from sluicegate.routing.problems import RouteInvalid, RouteProblem
from sluicegate.routing.route import Route, parse_route, parse_routes

__all__ = [
    "Decision",
    "LimitPass",
    "Route",
    "RouteFacts",
    "RouteInvalid",
    "RoutePlan",
    "RouteProblem",
    "RouteRefused",
    "Target",
    "parse_route",
    "parse_routes",
    "plan",
]
