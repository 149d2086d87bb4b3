"""A semantic-cache hit is served in the form its request asks for, whatever the form the answer was
stored in: each provider's official SDK streams a hit stored whole, and gets a whole answer from a
hit stored as a stream. Real packaged models, fake upstreams on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2 as httpx
import openai
import orjson
import pytest
from google import genai
from google.genai import types as genai_types
from openai.types import Completion
from openai.types.chat import ChatCompletion

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_semantic import ready, stored

QUESTION = "How do I reset my password?"
PARAPHRASE = "How can I reset my password?"
ANSWER = "echo: " + QUESTION  # the fakes echo the first question: a hit gives its answer
GEMINI = "gemini-2.0-flash"
CLAUDE = "claude-sonnet-4-6"


def segment(name: str) -> dict[str, str]:
    """A cache-key segment of its own: one test's two directions never find each other's entries."""
    return {"x-semantic-cache-key": name}


@pytest.fixture
def fakes() -> Iterator[tuple[FakeOpenAI, FakeAnthropic, FakeGemini]]:
    with FakeOpenAI().serve() as one, FakeAnthropic().serve() as two, FakeGemini().serve() as three:
        yield one, two, three


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fakes: tuple[FakeOpenAI, FakeAnthropic, FakeGemini]
) -> RunningGateway:
    upstreams = {
        "openai": fakes[0].base_url,
        "anthropic": fakes[1].base_url,
        "google-ai-studio": fakes[2].base_url,
    }
    gateway = make_gateway(upstreams=upstreams)
    settings = {"semantic_cache_enabled": True}
    response = gateway.http.patch("/api/v1/accounts/local/gateways/default", json={"settings": settings})
    assert response.status_code == 200
    ready(gateway)
    return gateway


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as sdk:
        yield sdk


def chat(question: str) -> Any:
    return [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": question}]


def test_openai_chat_stored_whole_is_streamed_with_the_usage_chunk(
    gateway: RunningGateway, client: openai.OpenAI, fakes: tuple[FakeOpenAI, ...]
) -> None:
    whole = client.chat.completions.create(model="gpt-4o-mini", messages=chat(QUESTION))
    stored(gateway, 1)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=chat(PARAPHRASE), stream=True, stream_options={"include_usage": True}
    )
    assert raw.headers["x-semantic-cache"] == "HIT"
    assert raw.headers["content-type"].startswith("text/event-stream")
    chunks = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == whole.choices[0].finish_reason
    assert chunks[-1].choices == []
    assert chunks[-1].usage == whole.usage
    assert all(c.choices for c in chunks[:-1])
    assert {c.id for c in chunks} == {whole.id}
    assert len(fakes[0].requests) == 1


def test_openai_chat_stored_as_a_stream_is_served_whole(
    gateway: RunningGateway, client: openai.OpenAI, fakes: tuple[FakeOpenAI, ...]
) -> None:
    options: Any = {"include_usage": True}
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=chat(QUESTION), stream=True, stream_options=options
        )
    )
    stored(gateway, 1)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=chat(PARAPHRASE))
    assert raw.headers["x-semantic-cache"] == "HIT"
    assert raw.headers["content-type"].startswith("application/json")
    completion = raw.parse()
    assert isinstance(completion, ChatCompletion)  # was a str: the SSE text handed to a JSON parser
    assert completion.choices[0].message.content == ANSWER
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert (completion.id, completion.usage) == (chunks[0].id, chunks[-1].usage)
    assert len(fakes[0].requests) == 1


def test_openai_usage_chunk_only_for_a_stream_that_asks_for_it(
    gateway: RunningGateway, client: openai.OpenAI
) -> None:
    options: Any = {"include_usage": True}
    list(
        client.chat.completions.create(
            model="gpt-4o", messages=chat(QUESTION), stream=True, stream_options=options
        )
    )
    stored(gateway, 1)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=chat(PARAPHRASE), stream=True
    )
    assert raw.headers["x-semantic-cache"] == "HIT"
    chunks = list(raw.parse())
    assert all(chunk.choices for chunk in chunks)  # clients read choices[0] of every chunk
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == ANSWER


def test_openai_legacy_completions_both_ways(gateway: RunningGateway, client: openai.OpenAI) -> None:
    model = "gpt-3.5-turbo-instruct"
    whole = client.completions.create(model=model, prompt=QUESTION, extra_headers=segment("a"))
    stored(gateway, 1)
    raw = client.completions.with_raw_response.create(
        model=model, prompt=PARAPHRASE, stream=True, extra_headers=segment("a")
    )
    assert raw.headers["x-semantic-cache"] == "HIT"
    pieces = list(raw.parse())
    assert "".join(c.choices[0].text for c in pieces) == whole.choices[0].text == ANSWER

    streamed = list(
        client.completions.create(model=model, prompt=QUESTION, stream=True, extra_headers=segment("b"))
    )
    stored(gateway, 2)
    raw_whole = client.completions.with_raw_response.create(
        model=model, prompt=PARAPHRASE, extra_headers=segment("b")
    )
    assert raw_whole.headers["x-semantic-cache"] == "HIT"
    completion = raw_whole.parse()
    assert isinstance(completion, Completion)
    assert completion.choices[0].text == "".join(c.choices[0].text for c in streamed) == ANSWER
    assert completion.choices[0].finish_reason == streamed[-1].choices[0].finish_reason


@pytest.fixture
def claude(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    http = anthropic.DefaultHttpxClient(verify=False)
    base = gateway.provider_url("anthropic")
    with anthropic.Anthropic(base_url=base, api_key="sk-ant-test", max_retries=0, http_client=http) as sdk:
        yield sdk


def test_anthropic_message_stored_whole_is_streamed(
    gateway: RunningGateway, claude: anthropic.Anthropic, fakes: tuple[Any, FakeAnthropic, Any]
) -> None:
    user: Any = [{"role": "user", "content": QUESTION}]
    whole = claude.messages.create(model=CLAUDE, max_tokens=200, messages=user)
    stored(gateway, 1)
    again: Any = [{"role": "user", "content": PARAPHRASE}]
    with claude.messages.with_streaming_response.create(
        model=CLAUDE, max_tokens=200, messages=again, stream=True
    ) as response:
        assert response.headers["x-semantic-cache"] == "HIT"
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(response.parse())
    assert [e.type for e in events][:2] == ["message_start", "content_block_start"]
    assert [e.type for e in events][-2:] == ["message_delta", "message_stop"]
    with claude.messages.stream(model=CLAUDE, max_tokens=200, messages=again) as stream:
        final = stream.get_final_message()
    assert final.model_dump() == whole.model_dump()
    assert final.content[0].type == "text"
    assert final.content[0].text == ANSWER
    assert len(fakes[1].requests) == 1


def test_anthropic_message_stored_as_a_stream_is_served_whole(
    gateway: RunningGateway, claude: anthropic.Anthropic, fakes: tuple[Any, FakeAnthropic, Any]
) -> None:
    user: Any = [{"role": "user", "content": QUESTION}]
    with claude.messages.stream(model=CLAUDE, max_tokens=200, messages=user) as stream:
        streamed = stream.get_final_message()
    stored(gateway, 1)
    again: Any = [{"role": "user", "content": PARAPHRASE}]
    raw = claude.messages.with_raw_response.create(model=CLAUDE, max_tokens=200, messages=again)
    assert raw.headers["x-semantic-cache"] == "HIT"
    message = raw.parse()
    assert isinstance(message, anthropic.types.Message)
    assert message.model_dump() == streamed.model_dump()
    assert (message.stop_reason, message.usage.output_tokens) == ("end_turn", len(ANSWER.split()))
    assert len(fakes[1].requests) == 1


def test_anthropic_tool_use_both_ways(gateway: RunningGateway, claude: anthropic.Anthropic) -> None:
    """A tool call's input travels as `input_json_delta` text in a stream, as an object whole."""
    tool: Any = {
        "name": "lookup",
        "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}},
    }
    ask: Any = {"model": CLAUDE, "max_tokens": 200, "tools": [tool], "tool_choice": {"type": "any"}}
    whole = claude.messages.create(
        **ask, messages=[{"role": "user", "content": QUESTION}], extra_headers=segment("a")
    )
    stored(gateway, 1)
    with claude.messages.stream(
        **ask, messages=[{"role": "user", "content": PARAPHRASE}], extra_headers=segment("a")
    ) as stream:
        final = stream.get_final_message()
    assert whole.content[0].type == "tool_use"
    assert whole.content[0].input == {"query": QUESTION}
    assert final.model_dump() == whole.model_dump()

    with claude.messages.stream(
        **ask, messages=[{"role": "user", "content": QUESTION}], extra_headers=segment("b")
    ) as stream:
        streamed = stream.get_final_message()
    stored(gateway, 2)
    message = claude.messages.create(
        **ask, messages=[{"role": "user", "content": PARAPHRASE}], extra_headers=segment("b")
    )
    assert message.model_dump() == streamed.model_dump()


