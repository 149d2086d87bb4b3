"""A gateway token where the provider's key goes, as Cloudflare's BYOK and dynamic-routing examples
write it (`OpenAI(api_key=<gateway token>)`, `genai.Client(api_key=<gateway token>)`): the gateway
reads it as its token, runs the request on the stored key, and never sends the token upstream."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import anthropic
import httpx2 as httpx
import openai
import pytest
from google import genai
from google.genai import types
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.realtime_server import KEY_PROTOCOL, FakeRealtime
from tests.integration.test_realtime import kind, ws_url

STORED = {"openai": "sk-stored-openai-0123456789", "anthropic": "sk-ant-stored-0123456789"}
STORED_GOOGLE = "AIza-stored-google-0123456789"
USER = [{"role": "user", "content": "hello"}]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=STORED["openai"]).serve() as server:
        yield server


@pytest.fixture
def claude() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=STORED["anthropic"]).serve() as server:
        yield server


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=STORED_GOOGLE).serve() as server:
        yield server


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, claude: FakeAnthropic, gemini: FakeGemini
) -> RunningGateway:
    upstreams = {"openai": fake.base_url, "anthropic": claude.base_url, "google-ai-studio": gemini.base_url}
    gateway = make_gateway(upstreams=upstreams, secret_key="master-key-for-tests")
    gateway.configure(authentication=True)
    for provider, key in (*STORED.items(), ("google-ai-studio", STORED_GOOGLE)):
        url = f"/api/v1/accounts/local/gateways/default/provider-keys/{provider}"
        assert gateway.http.put(url, json={"key": key}).status_code == 201
    return gateway


def run_token(gateway: RunningGateway) -> str:
    response = gateway.http.post("/api/v1/accounts/local/tokens", json={"name": "app", "scopes": ["run"]})
    assert response.status_code == 201, response.text
    secret: str = response.json()["token"]
    return secret


def sent_anywhere(token: str, *fakes: FakeOpenAI | FakeAnthropic | FakeGemini) -> bool:
    return any(
        token in value or token in request.query_string
        for upstream in fakes
        for request in upstream.requests
        for value in request.headers.values()
    )


def test_the_openai_sdk_with_the_token_as_its_key_runs_on_the_stored_key(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    token = run_token(gateway)
    for base_url, model in (
        (gateway.provider_url("openai"), "gpt-4o-mini"),
        (gateway.provider_url("compat"), "openai/gpt-4o-mini"),
    ):
        with openai.OpenAI(base_url=base_url, api_key=token, max_retries=0) as client:
            answer = client.chat.completions.create(model=model, messages=USER)  # type: ignore[arg-type]
        assert answer.choices[0].message.content == "echo: hello"
    assert [r.header("authorization") for r in fake.requests] == [f"Bearer {STORED['openai']}"] * 2
    assert not sent_anywhere(token, fake)


def test_the_anthropic_and_google_sdks_with_the_token_as_their_key_run_on_the_stored_keys(
    gateway: RunningGateway, claude: FakeAnthropic, gemini: FakeGemini
) -> None:
    token = run_token(gateway)
    with anthropic.Anthropic(
        base_url=gateway.provider_url("anthropic"), api_key=token, max_retries=0
    ) as client:
        message = client.messages.create(model="claude-sonnet-4-6", max_tokens=64, messages=USER)  # type: ignore[arg-type]
    assert message.content
    assert [r.header("x-api-key") for r in claude.requests] == [STORED["anthropic"]]
    google = genai.Client(
        api_key=token,
        http_options=types.HttpOptions(
            base_url=gateway.provider_url("google-ai-studio"), api_version="v1beta"
        ),
    )
    assert google.models.generate_content(model="gemini-2.0-flash", contents="hello").text
    # Google's own REST form, the key in the query.
    with_query = httpx.post(
        f"{gateway.provider_url('google-ai-studio')}/v1beta/models/gemini-2.0-flash:generateContent?key={token}",
        json={"contents": [{"parts": [{"text": "hello"}]}]},
    )
    assert with_query.status_code == 200, with_query.text
    assert [r.header("x-goog-api-key") for r in gemini.requests] == [STORED_GOOGLE] * 2
    assert not sent_anywhere(token, claude, gemini)


def test_an_unknown_token_as_the_key_is_refused_and_never_sent_upstream(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    gateway.configure(authentication=False)  # an open gateway still checks a token that is sent
    made_up = "sg_" + "x" * 32
    answer = httpx.post(
        gateway.provider_url("openai") + "/chat/completions",
        json={"model": "gpt-4o-mini", "messages": USER},
        headers={"Authorization": f"Bearer {made_up}"},
    )
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthorized"
    assert fake.requests == []


def test_a_token_in_both_places_is_read_from_its_own_header_and_still_not_sent(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    token = run_token(gateway)
    answer = httpx.post(
        gateway.provider_url("openai") + "/chat/completions",
        json={"model": "gpt-4o-mini", "messages": USER},
        headers={"cf-aig-authorization": f"Bearer {token}", "Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    assert [r.header("authorization") for r in fake.requests] == [f"Bearer {STORED['openai']}"]


@pytest.mark.parametrize("spelling", ["key={token}", "KEY={token}", "key=%73g_{rest}", "key=+{token}"])
def test_a_token_in_the_query_is_read_and_taken_out_however_it_is_spelt(
    gateway: RunningGateway, gemini: FakeGemini, fake: FakeOpenAI, spelling: str
) -> None:
    token = run_token(gateway)
    query = spelling.format(token=token, rest=token.removeprefix("sg_"))
    google = httpx.post(
        f"{gateway.provider_url('google-ai-studio')}/v1beta/models/gemini-2.0-flash:generateContent?{query}",
        json={"contents": [{"parts": [{"text": "hello"}]}]},
    )
    assert google.status_code == 200, google.text
    # OpenAI takes no key in the query: one sent there is still the gateway's, never sent on.
    chat = httpx.post(
        f"{gateway.provider_url('openai')}/chat/completions?{query}",
        json={"model": "gpt-4o-mini", "messages": USER},
    )
    assert chat.status_code == 200, chat.text
    assert [r.header("x-goog-api-key") for r in gemini.requests] == [STORED_GOOGLE]
    assert not sent_anywhere(token.removeprefix("sg_"), gemini, fake)


def test_only_the_token_is_taken_out_of_a_repeated_credential_header(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    gateway.configure(authentication=False)
    token, url = run_token(gateway), gateway.provider_url("openai") + "/chat/completions"
    body = {"model": "gpt-4o-mini", "messages": USER}
    own = [("Authorization", f"Bearer {STORED['openai']}")]  # the client's own key (the fake's)
    made_up = httpx.post(url, json=body, headers=[*own, ("Authorization", "Bearer sg_" + "x" * 32)])
    assert made_up.status_code == 401, made_up.text  # an sg_ value is read as a token wherever it is
    answer = httpx.post(url, json=body, headers=[("Authorization", f"Bearer {token}"), *own])
    assert answer.status_code == 200, answer.text
    assert [r.header("authorization") for r in fake.requests] == [f"Bearer {STORED['openai']}"]
    records = gateway.wait_for_logs(2)
    assert records[0]["key_name"] is None  # the client's own key went, not the stored one
    assert not sent_anywhere(token, fake)


def test_a_browser_s_realtime_session_with_the_token_as_its_key_goes_with_the_stored_key(
    make_gateway: Callable[..., RunningGateway],
) -> None:
    with FakeRealtime().serve() as realtime:
        gateway = make_gateway(upstreams={"openai": realtime.base_url}, secret_key="master-key-for-tests")
        gateway.configure(authentication=True)
        url = "/api/v1/accounts/local/gateways/default/provider-keys/openai"
        assert gateway.http.put(url, json={"key": STORED["openai"]}).status_code == 201
        token = run_token(gateway)
        # A browser cannot set headers: the key it was given, here the gateway token, is a subprotocol.
        protocols = [Subprotocol("realtime"), Subprotocol(KEY_PROTOCOL + token)]
        with connect(ws_url(gateway), subprotocols=protocols, open_timeout=10) as browser:
            assert kind(browser.recv()) == "session.created"
        (upstream,) = realtime.connections
    assert upstream.headers["Authorization"] == f"Bearer {STORED['openai']}"
    assert token not in str(upstream.headers)
