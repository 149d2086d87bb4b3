"""Evaluation: a route and one request's facts become the ordered targets to try, and why.

`plan` walks the tree once: an `if` takes one branch, a `split` one branch (by weight, at random or
by a hash of its sticky field), a `limit` plans its `then` and asks `limits` to take it for those
targets (the gateway reserves what they may use, atomically), else takes `else`; a `fallback` keeps
every member's targets in order. Each target carries the limits it was reached through
(`Target.limits`), so the gateway settles the reservations of the target that actually answered
and gives the others back. Every member of a fallback is planned up front, so a limit below a
later member is reserved even when the first member answers (and given back then).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from sluicegate.buckets import absent_scope_value
from sluicegate.errors import RateLimited
from sluicegate.exchange import RetryPolicy
from sluicegate.gateway import RateLimitRule
from sluicegate.routing.facts import RouteFacts
from sluicegate.routing.nodes import AnyNode, FallbackNode, IfNode, LimitNode, SplitNode, TargetNode, join
from sluicegate.routing.route import Route
from sluicegate.types import Backoff

Holds = Callable[[RateLimitRule, str], Awaitable[bool]]
"""Whether `rule` still admits a request for this scope value, reserving nothing (`Looks`)."""


@runtime_checkable
class Limits(Protocol):
    """What a route's limit nodes ask of the gateway's counters."""

    async def take(self, rule: RateLimitRule, scope: str, where: str, targets: Sequence[Target]) -> bool:
        """Whether `rule` admits, for `scope`, a request to `targets` (the `then` branch of the
        limit at `where`; none when that branch planned no target): when it does, what the targets
        may use is reserved under `where`, until the gateway settles or gives it back."""
        ...

    async def give_back(self, wheres: Sequence[str]) -> None:
        """Release the reservations made under `wheres`: a branch that is not taken after all."""
        ...


class Looks:
    """`Limits` that only look (`holds`), reserving nothing."""

    def __init__(self, holds: Holds) -> None:
        self.holds = holds

    async def take(self, rule: RateLimitRule, scope: str, where: str, targets: Sequence[Target]) -> bool:
        return await self.holds(rule, scope)

    async def give_back(self, wheres: Sequence[str]) -> None:
        pass


class LimitPass(NamedTuple):
    """A limit node (at `where`) whose `then` led to a target: charge `rule` for `scope` when that
    target answers."""

    rule: RateLimitRule
    scope: str
    where: str


class Decision(NamedTuple):
    """One choice on the way, e.g. `then.split=1` (the split at `then` took branch 1)."""

    where: str
    kind: str  # if, split or limit
    choice: str  # then / else, a branch index, or "refused" (a spent limit without else)
    note: str = ""  # "sticky", or why a sticky split chose at random

    def __str__(self) -> str:
        note = f"({self.note})" if self.note else ""
        return f"{join(self.where, self.kind)}={self.choice}{note}"


@dataclass(frozen=True, slots=True)
class Target:
    """One concrete model to try; the retry fields are None where the gateway's defaults apply."""

    provider: str
    model: str  # the provider's model name
    where: str  # its path in the route, e.g. split[1].then.fallback[0]
    timeout_ms: int | None = None
    max_attempts: int | None = None
    retry_delay_ms: int | None = None
    backoff: Backoff | None = None
    limits: tuple[LimitPass, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.model}"

    def retry(self, default: RetryPolicy) -> RetryPolicy:
        """`default` (the gateway's and the request's settings) with this target's overrides."""
        overrides = (self.timeout_ms, self.max_attempts, self.retry_delay_ms, self.backoff)
        if overrides == (None, None, None, None):
            return default
        return RetryPolicy(
            max_attempts=default.max_attempts if self.max_attempts is None else self.max_attempts,
            delay_ms=default.delay_ms if self.retry_delay_ms is None else self.retry_delay_ms,
            backoff=self.backoff or default.backoff,
            timeout_ms=default.timeout_ms if self.timeout_ms is None else self.timeout_ms,
        )


@dataclass(frozen=True, slots=True)
class RoutePlan:
    route: str
    targets: tuple[Target, ...]  # in the order to try them
    decisions: tuple[Decision, ...]
    # The one provider every plan of the route starts at, whatever the request; None when that
    # depends on the request (a split or an if between providers).
    start_provider: str | None = None

    @property
    def path(self) -> str:
        """The choices made, for the log and a response header: `if=then then.split=1(sticky)`."""
        return " ".join(map(str, self.decisions))


class RouteRefused(RateLimited):
    """Every way through the route ends at a spent limit that has no `else`."""

    code = "route_limit_spent"

    def __init__(
        self, route: str, spent: list[tuple[str, RateLimitRule]], decisions: tuple[Decision, ...] = ()
    ) -> None:
        where, rule = spent[0]
        at = f" at {where}" if where else ""
        super().__init__(
            f"route {route!r}: the limit{at} is spent ({rule.label}) and has no else",
            route=route,
            rule=rule.shown(),  # as a refusal by one of the gateway's rate_limits shows its rule
            limits=[{"where": w, "rule": r.shown()} for w, r in spent],
        )
        self.spent = spent
        # The way it went, for the log: the route, and decisions ending at the refusal; no target.
        self.plan = RoutePlan(route, (), decisions)


