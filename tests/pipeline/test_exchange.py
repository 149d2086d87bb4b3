"""The request context: the request as it came cannot change, and a shadow request shares no
stage result with the hit it checks."""

from __future__ import annotations

import dataclasses

import pytest

from sluicegate.exchange_records import Attempt, SemanticJudgement
from sluicegate.pipeline.shadow import _shadow_of
from sluicegate.providers.base import Route
from sluicegate.types import CacheSource, CacheStatus
from tests.pipeline.stage_parts import make_exchange, make_gateway


def test_the_incoming_request_cannot_be_changed() -> None:
    request = make_exchange().request
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.route = Route("other", "chat/completions")  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.gateway_slug = "other"  # type: ignore[misc]


def test_a_shadow_request_starts_its_own_results_and_copies_what_it_may_change() -> None:
    hit = make_exchange(gateway=make_gateway())
    hit.options.metadata = {"user": "ann"}
    hit.plan.steps = []
    hit.guardrails.findings.append("request:redact:email")
    hit.cache.status, hit.cache.source, hit.cache.semantic_hit = CacheStatus.HIT, CacheSource.SEMANTIC, True
    hit.limits.rate_limited = True
    hit.response.status = 200
    hit.response.attempts.append(Attempt(0, "openai", 200, 1.0))
    hit.timings.finished_at = 1.0

    shadow = _shadow_of(hit, 0.93, now=123.0)

    assert shadow.request.id != hit.request.id
    assert shadow.request.received_at == 123.0
    assert (shadow.request.route, shadow.request.headers) == (hit.request.route, hit.request.headers)
    assert (shadow.gateway, shadow.token) == (hit.gateway, hit.token)
    assert shadow.cache.source is CacheSource.SHADOW
    assert (shadow.cache.status, shadow.cache.semantic_hit) == (CacheStatus.NONE, False)
    assert shadow.cache.shadow_of == hit.request.id
    assert shadow.cache.semantic == SemanticJudgement(0.93)
    assert (shadow.limits.rate_limited, shadow.response.status, shadow.response.attempts) == (False, 0, [])
    assert shadow.timings.finished_at is None
    # What the shadow's stages change must not reach the hit's record.
    shadow.options.metadata["route"] = "x"
    shadow.guardrails.findings.append("response:flag:phone")
    shadow.plan.step_index = 1
    assert hit.options.metadata == {"user": "ann"}
    assert hit.guardrails.findings == ["request:redact:email"]
    assert hit.plan.step_index == 0
