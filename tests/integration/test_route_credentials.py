"""Credentials along a dynamic route's fallbacks: each upstream gets its own provider's credential
and no other's. The stored key of one provider, an account custom provider's stored headers and
the client's own key (in `Authorization`, or `x-api-key` from the anthropic SDK) never reach a
target of another provider. Fake providers on loopback record the headers they receive; the
official openai and anthropic SDKs are the clients (security findings 1 and 2, 2026-12-06)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.base import RecordedRequest
from tests.fakes.openai_server import FakeOpenAI

STORED = {
    "openai": "sk-STORED-OPENAI-KEY-0000000000111",
    "groq": "gsk_STORED-GROQ-KEY-000000000222",
    "anthropic": "sk-ant-STORED-ANTHROPIC-KEY-333",
}
CUSTOM_SECRET = "CUSTOM-PROVIDER-SECRET-9876543210"
TENANT = "tenant-header-secret-5555"
CLIENT_KEY = "sk-CLIENT-OWN-OPENAI-KEY-4444444444"
CLIENT_ANTHROPIC_KEY = "sk-ant-CLIENT-OWN-KEY-6666666666"
CLIENT_QUERY_KEY = "AIza-CLIENT-QUERY-KEY-7777777777"
# Credentials a client may send for a provider behind an API gateway (Azure API Management, a SAS
# signature): the gateway masks them in its logs as credentials, so they are the client's keys too.
CLIENT_APIM_KEY = "client-apim-subscription-secret-8888"
CLIENT_SIG = "client-sas-signature-secret-9999"
CLIENT_ORG = "org-CLIENT-OWN-ORGANISATION-1212"  # which OpenAI account the client's key is of
SECRETS = (
    *STORED.values(), CUSTOM_SECRET, TENANT, CLIENT_KEY, CLIENT_ANTHROPIC_KEY, CLIENT_QUERY_KEY,
    CLIENT_APIM_KEY, CLIENT_SIG, CLIENT_ORG,
)  # fmt: skip
USER: list[Any] = [{"role": "user", "content": "hello"}]


class Upstreams:
    """One fake server per provider, each recording what it was sent."""

    def __init__(self) -> None:
        self.openai, self.groq, self.custom = FakeOpenAI(), FakeOpenAI(), FakeOpenAI()
        self.anthropic = FakeAnthropic()

    def all(self) -> dict[str, FakeOpenAI | FakeAnthropic]:
        return {"openai": self.openai, "groq": self.groq, "custom": self.custom, "anthropic": self.anthropic}


@pytest.fixture
def upstreams() -> Iterator[Upstreams]:
    fakes = Upstreams()
    for fake in fakes.all().values():
        fake.serve()
    try:
        yield fakes
    finally:
        for fake in fakes.all().values():
            fake.stop()


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], upstreams: Upstreams) -> RunningGateway:
    urls = {"openai": upstreams.openai.base_url, "groq": upstreams.groq.base_url}
    gateway = make_gateway(
        upstreams={**urls, "anthropic": upstreams.anthropic.base_url},
        allowed_hosts=[upstreams.custom.url.removeprefix("http://")],
        secret_key="master-key-for-tests",
    )
    custom = {
        "name": "With headers",
        "slug": "withhdr",
        "base_url": upstreams.custom.base_url,
        "headers": {"Authorization": f"Bearer {CUSTOM_SECRET}", "X-Tenant-Key": TENANT},
    }
    created = gateway.http.post("/api/v1/accounts/local/custom-providers", json=custom)
    assert created.status_code == 201, created.text
    return gateway


def store_keys(gateway: RunningGateway, *providers: str) -> None:
    for provider in providers:
        url = f"/api/v1/accounts/local/gateways/default/provider-keys/{provider}"
        assert gateway.http.put(url, json={"key": STORED[provider]}).status_code == 201


def set_route(gateway: RunningGateway, route: dict[str, Any]) -> None:
    gateway.configure(routes={"r": route})


def run_token(gateway: RunningGateway) -> str:
    """A gateway token, sent where the provider's key goes (Cloudflare's dynamic-routing examples)."""
    response = gateway.http.post("/api/v1/accounts/local/tokens", json={"name": "app", "scopes": ["run"]})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def only(fake: FakeOpenAI | FakeAnthropic) -> RecordedRequest:
    [request] = fake.requests
    return request


def secrets_in(request: RecordedRequest) -> set[str]:
    """Every credential of the test that this request carried, anywhere in its headers or query."""
    sent = " ".join(f"{name}: {value}" for name, value in request.headers.items()) + request.query_string
    return {secret for secret in SECRETS if secret in sent}


def fallback(*models: str) -> dict[str, Any]:
    return {"fallback": [{"model": model, "max_attempts": 1} for model in models]}


def openai_client(gateway: RunningGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url("compat"), api_key=key, max_retries=0)


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_a_stored_key_reaches_only_its_own_provider_along_a_fallback(
    gateway: RunningGateway, upstreams: Upstreams, api: str
) -> None:
    """Finding 1: the stored OpenAI key went on to Groq, a custom provider and Anthropic."""
    store_keys(gateway, "openai", "groq", "anthropic")
    set_route(
        gateway,
        fallback("openai/error-500", "groq/error-500", "custom-withhdr/error-500", "anthropic/claude-x"),
    )
    client = openai_client(gateway, run_token(gateway))
    if api == "chat":
        client.chat.completions.create(model="dynamic/r", messages=USER)
    else:
        client.responses.create(model="dynamic/r", input="hello")
    assert secrets_in(only(upstreams.openai)) == {STORED["openai"]}
    assert only(upstreams.openai).header("authorization") == f"Bearer {STORED['openai']}"
    assert secrets_in(only(upstreams.groq)) == {STORED["groq"]}
    assert only(upstreams.groq).header("authorization") == f"Bearer {STORED['groq']}"
    assert secrets_in(only(upstreams.custom)) == {CUSTOM_SECRET, TENANT}
    assert secrets_in(only(upstreams.anthropic)) == {STORED["anthropic"]}
    assert only(upstreams.anthropic).header("x-api-key") == STORED["anthropic"]
    assert only(upstreams.anthropic).header("authorization") is None


def test_a_fallback_of_a_provider_without_a_stored_key_goes_without_one(
    gateway: RunningGateway, upstreams: Upstreams
) -> None:
    """The stored OpenAI key is not lent to a provider that has none (the upstream answers a
    request without a key as it would any)."""
    store_keys(gateway, "openai")
    set_route(gateway, fallback("openai/error-500", "groq/llama-3.1-8b-instant"))
    openai_client(gateway, run_token(gateway)).chat.completions.create(model="dynamic/r", messages=USER)
    assert secrets_in(only(upstreams.openai)) == {STORED["openai"]}
    groq = only(upstreams.groq)
    assert secrets_in(groq) == set()
    assert groq.header("authorization") is None


def test_a_custom_providers_headers_never_reach_an_earlier_target(
    gateway: RunningGateway, upstreams: Upstreams
) -> None:
    """Finding 2: the custom provider's stored Authorization replaced the stored OpenAI key on
    OpenAI's first try."""
    store_keys(gateway, "openai")
    set_route(gateway, fallback("openai/gpt-4o-mini", "custom-withhdr/x"))
    answer = openai_client(gateway, run_token(gateway)).chat.completions.create(
        model="dynamic/r", messages=USER
    )
    assert answer.model == "gpt-4o-mini"
    request = only(upstreams.openai)
    assert request.header("authorization") == f"Bearer {STORED['openai']}"
    assert request.header("x-tenant-key") is None
    assert secrets_in(request) == {STORED["openai"]}
    assert upstreams.custom.requests == []


