"""The `guardrails` setting: defaults, and errors that name the field and the likely meaning."""

from __future__ import annotations

from typing import Any

import pytest

from sluicegate.errors import BadRequest
from sluicegate.guardrails.policy import parse_policy
from sluicegate.guardrails.scanner import BUILTIN_ENTITIES


def test_defaults() -> None:
    policy = parse_policy({"pii": {}, "custom": [{"name": "project", "words": ["Falcon"]}]})
    assert policy.pii is not None
    assert (policy.pii.action, policy.pii.direction, policy.pii.entities) == (
        "redact",
        "both",
        BUILTIN_ENTITIES,
    )
    assert policy.custom[0].action == "redact"
    assert policy.prompt_injection is None
    assert policy.restore is False


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"pii": {"action": "blok"}}, "guardrails.pii.action", "did you mean 'block'?"),
        ({"pii": {"direction": "requests"}}, "guardrails.pii.direction", "did you mean 'request'?"),
        ({"pii": {"entities": ["email", "emial"]}}, "guardrails.pii.entities.1", "did you mean 'email'?"),
        ({"pii": {"entities": []}}, "guardrails.pii.entities", "at least 1 item"),
        (
            {"pii": {"entitys": ["email"]}},
            "guardrails.pii",
            "unknown field 'entitys'; did you mean 'entities'?",
        ),
        (
            {"prompt_injection": {"action": "redact"}},
            "guardrails.prompt_injection.action",
            "expected one of block, flag",
        ),
        (
            {"custom": [{"name": "ids", "patterns": ["ID-[0-9]+"]}]},
            "guardrails.custom.0.patterns.0",
            "pattern 'ID-[0-9]+' can match more than 128 characters",
        ),
        ({"custom": [{"name": "ids"}]}, "guardrails.custom.0", "needs `patterns` or `words`"),
        (
            {"custom": [{"name": "Bad Name", "words": ["x"]}]},
            "guardrails.custom.0.name",
            "should match pattern",
        ),
        ({"custom": [{"name": "email", "words": ["x"]}]}, "guardrails", "is a built-in entity"),
        (
            {"custom": [{"name": "a", "words": ["x"]}, {"name": "a", "words": ["y"]}]},
            "guardrails",
            "'a' is used twice",
        ),
        ({"pii": {"action": "block"}, "restore": True}, "guardrails", "restore needs a pii or custom rule"),
    ],
)
def test_errors_name_the_field(data: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_policy(data)
    assert caught.value.details["field"] == field
    assert caught.value.message.startswith(f"{field}: ")
    assert message in caught.value.message
