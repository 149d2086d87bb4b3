"""Cloudflare's dynamic-routing element graph → a route node (docs/routing.md has the table).

The graph is walked from its `start` element and unfolded into a tree: an element reached from
several places is repeated (a model's `fallback` output becomes the rest of a `fallback` list).
Each element becomes:

    start → next            the root
    conditional             if (conditions: route_conditions.py), true → then, false → else
    percentage              split: "10%" outputs weigh 10, `else` the rest of 100
    rate / rate_limit       limit: success → then, fallback → else (to `end`: no else, a 429)
    model                   target, timeout → timeout_ms, retries → max_attempts − 1; its
                            fallback output → {"fallback": [target, …]}
    end                     where a model's outputs stop

What cannot run the same here is refused with a 400 naming the element (`elements[3] ("rl",
rate): …`); the route is then validated as any route is, its problems named by element too.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sluicegate.cfapi.route_conditions import ConditionsUnmapped, node_condition
from sluicegate.errors import BadRequest
from sluicegate.hints import did_you_mean
from sluicegate.routing import RouteInvalid, parse_route
from sluicegate.routing.nodes import MAX_ATTEMPTS, MAX_TIMEOUT_MS, join
from sluicegate.routing.route import MAX_NODES

TYPES = ("start", "conditional", "percentage", "rate", "rate_limit", "model", "end")
LIMIT_TYPES = {"count": "requests", "cost": "cost", "tokens": "tokens"}  # tokens: Sluicegate's own
_RULE_DEFAULTS = {"unit": "requests", "technique": "fixed", "scope": "gateway", "name": ""}
_PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)%")
_OUTPUTS = {
    "start": ("next",),
    "conditional": ("true", "false"),
    "rate": ("success", "fallback"),
    "rate_limit": ("success", "fallback"),
    "model": ("success", "fallback"),
    "end": (),
}


def route_node(name: str, elements: Any, providers: Collection[str] | None = None) -> Any:
    """The route node (JSON) the graph `elements` describes, checked as a route named `name`
    whose targets name `providers` (when given)."""
    graph = _Graph.of(elements)
    root = graph.root()
    try:
        parse_route(name, root, providers)
    except RouteInvalid as invalid:
        raise graph.blame(name, root, invalid) from None
    return root


@dataclass
class _Graph:
    elements: dict[str, tuple[int, dict[str, Any]]]
    start: str
    made: dict[int, str] = field(default_factory=dict)  # id() of a node made -> the element it came from

    @classmethod
    def of(cls, elements: Any) -> _Graph:
        if not isinstance(elements, list) or not elements:
            raise BadRequest("elements: expected a list of routing elements", field="elements")
        found: dict[str, tuple[int, dict[str, Any]]] = {}
        for index, element in enumerate(elements):
            where = f"elements.{index}"
            if not isinstance(element, dict):
                raise BadRequest(f"elements[{index}]: expected an element object", field=where)
            kind, ident = element.get("type"), element.get("id")
            if not isinstance(ident, str) or not ident:
                raise BadRequest(f"elements[{index}].id: required: the element's id", field=f"{where}.id")
            if ident in found:
                raise BadRequest(f"elements[{index}].id: {ident!r} is used twice", field=f"{where}.id")
            if kind not in TYPES:
                raise BadRequest(
                    f"elements[{index}] ({ident!r}).type: unknown element type {kind!r}"
                    f"{did_you_mean(str(kind), TYPES)}",
                    field=f"{where}.type",
                )
            if not isinstance(element.get("outputs", {}), dict):
                raise BadRequest(f"elements[{index}] ({ident!r}).outputs: expected an object", field=where)
            found[ident] = (index, element)
        starts = [ident for ident, (_, e) in found.items() if e["type"] == "start"]
        if len(starts) != 1:
            raise BadRequest(f"elements: a route has exactly one start element, this one has {len(starts)}")
        return cls(found, starts[0])

    def root(self) -> Any:
        return self.follow(self.start, "next", ())

    def follow(self, source: str, output: str, path: tuple[str, ...]) -> Any:
        """The node that `source`'s (required) `output` leads to; `path`: the elements on the way."""
        ident = self._output(source, output, required=True) or ""
        element = self.elements[ident][1]
        if ident in path or ident == source:
            why = "leads back to an element on its way here: a route cannot loop"
            raise self._error(source, f"outputs.{output}", why)
        if len(self.made) >= MAX_NODES:
            raise self._error(
                source,
                f"outputs.{output}",
                f"the graph unfolds into more than {MAX_NODES} nodes (elements reached from"
                " several places are repeated); simplify it",
            )
        kind = element["type"]
        if kind in ("start", "end"):
            what = "the start element" if kind == "start" else f"end ({ident!r}) before any model"
            raise self._error(
                source,
                f"outputs.{output}",
                f"leads to {what}: each branch of a Sluicegate route ends at a model element",
            )
        path = (*path, source)
        made = {
            "conditional": self._conditional,
            "percentage": self._percentage,
            "rate": self._limit,
            "rate_limit": self._limit,
            "model": self._model,
        }[kind](ident, element, path)
        self.made[id(made)] = ident
        return made

    def _conditional(self, ident: str, element: dict[str, Any], path: tuple[str, ...]) -> Any:
        properties = self._properties(ident)
        conditions = properties.get("conditions", properties.get("condition"))
        try:
            condition = node_condition(conditions)
        except ConditionsUnmapped as unmapped:
            raise self._error(ident, f"properties.conditions{unmapped.at}", unmapped.message) from None
        then, otherwise = self.follow(ident, "true", path), self.follow(ident, "false", path)
        return {"if": condition, "then": then, "else": otherwise}

    def _percentage(self, ident: str, element: dict[str, Any], path: tuple[str, ...]) -> Any:
        outputs: dict[str, Any] = element.get("outputs") or {}
        weights = {}
        for key in outputs:
            matched = _PERCENT.fullmatch(key)
            if matched is None and key != "else":
                raise self._error(ident, f"outputs.{key}", 'expected a percentage such as "10%", or "else"')
            if matched is not None:
                weights[key] = float(matched.group(1))
        total = sum(weights.values())
        if total > 100 + 1e-9 or ("else" not in outputs and abs(total - 100) > 1e-9):
            why = "" if "else" in outputs else ' (or add an "else" output for the rest)'
            raise self._error(
                ident, "outputs", f"the percentages add up to {_number(total)}%; they must total 100%{why}"
            )
        if "else" in outputs:
            weights["else"] = max(0.0, 100 - total)
        branches = [
            {"weight": _number(w), "then": self.follow(ident, key, path)} for key, w in weights.items()
        ]
        split: dict[str, Any] = {"split": branches}
        sticky = self._properties(ident).get("sticky")
        if sticky is not None:
            split["sticky"] = sticky
        return split

    def _limit(self, ident: str, element: dict[str, Any], path: tuple[str, ...]) -> Any:
        properties = self._properties(ident)
        limit_type = properties.get("limitType", properties.get("limit_type", "count"))
        if limit_type not in LIMIT_TYPES:
            raise self._error(
                ident, "properties.limitType", f'expected "count" or "cost", got {limit_type!r}'
            )
        window = properties.get("window", properties.get("interval"))
        if (
            isinstance(window, bool)
            or not isinstance(window, int | float)
            or window != int(window)
            or window < 1
        ):
            raise self._error(
                ident, "properties.window", f"expected a whole number of seconds, got {window!r}"
            )
        rule: dict[str, Any] = {
            "unit": LIMIT_TYPES[limit_type],
            "limit": properties.get("limit"),
            "period": int(window),
            "technique": properties.get("technique", "fixed"),
            "scope": self._scope(ident, properties.get("key")),
            "name": properties.get("name", ""),
        }
        rule = {k: v for k, v in rule.items() if v != _RULE_DEFAULTS.get(k)}  # as a person writes it
        node: dict[str, Any] = {
            "limit": rule,
            "then": self.follow(ident, "success", path),
        }
        fallback = self._output(ident, "fallback")
        if fallback is not None and self.elements[fallback][1]["type"] != "end":
            node["else"] = self.follow(ident, "fallback", path)
        return node

    def _scope(self, ident: str, key: Any) -> str:
        if key in (None, "", "gateway"):
            return "gateway"
        if key == "token" or (isinstance(key, str) and key.startswith("metadata.")):
            return str(key)
        raise self._error(
            ident,
            "properties.key",
            f"cannot count per {key!r}: a limit here counts per metadata.<field>"
            ' (e.g. "metadata.user_id"), per gateway token ("token") or for the whole gateway ("gateway")',
        )

    def _model(self, ident: str, element: dict[str, Any], path: tuple[str, ...]) -> Any:
        properties = self._properties(ident)
        provider, model = properties.get("provider"), properties.get("model")
        for name, value in (("provider", provider), ("model", model)):
            if not isinstance(value, str) or not value:
                raise self._error(ident, f"properties.{name}", f"required: the {name}'s name")
        target: dict[str, Any] = {"model": f"{provider}/{model}"}
        timeout, retries = properties.get("timeout"), properties.get("retries")
        if timeout is not None:
            if not _whole(timeout) or not 0 < timeout <= MAX_TIMEOUT_MS:
                raise self._error(
                    ident,
                    "properties.timeout",
                    f"expected whole milliseconds from 1 to {MAX_TIMEOUT_MS}, got {timeout!r}",
                )
            target["timeout_ms"] = int(timeout)
        if retries is not None:
            if not _whole(retries) or not 0 <= retries < MAX_ATTEMPTS:
                raise self._error(
                    ident,
                    "properties.retries",
                    f"expected a whole number from 0 to"
                    f" {MAX_ATTEMPTS - 1} (at most {MAX_ATTEMPTS} attempts), got {retries!r}",
                )
            target["max_attempts"] = int(retries) + 1
        for own in ("retry_delay_ms", "backoff"):  # Sluicegate's, shown when a target sets them
            if properties.get(own) is not None:
                target[own] = properties[own]
        self.made[id(target)] = ident
        success = self._output(ident, "success")
        if success is not None and self.elements[success][1]["type"] != "end":
            raise self._error(
                ident,
                "outputs.success",
                "a model's success output must lead to an end element: a"
                " Sluicegate route answers with the first model that answers",
            )
        fallback = self._output(ident, "fallback")
        if fallback is None or self.elements[fallback][1]["type"] == "end":
            return target
        rest = self.follow(ident, "fallback", path)
        return {"fallback": [target, *rest["fallback"]] if "fallback" in rest else [target, rest]}

    def _properties(self, ident: str) -> Mapping[str, Any]:
        properties = self.elements[ident][1].get("properties") or {}
        if not isinstance(properties, dict):
            raise self._error(ident, "properties", "expected an object")
        return properties

    def _output(self, ident: str, name: str, required: bool = False) -> str | None:
        """The element id an output leads to (checked to exist), or None when it is left out."""
        element = self.elements[ident][1]
        outputs = element.get("outputs") or {}
        kind = element["type"]
        for given, value in outputs.items():
            # null is no output: the SDK, reading a model element, may add {"next": null}
            if kind in _OUTPUTS and given not in _OUTPUTS[kind] and value is not None:
                raise self._error(
                    ident,
                    f"outputs.{given}",
                    f"a {kind} element has no output {given!r}{did_you_mean(str(given), _OUTPUTS[kind])}",
                )
        output = outputs.get(name)
        if output is None:
            if required:
                raise self._error(ident, f"outputs.{name}", f"required: the element {name!r} leads to")
            return None
        target = output.get("elementId", output.get("element_id")) if isinstance(output, dict) else None
        if not isinstance(target, str) or target not in self.elements:
            raise self._error(
                ident,
                f"outputs.{name}.elementId",
                f"{target!r} is not the id of an element{did_you_mean(str(target), self.elements)}",
            )
        return target

    def _error(self, ident: str, where: str, message: str) -> BadRequest:
        index, element = self.elements[ident]
        at = f".{where}" if where else ""
        return BadRequest(
            f"elements[{index}] ({ident!r}, {element['type']}){at}: {message}",
            field=f"elements.{index}{at}",
        )

    def blame(self, name: str, root: Any, invalid: RouteInvalid) -> BadRequest:
        """The route's problems, each named by the element it came from."""
        paths = dict(_paths(root, ""))
        blamed = []
        for problem in invalid.problems:
            where = problem.path.removeprefix(name).removeprefix(".")
            owner = max((p for p in paths if _within(where, p)), key=len, default="")
            ident = self.made.get(id(paths[owner]), self.start)
            index, element = self.elements[ident]
            inside = f" ({where})" if where else ""
            blamed.append(
                (index, f"elements[{index}] ({ident!r}, {element['type']}){inside}: {problem.message}")
            )
        more = f" (and {len(blamed) - 1} more)" if len(blamed) > 1 else ""
        return BadRequest(
            blamed[0][1] + more, field=f"elements.{blamed[0][0]}", problems=[message for _, message in blamed]
        )


def _paths(node: Any, where: str) -> Iterator[tuple[str, Any]]:
    yield where, node
    if "split" in node:
        for index, branch in enumerate(node["split"]):
            yield from _paths(branch["then"], join(where, f"split[{index}].then"))
    elif "fallback" in node:
        for index, member in enumerate(node["fallback"]):
            yield from _paths(member, join(where, f"fallback[{index}]"))
    elif "if" in node or "limit" in node:
        for branch in ("then", "else"):
            if branch in node:
                yield from _paths(node[branch], join(where, branch))


def _within(path: str, owner: str) -> bool:
    return not owner or path == owner or path.startswith((owner + ".", owner + "["))


def _whole(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and value == int(value)


def _number(value: float) -> int | float:
    return int(value) if value == int(value) else round(value, 6)
