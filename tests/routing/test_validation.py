"""Route validation: every problem named by its path inside the route, with what was probably meant."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sluicegate.providers import REGISTRY
from sluicegate.routing import RouteInvalid, parse_route, parse_routes
from sluicegate.routing.nodes import MAX_BRANCHES, NODE
from sluicegate.routing.route import MAX_DEPTH, MAX_NODES, MAX_TARGETS

PROVIDERS = sorted(REGISTRY)


def problems(raw: Any, providers: list[str] | None = PROVIDERS) -> list[str]:
    with pytest.raises(RouteInvalid) as caught:
        parse_routes(raw, providers)
    return [str(problem) for problem in caught.value.problems]


def target(model: str = "openai/gpt-4o-mini", **fields: Any) -> dict[str, Any]:
    return {"model": model, **fields}


def test_a_bad_target_deep_in_a_split_is_named_by_its_path() -> None:
    branches = [{"weight": 90, "then": target()}, {"weight": 10, "then": target("gpt-4o")}]
    assert problems({"cheap": {"split": branches}}) == [
        "routes.cheap.split[1].then.model:"
        ' expected "<provider>/<model>", e.g. "openai/gpt-4o-mini"; got \'gpt-4o\''
    ]


def test_the_error_is_a_400_listing_every_problem() -> None:
    raw = {"a": {"fallback": [target("x"), {"modle": "openai/gpt-4o"}]}, "b": {"split": []}}
    with pytest.raises(RouteInvalid) as caught:
        parse_routes(raw, PROVIDERS)
    error = caught.value
    assert error.status == 400
    body = orjson.loads(error.body())["error"]
    assert [p["path"] for p in body["problems"]] == [
        "routes.a.fallback[0].model",
        "routes.a.fallback[1]",
        "routes.b.split",
    ]
    assert body["field"] == "routes.a.fallback[0].model"
    assert body["message"].endswith("(and 2 more)")


IF = {"then": target(), "else": target()}
CF_MODEL_ELEMENT = {"type": "model", "id": "m", "outputs": {}}
MISTAKES: list[tuple[Any, str]] = [
    (
        {"modle": "openai/gpt-4o"},
        "routes.r: expected one of model, split, if, fallback, limit;"
        " did you mean 'model' instead of 'modle'?",
    ),
    ("openai/gpt-4o", 'routes.r: expected a node, not a string; did you mean {"model":"openai/gpt-4o"}?'),
    (
        {"model": "openai/a", "split": []},
        "routes.r: a node has exactly one of model, split, if, fallback, limit;"
        " this one has model and split: split it in two",
    ),
    (
        target("openai/gpt-4o\n"),
        'routes.r.model: expected "<provider>/<model>", e.g. "openai/gpt-4o-mini"; got \'openai/gpt-4o\\n\'',
    ),
    (
        target("openai/gpt 4o"),
        'routes.r.model: expected "<provider>/<model>", e.g. "openai/gpt-4o-mini"; got \'openai/gpt 4o\'',
    ),
    (target(timeout=5000), "routes.r.timeout: unknown field 'timeout'; here it is timeout_ms"),
    (target(retries=2), "routes.r.retries: unknown field 'retries'; here it is max_attempts"),
    (
        target(max_atempts=2),
        "routes.r.max_atempts: unknown field 'max_atempts'; did you mean 'max_attempts'?",
    ),
    (target(max_attempts=9), "routes.r.max_attempts: Input should be less than or equal to 5, got 9"),
    (
        {"split": [{"weight": 1, "then": target()}], "sticky": "user"},
        'routes.r.sticky: expected "metadata.<field>" (e.g. "metadata.user") or "token"; got \'user\'',
    ),
    (
        {"split": [{"weight": 0, "then": target()}]},
        "routes.r: every weight is 0: give at least one branch a weight above 0",
    ),
    (
        {"split": [{"weight": -1, "then": target()}]},
        "routes.r.split[0].weight: Input should be greater than or equal to 0, got -1",
    ),
    (
        {"split": [{"then": target()}]},
        "routes.r.split[0].weight: required: this branch's share (a number, 0 or more)",
    ),
    (
        {"if": {"metadata.tier": "pro"}, "then": target()},
        "routes.r.else: required: where requests go when the condition does not hold",
    ),
    (
        {"if": {"metdata.tier": "pro"}, **IF},
        "routes.r.if.metdata.tier: unknown condition 'metdata.tier'; did you mean \"metadata.tier\"?",
    ),
    (
        {"if": {"tier": "pro"}, **IF},
        "routes.r.if.tier: unknown condition 'tier'; a metadata field is written \"metadata.tier\"",
    ),
    (
        {"if": {"any": [{"stream": True}, {"has_tools": "yes"}]}, **IF},
        "routes.r.if.any[1].has_tools: expected true or false, got 'yes'",
    ),
    (
        {"if": {"metadata.region": ["eu", {"x": 1}]}, **IF},
        "routes.r.if.metadata.region[1]: expected a string, number or boolean (or a list of them),"
        " got an object",
    ),
    (
        {"if": {"prompt_tokens_over": -1}, **IF},
        "routes.r.if.prompt_tokens_over: expected a whole number of tokens (0 or more), got -1",
    ),
    (
        {"if": {}, **IF},
        'routes.r.if: a condition needs at least one entry, e.g. {"metadata.tier": "pro"}',
    ),
    (
        {"limit": {"unit": "cost", "limit": 5, "period": 86400, "scope": "model"}, "then": target()},
        "routes.r.limit.scope: expected gateway, token or metadata.<field>"
        " (the provider and model are chosen below the limit); got 'model'",
    ),
    (
        {"limit": {"limitType": "cost", "limit": 5, "period": 60}, "then": target()},
        "routes.r.limit.limitType: unknown field 'limitType';"
        ' here it is unit ("requests", "tokens" or "cost")',
    ),
    ({"limit": {"limit": 5}, "then": target()}, "routes.r.limit.period: required: the window in seconds"),
    (
        {"fallback": [target(), {"fallback": [target(), target("opneai/gpt-4o")]}]},
        "routes.r.fallback[1].fallback[1].model: unknown provider 'opneai'; did you mean \"openai/gpt-4o\"?",
    ),
    (
        CF_MODEL_ELEMENT,
        "routes.r: this is a Cloudflare dynamic-routing element; write it as a node (see docs/routing.md)",
    ),
]


@pytest.mark.parametrize(("node", "expected"), MISTAKES)
def test_each_mistake_names_its_path_and_what_was_meant(node: Any, expected: str) -> None:
    assert problems({"r": node})[0] == expected


def test_a_misspelt_field_of_a_split_branch_is_compared_with_a_branch_s_fields() -> None:
    found = problems({"r": {"split": [{"wieght": 1, "then": target()}]}})
    assert "routes.r.split[0].wieght: unknown field 'wieght'; did you mean 'weight'?" in found


def test_a_sticky_field_is_one_whole_line() -> None:
    found = problems({"r": {"split": [{"weight": 1, "then": target()}], "sticky": "metadata.user\n"}})
    assert found[0].startswith('routes.r.sticky: expected "metadata.<field>"')


def test_unknown_providers_are_refused_only_when_the_registry_is_given() -> None:
    node = {"model": "acme/model-1"}
    assert problems({"r": node}) == ["routes.r.model: unknown provider 'acme'"]
    assert parse_route("r", node).root.provider == "acme"  # type: ignore[union-attr]


def test_a_provider_model_keeps_every_slash_after_the_first() -> None:
    route = parse_route("r", target("workers-ai/@cf/meta/llama-3.1-8b-instruct"), PROVIDERS)
    assert route.root.provider == "workers-ai"  # type: ignore[union-attr]
    assert route.root.provider_model == "@cf/meta/llama-3.1-8b-instruct"  # type: ignore[union-attr]


def nested_ifs(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = target()
    for _ in range(depth - 1):
        node = {"if": {"stream": True}, "then": node, "else": target()}
    return node


def test_depth_is_capped_at_the_node_that_goes_too_deep() -> None:
    parse_route("r", nested_ifs(MAX_DEPTH))
    deep = nested_ifs(MAX_DEPTH + 1)
    with pytest.raises(RouteInvalid) as caught:
        parse_route("r", deep, prefix="routes.r")
    path = "routes.r" + ".then" * MAX_DEPTH
    assert (
        str(caught.value.problems[0]) == f"{path}: nodes nest {MAX_DEPTH + 1} deep here; at most {MAX_DEPTH}"
    )


def test_a_document_too_deep_to_be_a_route_is_refused_before_validation() -> None:
    raw: Any = target()
    for _ in range(5000):
        raw = {"fallback": [raw]}
    with pytest.raises(RouteInvalid) as caught:
        parse_route("r", raw)
    assert "nested more than" in caught.value.message


def test_node_count_is_capped() -> None:
    wide = {
        "split": [{"weight": 1, "then": {"split": [{"weight": 1, "then": target()}] * MAX_BRANCHES}}]
        * MAX_BRANCHES
    }
    count = 1 + MAX_BRANCHES + MAX_BRANCHES * MAX_BRANCHES
    assert count > MAX_NODES
    assert problems({"r": wide}) == [f"routes.r: {count} nodes; a route has at most {MAX_NODES}"]


def test_the_number_of_targets_one_request_may_fall_back_through_is_capped() -> None:
    six = {"fallback": [target()] * 6}
    assert parse_route(
        "r", {"fallback": [{"split": [{"weight": 1, "then": six}, {"weight": 1, "then": six}]}, target()]}
    )
    found = problems({"r": {"fallback": [six, {"if": {"stream": True}, "then": six, "else": target()}]}})
    assert found == [
        f"routes.r: a request could fall back through 12 targets; at most {MAX_TARGETS} are allowed"
        " (fallback lists add up, a split or if counts its longest branch)"
    ]


@pytest.mark.parametrize("name", ["", "has space", "dynamic/x", "v@2", "-lead", "x" * 65, "cheap\n"])
def test_route_names_are_url_safe(name: str) -> None:
    assert problems({name: target()})[0].endswith(
        "a route name is 1 to 64 letters, digits, - or _, starting with a letter or digit"
    )


def test_routes_must_be_an_object() -> None:
    assert problems([target()]) == ["routes: expected an object of route name -> node"]


def test_a_route_dumps_as_it_was_written() -> None:
    budget = {"unit": "cost", "limit": 5, "period": 86400, "scope": "metadata.team"}
    split = {"split": [{"weight": 90, "then": target()}, {"weight": 10, "then": target("openai/gpt-4o")}]}
    raw = {
        "if": {"any": [{"metadata.tier": ["pro", "team"]}, {"not": {"stream": True}}]},
        "then": {
            "fallback": [target(timeout_ms=2000, max_attempts=2), target("anthropic/claude-sonnet-4-5")]
        },
        "else": {
            "limit": budget,
            "then": {**split, "sticky": "metadata.user"},
            "else": target("groq/llama-3.1-8b-instant", backoff="exponential"),
        },
    }
    route = parse_routes({"r": raw}, PROVIDERS)["r"]
    assert route.to_json() == raw
    assert parse_route("r", orjson.loads(orjson.dumps(route.to_json()))).to_json() == raw


def test_the_node_schema_can_be_published() -> None:
    schema = NODE.json_schema()
    assert {"TargetNode", "SplitNode", "IfNode", "FallbackNode", "LimitNode"} <= set(schema["$defs"])


@pytest.mark.parametrize(("weight", "written"), [("50", '"50"'), (True, "true")])
def test_a_weight_is_a_json_number(weight: Any, written: str) -> None:
    """Not a string of digits, nor a boolean (which pydantic took for 1)."""
    node = {"split": [{"weight": weight, "then": target()}]}
    assert problems({"r": node}) == [
        f"routes.r.split[0].weight: expected a number (e.g. 90 or 0.9), got {written}"
    ]


def test_a_target_may_not_name_a_route_even_without_the_registry() -> None:
    found = problems({"r": {"fallback": [target(), target("dynamic/other")]}}, None)
    assert found == [
        "routes.r.fallback[1].model: 'dynamic/other' names a route, and routes do not nest:"
        ' a target is "<provider>/<model>"; write that route\'s node here instead'
    ]