@pytest.fixture
def gemini(gateway: RunningGateway) -> genai.Client:
    options = genai_types.HttpOptions(base_url=gateway.provider_url("google-ai-studio"), api_version="v1beta")
    return genai.Client(api_key="AIza-test", http_options=options)


def gemini_config(name: str) -> genai_types.GenerateContentConfig:
    return genai_types.GenerateContentConfig(http_options=genai_types.HttpOptions(headers=segment(name)))


def test_gemini_both_ways(
    gateway: RunningGateway, gemini: genai.Client, fakes: tuple[Any, Any, FakeGemini]
) -> None:
    whole = gemini.models.generate_content(model=GEMINI, contents=QUESTION, config=gemini_config("a"))
    stored(gateway, 1)
    chunks = list(
        gemini.models.generate_content_stream(model=GEMINI, contents=PARAPHRASE, config=gemini_config("a"))
    )
    assert "".join(chunk.text or "" for chunk in chunks) == whole.text == ANSWER
    assert chunks[-1].usage_metadata == whole.usage_metadata
    assert chunks[-1].candidates is not None
    assert chunks[-1].candidates[0].finish_reason == "STOP"
    assert len(fakes[2].requests) == 1

    streamed = list(
        gemini.models.generate_content_stream(model=GEMINI, contents=QUESTION, config=gemini_config("b"))
    )
    assert len(streamed) > 1  # the fake streams word by word: the hit below joins them
    stored(gateway, 2)
    merged = gemini.models.generate_content(model=GEMINI, contents=PARAPHRASE, config=gemini_config("b"))
    assert merged.text == "".join(chunk.text or "" for chunk in streamed) == ANSWER
    assert merged.candidates is not None
    assert len(merged.candidates[0].content.parts or ()) == 1
    assert merged.usage_metadata == streamed[-1].usage_metadata
    assert merged.response_id == streamed[-1].response_id
    assert len(fakes[2].requests) == 2


