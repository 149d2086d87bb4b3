"""A provider's thinking reaches a Messages client as Anthropic's thinking blocks, whole and streamed
(thinking_delta, and signature_delta where the thinking is signed), through chat's
`reasoning_content` and `thinking_blocks`; and a Messages `thinking` asks Gemini for its thoughts
(`includeThoughts`), which come back unsigned."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import httpx2 as httpx
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.scripted_server import Scripted

QUESTION = "why is the sky blue"
THINKING: Any = {"type": "enabled", "budget_tokens": 2048}
MESSAGES: list[anthropic.types.MessageParam] = [{"role": "user", "content": QUESTION}]
SIGNED = {"type": "thinking", "thinking": "Rayleigh scattering.", "signature": "c2lnbmVk"}
REDACTED = {"type": "redacted_thinking", "data": "ZW5jcnlwdGVk"}
USAGE = {"prompt_tokens": 9, "completion_tokens": 12, "total_tokens": 21}


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeGemini, Scripted]]:
    with FakeGemini().serve() as gemini, Scripted().serve() as scripted:
        yield gemini, scripted


@pytest.fixture
def client(
    make_gateway: Callable[..., RunningGateway], upstreams: tuple[FakeGemini, Scripted]
) -> Iterator[anthropic.Anthropic]:
    gemini, scripted = upstreams
    gateway = make_gateway(upstreams={"google-ai-studio": gemini.base_url, "groq": scripted.base_url})
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="key", max_retries=0) as client:
        yield client


def test_geminis_thoughts_are_thinking_blocks(
    client: anthropic.Anthropic, upstreams: tuple[FakeGemini, Scripted]
) -> None:
    gemini = upstreams[0]
    model = "google-ai-studio/gemini-2.5-flash"
    whole = client.messages.create(model=model, max_tokens=4000, thinking=THINKING, messages=MESSAGES)
    with client.messages.stream(model=model, max_tokens=4000, thinking=THINKING, messages=MESSAGES) as stream:
        kinds = [(event.type, getattr(getattr(event, "delta", None), "type", None)) for event in stream]
        streamed = stream.get_final_message()
    for message in (whole, streamed):
        assert [block.type for block in message.content] == ["thinking", "text"]
        thought = message.content[0]
        assert thought.type == "thinking"
        assert thought.thinking == f"The user wrote: {QUESTION}"
        assert thought.signature == ""  # Gemini's thinking is no Claude's: unsigned
    assert ("content_block_delta", "thinking_delta") in kinds
    assert ("content_block_delta", "signature_delta") not in kinds
    for request in gemini.requests:
        config = request.json["generationConfig"]["thinkingConfig"]
        assert config == {"thinkingBudget": 2048, "includeThoughts": True}
    # Thinking turned off asks for no thoughts.
    off = client.messages.create(
        model=model, max_tokens=400, thinking={"type": "disabled"}, messages=MESSAGES
    )
    assert [block.type for block in off.content] == ["text"]
    assert gemini.requests[-1].json["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 0}


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}


def test_signed_thinking_keeps_its_signature(
    client: anthropic.Anthropic, upstreams: tuple[FakeGemini, Scripted]
) -> None:
    """A chat answer with LiteLLM's `thinking_blocks` (the Anthropic translation's, or a LiteLLM
    server's): each block as it came, signature and redacted data and all."""
    scripted = upstreams[1]
    message = {
        "role": "assistant",
        "content": "Because of scattering.",
        "reasoning_content": SIGNED["thinking"],
        "thinking_blocks": [SIGNED, REDACTED],
    }
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    scripted.reply_json({"id": "chatcmpl-1", "model": "m", "choices": [choice], "usage": USAGE})
    scripted.reply_events(
        [
            _chunk({"role": "assistant", "reasoning_content": "Rayleigh "}),
            _chunk({"reasoning_content": "scattering."}),
            _chunk({"thinking_blocks": [SIGNED]}),
            _chunk({"thinking_blocks": [REDACTED]}),
            _chunk({"content": "Because of scattering."}),
            _chunk({}, "stop"),
            {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [], "usage": USAGE},
        ],
        done=True,
    )
    model = "groq/some-thinking-model"
    whole = client.messages.create(model=model, max_tokens=400, messages=MESSAGES)
    with client.messages.stream(model=model, max_tokens=400, messages=MESSAGES) as stream:
        events = list(stream)
        streamed = stream.get_final_message()
    for rendered in (whole, streamed):
        assert [block.model_dump() for block in rendered.content] == [
            SIGNED,
            REDACTED,
            {"type": "text", "text": "Because of scattering.", "citations": None},
        ]
    signatures = [
        event.delta.signature
        for event in events
        if event.type == "content_block_delta" and event.delta.type == "signature_delta"
    ]
    assert signatures == [SIGNED["signature"]]
    started = [event.content_block.type for event in events if event.type == "content_block_start"]
    assert started == ["thinking", "redacted_thinking", "text"]


