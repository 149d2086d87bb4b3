"""Route validation errors, each naming its path inside the route and what was probably meant.

Pydantic locates an error by a tuple such as `('split', 'split', 1, 'then', 'model', 'model')`:
at every place a node is expected it inserts the node's kind (the union's tag). `node_path` walks
the tuple knowing where nodes are expected, drops those tags and writes `split[1].then.model`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from sluicegate.errors import BadRequest
from sluicegate.hints import closest
from sluicegate.routing.nodes import FIELDS, KINDS, join

# Names other gateways use for a field, and ours (Cloudflare's model and limit elements, Portkey).
_THEIR_NAMES = {
    "timeout": "timeout_ms",
    "request_timeout": "timeout_ms",
    "retries": "max_attempts",
    "attempts": "max_attempts",
    "provider": 'model (written "<provider>/<model>")',
    "weights": "split",
    "targets": "fallback",
    "condition": "if",
    "conditions": "if",
    "limitType": 'unit ("requests", "tokens" or "cost")',
    "limit_type": 'unit ("requests", "tokens" or "cost")',
    "key": "scope",
    "interval": "period (seconds)",
    "window": "period (seconds)",
}
_LIMIT_FIELDS = ("name", "limit", "period", "technique", "unit", "scope")
# Errors whose own message says what was sent ("got …"): nothing is added to them.
_OWN_MESSAGES = {"condition", "target_model", "sticky_field", "limit_scope", "split_weights", "weight_number"}
_REQUIRED = {
    ("if", "then"): "where requests go when the condition holds",
    ("if", "else"): "where requests go when the condition does not hold",
    ("limit", "then"): "where requests go while the limit holds",
    ("split branch", "then"): "the node this branch leads to",
    ("split branch", "weight"): "this branch's share (a number, 0 or more)",
    ("limit rule", "limit"): "the most requests, tokens or USD (unit) per period",
    ("limit rule", "period"): "the window in seconds",
}


class RouteProblem(NamedTuple):
    path: str  # e.g. routes.cheap.split[1].then.model
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class RouteInvalid(BadRequest):
    """A route (or a gateway's `routes`) that cannot be used; every problem is listed."""

    code = "invalid_route"

    def __init__(self, problems: Sequence[RouteProblem]) -> None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(
            f"{first}{more}",
            field=first.path,
            problems=[{"path": p.path, "message": p.message} for p in problems],
        )
        self.problems = list(problems)


def node_path(loc: Sequence[int | str]) -> tuple[str, str | None]:
    """The path of `loc` (which starts at a node) and the kind of the innermost node on it."""
    path, kind, expect_node, previous = "", None, True, None
    for item in loc:
        if expect_node and item in KINDS:
            kind, expect_node, previous = str(item), False, None
            continue
        expect_node = False
        if isinstance(item, int):
            path = f"{path}[{item}]"
            expect_node = previous == "fallback"
            if previous == "split":
                kind = "split branch"
        else:
            path = join(path, item)
            expect_node = item in ("then", "else")
            if item == "limit" and kind == "limit":
                kind = "limit rule"
        previous = item
    return path, kind


def problems_from(exc: ValidationError, prefix: str) -> list[RouteProblem]:
    """Pydantic's errors for a node, as problems under `prefix` (e.g. `routes.cheap`)."""
    return [_problem(error, prefix) for error in exc.errors(include_url=False)]


def _problem(error: ErrorDetails, prefix: str) -> RouteProblem:
    path, kind = node_path(error["loc"])
    ctx = error.get("ctx") or {}
    kind_of_error = error["type"]
    if kind_of_error == "condition":
        path += ctx.get("at", "")
    if kind_of_error == "node_kind":
        return RouteProblem(join(prefix, path), _not_a_node(error["input"]))
    if kind_of_error == "extra_forbidden":
        name = str(error["loc"][-1])
        known = {"limit rule": _LIMIT_FIELDS, "split branch": ("weight", "then")}.get(kind or "")
        known = known or FIELDS.get(kind or "", ())
        return RouteProblem(join(prefix, path), f"unknown field {name!r}{_meant(name, known)}")
    if kind_of_error == "missing":
        meaning = _REQUIRED.get((kind or "", str(error["loc"][-1])))
        return RouteProblem(join(prefix, path), f"required: {meaning}" if meaning else "required")
    message = error["msg"]
    value = error.get("input")
    scalar = isinstance(value, str | int | float | bool) or value is None
    if kind_of_error not in _OWN_MESSAGES and scalar:
        message += f", got {value!r}"
    return RouteProblem(join(prefix, path), message)


def _not_a_node(value: Any) -> str:
    keys = "model, split, if, fallback, limit"
    if isinstance(value, str) and "/" in value:
        return f"expected a node, not a string; did you mean {orjson.dumps({'model': value}).decode()}?"
    if not isinstance(value, dict):
        return f"expected a node (an object with one of {keys}), got {type(value).__name__}"
    found = [kind for kind in KINDS if kind in value]
    if len(found) > 1:
        return f"a node has exactly one of {keys}; this one has {' and '.join(found)}: split it in two"
    if "type" in value and "outputs" in value:
        return "this is a Cloudflare dynamic-routing element; write it as a node (see docs/routing.md)"
    for name in value:
        guess = closest(str(name), KINDS)
        if guess is not None:
            return f"expected one of {keys}; did you mean {guess!r} instead of {name!r}?"
    return f"expected one of {keys}, got an object with {', '.join(map(repr, value)) or 'no keys'}"


def _meant(name: str, known: Sequence[str]) -> str:
    if name in _THEIR_NAMES:
        return f"; here it is {_THEIR_NAMES[name]}"
    guess = closest(name, known)
    if guess is not None:
        return f"; did you mean {guess!r}?"
    return f"; expected {', '.join(known)}" if known else ""