def test_gemini_stream_without_sse_gets_a_json_array(gateway: RunningGateway) -> None:
    """Without `alt=sse`, Gemini streams one JSON array; a hit stored whole is a one-element array."""
    base = gateway.provider_url("google-ai-studio") + f"/v1beta/models/{GEMINI}"
    headers = {"x-goog-api-key": "AIza-test"}
    body = {"contents": [{"role": "user", "parts": [{"text": QUESTION}]}]}
    whole = httpx.post(f"{base}:generateContent", json=body, headers=headers, timeout=10)
    stored(gateway, 1)
    body["contents"][0]["parts"][0]["text"] = PARAPHRASE
    array = httpx.post(f"{base}:streamGenerateContent", json=body, headers=headers, timeout=10)
    assert array.headers["x-semantic-cache"] == "HIT"
    assert array.headers["content-type"].startswith("application/json")
    assert orjson.loads(array.content) == [whole.json()]


def test_a_compat_answer_is_never_served_to_the_providers_own_endpoint(
    gateway: RunningGateway, fakes: tuple[FakeOpenAI, FakeAnthropic, FakeGemini]
) -> None:
    """The compat endpoint stores OpenAI-shaped answers under the provider's translated body: the
    same body sent to the provider's own endpoint must not find them (the Anthropic SDK could not
    read them), and the reverse."""
    compat = openai.OpenAI(
        base_url=f"{gateway.url}/v1/local/default/compat", api_key="sk-test", max_retries=0
    )
    native = anthropic.Anthropic(base_url=gateway.provider_url("anthropic"), api_key="sk-test", max_retries=0)
    with compat, native:
        compat.chat.completions.create(
            model=f"anthropic/{CLAUDE}", max_tokens=64, messages=[{"role": "user", "content": QUESTION}]
        )
        stored(gateway, 1)
        raw = native.messages.with_raw_response.create(
            model=CLAUDE,
            max_tokens=64,
            messages=[{"role": "user", "content": [{"type": "text", "text": QUESTION}]}],
        )
        assert raw.headers["x-semantic-cache"] == "MISS"
        assert raw.parse().content[0].type == "text"
        stored(gateway, 2)
        again = compat.chat.completions.with_raw_response.create(
            model=f"anthropic/{CLAUDE}", max_tokens=64, messages=[{"role": "user", "content": PARAPHRASE}]
        )
        assert again.headers["x-semantic-cache"] == "HIT"
        assert again.parse().object == "chat.completion"
    assert len(fakes[1].requests) == 2