def test_the_stream_events_are_anthropics(
    make_gateway: Callable[..., RunningGateway], upstreams: tuple[FakeGemini, Scripted]
) -> None:
    """On the wire: the thinking block opens with empty thinking and signature, as Claude's does."""
    gateway = make_gateway(upstreams={"google-ai-studio": upstreams[0].base_url})
    body = {
        "model": "google-ai-studio/gemini-2.5-flash",
        "max_tokens": 4000,
        "thinking": THINKING,
        "messages": MESSAGES,
        "stream": True,
    }
    answer = httpx.post(
        f"{gateway.provider_url('compat')}/v1/messages", json=body, headers={"x-api-key": "k"}, timeout=10
    )
    events = [json.loads(line[5:]) for line in answer.text.splitlines() if line.startswith("data:")]
    starts = [event for event in events if event["type"] == "content_block_start"]
    assert starts[0] == {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    }
    assert starts[1]["index"] == 1
    assert starts[1]["content_block"]["type"] == "text"


def test_reasoning_under_openrouters_name_is_thinking_too(
    make_gateway: Callable[..., RunningGateway], upstreams: tuple[FakeGemini, Scripted]
) -> None:
    """OpenRouter, Groq and newer vLLM servers name the thinking `reasoning`: a Messages client gets
    it as a thinking block, a Responses client as a reasoning item, whole and streamed."""
    scripted = upstreams[1]
    gateway = make_gateway(upstreams={"groq": scripted.base_url})
    message = {"role": "assistant", "content": "Scattering.", "reasoning": "Short waves scatter."}
    for _ in range(2):
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        scripted.reply_json({"id": "chatcmpl-1", "model": "m", "choices": [choice], "usage": USAGE})
        scripted.reply_events(
            [
                _chunk({"role": "assistant", "reasoning": "Short waves "}),
                _chunk({"reasoning": "scatter."}),
                _chunk({"content": "Scattering."}),
                _chunk({}, "stop"),
                {"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [], "usage": USAGE},
            ],
            done=True,
        )
    model = "groq/openai/gpt-oss-20b"
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as claude:
        whole = claude.messages.create(model=model, max_tokens=400, messages=MESSAGES)
        with claude.messages.stream(model=model, max_tokens=400, messages=MESSAGES) as stream:
            streamed = stream.get_final_message()
    for rendered in (whole, streamed):
        assert [block.type for block in rendered.content] == ["thinking", "text"]
        assert rendered.content[0].thinking == "Short waves scatter."  # type: ignore[union-attr]
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        response = client.responses.create(model=model, input=QUESTION)
        with client.responses.stream(model=model, input=QUESTION) as events:
            final = events.get_final_response()
    for answer in (response, final):
        assert [item.type for item in answer.output] == ["reasoning", "message"]
        assert answer.output[0].summary[0].text == "Short waves scatter."  # type: ignore[union-attr]
