"""Cache isolation between tenants: with `cache_per_key` (the default), an answer stored for one
provider key is never served to another key (or to none), for custom-key and semantic entries as
for exact ones; a `cf-aig-cache-key` never reaches another provider, endpoint or answer shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_semantic import stored

CUSTOM = {"cf-aig-cache-key": "greeting"}
GEMINI = "/v1/local/default/google-ai-studio/v1beta/models/gemini-2.0-flash:generateContent"


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, gemini: FakeGemini
) -> RunningGateway:
    return make_gateway(
        upstreams={"openai": fake.base_url, "groq": fake.base_url, "google-ai-studio": gemini.base_url}
    )


def sdk(gateway: RunningGateway, key: str, provider: str = "openai") -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url(provider), api_key=key, max_retries=0)


def chat(client: openai.OpenAI, question: str, **headers: str) -> Any:
    with client:
        return client.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": question}], extra_headers=headers
        )


def keyless(gateway: RunningGateway, question: str, **headers: str) -> httpx.Response:
    """A request that brings no provider key at all (the SDKs always send one)."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": question}]}
    return httpx.post(gateway.provider_url("openai") + "/chat/completions", json=body, headers=headers)


def test_a_custom_key_entry_is_never_served_to_another_provider_key(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    gateway.configure(cache_enabled=True, cache_per_key=True)
    first = chat(sdk(gateway, "sk-tenant-a"), "one", **CUSTOM)
    assert first.headers["cf-aig-cache-status"] == "MISS"
    other = chat(sdk(gateway, "sk-tenant-b"), "two", **CUSTOM)
    assert other.headers["cf-aig-cache-status"] == "MISS"
    assert other.parse().choices[0].message.content == "echo: two"
    nobody = keyless(gateway, "three", **CUSTOM)
    assert nobody.headers["cf-aig-cache-status"] == "MISS"
    assert nobody.json()["choices"][0]["message"]["content"] == "echo: three"
    again = chat(sdk(gateway, "sk-tenant-a"), "four", **CUSTOM)
    assert again.headers["cf-aig-cache-status"] == "HIT"  # the name still works within one key
    assert again.parse().choices[0].message.content == "echo: one"
    assert len(fake.requests) == 3


def test_by_default_an_answer_is_served_only_to_the_key_that_stored_it(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    # As Cloudflare keys its cache by the provider's authentication header: another key, even one
    # the provider would refuse, must not read what a valid key stored.
    gateway.configure(cache_enabled=True)
    assert chat(sdk(gateway, "sk-tenant-a"), "hello").headers["cf-aig-cache-status"] == "MISS"
    for other in ("sk-tenant-b", "sk-revoked"):
        answer = chat(sdk(gateway, other), "hello")
        assert answer.headers["cf-aig-cache-status"] == "MISS", other
    assert keyless(gateway, "hello").headers["cf-aig-cache-status"] == "MISS"
    assert chat(sdk(gateway, "sk-tenant-a"), "hello").headers["cf-aig-cache-status"] == "HIT"
    assert len(fake.requests) == 4


def test_googles_query_key_counts_as_the_provider_key(gateway: RunningGateway, gemini: FakeGemini) -> None:
    gateway.configure(cache_enabled=True, cache_per_key=True)
    body = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    first, other, again = (
        httpx.post(f"{gateway.url}{GEMINI}?key={key}", json=body, headers=CUSTOM)
        for key in ("AIza-tenant-a", "AIza-tenant-b", "AIza-tenant-a")
    )
    statuses = [r.headers["cf-aig-cache-status"] for r in (first, other, again)]
    assert statuses == ["MISS", "MISS", "HIT"]
    assert len(gemini.requests) == 2


def test_a_custom_key_misses_under_another_provider_or_path(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    gateway.configure(cache_enabled=True, cache_per_key=False)  # the boundaries hold with shared entries
    assert chat(sdk(gateway, "sk-a"), "one", **CUSTOM).headers["cf-aig-cache-status"] == "MISS"
    groq = chat(sdk(gateway, "sk-a", "groq"), "two", **CUSTOM)
    assert groq.headers["cf-aig-cache-status"] == "MISS"
    assert groq.parse().choices[0].message.content == "echo: two"
    with sdk(gateway, "sk-a") as client:
        legacy = client.completions.with_raw_response.create(
            model="gpt-4o-mini", prompt="three", extra_headers=CUSTOM
        )
    assert legacy.headers["cf-aig-cache-status"] == "MISS"
    assert legacy.parse().object == "text_completion"
    assert chat(sdk(gateway, "sk-b"), "four", **CUSTOM).headers["cf-aig-cache-status"] == "HIT"
    assert len(fake.requests) == 3


def test_purging_a_custom_key_removes_it_for_every_provider_key(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    gateway.configure(cache_enabled=True, cache_per_key=True)
    for key in ("sk-tenant-a", "sk-tenant-b"):
        chat(sdk(gateway, key), "one", **CUSTOM)
    chat(sdk(gateway, "sk-tenant-a"), "one", **{"cf-aig-cache-key": "other"})
    purged = gateway.http.delete("/api/v1/accounts/local/gateways/default/cache", params={"key": "greeting"})
    assert purged.json() == {"purged": 2}
    for key in ("sk-tenant-a", "sk-tenant-b"):
        assert chat(sdk(gateway, key), "one", **CUSTOM).headers["cf-aig-cache-status"] == "MISS"
    kept = chat(sdk(gateway, "sk-tenant-a"), "one", **{"cf-aig-cache-key": "other"})
    assert kept.headers["cf-aig-cache-status"] == "HIT"


def test_a_semantic_answer_is_never_served_to_another_provider_key(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    gateway.configure(semantic_cache_enabled=True, cache_per_key=True)
    first = chat(sdk(gateway, "sk-tenant-a"), "How do I reset my password?")
    assert first.headers["x-semantic-cache"] == "MISS"
    stored(gateway, 1)
    other = chat(sdk(gateway, "sk-tenant-b"), "How can I reset my password?")
    assert other.headers["x-semantic-cache"] == "MISS"
    assert other.parse().choices[0].message.content == "echo: How can I reset my password?"
    nobody = keyless(gateway, "How can I reset my password?")
    assert nobody.headers["x-semantic-cache"] == "MISS"
    same = chat(sdk(gateway, "sk-tenant-a"), "How can I reset my password?")
    assert same.headers["x-semantic-cache"] == "HIT"
    assert same.parse().choices[0].message.content == "echo: How do I reset my password?"
    assert len(fake.requests) == 3
