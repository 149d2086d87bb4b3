"""A Cloudflare gateway's `spend_limits` and `guardrails` ↔ Sluicegate's cost rules and guardrails.

    spend_limits.rules[]          rate_limits rules of unit "cost": limit (USD), window → period,
                                  technique, metadata {field: partition} → scope metadata.<field>,
                                  none → scope gateway, id ↔ name
    guardrails.prompt.P1          guardrails.prompt_injection.action (FLAG → flag, BLOCK → block)

Each side shows only what the other can express, and a write replaces only that: cost rules per
token, provider or model, and the guardrails' pii, custom and restore settings, are kept as they
are. What has no Sluicegate counterpart (Llama Guard's hazard categories S1–S13, prompt injection
in answers, rules filtered to some models, providers or metadata values, disabled rules) is
refused with a 400 that says what to use instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sluicegate.errors import BadRequest
from sluicegate.gateway import GatewaySettings, RateLimitRule

HAZARDS: Mapping[str, str] = {
    "S1": "Violent Crimes", "S2": "Non-Violent Crimes", "S3": "Sex-Related Crimes",
    "S4": "Child Sexual Exploitation", "S5": "Defamation", "S6": "Specialized Advice", "S7": "Privacy",
    "S8": "Intellectual Property", "S9": "Indiscriminate Weapons", "S10": "Hate",
    "S11": "Suicide & Self-Harm", "S12": "Sexual Content", "S13": "Elections",
}  # fmt: skip
_ACTIONS = {"FLAG": "flag", "BLOCK": "block"}
_GUARDRAILS_DOC = (
    "personal data and secrets are found by Sluicegate's own guardrails setting (docs/guardrails.md)"
)


def shown_as_spend(rule: RateLimitRule) -> bool:
    """A cost rule Cloudflare's spend_limits can express: for the gateway or per metadata field."""
    return rule.unit == "cost" and (rule.scope == "gateway" or rule.scope.startswith("metadata."))


def cloudflare_spend_limits(settings: GatewaySettings) -> dict[str, Any]:
    rules = [_spend_rule(rule) for rule in settings.rate_limits if shown_as_spend(rule)]
    return {"enabled": bool(rules), "rules": rules}


def _spend_rule(rule: RateLimitRule) -> dict[str, Any]:
    shown: dict[str, Any] = {"id": rule.name} if rule.name else {}
    shown |= {"enabled": True, "limit": rule.limit, "limitType": "cost", "window": rule.period,
              "technique": rule.technique}  # fmt: skip
    if rule.scope != "gateway":
        shown["metadata"] = {rule.scope.removeprefix("metadata."): {"mode": "partition"}}
    return shown


def spend_rules(value: Any, kept: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The native rate_limits: `kept` (every rule spend_limits does not show) and the rules sent."""
    if value is None or value.get("enabled") is False:
        return kept
    rules = value.get("rules") or []
    if not isinstance(rules, list):
        raise BadRequest("spend_limits.rules: expected a list of rules", field="spend_limits.rules")
    return [*kept, *(_native_rule(rule, f"spend_limits.rules.{i}") for i, rule in enumerate(rules))]


def _native_rule(rule: Any, where: str) -> dict[str, Any]:
    if not isinstance(rule, dict):
        raise BadRequest(f"{where}: expected a rule object", field=where)
    if rule.get("enabled") is False:
        raise BadRequest(
            f"{where}.enabled: Sluicegate keeps only rules that apply; leave a disabled rule out",
            field=f"{where}.enabled",
        )
    for name in ("model", "provider"):
        if rule.get(name):
            raise BadRequest(
                f"{where}.{name}: a cost rule here counts every request of its scope, not only some"
                f" {name}s; to budget only some, use a limit element in a dynamic route (…/routes)",
                field=f"{where}.{name}",
            )
    limit, window = rule.get("limit"), rule.get("window")
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0:
        raise BadRequest(f"{where}.limit: expected USD above 0, got {limit!r}", field=f"{where}.limit")
    if isinstance(window, bool) or not isinstance(window, int) or window <= 0:
        raise BadRequest(
            f"{where}.window: expected whole seconds above 0, got {window!r}", field=f"{where}.window"
        )
    if rule.get("limitType", "cost") != "cost":
        raise BadRequest(f'{where}.limitType: spend limits count "cost"', field=f"{where}.limitType")
    native = {"unit": "cost", "limit": limit, "period": window, "technique": rule.get("technique") or "fixed",
              "scope": _scope(rule.get("metadata"), f"{where}.metadata")}  # fmt: skip
    return native | {"name": rule["id"]} if rule.get("id") else native


def _scope(metadata: Any, where: str) -> str:
    if not metadata:
        return "gateway"
    if not isinstance(metadata, dict) or len(metadata) != 1:
        raise BadRequest(f"{where}: a rule counts per one metadata field at most", field=where)
    field, how = next(iter(metadata.items()))
    if not isinstance(how, dict) or how.get("mode") != "partition":
        raise BadRequest(
            f'{where}.{field}: only {{"mode": "partition"}} (one budget per value) is served; a rule for'
            " some values only is a limit element behind a conditional in a dynamic route (…/routes)",
            field=f"{where}.{field}",
        )
    return f"metadata.{field}"


def cloudflare_guardrails(settings: GatewaySettings) -> dict[str, Any] | None:
    policy = settings.guardrails
    if policy is None or policy.prompt_injection is None:
        return None
    return {"prompt": {"P1": policy.prompt_injection.action.upper()}, "response": {}}


def native_guardrails(value: Any, current: GatewaySettings) -> dict[str, Any] | None:
    """The native guardrails setting with prompt injection as `value` says; the rest kept."""
    value = value or {}
    for side in ("prompt", "response"):
        for code, action in (value.get(side) or {}).items():
            _check_category(side, code, action)
    action = (value.get("prompt") or {}).get("P1")
    policy = current.guardrails.model_dump() if current.guardrails is not None else {}
    policy["prompt_injection"] = {"action": _ACTIONS[action]} if action else None
    if not policy.get("pii") and not policy.get("custom") and not policy["prompt_injection"]:
        return None
    return policy


def _check_category(side: str, code: str, action: Any) -> None:
    where = f"guardrails.{side}.{code}"
    if action is None:
        return  # Cloudflare's "Ignore"
    if action not in _ACTIONS:
        raise BadRequest(
            f'{where}: expected "FLAG" or "BLOCK" (or leave it out), got {action!r}', field=where
        )
    if code in HAZARDS:
        raise BadRequest(
            f"{where}: Sluicegate has no classifier for {HAZARDS[code]} (Cloudflare runs Llama Guard);"
            f" only prompt injection (P1) maps here, while {_GUARDRAILS_DOC}",
            field=where,
        )
    if code != "P1":
        raise BadRequest(f"{where}: unknown category; expected P1 or S1–S13", field=where)
    if side == "response":
        raise BadRequest(
            f"{where}: prompt injection is looked for in requests only (their user turns); set prompt.P1",
            field=where,
        )
