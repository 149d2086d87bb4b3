"""A route node → Cloudflare's dynamic-routing element graph (the reverse of route_elements.py).

Every node can be shown, so a route set natively reads back through the SDK: a `fallback` list
becomes each member's failures leading to the next member (a model's `fallback` output, and a
limit's when it has no `else`); a split's weights become percentages of 100 (the last branch is
`else`). What Cloudflare's elements have no field for is shown under Sluicegate's own property
names, which route_elements.py reads back: a split's `sticky`, a target's `retry_delay_ms` and
`backoff`, a limit's `name`, `limitType: "tokens"` and `key: "token"`. A target's timeout and
retries are null where it uses the gateway's defaults.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sluicegate.cfapi.route_conditions import cloudflare_conditions

START, END = "start", "end"
_LIMIT_TYPES = {"requests": "count", "cost": "cost", "tokens": "tokens"}


def route_elements(node: Any) -> list[dict[str, Any]]:
    """The elements of the graph that runs as `node` (stored route JSON, already valid)."""
    graph = _Builder()
    first = graph.emit(node, END)
    start = {"id": START, "type": "start", "outputs": {"next": _to(first)}}
    return [start, *graph.elements, {"id": END, "type": "end", "outputs": {}}]


class _Builder:
    def __init__(self) -> None:
        self.elements: list[dict[str, Any]] = []
        self._counts: Counter[str] = Counter()

    def emit(self, node: Any, on_failure: str) -> str:
        """The id of the element that starts `node`; where its targets all fail, `on_failure`."""
        if "fallback" in node:
            following = on_failure
            for member in reversed(node["fallback"]):
                following = self.emit(member, following)
            return following
        if "model" in node:
            return self._model(node, on_failure)
        if "split" in node:
            return self._percentage(node["split"], node.get("sticky"), on_failure)
        if "if" in node:
            element = self._add("conditional", {"conditions": cloudflare_conditions(node["if"])})
            element["outputs"] = {
                "true": _to(self.emit(node["then"], on_failure)),
                "false": _to(self.emit(node["else"], on_failure)),
            }
            return str(element["id"])
        return self._limit(node, on_failure)

    def _model(self, target: dict[str, Any], on_failure: str) -> str:
        provider, _, model = target["model"].partition("/")
        attempts = target.get("max_attempts")
        properties: dict[str, Any] = {
            "provider": provider,
            "model": model,
            "timeout": target.get("timeout_ms"),
            "retries": None if attempts is None else attempts - 1,
        }
        properties |= {k: target[k] for k in ("retry_delay_ms", "backoff") if target.get(k) is not None}
        element = self._add("model", properties)
        element["outputs"] = {"success": _to(END), "fallback": _to(on_failure)}
        return str(element["id"])

    def _percentage(self, branches: list[dict[str, Any]], sticky: str | None, on_failure: str) -> str:
        """Outputs keyed by percentage; a percentage met twice starts a nested element under `else`."""
        total = sum(branch["weight"] for branch in branches)
        element = self._add("percentage", {"sticky": sticky} if sticky else None)
        outputs: dict[str, dict[str, str]] = element["outputs"]
        for index, branch in enumerate(branches):
            rest = branches[index:]
            if len(rest) == 1:
                outputs["else"] = _to(self.emit(branch["then"], on_failure))
                break
            key = _percent(100 * branch["weight"] / total)
            if key in outputs:
                outputs["else"] = _to(self._percentage(rest, sticky, on_failure))
                break
            outputs[key] = _to(self.emit(branch["then"], on_failure))
        return str(element["id"])

    def _limit(self, node: dict[str, Any], on_failure: str) -> str:
        rule = node["limit"]
        properties: dict[str, Any] = {
            "limitType": _LIMIT_TYPES[rule.get("unit", "requests")],
            "key": rule.get("scope", "gateway"),
            "limit": rule["limit"],
            "window": rule["period"],
            "technique": rule.get("technique", "fixed"),
        }
        if rule.get("name"):
            properties["name"] = rule["name"]
        element = self._add("rate", properties)
        success = _to(self.emit(node["then"], on_failure))
        spent = self.emit(node["else"], on_failure) if "else" in node else on_failure
        element["outputs"] = {"success": success, "fallback": _to(spent)}
        return str(element["id"])

    def _add(self, kind: str, properties: dict[str, Any] | None) -> dict[str, Any]:
        """A new element, placed before those its outputs lead to (filled in by the caller)."""
        self._counts[kind] += 1
        element: dict[str, Any] = {"id": f"{kind}-{self._counts[kind]}", "type": kind}
        if properties is not None:
            element["properties"] = properties
        element["outputs"] = {}
        self.elements.append(element)
        return element


def _to(ident: str) -> dict[str, str]:
    return {"elementId": ident}


def _percent(share: float) -> str:
    text = f"{share:.4f}".rstrip("0").rstrip(".")
    return f"{text}%"
