"""Evaluating a route for one request: the ordered targets, their retry policies, the path taken."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

import sluicegate
from sluicegate.exchange import RetryPolicy
from sluicegate.gateway import RateLimitRule
from sluicegate.routing import RouteFacts, RoutePlan, RouteRefused, parse_route, plan
from sluicegate.types import Backoff

SOURCE = Path(sluicegate.__file__).resolve().parents[1]  # the package under test, for subprocesses


class Limits:
    """A `holds` callable: every rule holds except for the scope values listed as spent."""

    def __init__(self, *spent: str) -> None:
        self.spent = set(spent)
        self.asked: list[tuple[str, str]] = []

    async def __call__(self, rule: RateLimitRule, scope: str) -> bool:
        self.asked.append((rule.unit, scope))
        return scope not in self.spent


async def planned(
    raw: Any, facts: RouteFacts | None = None, limits: Limits | Reserving | None = None, **kw: Any
) -> RoutePlan:
    return await plan(parse_route("r", raw), facts or RouteFacts(), limits or Limits(), **kw)


def ids(result: RoutePlan) -> list[str]:
    return [target.id for target in result.targets]


async def test_a_route_of_one_target_is_an_alias() -> None:
    result = await planned({"model": "openai/gpt-4o-mini", "timeout_ms": 2000, "max_attempts": 3})
    (only,) = result.targets
    assert (only.provider, only.model, only.where, result.path) == ("openai", "gpt-4o-mini", "", "")
    gateway = RetryPolicy(max_attempts=1, delay_ms=100, backoff=Backoff.CONSTANT, timeout_ms=None)
    assert only.retry(gateway) == RetryPolicy(
        max_attempts=3, delay_ms=100, backoff=Backoff.CONSTANT, timeout_ms=2000
    )


async def test_fallback_keeps_every_member_in_order_each_with_its_retry_policy() -> None:
    raw = {
        "fallback": [
            {"model": "openai/gpt-4o", "max_attempts": 2, "retry_delay_ms": 50, "backoff": "exponential"},
            {"fallback": [{"model": "anthropic/claude-sonnet-4-5"}, {"model": "groq/llama-3.1-8b-instant"}]},
            {"model": "workers-ai/@cf/meta/llama-3.1-8b-instruct", "timeout_ms": 900},
        ]
    }
    result = await planned(raw)
    assert ids(result) == [
        "openai/gpt-4o",
        "anthropic/claude-sonnet-4-5",
        "groq/llama-3.1-8b-instant",
        "workers-ai/@cf/meta/llama-3.1-8b-instruct",
    ]
    assert [t.where for t in result.targets] == [
        "fallback[0]",
        "fallback[1].fallback[0]",
        "fallback[1].fallback[1]",
        "fallback[2]",
    ]
    default = RetryPolicy(max_attempts=1, delay_ms=100)
    policies = [t.retry(default) for t in result.targets]
    assert policies[0] == RetryPolicy(max_attempts=2, delay_ms=50, backoff=Backoff.EXPONENTIAL)
    assert policies[1] is default
    assert policies[3] == RetryPolicy(max_attempts=1, delay_ms=100, timeout_ms=900)


IF_PRO = {
    "if": {"metadata.tier": "pro"},
    "then": {"model": "openai/gpt-4o"},
    "else": {"model": "openai/gpt-4o-mini"},
}


async def test_if_takes_one_branch_and_says_which() -> None:
    pro = await planned(IF_PRO, RouteFacts(metadata={"tier": "pro"}))
    free = await planned(IF_PRO, RouteFacts(metadata={"tier": "free"}))
    assert (ids(pro), pro.path, pro.targets[0].where) == (["openai/gpt-4o"], "if=then", "then")
    assert (ids(free), free.path, free.targets[0].where) == (["openai/gpt-4o-mini"], "if=else", "else")


SPLIT = {
    "split": [{"weight": 90, "then": {"model": "openai/a"}}, {"weight": 10, "then": {"model": "openai/b"}}]
}


async def test_split_follows_the_weights_within_tolerance() -> None:
    rng = random.Random(7)
    route = parse_route("r", SPLIT)
    counts = Counter([ids(await plan(route, RouteFacts(), Limits(), rng.random))[0] for _ in range(10_000)])
    # 10,000 draws at p = 0.1: one standard deviation is 30; allow five.
    assert abs(counts["openai/b"] - 1000) < 150
    assert counts["openai/a"] + counts["openai/b"] == 10_000


async def test_a_branch_of_weight_zero_is_never_taken() -> None:
    raw = {
        "split": [
            {"weight": 0, "then": {"model": "openai/never"}},
            {"weight": 1, "then": {"model": "openai/a"}},
        ]
    }
    for share in (0.0, 0.5, 0.999999):
        assert ids(await planned(raw, rand=lambda share=share: share)) == ["openai/a"]


STICKY = {**SPLIT, "sticky": "metadata.user"}


async def test_sticky_keeps_a_user_on_one_branch_and_spreads_users_by_weight() -> None:
    route = parse_route("r", STICKY)
    rng = random.Random(3)
    chosen: dict[str, str] = {}
    for index in range(4000):
        user = f"user-{index % 2000}"
        result = await plan(route, RouteFacts(metadata={"user": user}), Limits(), rng.random)
        assert result.path.endswith("(sticky)")
        assert chosen.setdefault(user, ids(result)[0]) == ids(result)[0]
    share_b = sum(1 for model in chosen.values() if model == "openai/b") / len(chosen)
    assert 0.07 < share_b < 0.13  # 2,000 users at p = 0.1: sd 0.0067


async def test_without_the_sticky_field_a_split_chooses_at_random_and_says_so() -> None:
    result = await planned(STICKY, RouteFacts(metadata={}), rand=lambda: 0.95)
    assert (ids(result), result.path) == (["openai/b"], "split=1(random: no metadata.user)")


async def test_a_sticky_split_on_the_token_uses_the_token_id() -> None:
    raw = {**SPLIT, "sticky": "token"}
    first = await planned(raw, RouteFacts(token_id="tok-1"), rand=lambda: 0.0)
    again = await planned(raw, RouteFacts(token_id="tok-1"), rand=lambda: 0.99)
    assert ids(first) == ids(again)
    assert first.path.endswith("(sticky)")


async def test_sticky_choices_are_the_same_in_another_process_whatever_its_hash_seed() -> None:
    users = [f"user-{index}" for index in range(200)]
    script = (
        "import asyncio, json, sys\n"
        "from sluicegate.routing import RouteFacts, parse_route, plan\n"
        "async def holds(rule, scope): return True\n"
        "route = parse_route('r', json.loads(sys.argv[1]))\n"
        "async def choose(user):\n"
        "    return (await plan(route, RouteFacts(metadata={'user': user}), holds)).targets[0].id\n"
        "async def main():\n"
        "    return [await choose(user) for user in json.loads(sys.argv[2])]\n"
        "print(json.dumps(asyncio.run(main())))\n"
    )
    route = parse_route("r", STICKY)
    here = [(await plan(route, RouteFacts(metadata={"user": u}), Limits())).targets[0].id for u in users]
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(SOURCE)}
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, json.dumps(STICKY), json.dumps(users),
            env=env, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await asyncio.wait_for(child.communicate(), 60)
        assert child.returncode == 0
        assert json.loads(out) == here
    assert set(here) == {"openai/a", "openai/b"}


async def test_nested_sticky_splits_choose_independently() -> None:
    inner = {
        "split": [{"weight": 1, "then": {"model": "openai/x"}}, {"weight": 1, "then": {"model": "openai/y"}}],
        "sticky": "metadata.user",
    }
    outer = {
        "split": [{"weight": 1, "then": inner}, {"weight": 1, "then": {**inner}}],
        "sticky": "metadata.user",
    }
    route = parse_route("r", outer)
    pairs = Counter()
    for index in range(2000):
        result = await plan(route, RouteFacts(metadata={"user": f"u{index}"}), Limits())
        pairs[tuple(d.choice for d in result.decisions)] += 1
    # Salting each split's hash with its place keeps the inner choice from repeating the outer one.
    assert set(pairs) == {("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")}
    assert min(pairs.values()) > 400


LIMITED = {
    "limit": {"unit": "cost", "limit": 5, "period": 86400, "scope": "metadata.team"},
    "then": {"model": "openai/gpt-4o"},
    "else": {"model": "openai/gpt-4o-mini"},
}


async def test_a_limit_goes_then_while_it_holds_and_else_once_spent() -> None:
    limits = Limits("broke")
    rich = await planned(LIMITED, RouteFacts(metadata={"team": "rich"}), limits)
    broke = await planned(LIMITED, RouteFacts(metadata={"team": "broke"}), limits)
    assert (ids(rich), rich.path) == (["openai/gpt-4o"], "limit=then")
    assert (ids(broke), broke.path) == (["openai/gpt-4o-mini"], "limit=else")
    assert limits.asked == [("cost", "rich"), ("cost", "broke")]


async def test_targets_carry_the_limits_they_were_reached_through_to_be_charged() -> None:
    raw = {"fallback": [LIMITED, {"model": "anthropic/claude-sonnet-4-5"}]}
    (through, beside) = (await planned(raw, RouteFacts(metadata={"team": "t1"}))).targets
    (passed,) = through.limits
    assert (passed.rule.unit, passed.rule.limit, passed.scope, passed.where) == (
        "cost",
        5,
        "t1",
        "fallback[0]",
    )
    assert beside.limits == ()
    spent = await planned(raw, RouteFacts(metadata={"team": "t1"}), Limits("t1"))
    assert [t.limits for t in spent.targets] == [(), ()]  # the cheaper `else` is not charged to the budget


@pytest.mark.parametrize(
    ("scope", "facts", "value"),
    [
        ("gateway", RouteFacts(), ""),
        ("token", RouteFacts(token_id="tok-9"), "tok-9"),
        ("token", RouteFacts(), "anonymous"),
        ("metadata.team", RouteFacts(metadata={"team": 7}), "7"),
        ("metadata.team", RouteFacts(), ""),
    ],
)
async def test_a_limit_asks_about_its_scope_value(scope: str, facts: RouteFacts, value: str) -> None:
    limits = Limits()
    raw = {"limit": {"limit": 10, "period": 60, "scope": scope}, "then": {"model": "openai/a"}}
    await planned(raw, facts, limits)
    assert limits.asked == [("requests", value)]


async def test_a_spent_limit_without_else_refuses_with_a_429_naming_it() -> None:
    without_else = {key: value for key, value in LIMITED.items() if key != "else"}
    raw = {"if": {"stream": True}, "then": {"model": "openai/a"}, "else": without_else}
    with pytest.raises(RouteRefused) as caught:
        await planned(raw, RouteFacts(metadata={"team": "t"}), Limits("t"))
    error = caught.value
    assert error.status == 429
    rule = "5 USD per 86400 s (fixed, per metadata.team)"
    assert error.message == f"route 'r': the limit at else is spent ({rule}) and has no else"
    assert orjson.loads(error.body())["error"]["limits"][0]["where"] == "else"


async def test_a_spent_limit_without_else_inside_a_fallback_is_skipped() -> None:
    raw = {
        "fallback": [
            {"limit": {"limit": 1, "period": 60}, "then": {"model": "openai/a"}},
            {"model": "openai/b"},
        ]
    }
    result = await planned(raw, limits=Limits(""))
    assert (ids(result), result.path) == (["openai/b"], "fallback[0].limit=refused")


async def test_the_path_lists_each_decision_where_it_was_made() -> None:
    raw = {
        "if": {"metadata.tier": "pro"},
        "then": {"fallback": [STICKY, LIMITED]},
        "else": {"model": "openai/c"},
    }
    result = await planned(raw, RouteFacts(metadata={"tier": "pro", "user": "u1", "team": "t"}), Limits("t"))
    branch = result.decisions[1].choice
    assert result.path == f"if=then then.fallback[0].split={branch}(sticky) then.fallback[1].limit=else"
    assert [t.where for t in result.targets] == [
        f"then.fallback[0].split[{branch}].then",
        "then.fallback[1].else",
    ]


class Reserving:
    """`Limits` that reserve: a limit takes its `then` unless its name is in `short` (the targets'
    estimate does not fit); what stands reserved is in `held`."""

    def __init__(self, *short: str) -> None:
        self.short = set(short)
        self.asked: list[tuple[str, list[str]]] = []  # (limit name, its then-branch's targets)
        self.held: list[str] = []

    async def take(self, rule: RateLimitRule, scope: str, where: str, targets: Any) -> bool:
        self.asked.append((rule.name, [target.id for target in targets]))
        if rule.name in self.short:
            return False
        self.held.append(where)
        return True

    async def give_back(self, wheres: Any) -> None:
        for where in wheres:
            self.held.remove(where)


async def test_a_limit_reserves_for_its_then_branchs_targets_and_gives_its_inner_limits_back_if_it_must() -> (
    None
):
    raw = {
        "limit": {"name": "team", "limit": 5, "period": 60},
        "then": {
            "limit": {"name": "user", "limit": 1, "period": 60},
            "then": {
                "fallback": [{"split": [{"weight": 1, "then": {"model": "openai/a"}}]}, {"model": "openai/b"}]
            },
            "else": {"model": "openai/c"},
        },
        "else": {"split": [{"weight": 1, "then": {"model": "openai/d"}}]},
    }
    through = Reserving()
    result = await planned(raw, limits=through)
    assert (ids(result), result.path) == (
        ["openai/a", "openai/b"],
        "limit=then then.limit=then then.then.fallback[0].split=0",
    )
    assert through.asked == [("user", ["openai/a", "openai/b"]), ("team", ["openai/a", "openai/b"])]
    assert through.held == ["then", ""]
    # The team's limit has no room for what its branch may use: the user's reservation is given
    # back, and nothing of that branch is in the path.
    short = Reserving("team")
    result = await planned(raw, limits=short)
    assert (ids(result), result.path) == (["openai/d"], "limit=else else.split=0")
    assert [t.limits for t in result.targets] == [()]
    assert short.held == []


async def test_whatever_fails_while_planning_leaves_nothing_reserved() -> None:
    class Failing(Reserving):
        async def take(self, rule: RateLimitRule, scope: str, where: str, targets: Any) -> bool:
            if rule.name == "team":
                raise RuntimeError("the steps could not be built")
            return await super().take(rule, scope, where, targets)

    raw = {
        "limit": {"name": "team", "limit": 5, "period": 60},
        "then": {"limit": {"name": "user", "limit": 1, "period": 60}, "then": {"model": "openai/a"}},
    }
    failing = Failing()
    with pytest.raises(RuntimeError):
        await planned(raw, limits=failing)
    assert failing.asked == [("user", ["openai/a"])]
    assert failing.held == []


LIMIT = {"limit": 1, "period": 60}


def _models(*models: str) -> list[dict[str, Any]]:
    return [{"model": model} for model in models]


@pytest.mark.parametrize(
    ("raw", "start"),
    [
        ({"model": "openai/a"}, "openai"),
        ({"fallback": _models("openai/a", "groq/b", "anthropic/c")}, "openai"),
        ({"split": [{"weight": 1, "then": m} for m in _models("openai/a", "openai/b")]}, "openai"),
        (
            {
                "split": [
                    {"weight": 1, "then": {"model": "openai/a"}},
                    {"weight": 0, "then": {"model": "groq/b"}},
                ]
            },
            "openai",
        ),
        ({"split": [{"weight": 1, "then": m} for m in _models("openai/a", "groq/b")]}, None),
        (
            {"if": {"metadata.tier": "pro"}, "then": {"model": "anthropic/a"}, "else": {"model": "openai/b"}},
            None,
        ),
        ({"limit": LIMIT, "then": {"model": "openai/a"}, "else": {"model": "openai/b"}}, "openai"),
        ({"limit": LIMIT, "then": {"model": "openai/a"}, "else": {"model": "groq/b"}}, None),
        # A spent limit without else plans nothing: the fallback then starts at its next member.
        ({"fallback": [{"limit": LIMIT, "then": {"model": "openai/a"}}, {"model": "groq/b"}]}, None),
        ({"fallback": [{"limit": LIMIT, "then": {"model": "openai/a"}}, {"model": "openai/b"}]}, "openai"),
    ],
)
async def test_a_plan_names_the_provider_the_route_starts_at_whatever_the_request(
    raw: dict[str, Any], start: str | None
) -> None:
    """One provider when every way into the route starts there (the client's own key is then that
    provider's, pipeline/compat.py); None when the request decides."""
    for facts, limits in ((RouteFacts(), Limits()), (RouteFacts(metadata={"tier": "pro"}), Limits(""))):
        assert (await planned(raw, facts, limits)).start_provider == start
