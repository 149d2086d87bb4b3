"""The provider credentials a cache entry is kept apart by (`cache_per_key`): secret headers and
the query parameter the provider takes a key in (`Provider.key_param`); and the server each step
goes to."""

from __future__ import annotations

import hashlib

from multidict import CIMultiDict

from sluicegate.exchange import RequestPlan, Step
from sluicegate.pipeline.cache_keys import (
    answer_variant,
    credential_fingerprint,
    custom_key,
    custom_prefix,
    exact_key,
)
from sluicegate.providers import REGISTRY
from sluicegate.providers.base import NO_FACTS, Route
from tests.pipeline.stage_parts import make_exchange


def fingerprint(provider: str, query: str) -> str:
    route = Route("local", "v1beta/models/m:generateContent", query)
    return credential_fingerprint([Step(REGISTRY[provider], route, CIMultiDict(), b"", NO_FACTS)])


def test_googles_query_key_is_hashed_as_it_always_was() -> None:
    # `?key=…` as hashed before the parameter was the adapter's: entries stored per key still match.
    written = hashlib.sha256(b"\0\0" + hashlib.sha256(b"?key=AIza-a").digest()).hexdigest()
    assert fingerprint("google-ai-studio", "alt=sse&key=AIza-a") == written
    assert fingerprint("google-vertex-ai", "key=AIza-a") == written
    assert fingerprint("google-ai-studio", "key=AIza-b") != written


def test_a_key_in_the_query_counts_only_where_the_provider_takes_one() -> None:
    assert fingerprint("google-ai-studio", "alt=sse") == ""
    assert fingerprint("openai", "key=AIza-a") == ""  # not a credential OpenAI reads


def variant(provider: str, headers: dict[str, str]) -> str:
    route = Route("local", "v1/messages", "")
    return answer_variant([Step(REGISTRY[provider], route, CIMultiDict(headers), b"", NO_FACTS)])


def test_the_semantic_scope_is_kept_apart_by_the_headers_that_change_the_answer() -> None:
    assert variant("anthropic", {}) == ""  # scopes without a beta stay as they were
    one, other = (variant("anthropic", {"anthropic-beta": beta}) for beta in ("context-1m", "other"))
    assert one
    assert other != one
    assert variant("openai", {"anthropic-beta": "context-1m"}) == ""  # not a header OpenAI reads


def keys(base_url: str | None, account: str = "local") -> tuple[str, str]:
    """The exact and the `cf-aig-cache-key` key of one chat request sent to `base_url`."""
    body = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
    route = Route(account, "v1/chat/completions", "")
    provider = REGISTRY["openai"]
    step = Step(provider, route, CIMultiDict(), body, provider.read_request(route, body), base_url=base_url)
    request = make_exchange().request
    plan = RequestPlan(body, [step])
    return exact_key(request, plan, True), custom_key(request, plan, "faq", True)


def test_every_key_names_the_server_its_step_goes_to() -> None:
    # Two servers behind one provider name (two allowed hosts, a custom provider moved) never share.
    llm_a, llm_b = keys("http://llm-a.internal"), keys("http://llm-b.internal")
    assert llm_a[0] != llm_b[0]
    assert llm_a[1] != llm_b[1]
    assert keys("http://llm-a.internal/") == llm_a  # the same server, however its URL ends
    assert keys(None) == keys(REGISTRY["openai"].default_base_url)  # a step no Plan stage placed
    assert keys("http://llm-a.internal", account="b" * 32) != llm_a  # Workers AI's account is in its URL


def segmented_keys(headers: dict[str, str]) -> tuple[str, str]:
    """The exact and the `cf-aig-cache-key` key of one chat request with `headers`."""
    body = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'
    route = Route("local", "v1/chat/completions", "")
    provider = REGISTRY["openai"]
    step = Step(provider, route, CIMultiDict(), body, provider.read_request(route, body))
    request = make_exchange(headers=headers).request
    plan = RequestPlan(body, [step])
    return exact_key(request, plan, True), custom_key(request, plan, "faq", True)


def test_a_segment_is_in_every_key_only_when_one_is_named() -> None:
    # Fastly: a cached answer goes only to requests "whose x-semantic-cache-key matches".
    plain = segmented_keys({})
    tenant_a, tenant_b = (
        segmented_keys({"x-semantic-cache-key": "a"}),
        segmented_keys({"x-semantic-cache-key": "b"}),
    )
    assert len({plain[0], tenant_a[0], tenant_b[0]}) == 3
    assert len({plain[1], tenant_a[1], tenant_b[1]}) == 3
    assert tenant_a[1].startswith(custom_prefix("local", "main", "faq"))  # a purge by name reaches it
    # Naming none, an empty one or Fastly's `_default_` is the default segment, whose keys are
    # those computed before segments were in them: entries stored then are still found.
    assert segmented_keys({"x-semantic-cache-key": "_default_"}) == plain
    assert segmented_keys({"x-semantic-cache-key": ""}) == plain
    assert plain[0] == "local/main/ab085da84b220375e9eeadff5be1cb1004f0e4ae4d1c49965a5f320665303a74"
    named = plain[1].removeprefix(custom_prefix("local", "main", "faq"))
    assert named == "492f85391a57daffe9dac0197e86053ec1911e93430f57396a556cc3b64694df"
