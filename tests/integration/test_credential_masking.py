"""No credential is ever stored or shown: not from a header, a universal step's headers or
endpoint, or a query parameter, and not where an upstream or a prompt repeats it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from secrets import token_hex
from typing import Any
from urllib.parse import urlencode

import httpx2 as httpx
import openai
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import RunningGateway, stored_bytes
from tests.conftest import both_backends as backend  # noqa: F401  (runs each test on both setups)
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

UNIVERSAL = "/v1/local/default"
LOGS = "/api/v1/accounts/local/gateways/default/logs"
GEMINI_KEY = "AIzaSyGeminiKey-0123456789abcdefghij"
STORED_KEY = "sk-stored-provider-key-9f8e7d6c5b4a"
MESSAGES = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeOpenAI().serve() as oa, FakeGemini(api_key=GEMINI_KEY).serve() as ge:
        yield {"openai": oa, "google-ai-studio": ge}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    upstreams = {name: fake.base_url for name, fake in fakes.items()}
    gateway = make_gateway(upstreams=upstreams, secret_key="master-key-for-masking-tests")
    stored = gateway.http.put(f"{LOGS.removesuffix('/logs')}/provider-keys/openai", json={"key": STORED_KEY})
    assert stored.status_code == 201
    return gateway


def detail(gateway: RunningGateway, log_id: str) -> httpx.Response:
    """The log record's single view, once the batch that holds it is written."""
    deadline = time.monotonic() + 10
    while (response := gateway.http.get(f"{LOGS}/{log_id}")).status_code == 404:
        assert time.monotonic() < deadline, f"log record {log_id} was never written"
        time.sleep(0.02)
    assert response.status_code == 200, response.text
    return response


def forms(secret: str) -> list[bytes]:
    """How a secret may be written down: as is, and escaped in JSON."""
    return [
        secret.encode(),
        json.dumps(secret)[1:-1].encode(),
        json.dumps(secret, ensure_ascii=False)[1:-1].encode(),
    ]


def assert_nowhere(gateway: RunningGateway, shown: str, *secrets: str) -> None:
    stored = stored_bytes(gateway.settings)
    for secret in secrets:
        for form in forms(secret):
            assert form not in shown.encode(), f"{secret!r} is shown by the logs API"
            assert form not in stored, f"{secret!r} is stored in the database"


def step(model: str, headers: dict[str, str], endpoint: str = "chat/completions") -> dict[str, Any]:
    body = {"model": model, "messages": MESSAGES}
    return {"provider": "openai", "endpoint": endpoint, "headers": headers, "query": body}


def test_universal_step_headers_are_masked_in_the_stored_body(gateway: RunningGateway) -> None:
    first = {"Authorization": "Bearer sk-first-step-key-0123456789", "Content-Type": "application/json"}
    second = {
        "api-key": "azure-style-key-0123456789abcdef",
        "x-api-key": "sk-ant-style-key-0123456789",
        "X-Goog-Api-Key": "AIzaStepHeaderKey0123456789",
    }
    response = gateway.http.post(UNIVERSAL, json=[step("error-500", first), step("gpt-4o-mini", second)])
    assert (response.status_code, response.headers["cf-aig-step"]) == (200, "1")
    shown = detail(gateway, response.headers["cf-aig-log-id"])
    stored_steps = json.loads(shown.json()["request_body"])
    assert stored_steps[0]["headers"] == {"Authorization": "[redacted]", "Content-Type": "application/json"}
    assert stored_steps[1]["headers"] == dict.fromkeys(second, "[redacted]")
    assert stored_steps[1]["query"]["messages"] == MESSAGES  # the rest of the body is kept
    assert shown.json()["degraded"] is None
    secrets = [first["Authorization"].split()[1], *second.values()]
    assert_nowhere(gateway, shown.text, *secrets)


