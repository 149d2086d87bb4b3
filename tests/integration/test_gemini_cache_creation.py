"""A Gemini context cache's create, driven by google-genai's `caches.create` against the fake Gemini
upstream on loopback: logged under the model its body names, and unpriced, as Google bills a cache's
tokens per hour of storage, which no price table has a rate for."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from google import genai
from google.genai import errors, types

from sluicegate.providers.base import Route
from sluicegate.providers.gemini.caches import cache_creation_model
from tests.conftest import RunningGateway
from tests.fakes.gemini_caches import FakeGeminiCaches

API_KEY = "AIzaSy-fake-0123456789abcdefghijklmnop"


@pytest.fixture
def fake() -> Iterator[FakeGeminiCaches]:
    with FakeGeminiCaches(api_key=API_KEY).serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeGeminiCaches) -> RunningGateway:
    return make_gateway(upstreams={"google-ai-studio": fake.base_url})


def test_cache_creation_is_logged_under_its_model_and_unpriced(
    gateway: RunningGateway, fake: FakeGeminiCaches
) -> None:
    options = types.HttpOptions(base_url=gateway.provider_url("google-ai-studio"), api_version="v1beta")
    with genai.Client(api_key=API_KEY, http_options=options) as client:
        cache = client.caches.create(
            model="gemini-2.5-flash",
            config=types.CreateCachedContentConfig(contents=["the annual report " * 20], ttl="600s"),
        )
    assert cache.name == "cachedContents/fake-cache-1"
    assert fake.requests[-1].json["model"] == "models/gemini-2.5-flash"
    record = gateway.wait_for_logs(1)[0]
    assert record["endpoint"] == "v1beta/cachedContents"
    assert record["model"] == "gemini-2.5-flash"
    # Not gemini-2.5-flash's input price ($0.30 per million) for what is billed per token-hour.
    assert record["unpriced"] is True
    assert not record["cost_usd"]


def test_cache_creation_is_refused_where_spend_is_limited(
    gateway: RunningGateway, fake: FakeGeminiCaches
) -> None:
    budget = {"name": "budget", "limit": 5, "period": 86400, "unit": "cost"}
    response = gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": {"rate_limits": [budget]}}
    )
    assert response.status_code == 200, response.text
    options = types.HttpOptions(base_url=gateway.provider_url("google-ai-studio"), api_version="v1beta")
    with (
        genai.Client(api_key=API_KEY, http_options=options) as client,
        pytest.raises(errors.APIError) as refused,
    ):
        client.caches.create(
            model="gemini-2.5-flash", config=types.CreateCachedContentConfig(contents=["doc"])
        )
    assert refused.value.code == 422
    assert "unpriced" in str(refused.value.message)
    assert fake.requests == []


def test_only_a_cache_create_names_a_model_in_its_body() -> None:
    vertex = "v1/projects/p/locations/us-central1/cachedContents"
    name = "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro"
    assert cache_creation_model(Route("local", vertex), {"model": name}) == "gemini-2.5-pro"
    assert cache_creation_model(Route("local", "v1beta/cachedContents/abc"), {"model": "models/x"}) is None
    assert cache_creation_model(Route("local", "v1beta/cachedContents"), {"model": 3}) is None
