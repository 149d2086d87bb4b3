"""`created` on the answers the unified endpoint translates from providers that carry no time of
their own (Anthropic, Google AI Studio, Workers AI): the time of the answer, one value in every
chunk of a stream."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.workers_ai_server import FakeWorkersAI

MESSAGES: list[Any] = [{"role": "user", "content": "what is the capital of France"}]


@pytest.fixture
def client(make_gateway: Callable[..., RunningGateway], gemini: FakeGemini) -> Iterator[openai.OpenAI]:
    with FakeAnthropic().serve() as anthropic, FakeWorkersAI().serve() as workers_ai:
        upstreams = {
            "anthropic": anthropic.base_url,
            "google-ai-studio": gemini.base_url,
            "workers-ai": workers_ai.base_url,
        }
        gateway = make_gateway(upstreams=upstreams)
        yield openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="provider-key", max_retries=0)


@pytest.mark.parametrize(
    "model",
    [
        "anthropic/claude-sonnet-4-5",
        "google-ai-studio/gemini-2.5-flash",
        "workers-ai/@cf/meta/llama-3.1-8b-instruct",
    ],
)
def test_translated_answers_say_when_they_were_created(client: openai.OpenAI, model: str) -> None:
    before = int(time.time())
    answer = client.chat.completions.create(model=model, messages=MESSAGES)
    chunks = list(client.chat.completions.create(model=model, messages=MESSAGES, stream=True))
    after = int(time.time())
    assert before <= answer.created <= after
    assert len({chunk.created for chunk in chunks}) == 1  # one time per answer, in every chunk
    assert before <= chunks[0].created <= after
