"""Cloudflare's gateway fields → Sluicegate's settings → Cloudflare's view, without a server."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.cfapi.settings import REFUSED, GatewayFields, cloudflare_gateway, native_changes, renamed
from sluicegate.errors import BadRequest
from sluicegate.gateway import Gateway, GatewaySettings, RateLimitRule

DEFAULTS = GatewaySettings()
TOKENS_RULE = RateLimitRule(limit=10_000, period=3600, unit="tokens")


def changes(current: GatewaySettings = DEFAULTS, **fields: Any) -> dict[str, Any]:
    return native_changes(GatewayFields.model_validate(fields), current)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, {}),
        ({"cache_ttl": 600}, {"cache_enabled": True, "cache_ttl": 600}),
        ({"cache_ttl": 0}, {"cache_enabled": False}),
        ({"cache_ttl": None}, {"cache_enabled": False}),
        ({"collect_logs": None, "authentication": None}, {"collect_logs": True, "authentication": False}),
        ({"cache_invalidate_on_update": True}, {"cache_invalidate_on_update": True}),
        ({"log_management": 0}, {"max_records": None}),
        (
            {"log_management": 10_000, "log_management_strategy": "STOP_INSERTING"},
            {"max_records": 10_000, "on_max_records": "stop"},
        ),
        ({"log_management_strategy": None}, {"on_max_records": "delete_oldest"}),
        (
            {"retry_max_attempts": 4, "retry_delay": 0, "retry_backoff": "linear"},
            {"max_attempts": 4, "retry_delay_ms": 0, "backoff": "linear"},
        ),
        (
            {"retry_max_attempts": None, "retry_delay": None, "retry_backoff": None},
            {"max_attempts": 1, "retry_delay_ms": DEFAULTS.retry_delay_ms, "backoff": DEFAULTS.backoff},
        ),
        (
            {"rate_limiting_interval": 60, "rate_limiting_limit": 5},
            {"rate_limits": [{"limit": 5, "period": 60, "technique": "fixed"}]},
        ),
        ({"rate_limiting_interval": 0, "rate_limiting_limit": 0}, {"rate_limits": []}),
        ({"rate_limiting_interval": None, "rate_limiting_limit": None}, {"rate_limits": []}),
        # Byok_only holds either way; the features that are off are accepted as such.
        (
            {
                "byok_only": False,
                "dlp": {"enabled": False, "action": "FLAG", "profiles": ["p"]},
                "guardrails": {"prompt": {"P1": None}, "response": {}},
                "otel": [],
                "spend_limits": {"enabled": False, "rules": [{"limit": 1}]},
                "workers_ai_billing_mode": "postpaid",
                "logpush_public_key": "",
            },
            {"rate_limits": []},  # spend limits off: no cost rule that Cloudflare shows
        ),
    ],
)
def test_each_field_maps_to_its_setting(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    assert changes(**fields) == expected


def test_cloudflare_s_rate_limit_replaces_only_its_own_rule() -> None:
    current = GatewaySettings(rate_limits=[RateLimitRule(limit=5, period=60), TOKENS_RULE])
    kept = [TOKENS_RULE.model_dump()]
    assert changes(current, rate_limiting_technique="sliding")["rate_limits"] == [
        *kept,
        {"limit": 5, "period": 60, "technique": "sliding"},
    ]
    assert changes(current, rate_limiting_limit=9)["rate_limits"] == [
        *kept,
        {"limit": 9, "period": 60, "technique": "fixed"},
    ]
    assert changes(current, rate_limiting_limit=0, rate_limiting_interval=0)["rate_limits"] == kept
    with pytest.raises(BadRequest, match=r"^rate_limiting_interval: rate limiting needs both"):
        changes(DEFAULTS, rate_limiting_limit=9)
    with pytest.raises(BadRequest, match=r"^rate_limiting_limit: rate limiting needs both"):
        changes(current, rate_limiting_limit=None)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("dlp", {"enabled": True, "action": "BLOCK", "profiles": []}),
        ("log_classification", True),
        ("logpush", True),
        ("logpush_public_key", "pk"),
        ("otel", [{"url": "https://collector", "headers": {}}]),
        ("store_id", "s"),
        ("stripe", {"authorization": "a", "usage_events": []}),
        ("workers_ai_billing_mode", "unified"),
        ("zdr", True),
    ],
)
def test_a_feature_sluicegate_lacks_is_refused_unless_off(name: str, value: Any) -> None:
    with pytest.raises(BadRequest) as refused:
        changes(**{name: value})
    assert refused.value.message == f"{name}: {REFUSED[name][1]}"
    assert refused.value.details["field"] == name
    assert changes(**{name: None}) == {}


def test_a_native_validation_error_is_named_the_cloudflare_way() -> None:
    native = BadRequest(
        "settings.rate_limits.1.period: Input should be greater than 0", field="settings.rate_limits.1.period"
    )
    shown = renamed(native)
    assert shown.message == (
        "rate_limiting_interval: Input should be greater than 0 (Sluicegate's rate_limits.1.period setting)"
    )
    assert shown.details["field"] == "rate_limiting_interval"
    same = BadRequest(
        "settings.cache_ttl: Input should be greater than or equal to 60", field="settings.cache_ttl"
    )
    assert renamed(same).message == "cache_ttl: Input should be greater than or equal to 60"
    other = BadRequest("settings.redact_paths: bad", field="settings.redact_paths")
    assert renamed(other) is other


ROUND_TRIP = st.fixed_dictionaries(
    {},
    optional={
        "cache_ttl": st.one_of(st.just(0), st.integers(60, 30 * 24 * 3600)),
        "cache_invalidate_on_update": st.booleans(),
        "collect_logs": st.booleans(),
        "authentication": st.booleans(),
        "log_management": st.integers(1, 10_000_000),
        "log_management_strategy": st.sampled_from(["STOP_INSERTING", "DELETE_OLDEST"]),
        "retry_max_attempts": st.integers(1, 5),
        "retry_delay": st.integers(0, 5000),
        "retry_backoff": st.sampled_from(["constant", "linear", "exponential"]),
        "rate": st.one_of(
            st.just((0, 0, None)),
            st.tuples(st.integers(1, 86_400), st.integers(1, 10**6), st.sampled_from(["fixed", "sliding"])),
        ),
    },
)


@given(ROUND_TRIP)
def test_what_is_set_reads_back_the_same(fields: dict[str, Any]) -> None:
    if "rate" in fields:
        interval, limit, technique = fields.pop("rate")
        fields |= {"rate_limiting_interval": interval, "rate_limiting_limit": limit}
        if technique:
            fields["rate_limiting_technique"] = technique
    settings = GatewaySettings.model_validate(DEFAULTS.model_dump() | changes(**fields))
    shown = cloudflare_gateway(Gateway(account="local", slug="g", name="g", settings=settings, created_at=0))
    assert {name: shown[name] for name in fields} == fields
