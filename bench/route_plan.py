"""``python -m bench.route_plan``: what a routing decision costs, in process (no HTTP).

Times ``routing.plan`` for a three-node route (if → sticky split → fallback of two targets) and
for the same with a limit node, against a plain one-target route (an alias), each in a loop of
``perf_counter`` samples inside one running event loop (as the gateway would call it), after a
warm-up. Prints p50 and p99 in ms; the budget is ≤ 0.05 ms p50 for the three-node route.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from bench.timings import Figures, budget_lines, percentiles
from sluicegate.gateway import RateLimitRule
from sluicegate.routing import Route, RouteFacts, parse_route, plan

BUDGET_MS = 0.05
THREE_NODES: dict[str, Any] = {
    "if": {"metadata.tier": "pro"},
    "then": {
        "split": [
            {
                "weight": 90,
                "then": {"fallback": [{"model": "openai/gpt-4o"}, {"model": "anthropic/claude-sonnet-4-5"}]},
            },
            {"weight": 10, "then": {"model": "openai/gpt-4o-mini"}},
        ],
        "sticky": "metadata.user",
    },
    "else": {"model": "openai/gpt-4o-mini"},
}
WITH_LIMIT: dict[str, Any] = {
    "limit": {"unit": "cost", "limit": 5, "period": 86400, "scope": "metadata.team"},
    "then": THREE_NODES,
    "else": {"model": "openai/gpt-4o-mini"},
}
ALIAS: dict[str, Any] = {"model": "openai/gpt-4o-mini"}


async def _holds(rule: RateLimitRule, scope: str) -> bool:
    return True


async def _samples(route: Route, count: int) -> list[float]:
    facts = [
        RouteFacts(model="dynamic/bench", metadata={"tier": "pro", "user": f"u{i}", "team": "t"})
        for i in range(64)
    ]
    for index in range(1000):
        await plan(route, facts[index % 64], _holds)
    samples = []
    clock = time.perf_counter
    for index in range(count):
        started = clock()
        await plan(route, facts[index % 64], _holds)
        samples.append((clock() - started) * 1000)
    return samples


ROUTES: dict[str, dict[str, Any]] = {
    "alias (one target)": ALIAS,
    "three nodes": THREE_NODES,
    "three nodes + limit": WITH_LIMIT,
}


def measure(count: int) -> Figures:
    """p50 and p99 in ms of planning each route `count` times (after a warm-up)."""
    return {
        label: percentiles(asyncio.run(_samples(parse_route("bench", raw), count)))
        for label, raw in ROUTES.items()
    }


def lines(figures: Figures, count: int) -> list[str]:
    """The report's lines, ending with the budget and whether the three-node route keeps it."""
    return budget_lines(figures, count, "plans", BUDGET_MS, "three nodes", "the three-node route", 22)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    count = parser.parse_args().count
    for line in lines(measure(count), count):
        print(line)


if __name__ == "__main__":
    main()