def test_a_steps_authorization_field_is_its_providers_key_header_and_never_logged(
    gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    """Cloudflare's universal step field `authorization`: "the content of the authentication HTTP
    header to use when contacting this provider; usually starts with 'Token' or 'Bearer'"."""
    openai_key = "sk-authorization-field-0123456789"
    chat = {"model": "gpt-4o-mini", "messages": MESSAGES}
    gemini = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    steps = [
        {"provider": "openai", "endpoint": "chat/completions", "authorization": f"Bearer {openai_key}",
         "headers": {"Authorization": "Bearer sk-overridden"}, "query": chat},
        {"provider": "google-ai-studio", "endpoint": "v1beta/models/gemini-2.5-flash:generateContent",
         "authorization": f"Bearer {GEMINI_KEY}", "query": gemini},
    ]  # fmt: skip
    for answered in steps:
        response = gateway.http.post(UNIVERSAL, json=[answered])
        assert response.status_code == 200, response.text
        shown = detail(gateway, response.headers["cf-aig-log-id"])
        assert json.loads(shown.json()["request_body"])[0]["authorization"] == "[redacted]"
        assert_nowhere(gateway, shown.text, openai_key, GEMINI_KEY)
    assert fakes["openai"].requests[-1].header("authorization") == f"Bearer {openai_key}"
    assert fakes["google-ai-studio"].requests[-1].header("x-goog-api-key") == GEMINI_KEY  # the bare key


def test_a_gemini_key_in_the_query_is_masked(gateway: RunningGateway, fakes: dict[str, Any]) -> None:
    path = "v1beta/models/gemini-2.5-flash:generateContent"
    body = {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}
    direct = httpx.post(f"{gateway.provider_url('google-ai-studio')}/{path}?key={GEMINI_KEY}", json=body)
    assert direct.status_code == 200, direct.text
    universal_step = {
        "provider": "google-ai-studio",
        "endpoint": f"{path}?alt=json&key={GEMINI_KEY}",
        "query": body,
    }
    universal = gateway.http.post(UNIVERSAL, json=[universal_step])
    assert universal.status_code == 200, universal.text
    assert [request.query_string for request in fakes["google-ai-studio"].requests] == [
        f"key={GEMINI_KEY}",
        f"alt=json&key={GEMINI_KEY}",
    ]  # the upstream still gets the key
    shown_direct = detail(gateway, direct.headers["cf-aig-log-id"])
    shown_universal = detail(gateway, universal.headers["cf-aig-log-id"])
    endpoint = json.loads(shown_universal.json()["request_body"])[0]["endpoint"]
    assert endpoint == f"{path}?alt=json&key=[redacted]"
    assert_nowhere(gateway, shown_direct.text + shown_universal.text, GEMINI_KEY)


def test_a_key_quoted_in_the_prompt_and_echoed_back_is_scrubbed(gateway: RunningGateway) -> None:
    key = "sk-proj-quoted-in-the-prompt-0123456789"
    client = openai.OpenAI(base_url=gateway.provider_url("openai"), api_key=key, max_retries=0)
    answer = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": f"is {key} a valid key"}]
    )
    client.close()
    assert key in answer.parse().choices[0].message.content  # the fake echoes the prompt
    record = detail(gateway, answer.headers["cf-aig-log-id"]).json()
    assert "is [redacted] a valid key" in record["request_body"]
    assert "is [redacted] a valid key" in record["response_body"]
    assert record["request_headers"]["authorization"] == "[redacted]"
    assert_nowhere(gateway, json.dumps(record), key)


def test_a_universal_body_that_fails_validation_is_masked_or_not_stored(gateway: RunningGateway) -> None:
    key = "sk-misspelt-field-key-0123456789"
    misspelt = {"provider": "openai", "endpoint": "chat/completions?key=" + key, "query": {}}
    misspelt["header"] = {"Authorization": f"Bearer {key}"}  # `headers` misspelt: a 400
    refused = gateway.http.post(UNIVERSAL, json=[misspelt])
    assert refused.status_code == 400
    stored = json.loads(detail(gateway, refused.headers["cf-aig-log-id"]).json()["request_body"])
    assert stored == [
        {**misspelt, "endpoint": "chat/completions?key=[redacted]", "header": {"Authorization": "[redacted]"}}
    ]
    cut_short = f'[{{"provider": "openai", "headers": {{"Authorization": "Bearer {key}"'
    unreadable = gateway.http.post(UNIVERSAL, content=cut_short, headers={"Content-Type": "application/json"})
    assert unreadable.status_code == 400
    record = detail(gateway, unreadable.headers["cf-aig-log-id"]).json()
    assert record["request_body"] is None
    assert record["degraded"].startswith("request body omitted: its credentials could not be masked")
    assert_nowhere(gateway, refused.text + unreadable.text + json.dumps(record), key)


