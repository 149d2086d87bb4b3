"""An upstream that breaks its connection off in the middle of a stream: a Messages client's stream
ends in Anthropic's `error` event, a Responses client's in `response.failed` and a chat client's
translated stream in OpenAI's in-stream error, which their SDKs raise as the API's errors, as when
the provider's own error ends a stream; the connection to the client is not broken (the SDKs
raised httpx's RemoteProtocolError, openai's APIConnectionError). The record says it failed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.workers_ai_server import FakeWorkersAI

DROP = {"x-fake-behavior": "drop-mid-stream"}
QUESTION = "one two three four five six"
BROKE = "the upstream broke off its stream"
MODELS = [
    "groq/llama-3.1-8b-instant",
    "google-ai-studio/gemini-2.5-flash",
    "workers-ai/@cf/meta/llama-3.1-8b-instruct",
]


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway]) -> Iterator[RunningGateway]:
    with FakeOpenAI().serve() as oa, FakeGemini().serve() as ge, FakeWorkersAI().serve() as wa:
        upstreams = {"groq": oa.base_url, "google-ai-studio": ge.base_url, "workers-ai": wa.base_url}
        yield make_gateway(upstreams=upstreams)


@pytest.mark.parametrize("model", MODELS)
def test_a_messages_stream_ends_in_an_error_event(gateway: RunningGateway, model: str) -> None:
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        seen: list[str] = []
        with (
            pytest.raises(anthropic.APIStatusError, match=BROKE) as caught,
            client.messages.stream(
                model=model,
                max_tokens=50,
                messages=[{"role": "user", "content": QUESTION}],
                extra_headers=DROP,
            ) as stream,
        ):
            seen.extend(event.type for event in stream)
    assert "content_block_delta" in seen  # what came before the break was relayed
    body: Any = caught.value.body
    assert body["type"] == "error"
    assert body["error"]["type"] == "api_error"
    (record,) = gateway.wait_for_logs(1)
    assert BROKE in (record["error"] or "")


@pytest.mark.parametrize("model", MODELS)
def test_a_responses_stream_ends_in_response_failed(gateway: RunningGateway, model: str) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        seen: list[str] = []
        with (
            pytest.raises(openai.APIError, match=BROKE) as caught,
            client.responses.stream(model=model, input=QUESTION, extra_headers=DROP) as stream,
        ):
            seen.extend(event.type for event in stream)
    assert "response.output_text.delta" in seen
    assert caught.value.body is not None
    assert caught.value.body["code"] == "server_error"  # type: ignore[index]
    (record,) = gateway.wait_for_logs(1)
    # (A translation's own word comes first where it has one: its stream never finished.)
    assert "the upstream" in (record["error"] or "")


@pytest.mark.parametrize("model", MODELS[1:])  # (groq speaks chat: its stream passes untranslated)
def test_a_translated_chat_stream_ends_in_openais_error_event(gateway: RunningGateway, model: str) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        chunks: list[Any] = []
        stream = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": QUESTION}], stream=True, extra_headers=DROP
        )
        with pytest.raises(openai.APIError, match=BROKE) as caught:
            chunks.extend(stream)
    assert any(choice.delta.content for chunk in chunks for choice in chunk.choices)
    assert all(choice.finish_reason is None for chunk in chunks for choice in chunk.choices)
    assert caught.value.body is not None
    assert caught.value.body["type"] == "server_error"  # type: ignore[index]
    (record,) = gateway.wait_for_logs(1)
    assert "the upstream" in (record["error"] or "")
