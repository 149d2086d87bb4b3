"""The unified OpenAI-compatible endpoint: the OpenAI SDK talking to Anthropic, Gemini and
OpenAI-compatible providers through `/compat`, translated both ways, streams included."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

MESSAGES: list[Any] = [
    {"role": "system", "content": "Answer briefly."},
    {"role": "user", "content": "what is the capital of France"},
]


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeOpenAI().serve() as oa, FakeAnthropic().serve() as an, FakeGemini().serve() as ge:
        yield {"openai": oa, "anthropic": an, "google-ai-studio": ge}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    return make_gateway(upstreams={name: fake.base_url for name, fake in fakes.items()})


@pytest.fixture
def client(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=gateway.provider_url("compat"), api_key="key-for-the-provider", max_retries=0
    )


@pytest.mark.parametrize(
    "model", ["anthropic/claude-sonnet-4-5", "google-ai-studio/gemini-2.5-flash", "openai/gpt-4o"]
)
def test_chat_through_each_provider(
    client: openai.OpenAI, gateway: RunningGateway, fakes: dict[str, Any], model: str
) -> None:
    answer = client.chat.completions.create(model=model, messages=MESSAGES, max_tokens=50)
    assert answer.object == "chat.completion"
    assert answer.choices[0].message.content
    assert "capital of France" in answer.choices[0].message.content
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    assert answer.usage.prompt_tokens > 0
    slug, _, bare = model.partition("/")
    received = fakes[slug].requests[-1]
    assert bare in received.path or received.json.get("model") == bare
    record = gateway.wait_for_logs(1)[0]
    assert record["provider"] == slug
    assert (record["tokens_in"], record["tokens_out"]) == (
        answer.usage.prompt_tokens,
        answer.usage.completion_tokens,
    )
    assert record["usage_estimated"] is False


def test_the_key_moves_to_each_providers_header(client: openai.OpenAI, fakes: dict[str, Any]) -> None:
    client.chat.completions.create(model="anthropic/claude-sonnet-4-5", messages=MESSAGES)
    anthropic_request = fakes["anthropic"].requests[-1]
    assert anthropic_request.header("x-api-key") == "key-for-the-provider"
    assert anthropic_request.header("authorization") is None
    assert anthropic_request.header("anthropic-version") == "2023-06-01"
    assert anthropic_request.json["system"]  # the system message moved to Anthropic's field
    client.chat.completions.create(model="google-ai-studio/gemini-2.5-flash", messages=MESSAGES)
    assert fakes["google-ai-studio"].requests[-1].header("x-goog-api-key") == "key-for-the-provider"


@pytest.mark.parametrize("model", ["anthropic/claude-sonnet-4-5", "google-ai-studio/gemini-2.5-flash"])
def test_streams_are_translated_to_chunks(client: openai.OpenAI, gateway: RunningGateway, model: str) -> None:
    chunks = list(
        client.chat.completions.create(
            model=model, messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "capital of France" in text
    usage = chunks[-1].usage
    assert usage is not None
    record = gateway.wait_for_logs(1)[0]
    assert record["stream"] is True
    assert (record["tokens_in"], record["tokens_out"]) == (usage.prompt_tokens, usage.completion_tokens)


LOOKUP_TOOL: Any = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
}


@pytest.mark.parametrize(
    ("model", "options"),
    [
        ("anthropic/claude-sonnet-4-5", {}),
        ("anthropic/claude-sonnet-4-5", {"tools": [LOOKUP_TOOL], "tool_choice": "required"}),
        ("google-ai-studio/gemini-2.5-flash", {}),  # its thinking tokens are billed as output
    ],
)
def test_a_stream_without_include_usage_logs_the_usage_the_provider_reported(
    client: openai.OpenAI, gateway: RunningGateway, model: str, options: dict[str, Any]
) -> None:
    answer = client.chat.completions.create(model=model, messages=MESSAGES, **options)
    assert answer.usage is not None
    chunks = list(client.chat.completions.create(model=model, messages=MESSAGES, stream=True, **options))
    assert all(chunk.usage is None for chunk in chunks)  # the client did not ask for it
    record = gateway.wait_for_logs(2)[0]
    assert (record["stream"], record["usage_estimated"]) == (True, False)
    assert (record["tokens_in"], record["tokens_out"]) == (
        answer.usage.prompt_tokens,
        answer.usage.completion_tokens,
    )


def test_a_stream_the_provider_fails_midway_is_logged_with_its_error_and_usage(
    client: openai.OpenAI, gateway: RunningGateway
) -> None:
    stream = client.chat.completions.create(
        model="anthropic/error-mid-stream", messages=MESSAGES, stream=True
    )
    with pytest.raises(openai.APIError, match="Overloaded"):
        list(stream)
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["stream"]) == (200, True)  # as sent, before the failure
    assert record["error"] is not None
    assert "overloaded_error" in record["error"]
    # Anthropic's message_start had reported the input side before the error event; the output
    # written before it is counted (message_start announces 1 token), so part is an estimate.
    whole = client.chat.completions.create(model="anthropic/claude-sonnet-4-6", messages=MESSAGES)
    assert whole.usage is not None
    assert record["tokens_in"] == whole.usage.prompt_tokens
    assert record["tokens_out"] > 1
    assert record["usage_estimated"] is True


@pytest.mark.parametrize(
    ("model", "error"),
    [
        ("anthropic/rate-limited", openai.RateLimitError),
        ("anthropic/error-400", openai.BadRequestError),
        ("google-ai-studio/error-500", openai.InternalServerError),
    ],
)
def test_errors_become_openai_errors_with_the_upstream_status(
    client: openai.OpenAI, model: str, error: type[openai.APIStatusError]
) -> None:
    with pytest.raises(error) as caught:
        client.chat.completions.create(model=model, messages=MESSAGES)
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["message"]
    assert "type" in body


@pytest.mark.parametrize("provider", ["anthropic", "google-ai-studio"])
def test_an_answer_in_the_wrong_shape_is_a_502_naming_the_provider(
    client: openai.OpenAI, gateway: RunningGateway, fakes: dict[str, Any], provider: str
) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model=f"{provider}/wrong-shape", messages=MESSAGES)
    assert caught.value.status_code == 502
    error = caught.value.response.json()["error"]
    assert (error["code"], error["provider"]) == ("upstream_malformed", provider)
    assert error["message"].startswith(f"{provider} answered in a shape the gateway cannot translate")
    assert len(fakes[provider].requests) == 1
    record = gateway.wait_for_logs(1)[0]
    assert (record["status"], record["provider"]) == (502, provider)


def test_a_stream_in_the_wrong_shape_ends_in_an_error_event_and_is_logged(
    client: openai.OpenAI, gateway: RunningGateway
) -> None:
    stream = client.chat.completions.create(
        model="google-ai-studio/wrong-shape", messages=MESSAGES, stream=True
    )
    # The status was out: the stream ends in OpenAI's in-stream error (not a cut connection).
    said = "google-ai-studio answered in a shape the gateway cannot translate"
    with pytest.raises(openai.APIError, match=said) as caught:
        list(stream)
    assert not isinstance(caught.value, openai.APIConnectionError)
    record = gateway.wait_for_logs(1)[0]
    assert said in record["error"]


def test_tools_survive_the_translation(client: openai.OpenAI, fakes: dict[str, Any]) -> None:
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "lookup_capital",
                "description": "Find a country's capital",
                "parameters": {"type": "object", "properties": {"country": {"type": "string"}}},
            },
        }
    ]
    answer = client.chat.completions.create(
        model="anthropic/claude-sonnet-4-5", messages=MESSAGES, tools=tools, tool_choice="required"
    )
    calls = answer.choices[0].message.tool_calls
    assert calls
    assert calls[0].function.name == "lookup_capital"  # type: ignore[union-attr]
    assert answer.choices[0].finish_reason == "tool_calls"
    sent = fakes["anthropic"].requests[-1].json
    assert sent["tools"][0]["name"] == "lookup_capital"
    assert sent["tools"][0]["input_schema"]["properties"]["country"]["type"] == "string"


@pytest.mark.parametrize(
    ("model", "fragment"),
    [
        ("gpt-4o", '"{provider}/{model}", e.g. "openai/gpt-4o"'),
        ("claude-haiku-4-5", 'e.g. "anthropic/claude-haiku-4-5"'),
        ("openai/", "{provider}/{model}"),  # an empty model is not the upstream's to refuse
        ("/gpt-4o", "{provider}/{model}"),
        ("nope/model", "unknown provider"),
        ("cohere/command-r", "not available"),
    ],
)
def test_bad_models_are_400s(client: openai.OpenAI, model: str, fragment: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=model, messages=MESSAGES)
    assert fragment in str(caught.value)


def test_embeddings_pass_through_to_openai_compatible_providers(client: openai.OpenAI) -> None:
    result = client.embeddings.create(model="openai/text-embedding-3-small", input="hello")
    assert len(result.data[0].embedding) == 1536


def test_openai_compatible_providers_get_their_api_path(
    make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]
) -> None:
    """Mistral's API lives under `/v1` of its host (Cloudflare's `…/mistral/v1/chat/completions`):
    compat must send `mistral/…` there, not to the host's root."""
    fake = fakes["openai"]
    gateway = make_gateway(upstreams={"mistral": fake.url})  # the host, as Mistral's base URL is
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        answer = client.chat.completions.create(model="mistral/mistral-small-latest", messages=MESSAGES)
    assert answer.choices[0].message.content
    assert fake.requests[-1].path == "/v1/chat/completions"


