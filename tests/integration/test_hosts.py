"""Host-in-path endpoints: stock SDKs configured as Fastly AI Accelerator's docs show, with only
the host changed, reaching fake upstreams mapped by `host_overrides`; and what is refused."""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import openai
import pytest
from google import genai
from google.genai import types

from tests.conftest import RunningGateway
from tests.fakes.azure_server import FakeAzureOpenAI
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

MESSAGES: list[Any] = [{"role": "user", "content": "what is a host"}]


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeOpenAI().serve() as oa, FakeAzureOpenAI().serve() as az, FakeGemini().serve() as ge:
        yield {"openai": oa, "azure": az, "gemini": ge}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    overrides = {
        "api.openai.com": fakes["openai"].url,
        "api.groq.com": fakes["openai"].url,
        "myresource.openai.azure.com": fakes["azure"].url,
        "generativelanguage.googleapis.com": fakes["gemini"].base_url,
        "us-central1-aiplatform.googleapis.com": fakes["gemini"].base_url,
    }
    return make_gateway(host_overrides=overrides, allowed_hosts=["llm.internal.example"])


def run_token(gateway: RunningGateway, *gateways: str) -> str:
    body = {"name": "app", "scopes": ["run"], "gateways": list(gateways) or None}
    secret: str = gateway.http.post("/api/v1/accounts/local/tokens", json=body).json()["token"]
    return secret