def test_the_clients_own_key_reaches_only_the_provider_the_route_starts_at(
    gateway: RunningGateway, upstreams: Upstreams
) -> None:
    """The client's OpenAI key went to every fallback, to Anthropic as x-api-key. Now a fallback
    of another provider goes with that provider's stored key (Groq), its stored headers (the custom
    provider) or no key at all (Anthropic, none stored); nor does a key query parameter (Google's
    `?key=`) the client sent go on to them."""
    store_keys(gateway, "groq")
    set_route(
        gateway,
        fallback("openai/error-500", "custom-withhdr/error-500", "groq/error-500", "anthropic/claude-x"),
    )
    client = openai_client(gateway, CLIENT_KEY).with_options(
        default_query={"key": CLIENT_QUERY_KEY, "sig": CLIENT_SIG},
        default_headers={"Ocp-Apim-Subscription-Key": CLIENT_APIM_KEY, "OpenAI-Organization": CLIENT_ORG},
    )
    client.chat.completions.create(model="dynamic/r", messages=USER)
    assert only(upstreams.openai).header("authorization") == f"Bearer {CLIENT_KEY}"
    sent_as_it_came = {CLIENT_KEY, CLIENT_QUERY_KEY, CLIENT_SIG, CLIENT_APIM_KEY, CLIENT_ORG}
    assert secrets_in(only(upstreams.openai)) == sent_as_it_came
    assert secrets_in(only(upstreams.custom)) == {CUSTOM_SECRET, TENANT}
    assert only(upstreams.groq).header("authorization") == f"Bearer {STORED['groq']}"
    assert secrets_in(only(upstreams.groq)) == {STORED["groq"]}
    claude = only(upstreams.anthropic)
    assert (claude.header("x-api-key"), claude.header("authorization")) == (None, None)
    assert secrets_in(claude) == set()


