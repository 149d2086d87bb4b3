"""Mistakes of code moved from Cloudflare AI Gateway or Fastly AI Accelerator, each answered with a
4xx that says what was meant, before anything goes upstream: a Fastly threshold sent as a
percentage, a Cloudflare account id kept in the URL, Cloudflare provider slugs not built in here
(and typos), a built-in OpenAI-compatible provider's host in the bare host-in-path form. A real
gateway on loopback, the official OpenAI SDK where a client would use it, raw HTTP for the
universal endpoint; the fake OpenAI (and fake Gemini) as the upstreams.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

USER: list[Any] = [{"role": "user", "content": "hello there"}]
CHAT = {"model": "gpt-4o-mini", "messages": USER}
CLOUDFLARE_ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
CUSTOM_DOC = "docs/providers.md#an-accounts-own-custom-providers"


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini().serve() as running:
        yield running


@pytest.fixture
def gw(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, gemini: FakeGemini) -> RunningGateway:
    overrides = {
        "api.groq.com": fake.url,
        "generativelanguage.googleapis.com": gemini.base_url,
    }
    return make_gateway(upstreams={"openai": fake.base_url}, host_overrides=overrides)


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


def test_a_percentage_threshold_is_refused_with_the_semantic_cache_off(
    gw: RunningGateway, fake: FakeOpenAI
) -> None:
    """Refused from the start (the cache is off by default), not only once an operator turns the
    semantic cache on, which would break working traffic."""
    client = openai.OpenAI(base_url=gw.provider_url("openai"), api_key="sk-test", max_retries=0)

    with client, pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, extra_headers={"x-semantic-threshold": "75"}
        )

    body = caught.value.body
    assert isinstance(body, dict)
    assert body["message"] == "x-semantic-threshold must be between 0 and 1, got 75: did you mean 0.75?"
    assert (body["header"], body["did_you_mean"]) == ("x-semantic-threshold", "0.75")
    high = error_of(
        gw.http.post(
            "/v1/local/default/openai/chat/completions", json=CHAT, headers={"x-semantic-threshold": "150"}
        ),
        400,
    )
    assert high["message"] == "x-semantic-threshold must be between 0 and 1, got 150"
    assert "did_you_mean" not in high
    assert fake.requests == []
    fine = gw.http.post(
        "/v1/local/default/openai/chat/completions", json=CHAT, headers={"x-semantic-threshold": "0.75"}
    )
    assert fine.status_code == 200, fine.text


@pytest.mark.parametrize(("value", "meant"), [("50", "0.5"), ("1.5", None), ("20", None), ("150", None)])
def test_only_a_plausible_percentage_threshold_gets_a_suggestion(
    gw: RunningGateway, value: str, meant: str | None
) -> None:
    """A threshold is a high similarity: 1.5 was no percentage (not 'did you mean 0.015?')."""
    headers = {"x-semantic-threshold": value}
    error = error_of(
        gw.http.post("/v1/local/default/openai/chat/completions", json=CHAT, headers=headers), 400
    )

    said = f"x-semantic-threshold must be between 0 and 1, got {value}"
    assert error["message"] == (said if meant is None else f"{said}: did you mean {meant}?")
    assert error.get("did_you_mean") == meant


def test_a_bad_threshold_is_refused_when_the_exact_cache_answers(
    gw: RunningGateway, fake: FakeOpenAI
) -> None:
    """Checked up front with the gateway's other headers: the same 400 whatever would answer the
    request, here an exact-cache hit, which the semantic stage never sees."""
    gw.configure(cache_enabled=True)
    path = "/v1/local/default/openai/chat/completions"
    assert gw.http.post(path, json=CHAT).status_code == 200
    assert gw.http.post(path, json=CHAT).headers["cf-aig-cache-status"] == "HIT"

    error = error_of(gw.http.post(path, json=CHAT, headers={"x-semantic-threshold": "75"}), 400)

    assert error["message"] == "x-semantic-threshold must be between 0 and 1, got 75: did you mean 0.75?"
    assert len(fake.requests) == 1


@pytest.mark.parametrize("path", ["/openai/chat/completions", ""])
def test_a_cloudflare_account_id_in_the_url_is_pointed_to_the_default_account(
    gw: RunningGateway, fake: FakeOpenAI, path: str
) -> None:
    steps = [{"provider": "openai", "endpoint": "chat/completions", "headers": {}, "query": CHAT}]

    response = gw.http.post(f"/v1/{CLOUDFLARE_ACCOUNT}/default{path}", json=CHAT if path else steps)

    error = error_of(response, 404)
    assert error["message"] == (
        f"no account '{CLOUDFLARE_ACCOUNT}': Cloudflare's account id is not used here;"
        " the default account is 'local' (use /v1/local/default/...)"
    )
    assert (error["code"], error["did_you_mean"]) == ("unknown_account", "/v1/local/default")
    assert fake.requests == []


def test_an_unknown_account_lists_no_accounts(gw: RunningGateway) -> None:
    """A client not yet authenticated learns of no account but the default one (a deployment's
    other accounts are other tenants), and gets no path to a gateway the default account lacks."""
    error = error_of(gw.http.post("/v1/acme-corp/billing/openai/chat/completions", json=CHAT), 404)
    assert error["message"] == "no account 'acme-corp' (the default account is 'local')"
    assert "accounts" not in error
    assert "did_you_mean" not in error


def test_a_misspelt_account_is_named(gw: RunningGateway) -> None:
    error = error_of(gw.http.post("/v1/locla/default/openai/chat/completions", json=CHAT), 404)
    assert error["message"] == "no account 'locla'; did you mean 'local'? (use /v1/local/default/...)"


def test_the_default_account_without_gateways_is_told_its_gateway_is_missing(gw: RunningGateway) -> None:
    """Not "no account 'local'; did you mean 'local'?": the account is right, its gateway is not."""
    assert gw.http.delete("/api/v1/accounts/local/gateways/default").is_success

    error = error_of(gw.http.post("/v1/local/default/openai/chat/completions", json=CHAT), 404)

    assert (error["code"], error["message"]) == ("unknown_gateway", "no gateway 'default' in account 'local'")
    assert error["gateways"] == []


@pytest.mark.parametrize(
    ("slug", "hint", "details"),
    [
        ("opneai", "; did you mean 'openai'?", {"did_you_mean": "openai"}),
        (
            "grok",
            ": xAI is not built in here; its API speaks OpenAI's, so add it as a custom provider"
            f" (base_url https://api.x.ai/v1) and use 'custom-grok' ({CUSTOM_DOC})",
            {"custom_provider": "custom-grok", "docs": CUSTOM_DOC},
        ),
        (
            "cerebras",
            ": Cerebras is not built in here; its API speaks OpenAI's, so add it as a custom provider"
            f" (base_url https://api.cerebras.ai/v1) and use 'custom-cerebras' ({CUSTOM_DOC})",
            {"custom_provider": "custom-cerebras", "docs": CUSTOM_DOC},
        ),
        (
            "aws-bedrock",
            ": Amazon Bedrock is not built in here; it also serves OpenAI's Chat Completions API (a"
            " Bedrock API key as the bearer token, for the models Bedrock serves there), so add that"
            " as a custom provider (base_url https://bedrock-mantle.{region}.api.aws/v1) and use"
            f" 'custom-aws-bedrock' ({CUSTOM_DOC})",
            {"custom_provider": "custom-aws-bedrock", "docs": CUSTOM_DOC},
        ),
        # Other gateways' (LiteLLM's) and short names for the built-in providers.
        ("gemini", "; did you mean 'google-ai-studio'?", {"did_you_mean": "google-ai-studio"}),
        ("google", "; did you mean 'google-ai-studio'?", {"did_you_mean": "google-ai-studio"}),
        ("claude", "; did you mean 'anthropic'?", {"did_you_mean": "anthropic"}),
        ("azure", "; did you mean 'azure-openai'?", {"did_you_mean": "azure-openai"}),
        ("vertex_ai", "; did you mean 'google-vertex-ai'?", {"did_you_mean": "google-vertex-ai"}),
        # Cloudflare's providers whose APIs are not OpenAI's: no custom provider to add.
        *(
            (
                slug,
                f": {name} is not supported here: its API is not OpenAI's, so no custom provider"
                " reaches it either",
                {},
            )
            for slug, name in [
                ("elevenlabs", "ElevenLabs"),
                ("cartesia", "Cartesia"),
                ("fal", "Fal AI"),
                ("ideogram", "Ideogram"),
            ]
        ),
        (
            "fireworks",
            "; a provider that speaks OpenAI's API is reached as a custom provider: add it and use"
            f" 'custom-fireworks' ({CUSTOM_DOC})",
            {"custom_provider": "custom-fireworks", "docs": CUSTOM_DOC},
        ),
    ],
)
def test_an_unknown_provider_says_what_was_meant_on_every_endpoint(
    gw: RunningGateway, fake: FakeOpenAI, slug: str, hint: str, details: dict[str, str]
) -> None:
    endpoint = error_of(gw.http.post(f"/v1/local/default/{slug}/v1/chat/completions", json=CHAT), 404)
    assert endpoint["message"] == f"unknown provider {slug!r}{hint}"
    assert {key: endpoint[key] for key in details} == details
    assert "openai" in endpoint["providers"]

    model = {**CHAT, "model": f"{slug}/some-model"}
    compat = error_of(gw.http.post("/v1/local/default/compat/chat/completions", json=model), 400)
    assert compat["message"] == f"unknown provider {slug!r} in model{hint}"
    assert {key: compat[key] for key in details} == details

    steps = [{"provider": slug, "endpoint": "chat/completions", "headers": {}, "query": CHAT}]
    universal = error_of(gw.http.post("/v1/local/default", json=steps), 400)
    assert universal["message"] == f"step 0: unknown provider {slug!r}{hint}"
    assert {key: universal[key] for key in details} == details
    assert fake.requests == []


@pytest.mark.parametrize("slug", ["grok", "xai"])
def test_cloudflare_grok_names_the_accounts_custom_grok(
    gw: RunningGateway, fake: FakeOpenAI, slug: str
) -> None:
    """An account that has added xAI as `custom-grok` is pointed to it, not told to add it."""
    custom = {"name": "xAI", "slug": "grok", "base_url": "https://api.x.ai/v1"}
    assert gw.http.post("/api/v1/accounts/local/custom-providers", json=custom).status_code == 201

    error = error_of(gw.http.post(f"/v1/local/default/{slug}/v1/chat/completions", json=CHAT), 404)

    assert (
        error["message"]
        == f"unknown provider {slug!r}; did you mean 'custom-grok', the account's custom provider?"
    )
    assert error["did_you_mean"] == "custom-grok"
    assert "custom_provider" not in error
    assert fake.requests == []


@pytest.mark.parametrize(
    ("host", "path", "provider"),
    [
        ("api.groq.com", "openai/v1/chat/completions", "groq"),
        ("api.mistral.ai", "v1/chat/completions", "mistral"),
        ("api.deepseek.com", "chat/completions", "deepseek"),
        ("openrouter.ai", "api/v1/chat/completions", "openrouter"),
    ],
)
def test_a_built_in_openai_compatible_host_in_the_bare_form_names_the_compat_form(
    gw: RunningGateway, fake: FakeOpenAI, host: str, path: str, provider: str
) -> None:
    response = httpx.post(f"{gw.url}/{host}/{path}", json=CHAT, headers={"Authorization": "Bearer k"})

    error = error_of(response, 403)
    meant = f"/compat/openai/{host}/{path}"
    assert error["message"].endswith(
        f"is reached by host-in-path in Fastly's form for OpenAI-compatible servers: {meant}"
    )
    assert error["did_you_mean"] == meant
    assert fake.requests == []
    assert gw.wait_for_logs(1)[0]["provider"] == provider  # refused, and logged as its provider's
    if host == "api.groq.com":  # the form it names goes upstream (Groq's host mapped to the fake)
        httpx.post(gw.url + meant, json=CHAT, headers={"Authorization": "Bearer k"})
        assert [r.path for r in fake.requests] == [f"/{path}"]


def test_gemini_openai_compatible_endpoint_through_compat_openai(
    gw: RunningGateway, gemini: FakeGemini
) -> None:
    """Fastly documents `/compat/openai/<llm-endpoint>` for Gemini's OpenAI-compatible endpoint: it
    reaches Google AI Studio as the bare form does (the fake Gemini serves no such path, so its 404
    shows the request got there, at the path Google serves it)."""
    base = f"{gw.url}/compat/openai/generativelanguage.googleapis.com/v1beta/openai"

    response = httpx.post(f"{base}/chat/completions", json=CHAT, headers={"Authorization": "Bearer AIza"})

    assert response.status_code == 404, response.text  # the fake's own 404, not the gateway's 403
    assert response.json()["error"]["message"] == "Invalid URL (POST /v1beta/openai/chat/completions)"
    assert [r.path for r in gemini.requests] == ["/v1beta/openai/chat/completions"]
    assert gw.wait_for_logs(1)[0]["provider"] == "google-ai-studio"