def test_one_meaning_hits_whichever_client_api_asks(
    gateway: RunningGateway, fakes: tuple[FakeOpenAI, FakeAnthropic, FakeGemini]
) -> None:
    """The Responses API on the compat endpoint means a chat request: a paraphrase of what a chat
    client asked finds that answer, rendered as a Response (ingress/)."""
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="sk-test", max_retries=0) as compat:
        compat.chat.completions.create(
            model=f"anthropic/{CLAUDE}", max_tokens=64, messages=[{"role": "user", "content": QUESTION}]
        )
        stored(gateway, 1)
        raw = compat.responses.with_raw_response.create(
            model=f"anthropic/{CLAUDE}", input=PARAPHRASE, max_output_tokens=64
        )
    assert raw.headers["x-semantic-cache"] == "HIT"
    assert raw.parse().output_text == ANSWER
    assert len(fakes[1].requests) == 1


def test_one_meaning_hits_for_an_anthropic_messages_client(
    gateway: RunningGateway, fakes: tuple[FakeOpenAI, FakeAnthropic, FakeGemini]
) -> None:
    """Anthropic's Messages API on the compat endpoint, for a model of another provider, means a
    chat request too: a paraphrase finds what a chat client stored, rendered as a Message."""
    model = f"google-ai-studio/{GEMINI}"
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="sk-test", max_retries=0) as compat:
        compat.chat.completions.create(
            model=model, max_tokens=64, messages=[{"role": "user", "content": QUESTION}]
        )
    stored(gateway, 1)
    with anthropic.Anthropic(
        base_url=gateway.provider_url("compat"), api_key="sk-test", max_retries=0
    ) as claude:
        raw = claude.messages.with_raw_response.create(
            model=model, max_tokens=64, messages=[{"role": "user", "content": PARAPHRASE}]
        )
    assert raw.headers["x-semantic-cache"] == "HIT"
    message = raw.parse()
    assert message.type == "message"
    assert [block.text for block in message.content if block.type == "text"] == [ANSWER]
    assert len(fakes[2].requests) == 1