@pytest.mark.parametrize("value", ["Bearer sk-line\nbreak-0123456789", "Bearer sk-nul\x00-0123456789"])
def test_a_step_header_http_cannot_carry_is_a_400_that_does_not_repeat_it(
    gateway: RunningGateway, fakes: dict[str, Any], value: str
) -> None:
    refused = gateway.http.post(
        UNIVERSAL,
        json=[step("gpt-4o", {"Content-Type": "application/json"}), step("gpt-4o", {"Authorization": value})],
    )
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert (error["step"], error["field"]) == (1, "headers")
    assert "the value of 'Authorization' holds a line break or another control character" in error["message"]
    assert fakes["openai"].requests == []
    shown = detail(gateway, refused.headers["cf-aig-log-id"])
    assert_nowhere(gateway, refused.text + shown.text, value, value.split()[1])


# Property: wherever a credential travels, no stored record, logs API answer, database file or
# log line holds it.
SECRET_HEADER_NAMES = [
    "Authorization", "x-api-key", "api-key", "x-goog-api-key", "cf-aig-authorization", "Fastly-Key",
    "x-sluicegate-token", "Proxy-Authorization", "Cookie",
]  # fmt: skip
SECRET_PARAM_NAMES = ["key", "api_key", "access_token", "API-KEY"]
# Header values: printable ASCII without blanks (HTTP clients send nothing else), JSON's and URLs'
# special characters included. In a JSON body or a (percent-encoded) query: any text.
header_credentials = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=12, max_size=40
)
any_credentials = st.text(
    alphabet=st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=12, max_size=40
)
# (where, name, credential)
cases = st.one_of(
    st.tuples(st.just("header"), st.sampled_from(SECRET_HEADER_NAMES), header_credentials),
    st.tuples(st.just("step header"), st.sampled_from(SECRET_HEADER_NAMES), any_credentials),
    st.tuples(st.sampled_from(["query", "step query"]), st.sampled_from(SECRET_PARAM_NAMES), any_credentials),
)
MASKING = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def send(gateway: RunningGateway, place: str, name: str, credential: str, prompt: str) -> httpx.Response:
    messages = [{"role": "user", "content": prompt}]
    chat = {"model": "gpt-4o-mini", "messages": messages}
    query = urlencode({name: credential})
    if place == "header":
        return httpx.post(
            gateway.provider_url("openai") + "/chat/completions", json=chat, headers={name: credential}
        )
    if place == "query":
        return httpx.post(f"{gateway.provider_url('openai')}/chat/completions?{query}", json=chat)
    headers = {name: credential} if place == "step header" else {}
    endpoint = f"chat/completions?{query}" if place == "step query" else "chat/completions"
    return gateway.http.post(
        UNIVERSAL, json=[{"provider": "openai", "endpoint": endpoint, "headers": headers, "query": chat}]
    )


@MASKING
@given(case=cases, quoted=st.booleans())
def test_no_credential_is_ever_stored_or_shown(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture, case: tuple[str, str, str], quoted: bool
) -> None:
    caplog.set_level(logging.DEBUG)
    place, name, credential = case
    # A random head keeps the credential from being found by chance in what the database holds
    # anyway (hypothesis would otherwise find "sluicegate_" in a table name).
    credential = token_hex(4) + credential
    prompt = f"say {credential} back" if quoted else "hello"  # the fake echoes the prompt
    response = send(gateway, place, name, credential, prompt)
    assert response.status_code != 500, response.text
    shown = detail(gateway, response.headers["cf-aig-log-id"])
    listed = gateway.http.get(LOGS, params={"limit": 1000})
    # The gateway's own log lines (the test's HTTP client logs the URLs it requests).
    logged = "\n".join(
        r.getMessage() + (r.exc_text or "") for r in caplog.records if not r.name.startswith("http")
    )
    assert_nowhere(gateway, shown.text + listed.text + logged, credential, STORED_KEY)
