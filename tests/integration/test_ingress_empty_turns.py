"""A client's assistant turn that says nothing chat can carry (Anthropic thinking alone, a reply cut
short while thinking; Gemini's empty text part that only carries a thought signature) is left out
of the chat history: OpenAI refuses an assistant message with neither content nor tool calls."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest
from google import genai
from google.genai import types

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

MODEL = "openai/gpt-4o-mini"


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as server:
        yield server


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def sent_roles(fake: FakeOpenAI) -> list[Any]:
    return [message["role"] for message in fake.requests[-1].json["messages"]]


def test_an_anthropic_turn_of_thinking_alone_is_left_out(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    thought: Any = {"type": "thinking", "thinking": "Let me think.", "signature": "c2lnbmVk"}
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="key", max_retries=0) as client:
        message = client.messages.create(
            model=MODEL,
            max_tokens=100,
            messages=[
                {"role": "user", "content": "why is the sky blue"},
                {"role": "assistant", "content": [thought]},
                {"role": "user", "content": "go on"},
            ],
        )
    assert message.content[0].type == "text"
    assert message.content[0].text == "echo: go on"
    assert sent_roles(fake) == ["user", "user"]


def test_a_gemini_model_turn_of_an_empty_signed_text_is_left_out(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    options = types.HttpOptions(base_url=gateway.provider_url("compat"))
    signed = types.Part(text="", thought_signature=base64.b64decode("c2lnbmVk"))
    with genai.Client(api_key="key", http_options=options) as client:
        response = client.models.generate_content(
            model=MODEL,
            contents=[
                types.Content(role="user", parts=[types.Part(text="why is the sky blue")]),
                types.Content(role="model", parts=[signed]),
                types.Content(role="user", parts=[types.Part(text="go on")]),
            ],
        )
    assert response.text == "echo: go on"
    assert sent_roles(fake) == ["user", "user"]
