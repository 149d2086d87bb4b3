"""A gateway token where the provider's key goes (`OpenAI(api_key=<gateway token>)`) when the gateway
stores no key of that provider: the token is still the gateway's credential and never sent on, and
nothing would take its place, so the gateway answers its own 401 in the client's API shape, saying
so and how to store a key, instead of sending the request with no credential at all (whose
provider 401, "Incorrect API key provided", points at the wrong key)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2 as httpx
import openai
import pytest
from google import genai
from google.genai import errors, types
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.realtime_server import KEY_PROTOCOL, FakeRealtime
from tests.integration.test_realtime import ws_url

USER: Any = [{"role": "user", "content": "hello"}]
STORED_ANTHROPIC = "sk-ant-stored-0123456789"
KEYS = "/api/v1/accounts/local/gateways/default/provider-keys"
HOW = "`sluicegate keys set openai --gateway default < key.txt`"


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, gemini: FakeGemini, claude: FakeAnthropic
) -> RunningGateway:
    upstreams = {"openai": fake.base_url, "google-ai-studio": gemini.base_url, "anthropic": claude.base_url}
    gateway = make_gateway(upstreams=upstreams, secret_key="master-key-for-tests")
    gateway.configure(authentication=True)
    # Anthropic's key only: OpenAI and Google have none stored.
    assert gateway.http.put(f"{KEYS}/anthropic", json={"key": STORED_ANTHROPIC}).status_code == 201
    return gateway


def run_token(gateway: RunningGateway) -> str:
    response = gateway.http.post("/api/v1/accounts/local/tokens", json={"name": "app", "scopes": ["run"]})
    assert response.status_code == 201, response.text
    secret: str = response.json()["token"]
    return secret


def test_the_openai_sdk_gets_the_gateways_401_naming_the_missing_key_and_how_to_store_one(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    token = run_token(gateway)
    for base_url, model in (
        (gateway.provider_url("openai"), "gpt-4o-mini"),
        (gateway.provider_url("compat"), "openai/gpt-4o-mini"),  # the unified endpoint
    ):
        with (
            openai.OpenAI(base_url=base_url, api_key=token, max_retries=0) as client,
            pytest.raises(openai.AuthenticationError) as refused,
        ):
            client.chat.completions.create(model=model, messages=USER)
        error = refused.value.body
        assert isinstance(error, dict)
        assert (error["code"], error["provider"], error["gateway"]) == (
            "provider_key_not_stored",
            "openai",
            "default",
        )
        message = refused.value.message
        assert "the gateway token was sent where the openai key goes" in message
        assert "gateway 'default' has no openai key stored" in message
        assert HOW in message
        assert f"PUT {KEYS}/openai" in message
        assert "in cf-aig-authorization" in message
    assert fake.requests == []
    records = gateway.wait_for_logs(2)
    assert [(r["status"], r["provider"]) for r in records] == [(401, "openai")] * 2


def test_google_s_sdk_and_the_unified_endpoint_get_it_in_their_own_shapes(
    gateway: RunningGateway, gemini: FakeGemini
) -> None:
    token = run_token(gateway)
    google = genai.Client(
        api_key=token,
        http_options=types.HttpOptions(
            base_url=gateway.provider_url("google-ai-studio"), api_version="v1beta"
        ),
    )
    with pytest.raises(errors.ClientError) as refused:
        google.models.generate_content(model="gemini-2.0-flash", contents="hello")
    assert (refused.value.code, refused.value.status) == (401, "UNAUTHENTICATED")
    assert "no google-ai-studio key stored" in str(refused.value.message)
    # OpenAI's SDK on the unified endpoint, translated to Gemini: OpenAI's shape.
    with (
        openai.OpenAI(base_url=gateway.provider_url("compat"), api_key=token, max_retries=0) as client,
        pytest.raises(openai.AuthenticationError) as compat,
    ):
        client.chat.completions.create(model="google-ai-studio/gemini-2.0-flash", messages=USER)
    assert "no google-ai-studio key stored" in compat.value.message
    assert gemini.requests == []


def test_a_stored_key_still_takes_the_tokens_place(gateway: RunningGateway, claude: FakeAnthropic) -> None:
    token = run_token(gateway)
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key=token, max_retries=0) as client:
        answer = client.chat.completions.create(model="anthropic/claude-sonnet-4-6", messages=USER)
        with pytest.raises(openai.AuthenticationError):  # the same client, for a provider without one
            client.chat.completions.create(model="openai/gpt-4o-mini", messages=USER)
    assert answer.choices[0].message.content
    assert [r.header("x-api-key") for r in claude.requests] == [STORED_ANTHROPIC]


def test_a_universal_step_with_the_token_as_its_key_is_refused_and_the_next_step_answers(
    gateway: RunningGateway, fake: FakeOpenAI, claude: FakeAnthropic
) -> None:
    token = run_token(gateway)
    openai_step = {
        "provider": "openai",
        "endpoint": "chat/completions",
        "headers": {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        "query": {"model": "gpt-4o-mini", "messages": USER},
    }
    anthropic_step = {
        "provider": "anthropic",
        "endpoint": "v1/messages",
        "headers": {"x-api-key": token, "anthropic-version": "2023-06-01"},
        "query": {"model": "claude-sonnet-4-6", "max_tokens": 16, "messages": USER},
    }
    url, auth = gateway.url + "/v1/local/default", {"cf-aig-authorization": f"Bearer {token}"}
    alone = httpx.post(url, json=[openai_step], headers=auth)
    assert alone.status_code == 401, alone.text
    assert alone.json()["error"]["code"] == "provider_key_not_stored"
    fallen_back = httpx.post(url, json=[openai_step, anthropic_step], headers=auth)
    assert fallen_back.status_code == 200, fallen_back.text
    assert fallen_back.headers["cf-aig-step"] == "1"
    assert fake.requests == []
    assert [r.header("x-api-key") for r in claude.requests] == [STORED_ANTHROPIC]


def test_a_host_in_path_request_to_a_provider_host_is_refused_but_not_one_to_an_allowed_host(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    """An `allowed_hosts` server may need no key (a local model server): the token is still taken
    out, and the request goes on without one, as before."""
    overrides = {"api.openai.com": fake.url, "llm.internal.example": fake.url}
    gateway = make_gateway(host_overrides=overrides, allowed_hosts=["llm.internal.example"])
    token = run_token(gateway)
    with (
        openai.OpenAI(base_url=f"{gateway.url}/api.openai.com/v1", api_key=token, max_retries=0) as client,
        pytest.raises(openai.AuthenticationError) as refused,
    ):
        client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert "no openai key stored" in refused.value.message
    with openai.OpenAI(
        base_url=f"{gateway.url}/llm.internal.example/v1", api_key=token, max_retries=0
    ) as client:
        assert client.chat.completions.create(model="local-model", messages=USER).choices
    [sent] = fake.requests
    assert sent.header("authorization") is None


def test_a_browsers_realtime_session_with_the_token_as_its_key_is_refused(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    with FakeRealtime().serve() as realtime:
        gateway = make_gateway(upstreams={"openai": realtime.base_url}, secret_key="master-key-for-tests")
        gateway.configure(authentication=True)
        token = run_token(gateway)
        protocols = [Subprotocol("realtime"), Subprotocol(KEY_PROTOCOL + token)]
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(gateway), subprotocols=protocols, open_timeout=10)
        assert refused.value.response.status_code == 401
        assert b"provider_key_not_stored" in refused.value.response.body
        assert realtime.connections == []
