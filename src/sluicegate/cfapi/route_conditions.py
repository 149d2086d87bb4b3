"""A `conditional` element's MongoDB-like `conditions` ↔ the condition of an `if` node.

    {"metadata.plan": {"$eq": "free"}}          {"metadata.plan": "free"}
    {"metadata.plan": "free"}                   the same (a bare value is equality)
    {"metadata.region": {"$in": ["eu", "uk"]}}  {"metadata.region": ["eu", "uk"]}
    {"metadata.plan": {"$ne": "free"}}          {"not": {"metadata.plan": "free"}}   ($nin alike)
    {"$and": [...]}  {"$or": [...]}  {"$nor": [...]}   all, any, not any
    {"prompt_tokens": {"$gt": 4000}}            {"prompt_tokens_over": 4000}        ($gte, $lt, $lte)
    {"model": …}, {"stream": …}, {"has_tools": …}  the request facts of the same names

Only the facts Sluicegate's routes read can be conditions; anything else (request body fields,
headers, other operators) is refused by `node_condition` with where it is and what is read instead.
The node's own validation (routing/conditions.py) checks the values afterwards.
"""

from __future__ import annotations

from typing import Any

from sluicegate.hints import did_you_mean
from sluicegate.routing.conditions import FLAGS, METADATA_FIELD

FACTS = ("metadata.<field>", "model", *FLAGS, "prompt_tokens")
_EQUALITY = ("$eq", "$ne", "$in", "$nin")
_TOKEN_BOUNDS = ("$gt", "$gte", "$lt", "$lte")
_COMBINATIONS = {"$and": "all", "$or": "any"}


class ConditionsUnmapped(ValueError):
    """Conditions Sluicegate cannot evaluate; `at` is where inside them (`.metadata.plan.$regex`)."""

    def __init__(self, at: str, message: str) -> None:
        super().__init__(message)
        self.at = at
        self.message = message


def node_condition(conditions: Any, at: str = "") -> Any:
    """Cloudflare's conditions as a node condition (JSON), or ConditionsUnmapped."""
    if not isinstance(conditions, dict) or not conditions:
        raise ConditionsUnmapped(
            at, 'expected an object of conditions, e.g. {"metadata.plan": {"$eq": "free"}}'
        )
    parts = [_entry(key, value, f"{at}.{key}") for key, value in conditions.items()]
    return parts[0] if len(parts) == 1 else {"all": parts}


def _entry(key: str, value: Any, at: str) -> Any:
    if key in _COMBINATIONS or key == "$nor":
        if not isinstance(value, list) or not value:
            raise ConditionsUnmapped(at, f"{key} takes a non-empty list of conditions")
        items = [node_condition(item, f"{at}[{index}]") for index, item in enumerate(value)]
        if key == "$nor":
            return {"not": items[0] if len(items) == 1 else {"any": items}}
        return {_COMBINATIONS[key]: items}
    if key == "$not":
        return {"not": node_condition(value, at)}
    if key.startswith("$"):
        raise ConditionsUnmapped(at, f"unknown operator {key!r}{did_you_mean(key, [*_COMBINATIONS, '$nor'])}")
    if key == "prompt_tokens":
        return _tokens(value, at)
    if not (METADATA_FIELD.fullmatch(key) or key in ("model", *FLAGS)):
        raise ConditionsUnmapped(
            at,
            f"Sluicegate's routes cannot branch on {key!r}: they read {', '.join(FACTS)}"
            " (request body fields and headers are not conditions here; send the value in cf-aig-metadata)",
        )
    if not _operators(value):
        return {key: value}
    if len(value) > 1:
        return {"all": [_entry(key, {op: operand}, at) for op, operand in value.items()]}
    operator, operand = next(iter(value.items()))
    if operator not in _EQUALITY:
        where = f"{at}.{operator}"
        raise ConditionsUnmapped(
            where, f"operator {operator!r} is not served on {key!r}; use one of {', '.join(_EQUALITY)}"
        )
    if operator in ("$in", "$nin") and not isinstance(operand, list):
        raise ConditionsUnmapped(f"{at}.{operator}", f"{operator} takes a list of values")
    if operator in ("$eq", "$ne") and isinstance(operand, list | dict):
        raise ConditionsUnmapped(f"{at}.{operator}", f"{operator} takes one value; for a list use $in")
    condition = {key: operand}
    return {"not": condition} if operator in ("$ne", "$nin") else condition


def _tokens(value: Any, at: str) -> Any:
    """`prompt_tokens` bounds → `prompt_tokens_over` (token counts are whole numbers)."""
    if not _operators(value) or len(value) != 1 or next(iter(value)) not in _TOKEN_BOUNDS:
        raise ConditionsUnmapped(
            at, f'prompt_tokens takes one bound, e.g. {{"$gt": 4000}}; one of {", ".join(_TOKEN_BOUNDS)}'
        )
    operator, bound = next(iter(value.items()))
    if isinstance(bound, bool) or not isinstance(bound, int):
        raise ConditionsUnmapped(f"{at}.{operator}", "expected a whole number of tokens")
    over = {"$gt": bound, "$gte": bound - 1, "$lt": bound - 1, "$lte": bound}[operator]
    if over < 0:
        raise ConditionsUnmapped(f"{at}.{operator}", f"{operator} {bound} holds for every or no request")
    condition = {"prompt_tokens_over": over}
    return condition if operator in ("$gt", "$gte") else {"not": condition}


def _operators(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(str(k).startswith("$") for k in value)


def cloudflare_conditions(condition: Any) -> dict[str, Any]:
    """A node condition (as stored, already valid) as Cloudflare's conditions."""
    parts = [_shown(key, value) for key, value in condition.items()]
    if len(parts) == 1:
        return parts[0]
    keys = [key for part in parts for key in part]
    return (
        {k: v for part in parts for k, v in part.items()} if len(set(keys)) == len(keys) else {"$and": parts}
    )


def _shown(key: str, value: Any) -> dict[str, Any]:
    if key in ("all", "any"):
        return {"$and" if key == "all" else "$or": [cloudflare_conditions(item) for item in value]}
    if key == "not":
        return _negated(value)
    if key == "prompt_tokens_over":
        return {"prompt_tokens": {"$gt": value}}
    return {key: {"$in": value} if isinstance(value, list) else {"$eq": value}}


def _negated(condition: Any) -> dict[str, Any]:
    if len(condition) == 1:
        key, value = next(iter(condition.items()))
        if key == "prompt_tokens_over":
            return {"prompt_tokens": {"$lte": value}}
        if key not in ("all", "any", "not"):
            return {key: {"$nin": value} if isinstance(value, list) else {"$ne": value}}
        if key == "any":
            return {"$nor": [cloudflare_conditions(item) for item in value]}
    return {"$nor": [cloudflare_conditions(condition)]}
