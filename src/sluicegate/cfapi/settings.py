"""A Cloudflare gateway's fields ↔ Sluicegate's `GatewaySettings`.

`GatewayFields` is the body of Cloudflare's create and update; `native_changes` turns the fields
it was sent into the settings they change (the native code validates and stores them), and
`cloudflare_gateway` shows a gateway the Cloudflare way. Cloudflare features Sluicegate does not
have are accepted only with the value that means "off", which the official SDK and Terraform send
by default; any other value is refused with a message that says what to do instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from sluicegate.cfapi.gateway_policies import (
    cloudflare_guardrails,
    cloudflare_spend_limits,
    native_guardrails,
    shown_as_spend,
    spend_rules,
)
from sluicegate.errors import BadRequest
from sluicegate.gateway import DEFAULT_GATEWAY, Gateway, GatewaySettings, RateLimitRule
from sluicegate.types import Backoff

NATIVE_API = "PATCH /api/v1/accounts/{account}/gateways/{gateway}"
_STRATEGIES = {"STOP_INSERTING": "stop", "DELETE_OLDEST": "delete_oldest"}
_RATE_FIELDS = ("rate_limiting_interval", "rate_limiting_limit", "rate_limiting_technique")


class GatewayFields(BaseModel):
    """The fields of Cloudflare's create and update bodies (cloudflare 5.9.0, `ai_gateway_*_params`)."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    cache_invalidate_on_update: bool | None = None
    cache_ttl: int | None = None
    collect_logs: bool | None = None
    rate_limiting_interval: int | None = None
    rate_limiting_limit: int | None = None
    rate_limiting_technique: Literal["fixed", "sliding"] | None = None
    authentication: bool | None = None
    log_management: int | None = None
    log_management_strategy: Literal["STOP_INSERTING", "DELETE_OLDEST"] | None = None
    retry_backoff: Literal["constant", "linear", "exponential"] | None = None
    retry_delay: int | None = None
    retry_max_attempts: int | None = None
    byok_only: bool | None = None  # either way: Sluicegate never pays a provider itself
    guardrails: dict[str, Any] | None = None  # prompt injection (gateway_policies.py)
    spend_limits: dict[str, Any] | None = None  # cost rules (gateway_policies.py)
    # Accepted only when they mean "off" (see REFUSED).
    dlp: dict[str, Any] | None = None
    log_classification: bool | None = None
    logpush: bool | None = None
    logpush_public_key: str | None = None
    otel: list[dict[str, Any]] | None = None
    store_id: str | None = None
    stripe: dict[str, Any] | None = None
    workers_ai_billing_mode: Literal["postpaid", "unified"] | None = None
    zdr: bool | None = None


# field -> (is the value "off"?, why another value is refused and what to do instead)
REFUSED: Mapping[str, tuple[Callable[[Any], bool], str]] = {
    "dlp": (
        lambda v: v.get("enabled") is False,
        "Sluicegate has no DLP profiles to apply: its guardrails setting finds personal data and secrets"
        f" (email, phone, credit_card, iban, us_ssn, ip_address, secret, custom patterns) and blocks, redacts"
        f" or flags them; set it through the native API ({NATIVE_API}, settings.guardrails; see"
        ' docs/guardrails.md); send {"enabled": false, ...} or leave dlp out',
    ),
    "log_classification": (lambda v: v is False, "Sluicegate does not classify logs; send false"),
    "logpush": (
        lambda v: v is False,
        "Sluicegate has no Logpush; read logs with GET …/logs (or the native /api/v1 logs API); send false",
    ),
    "logpush_public_key": (lambda v: v == "", "Sluicegate has no Logpush; send null"),
    "otel": (
        lambda v: v == [],
        "per-gateway OpenTelemetry export is not supported: Sluicegate sends the spans of every gateway"
        " to SLUICEGATE_OTLP_ENDPOINT; send null or []",
    ),
    "store_id": (
        lambda v: v == "",
        "Sluicegate has no Secrets Store: it seals stored provider keys in its own database"
        " (POST …/provider_configs with `secret`); send null",
    ),
    "stripe": (lambda v: False, "usage billing through Stripe is not supported; send null"),
    "workers_ai_billing_mode": (
        lambda v: v == "postpaid",
        'Sluicegate does not bill for Workers AI: requests carry your own Workers AI token; send "postpaid"',
    ),
    "zdr": (
        lambda v: v is False,
        "Sluicegate cannot route to providers' zero-data-retention endpoints; to keep prompts and answers"
        f" out of its logs, set collect_payloads to false through the native API ({NATIVE_API}); send false",
    ),
}

# Native setting -> the Cloudflare field it shows as, for errors found by the native validation.
CLOUDFLARE_NAMES: Mapping[str, str] = {
    "cache_ttl": "cache_ttl",
    "cache_invalidate_on_update": "cache_invalidate_on_update",
    "collect_logs": "collect_logs",
    "authentication": "authentication",
    "max_records": "log_management",
    "on_max_records": "log_management_strategy",
    "max_attempts": "retry_max_attempts",
    "retry_delay_ms": "retry_delay",
    "backoff": "retry_backoff",
    "rate_limits.limit": "rate_limiting_limit",
    "rate_limits.period": "rate_limiting_interval",
    "rate_limits.technique": "rate_limiting_technique",
}