def test_an_anthropic_clients_key_does_not_reach_openai_after_a_fallback(
    gateway: RunningGateway, upstreams: Upstreams
) -> None:
    """Through the Messages ingress the client's key is its Anthropic key: Anthropic gets it as the
    SDK sent it (the request goes natively), the OpenAI fallback goes with the stored OpenAI key."""
    store_keys(gateway, "openai")
    set_route(gateway, fallback("anthropic/error-500", "openai/gpt-4o-mini"))
    client = anthropic.Anthropic(
        base_url=gateway.provider_url("compat"), api_key=CLIENT_ANTHROPIC_KEY, max_retries=0
    )
    client.messages.create(model="dynamic/r", max_tokens=32, messages=USER)
    assert secrets_in(only(upstreams.anthropic)) == {CLIENT_ANTHROPIC_KEY}
    assert only(upstreams.openai).header("authorization") == f"Bearer {STORED['openai']}"
    assert secrets_in(only(upstreams.openai)) == {STORED["openai"]}


@pytest.mark.parametrize("tier", ["pro", "free"])
def test_a_route_that_chooses_between_providers_sends_the_clients_key_to_neither(
    gateway: RunningGateway, upstreams: Upstreams, tier: str
) -> None:
    """Which provider the request starts at depends on the request: the client's key is not
    taken as either one's, so each branch goes with its provider's stored key."""
    store_keys(gateway, "openai", "groq")
    set_route(
        gateway,
        {"if": {"metadata.tier": "pro"}, "then": {"model": "openai/best"}, "else": {"model": "groq/cheap"}},
    )
    openai_client(gateway, CLIENT_KEY).chat.completions.create(
        model="dynamic/r", messages=USER, extra_headers={"cf-aig-metadata": f'{{"tier": "{tier}"}}'}
    )
    provider = "openai" if tier == "pro" else "groq"
    chosen = only(getattr(upstreams, provider))
    assert chosen.header("authorization") == f"Bearer {STORED[provider]}"
    assert secrets_in(chosen) == {STORED[provider]}


def test_a_web_page_with_its_own_key_is_refused_where_a_fallback_would_run_on_a_stored_key(
    gateway: RunningGateway, upstreams: Upstreams
) -> None:
    """A page spends only the key it brings: the Groq fallback would go with the stored Groq key
    (it no longer borrows the page's OpenAI key), so without a gateway token the request is a 403
    before anything goes upstream."""
    store_keys(gateway, "groq")
    set_route(gateway, fallback("openai/error-500", "groq/llama-3.1-8b-instant"))
    client = openai_client(gateway, CLIENT_KEY)
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(
            model="dynamic/r", messages=USER, extra_headers={"Origin": "https://page.example"}
        )
    assert upstreams.openai.requests == upstreams.groq.requests == []
