"""Cloudflare's element graphs ↔ route nodes: a node shown as elements and read back decides every
request as it did, and a second round changes nothing (so a client's read-and-write is stable)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluicegate.cfapi.route_conditions import cloudflare_conditions, node_condition
from sluicegate.cfapi.route_elements import route_node
from sluicegate.cfapi.route_graph import route_elements
from sluicegate.errors import BadRequest
from sluicegate.routing import RouteFacts, RouteRefused, parse_route, plan
from sluicegate.routing.conditions import compile_condition

FIELDS = ("metadata.tier", "metadata.region")
VALUES = ("pro", "free", "eu", 1, True)

scalar_conditions = st.one_of(
    st.builds(lambda k, v: {k: v}, st.sampled_from(FIELDS), st.sampled_from(VALUES)),
    st.builds(
        lambda k, v: {k: v},
        st.sampled_from(FIELDS),
        st.lists(st.sampled_from(VALUES), min_size=1, max_size=3),
    ),
    st.builds(lambda v: {"stream": v}, st.booleans()),
    st.builds(lambda v: {"has_tools": v}, st.booleans()),
    st.builds(lambda n: {"prompt_tokens_over": n}, st.integers(0, 50)),
    st.builds(lambda m: {"model": m}, st.sampled_from(["dynamic/a", "dynamic/b"])),
)
conditions = st.recursive(
    scalar_conditions,
    lambda inner: st.one_of(
        st.builds(lambda c: {"not": c}, inner),
        st.builds(lambda cs: {"all": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda cs: {"any": cs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda a, b: {**a, **b}, inner, inner),
    ),
    max_leaves=6,
)
facts = st.builds(
    RouteFacts,
    model=st.sampled_from(["dynamic/a", "dynamic/b"]),
    stream=st.booleans(),
    has_tools=st.booleans(),
    metadata=st.dictionaries(st.sampled_from(["tier", "region"]), st.sampled_from(VALUES), max_size=2),
    count_prompt_tokens=st.integers(0, 60).map(lambda n: lambda: n),
)


@given(conditions, st.lists(facts, min_size=1, max_size=8))
def test_conditions_shown_the_cloudflare_way_and_read_back_hold_for_the_same_requests(
    condition: Any, requests: list[RouteFacts]
) -> None:
    back = node_condition(cloudflare_conditions(condition))
    original, translated = compile_condition(condition), compile_condition(back)
    for request in requests:
        assert original.holds(request) == translated.holds(request), (condition, back)


targets = st.builds(
    lambda name, attempts: {"model": f"openai/{name}", **({"max_attempts": attempts} if attempts else {})},
    st.sampled_from(["a", "b", "c", "d"]),
    st.sampled_from([None, 1, 3]),
)


def _split(branches: list[tuple[int, Any]], sticky: bool) -> Any:
    split = {"split": [{"weight": weight, "then": then} for weight, then in branches]}
    return split | {"sticky": "metadata.user"} if sticky else split


def _limit(unit: str, scope: str, then: Any, otherwise: Any) -> Any:
    node = {"limit": {"unit": unit, "limit": 5, "period": 60, "scope": scope}, "then": then}
    return node | {"else": otherwise} if otherwise else node


nodes = st.recursive(
    targets,
    lambda inner: st.one_of(
        st.builds(lambda c, t, e: {"if": c, "then": t, "else": e}, scalar_conditions, inner, inner),
        # distinct weights: equal ones are shown as nested percentages, alike only in distribution
        st.builds(
            _split,
            st.lists(
                st.tuples(st.sampled_from([1, 2, 3, 5]), inner),
                min_size=1,
                max_size=3,
                unique_by=lambda b: b[0],
            ),
            st.booleans(),
        ),
        st.builds(lambda ms: {"fallback": ms}, st.lists(inner, min_size=1, max_size=2)),
        st.builds(
            _limit,
            st.sampled_from(["requests", "cost", "tokens"]),
            st.sampled_from(["gateway", "token", "metadata.team"]),
            inner,
            st.one_of(st.none(), inner),
        ),
    ),
    max_leaves=5,
)


async def _decide(node: Any, request: RouteFacts, spent: frozenset[str]) -> tuple[str, ...]:
    """The targets a request would try, in order, with the limits of `spent` units exhausted."""
    route = parse_route("r", node)

    async def holds(rule: Any, scope: str) -> bool:
        return rule.unit not in spent

    try:
        planned = await plan(route, request, holds, lambda: 0.37)  # one draw for every split
    except RouteRefused:
        return ("refused: every way ends at a spent limit",)  # its path may differ
    return tuple(target.model for target in planned.targets)


@settings(max_examples=150, deadline=None)
@given(nodes, facts, st.frozensets(st.sampled_from(["requests", "cost", "tokens"])))
async def test_a_node_shown_as_elements_and_read_back_tries_the_same_targets(
    node: Any, request: RouteFacts, spent: frozenset[str]
) -> None:
    try:
        parse_route("r", node)
    except BadRequest:
        return  # too large a route to start with
    back = route_node("r", route_elements(node))
    assert await _decide(back, request, spent) == await _decide(node, request, spent)
    assert route_node("r", route_elements(back)) == back  # a second round changes nothing


def test_percentages_met_twice_nest_so_each_branch_keeps_its_share() -> None:
    split = {"split": [{"weight": 1, "then": {"model": f"openai/{n}"}} for n in "abc"]}
    elements = route_elements(split)
    percentages = [e for e in elements if e["type"] == "percentage"]
    assert [set(e["outputs"]) for e in percentages] == [{"33.3333%", "else"}, {"50%", "else"}]
    back = route_node("r", elements)
    assert back["split"][0]["weight"] == 33.3333
    assert back["split"][1]["then"] == {"split": [{"weight": 50, "then": {"model": "openai/b"}},
                                                  {"weight": 50, "then": {"model": "openai/c"}}]}  # fmt: skip


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ({"metadata.plan": {"$eq": "free"}}, {"metadata.plan": "free"}),
        ({"metadata.plan": "free"}, {"metadata.plan": "free"}),
        ({"metadata.plan": {"$in": ["a", "b"]}}, {"metadata.plan": ["a", "b"]}),
        ({"metadata.plan": {"$nin": ["a"]}}, {"not": {"metadata.plan": ["a"]}}),
        ({"$or": [{"metadata.a": 1}, {"metadata.b": 2}]}, {"any": [{"metadata.a": 1}, {"metadata.b": 2}]}),
        ({"metadata.a": 1, "stream": {"$ne": True}}, {"all": [{"metadata.a": 1}, {"not": {"stream": True}}]}),
        ({"prompt_tokens": {"$gte": 100}}, {"prompt_tokens_over": 99}),
        ({"prompt_tokens": {"$lt": 100}}, {"not": {"prompt_tokens_over": 99}}),
    ],
)
def test_cloudflare_conditions_read_as_node_conditions(conditions: Any, expected: Any) -> None:
    assert node_condition(conditions) == expected


def test_a_graph_that_unfolds_too_far_is_refused_naming_where() -> None:
    """Each conditional leads to the next twice: 2^n paths, refused before they are built."""
    elements: list[dict[str, Any]] = [{"id": "s", "type": "start", "outputs": {"next": {"elementId": "c0"}}}]
    for n in range(12):
        following = {"elementId": f"c{n + 1}" if n < 11 else "m"}
        elements.append({"id": f"c{n}", "type": "conditional", "properties": {"conditions": {"stream": True}},
                         "outputs": {"true": following, "false": following}})  # fmt: skip
    elements.append({"id": "m", "type": "model", "properties": {"provider": "openai", "model": "x"},
                     "outputs": {"success": {"elementId": "e"}}})  # fmt: skip
    elements.append({"id": "e", "type": "end", "outputs": {}})
    with pytest.raises(BadRequest) as refused:
        route_node("deep", elements)
    assert "unfolds into more than 64 nodes" in refused.value.message
