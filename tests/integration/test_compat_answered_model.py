"""The unified endpoint's answers name the model that answered, as OpenAI's do (`gpt-4o` is
answered by `gpt-4o-2024-08-06`): an Anthropic or Gemini alias resolved upstream comes back as the
snapshot it resolved to, whole and in every chunk of a stream; a client pricing or auditing by
`model` sees what ran."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini

MESSAGES: list[Any] = [{"role": "user", "content": "what is the capital of France"}]


@pytest.fixture
def client(make_gateway: Callable[..., RunningGateway], gemini: FakeGemini) -> Iterator[openai.OpenAI]:
    with FakeAnthropic().serve() as anthropic:
        gateway = make_gateway(
            upstreams={"anthropic": anthropic.base_url, "google-ai-studio": gemini.base_url}
        )
        yield openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="provider-key", max_retries=0)


@pytest.mark.parametrize(
    ("model", "answered"),
    [
        ("anthropic/claude-opus-4-1", "claude-opus-4-1-20250805"),
        ("google-ai-studio/gemini-flash-latest", "gemini-2.5-flash-preview-09-2025"),
    ],
)
def test_a_translated_answer_names_the_model_that_answered(
    client: openai.OpenAI, model: str, answered: str
) -> None:
    assert client.chat.completions.create(model=model, messages=MESSAGES).model == answered
    chunks = list(client.chat.completions.create(model=model, messages=MESSAGES, stream=True))
    assert {chunk.model for chunk in chunks} == {answered}


def test_a_model_named_as_it_answers_comes_back_as_it_was_asked(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(model="anthropic/claude-sonnet-4-6", messages=MESSAGES)
    assert answer.model == "claude-sonnet-4-6"
