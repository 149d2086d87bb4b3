"""A named route: its validated tree, and the checks that need the whole tree.

`parse_route` and `parse_routes` raise `RouteInvalid` (a 400) listing every problem by its path,
e.g. `routes.cheap.split[1].then.model: expected "<provider>/<model>" ...`. A route being saved is
held to every rule; one read from stored settings (`parse_route(..., stored=True)`) is read as the
version that saved it did, so an upgrade does not break a route that served before.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError

from sluicegate.hints import closest
from sluicegate.routing.conditions import uses_prompt_tokens
from sluicegate.routing.nodes import (
    NODE,
    STORED,
    AnyNode,
    FallbackNode,
    IfNode,
    LimitNode,
    SplitNode,
    TargetNode,
    children,
    dump,
    join,
)
from sluicegate.routing.problems import RouteInvalid, RouteProblem, problems_from

ROUTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
MAX_DEPTH = 8  # nodes nested in nodes
MAX_NODES = 64
MAX_TARGETS = 10  # targets one plan may try in turn (each up to its max_attempts)
MAX_ROUTES = 100
_MAX_JSON_DEPTH = 48  # checked before validation, so a deep document costs no recursion
_MAX_JSON_VALUES = 5000
NESTED = "dynamic"  # `dynamic/<route>` names a route, which a target may not


@dataclass(frozen=True, slots=True)
class Route:
    name: str
    root: AnyNode
    needs_prompt_tokens: bool  # a condition asks `prompt_tokens_over`: count tokens for its facts
    # The providers a plan of the route may start at (its first target's), whatever the request.
    starts: frozenset[str] = frozenset()

    @property
    def start_provider(self) -> str | None:
        """The one provider every plan starts at; None when that depends on the request."""
        return next(iter(self.starts)) if len(self.starts) == 1 else None

    def to_json(self) -> Any:
        return dump(self.root)


def parse_route(
    name: str, raw: Any, providers: Collection[str] | None = None, prefix: str = "", *, stored: bool = False
) -> Route:
    """`raw` (parsed JSON) as route `name`. With `providers` (the registry's names), a target
    naming another provider is refused. `prefix` starts each problem's path (default: the name).
    `stored`: the route is read from the gateway's stored settings, not saved: what older versions
    took and saved (a split weight of "50" or true, as pydantic read them) is read as they did."""
    root, problems = _checked(name, raw, providers, prefix or name, stored)
    if root is None or problems:
        raise RouteInvalid(problems)
    return _route(name, root)


def parse_routes(
    raw: Any, providers: Collection[str] | None = None, known: Mapping[str, Any] | None = None
) -> dict[str, Route]:
    """A gateway's `routes` setting, sent to be saved: route name -> node. Problems are named
    `routes.<name>...`. A route that `known` (routes already checked, or stored) holds with an
    equal node is not parsed again, nor returned: a stored route an older version took is kept."""
    if not isinstance(raw, Mapping):
        raise RouteInvalid([RouteProblem("routes", "expected an object of route name -> node")])
    if len(raw) > MAX_ROUTES:
        raise RouteInvalid([RouteProblem("routes", f"{len(raw)} routes; at most {MAX_ROUTES} are allowed")])
    known = known or {}
    checked = {
        name: _checked(name, node, providers, f"routes.{name}", stored=False)
        for name, node in raw.items()
        if name not in known or not _same_json(known[name], node)
    }
    problems = [problem for _, found in checked.values() for problem in found]
    if problems:
        raise RouteInvalid(problems)
    return {name: _route(name, root) for name, (root, _) in checked.items() if root is not None}


def _same_json(before: Any, after: Any) -> bool:
    """Equal as JSON text (`==` alone takes `true` for `1`, which validate differently)."""
    try:
        return orjson.dumps(before) == orjson.dumps(after)
    except orjson.JSONEncodeError:  # nested too deep to write: checked as a new route
        return False


def _route(name: str, root: AnyNode) -> Route:
    conditions = (node.if_ for node, _ in _nodes(root) if isinstance(node, IfNode))
    needs_tokens = any(uses_prompt_tokens(condition) for condition in conditions)
    return Route(name, root, needs_tokens, first_providers(root)[0])


def _checked(
    name: str, raw: Any, providers: Collection[str] | None, prefix: str, stored: bool
) -> tuple[AnyNode | None, list[RouteProblem]]:
    if not isinstance(name, str) or not ROUTE_NAME.fullmatch(name):
        message = "a route name is 1 to 64 letters, digits, - or _, starting with a letter or digit"
        return None, [RouteProblem(prefix, message)]
    if (shape := _shape_problem(raw)) is not None:
        return None, [RouteProblem(prefix, shape)]
    try:
        root = NODE.validate_python(raw, context={STORED: stored})
    except ValidationError as exc:
        return None, problems_from(exc, prefix)
    return root, list(_tree_problems(root, prefix, providers))


def _shape_problem(raw: Any) -> str | None:
    """Guards validation against documents too deep or too large to be a route. Only containers
    are stacked; a scalar is counted with its container."""
    stack: list[tuple[Any, int]] = [(raw, 1)] if isinstance(raw, dict | list) else []
    count = 1
    while stack:
        value, depth = stack.pop()
        items = list(value.values()) if isinstance(value, dict) else value
        if items and depth >= _MAX_JSON_DEPTH:
            return f"nested more than {_MAX_JSON_DEPTH} levels deep; a route nests at most {MAX_DEPTH} nodes"
        count += len(items)
        if count > _MAX_JSON_VALUES:
            return f"more than {_MAX_JSON_VALUES} JSON values; a route has at most {MAX_NODES} nodes"
        stack.extend([(item, depth + 1) for item in items if isinstance(item, dict | list)])
    return None


def _tree_problems(root: AnyNode, prefix: str, providers: Collection[str] | None) -> Iterator[RouteProblem]:
    # One walk without paths; the paths are written only when a problem needs them.
    nodes = _nodes(root)
    deepest = max(depth for _, depth in nodes)
    unknown = any(isinstance(node, TargetNode) and _unknown(node, providers) for node, _ in nodes)
    if deepest > MAX_DEPTH or unknown:
        yield from _located_problems(root, prefix, providers)
        if deepest > MAX_DEPTH:
            return
    if len(nodes) > MAX_NODES:
        yield RouteProblem(prefix, f"{len(nodes)} nodes; a route has at most {MAX_NODES}")
    longest = most_targets(root)
    if longest > MAX_TARGETS:
        yield RouteProblem(
            prefix,
            f"a request could fall back through {longest} targets; at most {MAX_TARGETS} are allowed"
            " (fallback lists add up, a split or if counts its longest branch)",
        )


def _located_problems(
    root: AnyNode, prefix: str, providers: Collection[str] | None
) -> Iterator[RouteProblem]:
    """Nodes nested too deep and unknown providers, by path, in the order they are written."""
    for node, where, depth in _walk_depth(root):
        if depth > MAX_DEPTH:
            yield RouteProblem(join(prefix, where), f"nodes nest {depth} deep here; at most {MAX_DEPTH}")
            return
        if isinstance(node, TargetNode) and _unknown(node, providers):
            yield _target_problem(node, join(prefix, join(where, "model")), providers)


def unknown_targets(route: Route, providers: Collection[str]) -> list[RouteProblem]:
    """The targets of a parsed route whose provider is not one of `providers` (a custom provider
    deleted since the route was saved), by path (`routes.<name>...`)."""
    return [
        _target_problem(node, join(f"routes.{route.name}", join(where, "model")), providers)
        for node, where, _ in _walk_depth(route.root)
        if isinstance(node, TargetNode) and _unknown(node, providers)
    ]


def _unknown(node: TargetNode, providers: Collection[str] | None) -> bool:
    """A target naming another route (always), or a provider not in `providers` (when given)."""
    return node.provider == NESTED or (providers is not None and node.provider not in providers)


def _target_problem(node: TargetNode, path: str, providers: Collection[str] | None) -> RouteProblem:
    if node.provider == NESTED:
        return RouteProblem(
            path,
            f"{node.model!r} names a route, and routes do not nest: a target is"
            ' "<provider>/<model>"; write that route\'s node here instead',
        )
    known = providers or ()
    lower = node.provider.lower()
    guess = lower if lower in known else closest(node.provider, known)
    meant = f'; did you mean "{guess}/{node.provider_model}"?' if guess else ""
    return RouteProblem(path, f"unknown provider {node.provider!r}{meant}")


def most_targets(node: AnyNode) -> int:
    """The longest list of targets a plan of this node can hold."""
    if isinstance(node, TargetNode):
        return 1
    if isinstance(node, FallbackNode):
        return sum(most_targets(member) for member in node.fallback)
    if isinstance(node, SplitNode):
        return max(most_targets(branch.then) for branch in node.split)
    return max(most_targets(child) for child in _below(node))


def first_providers(node: AnyNode) -> tuple[frozenset[str], bool]:
    """The providers a plan of this node may start at, and whether it may plan no target at all
    (a spent limit without `else`: a fallback then starts at its next member)."""
    if isinstance(node, TargetNode):
        return frozenset({node.provider}), False
    if isinstance(node, FallbackNode):
        found: frozenset[str] = frozenset()
        for member in node.fallback:
            providers, may_be_empty = first_providers(member)
            found |= providers
            if not may_be_empty:
                return found, False
        return found, True
    if isinstance(node, SplitNode):  # a branch of weight 0 is never taken
        below = [first_providers(branch.then) for branch in node.split if branch.weight > 0]
    else:
        below = [first_providers(child) for child in _below(node)]
        if isinstance(node, LimitNode) and node.else_ is None:
            below.append((frozenset(), True))
    return frozenset(p for providers, _ in below for p in providers), any(empty for _, empty in below)


def _nodes(root: AnyNode) -> list[tuple[AnyNode, int]]:
    """Every node of the tree with its depth (the root's is 1), in no particular order."""
    found: list[tuple[AnyNode, int]] = []
    stack: list[tuple[AnyNode, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        found.append((node, depth))
        stack.extend([(child, depth + 1) for child in _below(node)])
    return found


def _below(node: AnyNode) -> list[AnyNode]:
    """The nodes directly below `node` (`nodes.children` without their paths)."""
    if isinstance(node, SplitNode):
        return [branch.then for branch in node.split]
    if isinstance(node, FallbackNode):
        return list(node.fallback)
    if isinstance(node, IfNode):
        return [node.then, node.else_]
    if isinstance(node, LimitNode):
        return [node.then] if node.else_ is None else [node.then, node.else_]
    return []


def _walk_depth(root: AnyNode) -> Iterator[tuple[AnyNode, str, int]]:
    stack: list[tuple[AnyNode, str, int]] = [(root, "", 1)]
    while stack:
        node, where, depth = stack.pop()
        yield node, where, depth
        stack.extend((child, path, depth + 1) for child, path in reversed(children(node, where)))
