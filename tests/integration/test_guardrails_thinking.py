"""Response guardrails read the model's thinking: a Claude answer's `reasoning_content` and
`thinking_blocks` on the compat endpoint (whole and streamed), a Responses reasoning item's
summary, and `thinking` blocks on Anthropic's own endpoint (whole and streamed). A thinking text a
rule changes loses its signature (emptied: it no longer vouches for the text), so it is not sent
back to Claude, and a Responses item carries no `encrypted_content`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic

AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
ASKED = f"my key is {AWS_KEY}"
REDACTED = "The user wrote: my key is [SECRET_1]"  # FakeAnthropic's thinking, redacted


@pytest.fixture
def claude() -> Iterator[FakeAnthropic]:
    with FakeAnthropic().serve() as fake:
        yield fake


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], claude: FakeAnthropic) -> RunningGateway:
    gateway = make_gateway(upstreams={"anthropic": claude.base_url})
    policy = {"pii": {"action": "redact", "entities": ["secret"], "direction": "response"}}
    response = gateway.http.patch(
        "/api/v1/accounts/local/gateways/default", json={"settings": {"guardrails": policy}}
    )
    assert response.status_code == 200, response.text
    return gateway


@pytest.fixture
def chat(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


def test_a_chat_answers_thinking_is_redacted_and_unsigned(chat: openai.OpenAI) -> None:
    raw = chat.chat.completions.with_raw_response.create(
        model="anthropic/claude-sonnet-4-5",
        reasoning_effort="low",
        messages=[{"role": "user", "content": ASKED}],
    )
    assert AWS_KEY not in raw.http_response.text
    extra = raw.parse().choices[0].message.model_extra or {}
    assert extra["reasoning_content"] == REDACTED
    assert extra["thinking_blocks"] == [{"type": "thinking", "thinking": REDACTED, "signature": ""}]


def test_a_streamed_chat_answers_thinking_is_redacted_and_unsigned(chat: openai.OpenAI) -> None:
    pieces: list[str] = []
    blocks: list[Any] = []
    for chunk in chat.chat.completions.create(
        model="anthropic/claude-sonnet-4-6",
        reasoning_effort="low",
        messages=[{"role": "user", "content": ASKED}],
        stream=True,
    ):
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            pieces.append(extra.get("reasoning_content") or "")
            blocks += extra.get("thinking_blocks") or []
    assert "".join(pieces) == REDACTED
    assert blocks == [{"type": "thinking", "thinking": REDACTED, "signature": ""}]


@pytest.mark.parametrize("stream", [False, True])
def test_a_responses_reasoning_summary_is_redacted_without_encrypted_content(
    chat: openai.OpenAI, stream: bool
) -> None:
    asked: Any = {"model": "anthropic/claude-sonnet-4-5", "reasoning": {"effort": "low"}, "input": ASKED}
    if stream:
        with chat.responses.stream(**asked) as events:
            deltas = [e.delta for e in events if e.type == "response.reasoning_summary_text.delta"]
            answer = events.get_final_response()
        assert "".join(deltas) == REDACTED
    else:
        answer = chat.responses.create(**asked)
    reasoning = answer.output[0]
    assert reasoning.type == "reasoning"
    assert [part.text for part in reasoning.summary] == [REDACTED]
    assert reasoning.encrypted_content is None  # the signed blocks no longer hold this text


def test_anthropics_own_thinking_blocks_are_redacted_and_unsigned(gateway: RunningGateway) -> None:
    asked: Any = {
        "model": "claude-sonnet-4-6",
        "max_tokens": 2000,
        "thinking": {"type": "adaptive"},
        "messages": [{"role": "user", "content": ASKED}],
    }
    with anthropic.Anthropic(
        base_url=gateway.provider_url("anthropic"), api_key="k", max_retries=0
    ) as client:
        raw = client.messages.with_raw_response.create(**asked)
        assert AWS_KEY not in raw.http_response.text
        block = raw.parse().content[0]
        assert block.type == "thinking"
        assert (block.thinking, block.signature) == (REDACTED, "")
        thoughts: list[str] = []
        with client.messages.stream(**asked) as events:
            for event in events:
                if event.type == "content_block_delta" and event.delta.type == "thinking_delta":
                    thoughts.append(event.delta.thinking)
            final = events.get_final_message()
    assert "".join(thoughts) == REDACTED
    block = final.content[0]
    assert block.type == "thinking"
    assert (block.thinking, block.signature) == (REDACTED, "")
