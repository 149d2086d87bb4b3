"""The gateway's own errors on Anthropic's and Google's provider endpoints come in the provider's
error shape, so the official SDKs read them as the provider's own: Anthropic's `rate_limit_error`,
Google's `RESOURCE_EXHAUSTED` (and not OpenAI's shape with `type: sluicegate_error`). Driven by the
`anthropic` and `google-genai` SDKs against a gateway and fake upstreams on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest
from anthropic.types import MessageParam
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini

CLAUDE = "claude-sonnet-4-6"
GEMINI = "gemini-2.0-flash"
MESSAGES: list[MessageParam] = [{"role": "user", "content": "what is the capital of France"}]
PROMPT = "what is the capital of France"
ONE_A_MINUTE = {"name": "one a minute", "limit": 1, "period": 60}
TIMEOUT = {"cf-aig-request-timeout": "200"}  # ms; the fakes' `slow-1500` answers after 1.5 s


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], claude: FakeAnthropic, gemini: FakeGemini
) -> RunningGateway:
    upstreams = {"anthropic": claude.base_url, "google-ai-studio": gemini.base_url}
    return make_gateway(upstreams={**upstreams, "google-vertex-ai": gemini.base_url})


@pytest.fixture
def unreachable(make_gateway: Callable[..., RunningGateway], refused_port: int) -> RunningGateway:
    nowhere = f"http://127.0.0.1:{refused_port}"
    return make_gateway(upstreams={"anthropic": nowhere, "google-ai-studio": nowhere})


def claude_client(base_url: str, **headers: str) -> anthropic.Anthropic:
    http = anthropic.DefaultHttpxClient(verify=False)  # plain HTTP on loopback: no CA bundle
    return anthropic.Anthropic(
        base_url=base_url, api_key="sk-ant-test", max_retries=0, http_client=http, default_headers=headers
    )


def studio(base_url: str, **headers: str) -> genai.Client:
    options = types.HttpOptions(base_url=base_url, api_version="v1beta", headers=headers)
    return genai.Client(api_key="AIzaSy-test", http_options=options)


def vertex(base_url: str) -> genai.Client:
    credentials = Credentials(token="ya29.test")  # type: ignore[no-untyped-call]
    options = types.HttpOptions(base_url=base_url)
    return genai.Client(
        vertexai=True, project="acme", location="us-central1", credentials=credentials, http_options=options
    )


@pytest.fixture
def messages(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    with claude_client(gateway.provider_url("anthropic")) as client:
        yield client


@pytest.fixture
def gemini_client(gateway: RunningGateway) -> Iterator[genai.Client]:
    with studio(gateway.provider_url("google-ai-studio")) as client:
        yield client


def ask_claude(
    client: anthropic.Anthropic,
    stream: bool = False,
    model: str = CLAUDE,
    headers: dict[str, str] | None = None,
) -> None:
    answer = client.messages.create(
        model=model, max_tokens=64, messages=MESSAGES, stream=stream, extra_headers=headers
    )
    if stream:
        for _ in answer:
            pass


def ask_gemini(client: genai.Client, stream: bool = False, model: str = GEMINI) -> None:
    if stream:
        for _ in client.models.generate_content_stream(model=model, contents=PROMPT):
            pass
    else:
        client.models.generate_content(model=model, contents=PROMPT)


def anthropic_error(raised: anthropic.APIStatusError) -> dict[str, Any]:
    """The `error` object of an answer in Anthropic's shape (and nothing of OpenAI's)."""
    body = raised.body
    assert isinstance(body, dict), body
    assert body["type"] == "error", body
    error: dict[str, Any] = body["error"]
    assert raised.type == error["type"]  # what the SDK reads off the body
    assert "sluicegate_error" not in raised.response.text
    assert "param" not in error
    return error


def google_detail(raised: errors.APIError) -> dict[str, Any]:
    """The gateway's detail in an answer in Google's shape, whose `code` is the HTTP status."""
    error = raised.details["error"]
    assert (error["code"], error["message"]) == (raised.code, raised.message)
    assert "sluicegate_error" not in str(raised.details)
    detail: dict[str, Any] = error["sluicegate"]
    return detail


def limit_to_one_a_minute(gateway: RunningGateway) -> None:
    gateway.configure(rate_limits=[ONE_A_MINUTE])


@pytest.mark.parametrize("stream", [False, True])
def test_a_gateway_rate_limit_is_anthropics_rate_limit_error(
    gateway: RunningGateway, messages: anthropic.Anthropic, claude: FakeAnthropic, stream: bool
) -> None:
    limit_to_one_a_minute(gateway)
    ask_claude(messages, stream)
    with pytest.raises(anthropic.RateLimitError) as raised:  # refused before any stream started
        ask_claude(messages, stream)
    error = anthropic_error(raised.value)
    assert error["type"] == "rate_limit_error"
    assert "one a minute" in error["message"]
    assert (error["code"], error["rule"]["limit"]) == ("rate_limited", 1)  # the gateway's own detail
    assert "retry_after" not in error  # the wait is in the headers; only Google's shape has a field
    headers = raised.value.response.headers
    assert 1 <= int(headers["retry-after"]) <= 60
    assert headers["x-ratelimit-limit"] == "1"
    assert headers["content-type"] == "application/json"
    assert len(claude.requests) == 1
    assert gateway.wait_for_logs(2)[0]["status"] == 429


@pytest.mark.parametrize("stream", [False, True])
def test_a_gateway_rate_limit_is_googles_resource_exhausted(
    gateway: RunningGateway, gemini_client: genai.Client, gemini: FakeGemini, stream: bool
) -> None:
    limit_to_one_a_minute(gateway)
    ask_gemini(gemini_client, stream)
    with pytest.raises(errors.ClientError) as raised:
        ask_gemini(gemini_client, stream)
    assert (raised.value.code, raised.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert "one a minute" in str(raised.value.message)
    detail = google_detail(raised.value)
    assert (detail["code"], detail["rule"]["limit"]) == ("rate_limited", 1)
    response: Any = raised.value.response
    wait = int(response.headers["retry-after"])
    assert 1 <= wait <= 60
    # Said where Google's own 429 says it, for the clients that read it (LangChain's docs, …).
    retry_info = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{wait}s"}
    assert raised.value.details["error"]["details"] == [retry_info]
    assert len(gemini.requests) == 1


def test_a_missing_gateway_token_is_an_authentication_error_in_each_shape(
    gateway: RunningGateway, messages: anthropic.Anthropic, gemini_client: genai.Client
) -> None:
    gateway.configure(authentication=True)
    with pytest.raises(anthropic.AuthenticationError) as claude_refused:
        ask_claude(messages)
    error = anthropic_error(claude_refused.value)
    assert (error["type"], error["code"]) == ("authentication_error", "unauthorized")
    with pytest.raises(errors.ClientError) as studio_refused:
        ask_gemini(gemini_client)
    assert (studio_refused.value.code, studio_refused.value.status) == (401, "UNAUTHENTICATED")
    assert google_detail(studio_refused.value)["code"] == "unauthorized"
    # Vertex AI's front end answers in the same shape.
    with (
        vertex(gateway.provider_url("google-vertex-ai")) as client,
        pytest.raises(errors.ClientError) as refused,
    ):
        ask_gemini(client)
    assert (refused.value.code, refused.value.status) == (401, "UNAUTHENTICATED")


def test_a_bad_token_host_in_path_to_anthropic_is_an_authentication_error(gateway: RunningGateway) -> None:
    """Host-in-path names its provider by the host: refused before any plan, in its shape too."""
    client = claude_client(f"{gateway.url}/api.anthropic.com", **{"Fastly-Key": "sg_wrong"})
    with client, pytest.raises(anthropic.AuthenticationError) as refused:
        ask_claude(client)
    assert anthropic_error(refused.value)["type"] == "authentication_error"


def test_a_request_timeout_is_anthropics_timeout_error(
    gateway: RunningGateway, messages: anthropic.Anthropic
) -> None:
    with pytest.raises(anthropic.GatewayTimeoutError) as raised:
        ask_claude(messages, model="slow-1500", headers=TIMEOUT)
    error = anthropic_error(raised.value)
    assert (raised.value.status_code, error["type"], error["code"]) == (
        504,
        "timeout_error",
        "upstream_timeout",
    )


def test_a_request_timeout_is_googles_deadline_exceeded(gateway: RunningGateway) -> None:
    client = studio(gateway.provider_url("google-ai-studio"), **TIMEOUT)
    with client, pytest.raises(errors.ServerError) as raised:
        ask_gemini(client, model="slow-1500")
    assert (raised.value.code, raised.value.status) == (504, "DEADLINE_EXCEEDED")
    assert google_detail(raised.value)["code"] == "upstream_timeout"


def test_an_unreachable_upstream_is_an_api_error_and_internal(unreachable: RunningGateway) -> None:
    client = claude_client(unreachable.provider_url("anthropic"))
    with client, pytest.raises(anthropic.InternalServerError) as claude_raised:
        ask_claude(client)
    error = anthropic_error(claude_raised.value)
    assert (claude_raised.value.status_code, error["type"]) == (502, "api_error")
    assert error["code"] == "upstream_unreachable"
    studio_client = studio(unreachable.provider_url("google-ai-studio"))
    with studio_client, pytest.raises(errors.ServerError) as google_raised:
        ask_gemini(studio_client)
    # google.rpc.Code has no name for 502: Google's HTTP mapping makes any other 5xx INTERNAL.
    assert (google_raised.value.code, google_raised.value.status) == (502, "INTERNAL")
    assert google_detail(google_raised.value)["code"] == "upstream_unreachable"


@pytest.mark.parametrize(
    "base",
    [
        "anthropic/v1",
        "google-ai-studio/v1beta/openai",
        "google-vertex-ai/v1/projects/p/locations/l/endpoints/openapi",
    ],
)
def test_a_providers_openai_compatible_api_keeps_openais_shape(gateway: RunningGateway, base: str) -> None:
    """Anthropic's and Google's OpenAI-compatible APIs are called with OpenAI's SDK: the gateway's own
    refusal there must read as OpenAI's (`err.type`, `param`, a string `code`), not as the native API's."""
    provider, _, path = base.partition("/")
    client = openai.OpenAI(
        base_url=f"{gateway.provider_url(provider)}/{path}", api_key="sk-test", max_retries=0
    )
    limit_to_one_a_minute(gateway)
    with contextlib.suppress(openai.APIStatusError):  # the first goes upstream (whatever the fake says)
        client.chat.completions.create(model=GEMINI, messages=[{"role": "user", "content": PROMPT}])
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model=GEMINI, messages=[{"role": "user", "content": PROMPT}])
    body: Any = raised.value.body
    assert (body["code"], body["param"], raised.value.type) == ("rate_limited", None, "sluicegate_error")
