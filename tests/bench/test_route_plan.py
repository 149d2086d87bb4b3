"""`make bench` reports what a routing decision costs (bench/route_plan.py), with the budget."""

from __future__ import annotations

from bench import route_plan


def test_each_route_is_timed_and_the_budget_is_judged() -> None:
    figures = route_plan.measure(200)
    assert list(figures) == ["alias (one target)", "three nodes", "three nodes + limit"]
    assert all(0 < f["p50_ms"] <= f["p99_ms"] for f in figures.values())
    shown = route_plan.lines({**figures, "three nodes": {"p50_ms": 0.06, "p99_ms": 0.1}}, 200)
    assert shown[-1] == "budget: ≤ 0.05 ms p50 for the three-node route: NOT met"
    assert shown[1].startswith("three nodes            p50 0.0600 ms")
