"""Cloudflare's `spend_limits` and `guardrails` fields ↔ cost rules and the guardrails setting."""

from __future__ import annotations

from typing import Any

import pytest

from sluicegate.cfapi.gateway_policies import (
    cloudflare_guardrails,
    cloudflare_spend_limits,
    native_guardrails,
    spend_rules,
)
from sluicegate.errors import BadRequest
from sluicegate.gateway import GatewaySettings

PER_TOKEN = {"unit": "cost", "limit": 3, "period": 60, "scope": "token"}


def test_spend_rules_become_cost_rules_and_read_back_as_sent() -> None:
    sent = {"enabled": True, "rules": [
        {"limit": 5, "limitType": "cost", "window": 3600},
        {"id": "teams", "limit": 1.5, "limitType": "cost", "window": 60, "technique": "sliding",
         "metadata": {"team": {"mode": "partition"}}},
    ]}  # fmt: skip
    rules = spend_rules(sent, [PER_TOKEN])
    assert rules == [
        PER_TOKEN,
        {"unit": "cost", "limit": 5, "period": 3600, "technique": "fixed", "scope": "gateway"},
        {
            "unit": "cost",
            "limit": 1.5,
            "period": 60,
            "technique": "sliding",
            "scope": "metadata.team",
            "name": "teams",
        },
    ]
    shown = cloudflare_spend_limits(GatewaySettings(rate_limits=rules))
    assert shown["rules"] == [{"enabled": True, "technique": "fixed", **sent["rules"][0]},
                              {"enabled": True, **sent["rules"][1]}]  # fmt: skip
    assert spend_rules({"enabled": False, "rules": sent["rules"]}, [PER_TOKEN]) == [PER_TOKEN]


@pytest.mark.parametrize(
    ("rule", "field", "says"),
    [
        ({"limit": 5, "window": 60, "model": {"mode": "filter", "values": ["gpt-4o"]}}, "rules.0.model",
         "only some models"),
        ({"limit": 5, "window": 60, "metadata": {"team": {"mode": "filter", "values": ["a"]}}},
         "rules.0.metadata.team", "partition"),
        ({"limit": 5, "window": 60, "enabled": False}, "rules.0.enabled", "leave a disabled rule out"),
        ({"limit": 0, "window": 60}, "rules.0.limit", "above 0"),
        ({"limit": 5, "window": 1.5}, "rules.0.window", "whole seconds"),
    ],
)  # fmt: skip
def test_a_spend_rule_sluicegate_cannot_count_is_refused(rule: dict[str, Any], field: str, says: str) -> None:
    with pytest.raises(BadRequest) as refused:
        spend_rules({"rules": [rule]}, [])
    assert refused.value.details["field"] == f"spend_limits.{field}"
    assert says in refused.value.message


def test_p1_is_prompt_injection_and_the_rest_of_the_guardrails_are_kept() -> None:
    pii = {"action": "redact", "entities": ["email"]}
    current = GatewaySettings.model_validate({"guardrails": {"pii": pii, "restore": True}})
    policy = native_guardrails({"prompt": {"P1": "FLAG"}, "response": {}}, current)
    assert policy is not None
    assert (policy["prompt_injection"], policy["pii"]["entities"], policy["restore"]) == (
        {"action": "flag"},
        ("email",),
        True,
    )
    shown = cloudflare_guardrails(GatewaySettings.model_validate({"guardrails": policy}))
    assert shown == {"prompt": {"P1": "FLAG"}, "response": {}}
    assert native_guardrails(None, GatewaySettings()) is None


@pytest.mark.parametrize(
    ("value", "field", "says"),
    [
        ({"prompt": {"S10": "BLOCK"}, "response": {}}, "guardrails.prompt.S10", "no classifier for Hate"),
        ({"prompt": {}, "response": {"P1": "FLAG"}}, "guardrails.response.P1", "requests only"),
        ({"prompt": {"P1": "IGNORE"}, "response": {}}, "guardrails.prompt.P1", 'expected "FLAG" or "BLOCK"'),
    ],
)
def test_what_the_guardrails_cannot_do_is_refused(value: Any, field: str, says: str) -> None:
    with pytest.raises(BadRequest) as refused:
        native_guardrails(value, GatewaySettings())
    assert refused.value.details["field"] == field
    assert says in refused.value.message