async def plan(
    route: Route, facts: RouteFacts, limits: Limits | Holds, rand: Callable[[], float] = random.random
) -> RoutePlan:
    """The targets `route` gives this request, in order (`limits`: a `Holds` only looks). Raises
    RouteRefused when there are none; whatever raises, nothing stays reserved."""
    walk = _Walk(facts, limits if isinstance(limits, Limits) else Looks(limits), rand)
    try:
        targets = await walk.visit(route.root, "", ())
    except BaseException:
        await walk.limits.give_back(walk.reserved)
        raise
    if not targets:
        raise RouteRefused(route.name, walk.spent, tuple(walk.decisions))
    return RoutePlan(route.name, tuple(targets), tuple(walk.decisions), route.start_provider)


def sticky_share(where: str, value: object) -> float:
    """Where `value` falls in [0, 1) for the split at `where`: the same in every process and
    replica (a keyed hash, not Python's salted `hash`), independent between splits."""
    digest = hashlib.blake2b(f"{where}\x00{value}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest) >> 11) / 2**53  # 53 bits: a float strictly below 1, like random()


class _Walk:
    __slots__ = ("decisions", "facts", "limits", "rand", "reserved", "spent")

    def __init__(self, facts: RouteFacts, limits: Limits, rand: Callable[[], float]) -> None:
        self.facts = facts
        self.limits = limits
        self.rand = rand
        self.decisions: list[Decision] = []
        self.spent: list[tuple[str, RateLimitRule]] = []
        self.reserved: list[str] = []  # the limits taken, by place: what stands reserved

    async def visit(self, node: AnyNode, where: str, limits: tuple[LimitPass, ...]) -> list[Target]:
        if isinstance(node, TargetNode):
            provider, _, model = node.model.partition("/")
            return [
                Target(
                    provider, model, where, node.timeout_ms, node.max_attempts,
                    node.retry_delay_ms, node.backoff, limits,
                )
            ]  # fmt: skip
        if isinstance(node, FallbackNode):
            targets: list[Target] = []
            for index, member in enumerate(node.fallback):
                targets += await self.visit(member, join(where, f"fallback[{index}]"), limits)
            return targets
        if isinstance(node, IfNode):
            taken = node.if_.holds(self.facts)
            self.decisions.append(Decision(where, "if", "then" if taken else "else"))
            if taken:
                return await self.visit(node.then, join(where, "then"), limits)
            return await self.visit(node.else_, join(where, "else"), limits)
        if isinstance(node, SplitNode):
            share, note = self._share(node, where)
            index = node.pick(share)
            self.decisions.append(Decision(where, "split", str(index), note))
            return await self.visit(node.split[index].then, join(where, f"split[{index}].then"), limits)
        return await self._limit(node, where, limits)

    def _share(self, node: SplitNode, where: str) -> tuple[float, str]:
        if node.sticky is None:
            return self.rand(), ""
        value = self.facts.field(node.sticky)
        if value is None or value == "":
            return self.rand(), f"random: no {node.sticky}"
        return sticky_share(where, value), "sticky"

    async def _limit(self, node: LimitNode, where: str, limits: tuple[LimitPass, ...]) -> list[Target]:
        """`then` planned first: what its targets may use is what the limit must still have room
        for. Not taken, nothing of that branch stands (its choices, its own limits' reservations)."""
        rule = node.limit
        scope = _scope_value(rule.scope, self.facts)
        decided, reserved, spent = len(self.decisions), len(self.reserved), len(self.spent)
        passed = (*limits, LimitPass(rule, scope, where))
        targets = await self.visit(node.then, join(where, "then"), passed)
        if await self.limits.take(rule, scope, where, targets):
            self.reserved.append(where)
            self.decisions.insert(decided, Decision(where, "limit", "then"))
            return targets
        await self.limits.give_back(self.reserved[reserved:])
        del self.reserved[reserved:], self.decisions[decided:], self.spent[spent:]
        if node.else_ is None:
            self.decisions.append(Decision(where, "limit", "refused"))
            self.spent.append((where, rule))
            return []
        self.decisions.append(Decision(where, "limit", "else"))
        return await self.visit(node.else_, join(where, "else"), limits)


def _scope_value(scope: str, facts: RouteFacts) -> str:
    """As the gateway's own rules scope a request (pipeline/ratelimit.py): requests without the
    metadata field share one bucket."""
    if scope == "gateway":
        return ""
    if scope == "token":
        return facts.token_id or absent_scope_value(scope)
    field = scope.removeprefix("metadata.")
    return str(facts.metadata[field]) if field in facts.metadata else absent_scope_value(scope)
