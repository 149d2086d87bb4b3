"""The exact cache's decision, called with plain inputs (request, gateway, plan): no store, no
Exchange."""

from __future__ import annotations

import dataclasses

from multidict import CIMultiDict

from sluicegate.exchange import RequestPlan, Step
from sluicegate.gateway import GatewaySettings
from sluicegate.pipeline.cache import cache_decision
from sluicegate.pipeline.cache_keys import custom_prefix
from sluicegate.providers.base import Route
from sluicegate.providers.openai import OPENAI
from tests.pipeline.stage_parts import ACCOUNT, SLUG, make_exchange, make_gateway

BODY = b'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}'
ROUTE = Route(ACCOUNT, "chat/completions")
PLAN = RequestPlan(BODY, [Step(OPENAI, ROUTE, CIMultiDict(), BODY, OPENAI.read_request(ROUTE, BODY))])
CACHING = make_gateway(GatewaySettings(cache_enabled=True, cache_ttl=300))


def test_a_named_entry_is_filed_under_its_name_and_a_skip_neither_looks_up_nor_stores() -> None:
    plain = cache_decision(make_exchange().request, CACHING, PLAN)
    assert plain is not None
    assert (plain.ttl, plain.lookup, plain.store) == (300, True, True)
    named = cache_decision(make_exchange(headers={"cf-aig-cache-key": "faq"}).request, CACHING, PLAN)
    assert named is not None
    assert named.key.startswith(custom_prefix(ACCOUNT, SLUG, "faq"))
    skipped = cache_decision(make_exchange(headers={"cf-aig-skip-cache": "true"}).request, CACHING, PLAN)
    assert skipped is not None
    assert (skipped.lookup, skipped.store) == (False, False)
    listing = dataclasses.replace(make_exchange().request, method="GET")
    assert cache_decision(listing, CACHING, PLAN) is None
    assert cache_decision(make_exchange().request, make_gateway(), PLAN) is None  # caching off
