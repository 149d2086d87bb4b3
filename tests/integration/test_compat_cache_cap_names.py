"""One cached answer serves a chat, Messages or Responses request of the same meaning to an OpenAI
model: the gateway caps a translated request in `max_completion_tokens` (OpenAI's reasoning models
refuse `max_tokens`), a chat client often in `max_tokens`, and both caches key the two alike
(pipeline/cache_keys.py `keyed_payload`). Gemini and Workers AI requests already met: their
translations write one native cap field."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.integration.test_semantic import ready, stored

MODEL = "openai/gpt-4o-mini"
ASKED: Any = [{"role": "user", "content": "How do I reset my password?"}]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as fake:
        yield fake


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url, "groq": fake.base_url})


@pytest.fixture
def chat(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


@pytest.mark.parametrize("model", [MODEL, "groq/llama-3.1-8b-instant"])
def test_an_exact_entry_of_a_chat_request_serves_messages_and_responses(
    gateway: RunningGateway, fake: FakeOpenAI, chat: openai.OpenAI, model: str
) -> None:
    gateway.configure(cache_enabled=True)
    first = chat.chat.completions.with_raw_response.create(model=model, max_tokens=100, messages=ASKED)
    assert first.headers["cf-aig-cache-status"] == "MISS"
    answer = first.parse().choices[0].message.content
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as claude:
        raw = claude.messages.with_raw_response.create(model=model, max_tokens=100, messages=ASKED)
    assert raw.headers["cf-aig-cache-status"] == "HIT"
    assert raw.parse().content[0].text == answer  # type: ignore[union-attr]
    if model != MODEL:  # (`openai/…` on Responses goes to OpenAI's own Responses API, untranslated)
        response = chat.responses.with_raw_response.create(model=model, max_output_tokens=100, input=ASKED)
        assert response.headers["cf-aig-cache-status"] == "HIT"
        assert response.parse().output_text == answer
    assert len(fake.requests) == 1
    # A chat request capped otherwise is another request.
    other = chat.chat.completions.with_raw_response.create(model=model, max_tokens=99, messages=ASKED)
    assert other.headers["cf-aig-cache-status"] == "MISS"


def test_a_semantic_entry_of_a_chat_request_serves_a_messages_request(
    gateway: RunningGateway, fake: FakeOpenAI, chat: openai.OpenAI
) -> None:
    gateway.configure(semantic_cache_enabled=True)
    ready(gateway)
    chat.chat.completions.create(model=MODEL, max_tokens=100, messages=ASKED)
    stored(gateway, 1)
    paraphrase: Any = [{"role": "user", "content": "How can I reset my password?"}]
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as claude:
        raw = claude.messages.with_raw_response.create(model=MODEL, max_tokens=100, messages=paraphrase)
    assert raw.headers["x-semantic-cache"] == "HIT"
    assert len(fake.requests) == 1
