"""The conditions of `if` nodes: written as JSON, compiled once into predicates.

A condition is an object whose entries must all hold:

    {"metadata.tier": "pro"}                 equality (strings, numbers, booleans)
    {"metadata.region": ["eu", "uk"]}        one of a list
    {"model": "dynamic/support"}             the model the client asked for
    {"stream": true}  {"has_tools": true}    request facts
    {"prompt_tokens_over": 4000}             the prompt's estimated tokens exceed a number
    {"any": [cond, ...]}  {"all": [cond, ...]}  {"not": cond}

A metadata field the request does not carry equals nothing (so `not` of it holds).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sluicegate.hints import closest
from sluicegate.routing.facts import RouteFacts

MAX_LIST = 100  # values in one `in` list
MAX_ENTRIES = 20  # entries of one condition object, items of one `any`/`all`
MAX_TEXT = 256
METADATA_FIELD = re.compile(r"metadata\.[A-Za-z0-9_.-]{1,64}")
FLAGS = ("stream", "has_tools")
KEYS = ("metadata.<field>", "model", *FLAGS, "prompt_tokens_over", "any", "all", "not")


class ConditionProblem(ValueError):
    """A condition that cannot be compiled; `at` is where inside it (`.metadata.tier`, `.any[1]`)."""

    def __init__(self, at: str, message: str) -> None:
        super().__init__(message)
        self.at = at
        self.message = message


class Condition:
    """A compiled condition; `raw` is the JSON it came from (what is stored and shown)."""

    __slots__ = ("raw",)

    def __init__(self, raw: Any) -> None:
        self.raw = raw

    def holds(self, facts: RouteFacts) -> bool:
        raise NotImplementedError


class _Metadata(Condition):
    __slots__ = ("field", "values")

    def __init__(self, raw: Any, field: str, values: frozenset[tuple[str, Any]]) -> None:
        super().__init__(raw)
        self.field = field
        self.values = values

    def holds(self, facts: RouteFacts) -> bool:
        value = facts.metadata.get(self.field)
        return value is not None and _comparable(value) in self.values


class _Model(Condition):
    __slots__ = ("models",)

    def __init__(self, raw: Any, models: frozenset[str]) -> None:
        super().__init__(raw)
        self.models = models

    def holds(self, facts: RouteFacts) -> bool:
        return facts.model in self.models


class _Flag(Condition):
    __slots__ = ("expected", "name")

    def __init__(self, raw: Any, name: str, expected: bool) -> None:
        super().__init__(raw)
        self.name = name
        self.expected = expected

    def holds(self, facts: RouteFacts) -> bool:
        return bool(getattr(facts, self.name)) is self.expected


class _TokensOver(Condition):
    __slots__ = ("limit",)

    def __init__(self, raw: Any, limit: int) -> None:
        super().__init__(raw)
        self.limit = limit

    def holds(self, facts: RouteFacts) -> bool:
        return facts.prompt_tokens > self.limit


class _All(Condition):
    __slots__ = ("items",)

    def __init__(self, raw: Any, items: Sequence[Condition]) -> None:
        super().__init__(raw)
        self.items = tuple(items)

    def holds(self, facts: RouteFacts) -> bool:
        return all(item.holds(facts) for item in self.items)


class _Any(Condition):
    __slots__ = ("items",)

    def __init__(self, raw: Any, items: Sequence[Condition]) -> None:
        super().__init__(raw)
        self.items = tuple(items)

    def holds(self, facts: RouteFacts) -> bool:
        return any(item.holds(facts) for item in self.items)


class _Not(Condition):
    __slots__ = ("item",)

    def __init__(self, raw: Any, item: Condition) -> None:
        super().__init__(raw)
        self.item = item

    def holds(self, facts: RouteFacts) -> bool:
        return not self.item.holds(facts)


def compile_condition(raw: Any, at: str = "") -> Condition:
    """The predicate for `raw`; raises ConditionProblem naming where and what was probably meant."""
    if not isinstance(raw, dict):
        raise ConditionProblem(
            at, f'expected a condition object such as {{"metadata.tier": "pro"}}, got {_kind(raw)}'
        )
    if not raw:
        raise ConditionProblem(at, 'a condition needs at least one entry, e.g. {"metadata.tier": "pro"}')
    if len(raw) > MAX_ENTRIES:
        raise ConditionProblem(at, f"{len(raw)} entries; at most {MAX_ENTRIES} are allowed")
    items = [_entry(key, value, f"{at}.{key}") for key, value in raw.items()]
    return items[0] if len(items) == 1 else _All(raw, items)


def uses_prompt_tokens(condition: Condition) -> bool:
    if isinstance(condition, _TokensOver):
        return True
    if isinstance(condition, _All | _Any):
        return any(uses_prompt_tokens(item) for item in condition.items)
    return isinstance(condition, _Not) and uses_prompt_tokens(condition.item)


def _entry(key: str, value: Any, at: str) -> Condition:
    raw = {key: value}
    if key in ("any", "all"):
        if not isinstance(value, list) or not value:
            raise ConditionProblem(at, f"expected a non-empty list of conditions, got {_kind(value)}")
        if len(value) > MAX_ENTRIES:
            raise ConditionProblem(at, f"{len(value)} conditions; at most {MAX_ENTRIES} are allowed")
        items = [compile_condition(item, f"{at}[{index}]") for index, item in enumerate(value)]
        return _Any(raw, items) if key == "any" else _All(raw, items)
    if key == "not":
        return _Not(raw, compile_condition(value, at))
    if key in FLAGS:
        if not isinstance(value, bool):
            raise ConditionProblem(at, f"expected true or false, got {_kind(value)}")
        return _Flag(raw, key, value)
    if key == "prompt_tokens_over":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConditionProblem(at, f"expected a whole number of tokens (0 or more), got {_kind(value)}")
        return _TokensOver(raw, value)
    if key == "model":
        models = _values(value, at, strings_only=True)
        return _Model(raw, frozenset(str(v) for _, v in models))
    if METADATA_FIELD.fullmatch(key):
        return _Metadata(raw, key.removeprefix("metadata."), _values(value, at, strings_only=False))
    raise ConditionProblem(at, f"unknown condition {key!r}{_meant(key)}")


def _values(value: Any, at: str, strings_only: bool) -> frozenset[tuple[str, Any]]:
    """A scalar (equality) or a list of them (membership), as comparable keys."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise ConditionProblem(at, "an empty list matches nothing; list the values to match")
    if len(items) > MAX_LIST:
        raise ConditionProblem(at, f"{len(items)} values; at most {MAX_LIST} are allowed")
    wanted = "a string" if strings_only else "a string, number or boolean"
    for index, item in enumerate(items):
        where = f"{at}[{index}]" if isinstance(value, list) else at
        if strings_only and not isinstance(item, str):
            raise ConditionProblem(where, f"expected {wanted} (or a list of them), got {_kind(item)}")
        if not isinstance(item, str | int | float | bool):
            raise ConditionProblem(where, f"expected {wanted} (or a list of them), got {_kind(item)}")
        if isinstance(item, str) and len(item) > MAX_TEXT:
            raise ConditionProblem(where, f"a value of {len(item)} characters; at most {MAX_TEXT}")
    return frozenset(_comparable(item) for item in items)


def _comparable(value: Any) -> tuple[str, Any]:
    """Metadata values compare as JSON does: 1 equals 1.0, but true is not 1 and "1" is not 1."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    return ("string", value)


def _meant(key: str) -> str:
    known = [k for k in KEYS if k != "metadata.<field>"]
    head, dot, tail = key.partition(".")
    if key.startswith("metadata."):
        return "; a metadata field's name is 1 to 64 letters, digits, _ . or -"
    if dot and closest(head, ["metadata"]) is not None:
        return f'; did you mean "metadata.{tail}"?'
    if (guess := closest(key, known)) is not None:
        return f"; did you mean {guess!r}?"
    if not dot:
        return f'; a metadata field is written "metadata.{key}"'
    return f"; known: {', '.join(KEYS)}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
