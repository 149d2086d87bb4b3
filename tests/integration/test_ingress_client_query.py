"""A client's query on the unified endpoint means nothing to chat: a request translated through
chat carries none of it upstream. Gemini's `?key=` (REST clients, Google's curl examples) is the
client's key, as `x-goog-api-key` is, and nowhere in the log; `alt=sse` is Google's; a Messages
client's `?beta=true` is Anthropic's. An untranslated request keeps its query as its
provider reads it. A provider translation's refusal names the Gemini field the client sent."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx
import orjson
import pytest
from google import genai
from google.genai import errors, types

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.workers_ai_server import FakeWorkersAI

QUESTION = "what is the capital of France"
KEY = "AIzaSy-client-key-in-the-query"
STORED = "sk-stored-openai-key-of-the-gateway"
BODY = {"contents": [{"role": "user", "parts": [{"text": QUESTION}]}]}
WORKERS_AI = "workers-ai/@cf/meta/llama-3.1-8b-instruct"


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with (
        FakeOpenAI(api_key=KEY).serve() as oa,
        FakeAnthropic(api_key=KEY).serve() as an,
        FakeGemini(api_key=KEY).serve() as ge,
        FakeWorkersAI().serve() as wa,
    ):
        yield {"openai": oa, "anthropic": an, "google-ai-studio": ge, "workers-ai": wa}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    return make_gateway(
        upstreams={name: fake.base_url for name, fake in fakes.items()},
        secret_key="master-key-for-query-tests",
    )


def url(gateway: RunningGateway, model: str, method: str = "generateContent") -> str:
    return f"{gateway.provider_url('compat')}/v1beta/models/{model}:{method}"


def text_of(answer: httpx.Response) -> str:
    """A generateContent answer's text, or a stream's (`alt=sse`) joined."""
    if not answer.headers["content-type"].startswith("text/event-stream"):
        return "".join(part["text"] for part in answer.json()["candidates"][0]["content"]["parts"])
    events = [orjson.loads(line[5:]) for line in answer.text.splitlines() if line.startswith("data:")]
    return "".join(
        p.get("text", "") for e in events for c in e.get("candidates", ()) for p in c["content"]["parts"]
    )


def full_records(gateway: RunningGateway, count: int) -> list[bytes]:
    """The whole stored records (with headers and bodies), as JSON."""
    listed = gateway.wait_for_logs(count)
    assert len(listed) == count
    base = "/api/v1/accounts/local/gateways/default/logs"
    return [gateway.http.get(f"{base}/{record['id']}").content for record in listed]


@pytest.mark.parametrize(
    ("model", "key_header"),
    [("openai/gpt-4o-mini", "authorization"), ("anthropic/claude-sonnet-4-6", "x-api-key")],
)
def test_a_key_in_the_query_is_the_clients_key_and_goes_in_no_url(
    gateway: RunningGateway, fakes: dict[str, Any], model: str, key_header: str
) -> None:
    for method in ("generateContent", "streamGenerateContent"):
        query = {"key": KEY, "alt": "sse"} if method == "streamGenerateContent" else {"key": KEY}
        answer = httpx.post(url(gateway, model, method), params=query, json=BODY)
        assert answer.status_code == 200, answer.text
        assert text_of(answer) == f"echo: {QUESTION}"
    slug = model.partition("/")[0]
    whole, streamed = fakes[slug].requests
    for sent in (whole, streamed):
        assert sent.query_string == ""
        expected = f"Bearer {KEY}" if key_header == "authorization" else KEY
        assert sent.header(key_header) == expected
        assert KEY not in sent.body.decode()
    assert streamed.json["stream"] is True
    for record in full_records(gateway, 2):
        assert KEY not in record.decode()
        assert orjson.loads(record)["status"] == 200


def test_alt_sse_from_the_sdk_reaches_google_not_openai(
    gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    options = types.HttpOptions(base_url=gateway.provider_url("compat"))
    with genai.Client(api_key=KEY, http_options=options) as client:
        for model in ("openai/gpt-4o-mini", "google-ai-studio/gemini-2.5-flash"):
            chunks = list(client.models.generate_content_stream(model=model, contents=QUESTION))
            assert "".join(chunk.text or "" for chunk in chunks) == f"echo: {QUESTION}"
    [sent] = fakes["openai"].requests
    assert sent.path == "/v1/chat/completions"
    assert sent.query_string == ""
    assert sent.header("authorization") == f"Bearer {KEY}"
    [native] = fakes["google-ai-studio"].requests  # untranslated: the query as Google reads it
    assert native.path.endswith("/models/gemini-2.5-flash:streamGenerateContent")
    assert native.query_string == "alt=sse"
    assert native.header("x-goog-api-key") == KEY


def test_a_route_target_of_another_provider_gets_the_stored_key_not_the_query(
    gateway: RunningGateway, fakes: dict[str, Any]
) -> None:
    # The route starts at Google AI Studio, whose key the client's is; OpenAI's target goes on the
    # gateway's stored key, with none of the client's query.
    stored = gateway.http.put(
        "/api/v1/accounts/local/gateways/default/provider-keys/openai", json={"key": STORED}
    )
    assert stored.status_code == 201, stored.text
    fakes["openai"].api_key = STORED
    targets = [{"model": m, "max_attempts": 1} for m in ("google-ai-studio/error-500", "openai/gpt-4o-mini")]
    gateway.configure(routes={"r": {"fallback": targets}})
    answer = httpx.post(
        url(gateway, "dynamic/r", "streamGenerateContent"), params={"alt": "sse", "key": KEY}, json=BODY
    )
    assert answer.status_code == 200, answer.text
    assert text_of(answer) == f"echo: {QUESTION}"
    [native] = fakes["google-ai-studio"].requests
    assert "alt=sse" in native.query_string
    assert f"key={KEY}" in native.query_string
    [chat] = fakes["openai"].requests
    assert chat.query_string == ""
    assert chat.header("authorization") == f"Bearer {STORED}"
    assert KEY not in full_records(gateway, 1)[0].decode()


def test_a_translators_refusal_names_the_gemini_field(gateway: RunningGateway, fakes: dict[str, Any]) -> None:
    image = types.Part.from_bytes(data=b"\x89PNG not really", mime_type="image/png")
    contents = [
        types.Content(role="user", parts=[types.Part(text="hi")]),
        types.Content(role="model", parts=[types.Part(text="hello")]),
        types.Content(role="user", parts=[types.Part(text="what is this?"), image]),
    ]
    options = types.HttpOptions(base_url=gateway.provider_url("compat"))
    with genai.Client(api_key=KEY, http_options=options) as client:
        with pytest.raises(errors.ClientError) as refused:
            client.models.generate_content(model=WORKERS_AI, contents=contents)
        with pytest.raises(errors.ClientError) as stop:
            client.models.generate_content(
                model=WORKERS_AI, contents=QUESTION, config=types.GenerateContentConfig(stop_sequences=["X"])
            )
    assert (refused.value.code, refused.value.status) == (400, "INVALID_ARGUMENT")
    message = refused.value.message or ""
    assert "contents[2].parts[1]: an 'inlineData' part cannot be translated for Workers AI" in message
    assert "messages[" not in message
    assert "image_url" not in message
    assert (stop.value.code, stop.value.status) == (400, "INVALID_ARGUMENT")
    assert "generationConfig.stopSequences: not supported by Workers AI" in (stop.value.message or "")
    assert fakes["workers-ai"].requests == []


def test_a_messages_query_does_not_reach_openai(gateway: RunningGateway, fakes: dict[str, Any]) -> None:
    # `?beta=true`, as earlier anthropic SDK versions sent it for the beta client (2.10, installed
    # here, sends none).
    for model in ("openai/gpt-4o-mini", "anthropic/claude-sonnet-4-6"):
        body = {"model": model, "max_tokens": 50, "messages": [{"role": "user", "content": QUESTION}]}
        answer = httpx.post(
            gateway.provider_url("compat") + "/v1/messages",
            params={"beta": "true"},
            json=body,
            headers={"x-api-key": KEY, "anthropic-version": "2023-06-01"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["content"] == [{"type": "text", "text": f"echo: {QUESTION}"}]
    [sent] = fakes["openai"].requests
    assert (sent.path, sent.query_string) == ("/v1/chat/completions", "")
    assert sent.header("authorization") == f"Bearer {KEY}"
    [native] = fakes["anthropic"].requests  # untranslated: the query as Anthropic reads it
    assert native.query_string == "beta=true"