def test_openai_sdk_with_fastly_key_uses_the_tokens_gateway(
    gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    assert (
        gateway.http.post("/api/v1/accounts/local/gateways", json={"name": "accelerated"}).status_code == 201
    )
    token = run_token(gateway, "accelerated")
    client = openai.OpenAI(
        base_url=f"{gateway.url}/api.openai.com/v1",
        api_key="sk-openai",
        default_headers={"Fastly-Key": token},
    )
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert answer.choices[0].message.content == "echo: what is a host"
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert len(chunks) > 2
    client.close()
    assert [r.path for r in fakes["openai"].requests] == ["/v1/chat/completions"] * 2
    assert fakes["openai"].requests[0].header("fastly-key") is None  # the gateway token stays here
    records = gateway.wait_for_logs(2, gateway="accelerated")
    assert {(r["provider"], r["endpoint"]) for r in records} == {("openai", "chat/completions")}


def test_tokenless_use_goes_to_the_default_gateway(gateway: RunningGateway) -> None:
    client = openai.OpenAI(base_url=f"{gateway.url}/api.openai.com/v1", api_key="sk-openai", max_retries=0)
    client.embeddings.create(model="text-embedding-3-small", input="hi")
    client.close()
    assert gateway.wait_for_logs(1)[0]["endpoint"] == "embeddings"


def test_azure_client(gateway: RunningGateway, fakes: dict[str, Any]) -> None:
    client = openai.AzureOpenAI(
        azure_endpoint=f"{gateway.url}/myresource.openai.azure.com",
        api_key="azure-key",
        api_version="2024-10-21",
    )
    answer = client.chat.completions.create(model="prod-chat", messages=MESSAGES)
    client.close()
    assert answer.model == "gpt-4o-2024-08-06"
    seen = fakes["azure"].requests[-1]
    assert seen.path == "/openai/deployments/prod-chat/chat/completions"
    assert seen.query_string == "api-version=2024-10-21"
    assert seen.header("api-key") == "azure-key"
    assert gateway.wait_for_logs(1)[0]["provider"] == "azure-openai"


def test_gemini_client_and_vertex_rest(gateway: RunningGateway, fakes: dict[str, Any]) -> None:
    client = genai.Client(
        api_key="AIza-test",
        http_options=types.HttpOptions(base_url=f"{gateway.url}/generativelanguage.googleapis.com"),
    )
    answer = client.models.generate_content(model="gemini-2.5-flash", contents="what is a host")
    assert answer.text
    assert fakes["gemini"].requests[-1].path.endswith("/models/gemini-2.5-flash:generateContent")
    vertex = (
        f"{gateway.url}/us-central1-aiplatform.googleapis.com/v1/projects/p/locations/us-central1"
        "/publishers/google/models/gemini-2.5-flash:generateContent"
    )
    response = httpx.post(
        vertex,
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        headers={"Authorization": "Bearer ya29.token"},
    )
    assert response.status_code == 200
    assert response.json()["candidates"]
    providers = [r["provider"] for r in gateway.wait_for_logs(2)]
    assert providers == ["google-vertex-ai", "google-ai-studio"]


def test_compat_openai_reaches_an_allowed_openai_compatible_host(
    gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    client = openai.OpenAI(
        base_url=f"{gateway.url}/compat/openai/api.groq.com/v1", api_key="gsk", max_retries=0
    )
    client.chat.completions.create(model="llama-3.3-70b", messages=MESSAGES)
    client.close()
    assert fakes["openai"].requests[-1].path == "/v1/chat/completions"
    assert gateway.wait_for_logs(1)[0]["provider"] == "groq"


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/evil.example.com/v1/chat/completions", 403, "SLUICEGATE_ALLOWED_HOSTS"),
        ("/compat/openai/evil.example.com/v1/chat/completions", 403, "SLUICEGATE_ALLOWED_HOSTS"),
        ("/127.0.0.1/v1/chat/completions", 403, "IP addresses"),
        ("/10.0.0.5/v1/chat/completions", 403, "IP addresses"),
        ("/api.openai.com:8443/v1/chat/completions", 403, "ports"),
        ("/api.openai.com/v1/../admin", 400, ".."),
        ("/api.openai.com/v1/%2e%2e/admin", 400, ".."),
        ("/myresource.openai.azure.com/not/deployments", 400, "deployments"),
    ],
)
def test_refusals_send_nothing_anywhere(
    gateway: RunningGateway, fakes: dict[str, Any], path: str, status: int, fragment: str
) -> None:
    # http.client sends the path as written: HTTP client libraries would resolve `..` themselves.
    connection = http.client.HTTPConnection("127.0.0.1", gateway.server.port, timeout=10)
    connection.request("POST", path, body=b'{"model": "x"}', headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    assert response.status == status, body
    assert fragment in body["error"]["message"]
    assert all(not fake.requests for fake in fakes.values())
    assert gateway.wait_for_logs(1)[0]["status"] == status  # refused, and still logged


def test_a_bad_token_is_refused(gateway: RunningGateway) -> None:
    response = httpx.post(
        f"{gateway.url}/api.openai.com/v1/chat/completions", json={}, headers={"Fastly-Key": "sg_wrong"}
    )
    assert response.status_code == 401


def test_a_read_only_fastly_key_is_refused_naming_the_run_scope_and_how_to_get_one(
    gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    """Fastly's docs have users create a read-only API token for `Fastly-Key`; here proxy
    requests need `run`, and the refusal must say so, and how to make such a token."""
    body = {"name": "fastly", "scopes": ["read"]}
    read_only: str = gateway.http.post("/api/v1/accounts/local/tokens", json=body).json()["token"]
    client = openai.OpenAI(
        base_url=f"{gateway.url}/api.openai.com/v1",
        api_key="sk-openai",
        default_headers={"Fastly-Key": read_only},
        max_retries=0,
    )
    with client, pytest.raises(openai.PermissionDeniedError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    error = refused.value.response.json()["error"]
    assert error["scope"] == "run"
    assert "it has the scopes 'read' but not 'run'" in error["message"]
    assert "`sluicegate token create --scope run --name NAME --gateway default`" in error["message"]
    assert 'POST /api/v1/accounts/local/tokens {"name": "NAME", "scopes": ["run"]}' in error["message"]
    assert fakes["openai"].requests == []


def test_paths_that_are_not_hosts_are_404s(gateway: RunningGateway) -> None:
    response = httpx.get(f"{gateway.url}/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_semantic_cache_headers_work_on_host_paths(gateway: RunningGateway, fakes: dict[str, Any]) -> None:
    on = {"x-settings-overrides": '{"semantic_cache_enabled": true}'}
    client = openai.OpenAI(base_url=f"{gateway.url}/api.openai.com/v1", api_key="sk", default_headers=on)
    azure = openai.AzureOpenAI(
        azure_endpoint=f"{gateway.url}/myresource.openai.azure.com",
        api_key="azure-key",
        api_version="2024-10-21",
        default_headers=on,
    )
    compat = openai.OpenAI(
        base_url=f"{gateway.url}/compat/openai/api.groq.com/v1", api_key="g", default_headers=on
    )
    for sdk, model in ((client, "gpt-4o-mini"), (azure, "prod-chat"), (compat, "llama-3.3-70b")):
        statuses = []
        for question in ("How do I reset my password?", "How can I reset my password?"):
            raw = sdk.chat.completions.with_raw_response.create(
                model=model, messages=[{"role": "user", "content": question}]
            )
            statuses.append(raw.headers["x-semantic-cache"])
            if len(statuses) == 1:
                deadline = time.monotonic() + 10
                while "sluicegate_semantic_entries 0.0" in httpx.get(gateway.url + "/metrics").text:
                    assert time.monotonic() < deadline
                    time.sleep(0.02)
        assert statuses == ["MISS", "HIT"], model
        sdk.close()
        httpx.post(
            gateway.url + "/api/v1/cache/expire",
            headers={"Authorization": f"Bearer {gateway.settings.admin_token}"},
        )
    # Gemini's client does not show response headers: plain REST for the same path.
    rest = httpx.post(
        f"{gateway.url}/generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "How do I reset my password?"}]}]},
        headers={"x-goog-api-key": "AIza-test", **on},
    )
    assert rest.headers["x-semantic-cache"] == "MISS"


def test_the_gateways_own_headers_never_reach_the_provider(
    make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]
) -> None:
    """Fastly's control headers (a tenant's name in `x-semantic-cache-key`) and Cloudflare's
    deprecated cache headers are the gateway's to read, on the provider endpoint and a host path."""
    openai_fake = fakes["openai"]
    gateway = make_gateway(
        upstreams={"openai": openai_fake.base_url}, host_overrides={"api.openai.com": openai_fake.url}
    )
    own = {
        "x-semantic-threshold": "0.8",
        "x-semantic-cache-key": "tenant-a",
        "x-settings-overrides": '{"semantic_cache_enabled": false}',
        "cf-cache-ttl": "60",
        "cf-skip-cache": "true",
    }
    for base_url in (gateway.provider_url("openai"), f"{gateway.url}/api.openai.com/v1"):
        client = openai.OpenAI(base_url=base_url, api_key="sk", default_headers=own, max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        client.close()
        sent = {name.lower() for name in openai_fake.requests[-1].headers}
        assert sent.isdisjoint(own), (base_url, sent & set(own))


def test_refused_requests_are_logged_under_the_provider_and_endpoint_answered_ones_are(
    gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    """A request refused before its plan names its host's provider and the path that provider sees
    (`openai`, `chat/completions`), so `provider=openai` finds it beside the answered ones; a host
    no built-in provider claims keeps its own name."""
    gateway.configure(authentication=True)
    base_url = f"{gateway.url}/api.openai.com/v1"
    run = {"Fastly-Key": run_token(gateway)}
    with openai.OpenAI(base_url=base_url, api_key="sk", default_headers=run, max_retries=0) as client:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with (
        openai.OpenAI(base_url=base_url, api_key="sk", max_retries=0) as tokenless,
        pytest.raises(openai.AuthenticationError),
    ):
        tokenless.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    records = gateway.wait_for_logs(2, provider="openai")
    assert [(r["status"], r["provider"], r["endpoint"]) for r in records] == [
        (401, "openai", "chat/completions"),
        (200, "openai", "chat/completions"),
    ]
    # /metrics names the refused one as its log record does, not `_other`.
    refused = re.search(
        r'^sluicegate_requests_total\{[^}]*provider="(\w+)"[^}]*status="401"',
        httpx.get(gateway.url + "/metrics").text,
        re.M,
    )
    assert refused is not None
    assert refused.group(1) == "openai"
    # A path Azure's host refuses is still Azure's; a host nobody allows is named as itself.
    for path in ("/myresource.openai.azure.com/not/deployments", "/api.example.org/v1/chat/completions"):
        assert httpx.post(gateway.url + path, json={}, headers=run).status_code in (400, 403)
    named = [(r["provider"], r["endpoint"]) for r in gateway.wait_for_logs(4)[:2]]
    assert named == [("api.example.org", "v1/chat/completions"), ("azure-openai", "not/deployments")]
    assert len(fakes["openai"].requests) == 1