def test_a_gemini_3_function_calls_signature_goes_back_with_it(
    client: openai.OpenAI, fakes: dict[str, Any]
) -> None:
    # Gemini 3 signs its function calls and refuses the next turn without the signature; Google's
    # OpenAI compatibility carries it in the tool call's extra_content, which the SDK keeps.
    model = "google-ai-studio/gemini-3-pro-preview"
    asked: list[Any] = [{"role": "user", "content": "lookup Paris"}]
    first = client.chat.completions.create(model=model, messages=asked, tools=[LOOKUP_TOOL])
    message = first.choices[0].message
    assert message.tool_calls
    call = message.tool_calls[0]
    signature = (call.model_extra or {})["extra_content"]["google"]["thought_signature"]
    result = {"role": "tool", "tool_call_id": call.id, "content": "Paris is in France"}
    second = client.chat.completions.create(
        model=model, messages=[*asked, message, result], tools=[LOOKUP_TOOL]
    )
    assert second.choices  # answered: the fake, as Gemini 3, refuses an unsigned call with a 400
    model_turn = fakes["google-ai-studio"].requests[-1].json["contents"][1]
    assert model_turn["parts"][0]["thoughtSignature"] == signature


def test_a_gemini_refusal_says_when_to_retry_in_a_header(
    client: openai.OpenAI, fakes: dict[str, Any]
) -> None:
    # Google puts the wait in the body's RetryInfo ("1s"), not in a header: the OpenAI SDK, reading
    # the translated 429, and the gateway's key pools read Retry-After.
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="google-ai-studio/rate-limited", messages=MESSAGES)
    assert fakes["google-ai-studio"].requests  # it came from Google, not the gateway
    assert refused.value.response.headers["retry-after"] == "1"
