"""The guardrails' request side, called with plain inputs (guard, request, plan, vault): the
rewritten body and steps and the findings come back; the plan it was given is left as it was."""

from __future__ import annotations

import orjson
from multidict import CIMultiDict

from sluicegate.exchange import RequestPlan, Step
from sluicegate.guardrails.guard import Guard
from sluicegate.guardrails.placeholders import Vault
from sluicegate.guardrails.policy import parse_policy
from sluicegate.pipeline.guardrails import guard_request
from sluicegate.providers.base import Route
from sluicegate.providers.openai import OPENAI
from tests.pipeline.stage_parts import ACCOUNT, make_exchange

ROUTE = Route(ACCOUNT, "chat/completions")
POLICY = {
    "pii": {"action": "redact", "entities": ["email"]},
    "custom": [{"name": "card", "patterns": ["4111( ?1111){3}"], "action": "block"}],
}


def plan_of(text: str) -> RequestPlan:
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
    return RequestPlan(body, [Step(OPENAI, ROUTE, CIMultiDict(), body, OPENAI.read_request(ROUTE, body))])


def test_a_redacted_request_comes_back_rewritten_and_a_blocked_one_masked() -> None:
    guard, request = Guard(parse_policy(POLICY)), make_exchange().request
    asked = plan_of("write to bob@example.com")
    guarded = guard_request(guard, request, asked, Vault())
    assert guarded.blocked is None
    assert guarded.report.findings == ["request:redact:email"]
    assert b"[EMAIL_1]" in guarded.body
    assert guarded.steps[0].body == guarded.body
    assert guarded.steps[0].facts.payload["messages"][0]["content"] == "write to [EMAIL_1]"
    assert b"bob@example.com" in asked.body  # the plan given is left as it was
    assert b"bob@example.com" in asked.steps[0].body
    clean = plan_of("hello")
    untouched = guard_request(guard, request, clean, Vault())
    assert (untouched.body, untouched.steps, untouched.report.findings) == (clean.body, clean.steps, [])
    blocked = guard_request(guard, request, plan_of("pay with 4111 1111 1111 1111"), Vault())
    assert blocked.blocked is not None
    assert blocked.report.findings == ["request:block:card"]
    assert b"4111" not in blocked.body
    assert not blocked.unmaskable