def native_changes(fields: GatewayFields, current: GatewaySettings) -> dict[str, Any]:
    """The native settings the fields sent change. A field left out keeps its value; null (and,
    for Cloudflare's numbers that enable a feature, 0) means off or the default."""
    sent = fields.model_fields_set
    for name, (is_off, why) in REFUSED.items():
        value = getattr(fields, name)
        if name in sent and value is not None and not is_off(value):
            raise BadRequest(f"{name}: {why}", field=name)
    changes: dict[str, Any] = {}
    defaults = GatewaySettings()
    if "cache_ttl" in sent:
        ttl = fields.cache_ttl
        changes["cache_enabled"] = bool(ttl)
        if ttl:
            changes["cache_ttl"] = ttl
    for name in ("cache_invalidate_on_update", "collect_logs", "authentication"):
        if name in sent:
            value = getattr(fields, name)
            changes[name] = getattr(defaults, name) if value is None else value
    if "log_management" in sent:
        changes["max_records"] = fields.log_management or None
    if "log_management_strategy" in sent:
        strategy = fields.log_management_strategy
        changes["on_max_records"] = _STRATEGIES[strategy] if strategy else defaults.on_max_records
    if "retry_max_attempts" in sent:
        changes["max_attempts"] = fields.retry_max_attempts or defaults.max_attempts
    if "retry_delay" in sent:
        changes["retry_delay_ms"] = (
            defaults.retry_delay_ms if fields.retry_delay is None else fields.retry_delay
        )
    if "retry_backoff" in sent:
        changes["backoff"] = fields.retry_backoff or defaults.backoff
    rules = [rule.model_dump() for rule in current.rate_limits]
    if sent & set(_RATE_FIELDS):
        rules = _rate_limits(fields, current)
    if "spend_limits" in sent:
        kept = [rule for rule in rules if not shown_as_spend(RateLimitRule.model_validate(rule))]
        rules = spend_rules(fields.spend_limits, kept)
    if sent & {*_RATE_FIELDS, "spend_limits"}:
        changes["rate_limits"] = rules
    if "guardrails" in sent:
        policy = native_guardrails(fields.guardrails, current)
        if policy != (None if current.guardrails is None else current.guardrails.model_dump()):
            changes["guardrails"] = policy
    return changes


def _rate_limits(fields: GatewayFields, current: GatewaySettings) -> list[dict[str, Any]]:
    """The gateway's rate limits with Cloudflare's one rule (requests per interval, gateway-wide)
    replaced; every other native rule (per token, model, of tokens or cost) is kept."""
    sent, rule = fields.model_fields_set, cloudflare_rule(current)
    interval = (
        fields.rate_limiting_interval if "rate_limiting_interval" in sent else rule.period if rule else None
    )
    limit = fields.rate_limiting_limit if "rate_limiting_limit" in sent else rule.limit if rule else None
    technique = (
        fields.rate_limiting_technique
        if "rate_limiting_technique" in sent
        else rule.technique
        if rule
        else None
    )
    kept = [r.model_dump() for r in current.rate_limits if not _is_cloudflare_rule(r)]
    if not interval and not limit:
        return kept
    if not interval or not limit:
        missing = "rate_limiting_interval" if not interval else "rate_limiting_limit"
        raise BadRequest(
            f"{missing}: rate limiting needs both rate_limiting_limit and rate_limiting_interval"
            " (give 0 or null for both to turn it off)",
            field=missing,
        )
    return [*kept, {"limit": limit, "period": interval, "technique": technique or "fixed"}]


def cloudflare_rule(settings: GatewaySettings) -> RateLimitRule | None:
    """The rule Cloudflare's rate_limiting_* fields show: the first gateway-wide count of requests."""
    return next((rule for rule in settings.rate_limits if _is_cloudflare_rule(rule)), None)


def _is_cloudflare_rule(rule: RateLimitRule) -> bool:
    return rule.unit == "requests" and rule.scope == "gateway"


def renamed(error: BadRequest) -> BadRequest:
    """A 400 of the native validation (`settings.retry_delay_ms: …`) in Cloudflare's field names."""
    field = str(error.details.get("field", ""))
    native = re.sub(
        r"\.\d+\.", ".", field.removeprefix("settings.")
    )  # rate_limits.0.limit -> rate_limits.limit
    name = CLOUDFLARE_NAMES.get(native)
    if name is None or not field.startswith("settings."):
        return error
    reason, path = error.message.removeprefix(f"{field}: "), field.removeprefix("settings.")
    aside = "" if name == path else f" (Sluicegate's {path} setting)"
    return BadRequest(f"{name}: {reason}{aside}", field=name)


def cloudflare_gateway(gateway: Gateway) -> dict[str, Any]:
    """A gateway as Cloudflare's get, list, create and update answer it."""
    settings, rule = gateway.settings, cloudflare_rule(gateway.settings)
    return {
        "id": gateway.slug,
        "created_at": iso_time(gateway.created_at),
        "modified_at": iso_time(gateway.modified_at or gateway.created_at),
        "cache_invalidate_on_update": settings.cache_invalidate_on_update,
        "cache_ttl": settings.cache_ttl if settings.cache_enabled else 0,
        "collect_logs": settings.collect_logs,
        "rate_limiting_interval": rule.period if rule else 0,
        "rate_limiting_limit": _number(rule.limit) if rule else 0,
        "rate_limiting_technique": rule.technique if rule else None,
        "authentication": settings.authentication,
        "log_management": settings.max_records,
        "log_management_strategy": next(k for k, v in _STRATEGIES.items() if v == settings.on_max_records),
        "retry_backoff": Backoff(settings.backoff).value,
        "retry_delay": settings.retry_delay_ms,
        "retry_max_attempts": settings.max_attempts,
        "spend_limits": cloudflare_spend_limits(settings),
        "guardrails": cloudflare_guardrails(settings),
        "is_default": gateway.slug == DEFAULT_GATEWAY,
        "byok_only": True,
        "log_classification": False,
        "logpush": False,
        "workers_ai_billing_mode": "postpaid",
        "zdr": False,
    }


def iso_time(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _number(value: float) -> int | float:
    return int(value) if value == int(value) else value
