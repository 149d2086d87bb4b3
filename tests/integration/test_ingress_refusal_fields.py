"""A provider translation's refusal of a Messages or Responses request names the field the client
sent, not the chat field the gateway wrote from it: `stop_sequences` (Workers AI takes no stop
sequences), a Messages `image` block, `reasoning.effort` (its `param` too, for a Responses client)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.workers_ai_server import FakeWorkersAI

WORKERS_AI = "workers-ai/@cf/meta/llama-3.1-8b-instruct"
IMAGE: Any = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway]) -> Iterator[RunningGateway]:
    with FakeWorkersAI().serve() as workers_ai, FakeGemini().serve() as gemini:
        yield make_gateway(upstreams={"workers-ai": workers_ai.base_url, "google-ai-studio": gemini.base_url})


@pytest.mark.parametrize(
    ("asked", "said"),
    [
        ({"stop_sequences": ["END"], "messages": [{"role": "user", "content": "hi"}]}, "stop_sequences: "),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "see"}, IMAGE]}]},
            "messages.0.content.1: an 'image' block",
        ),
    ],
)
def test_a_messages_refusal_names_the_clients_field(gateway: RunningGateway, asked: Any, said: str) -> None:
    with (
        anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as claude,
        pytest.raises(anthropic.BadRequestError) as caught,
    ):
        claude.messages.create(model=WORKERS_AI, max_tokens=50, **asked)
    assert said in caught.value.message
    assert "image_url" not in caught.value.message
    assert "stop:" not in caught.value.message


def test_a_responses_refusal_names_the_clients_field(gateway: RunningGateway) -> None:
    with (
        openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        client.responses.create(
            model="google-ai-studio/gemini-2.5-flash", input="hi", reasoning={"effort": "xhigh"}
        )
    assert caught.value.param == "reasoning.effort"
    assert "reasoning.effort: must be one of" in caught.value.message
