"""Reasoning across the compat endpoint: chat's `reasoning_effort` and the Responses API's
`reasoning.effort` to Claude become Anthropic's extended thinking (within its rules: budget, no
temperature, no forced tool), whose blocks come back as chat's `reasoning_content` and
`thinking_blocks` (whole and streamed) and as a Responses reasoning item; a chat history's
`thinking_blocks` go back to Claude signed; a Messages request's `thinking` to Gemini becomes its
thinkingBudget. The fakes refuse what Anthropic refuses of a request that thinks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini

QUESTION = "why is the sky blue"
THOUGHT = f"The user wrote: {QUESTION}"  # FakeAnthropic's thinking
SIGNATURE = "c2lnLWZha2U="


@pytest.fixture
def fakes() -> Iterator[tuple[FakeAnthropic, FakeGemini]]:
    with FakeAnthropic().serve() as claude, FakeGemini().serve() as gemini:
        yield claude, gemini


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fakes: tuple[FakeAnthropic, FakeGemini]
) -> RunningGateway:
    claude, gemini = fakes
    return make_gateway(upstreams={"anthropic": claude.base_url, "google-ai-studio": gemini.base_url})


@pytest.fixture
def chat(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


def sent(fake: Any) -> dict[str, Any]:
    body: dict[str, Any] = fake.requests[-1].json
    return body


def test_reasoning_effort_is_adaptive_thinking_for_claude_4_6(
    chat: openai.OpenAI, fakes: tuple[FakeAnthropic, FakeGemini]
) -> None:
    answer = chat.chat.completions.create(
        model="anthropic/claude-sonnet-4-6",
        messages=[{"role": "user", "content": QUESTION}],
        reasoning_effort="low",
        temperature=0.2,
    )
    body = sent(fakes[0])
    assert body["thinking"] == {"type": "adaptive"}
    assert body["output_config"] == {"effort": "low"}
    assert "temperature" not in body  # Anthropic refuses it beside thinking
    message = answer.choices[0].message
    extra = message.model_extra or {}
    assert extra["reasoning_content"] == THOUGHT
    assert extra["thinking_blocks"] == [{"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE}]
    assert message.content == f"echo: {QUESTION}"
    # A forced tool cannot think first (Anthropic's 400): that request goes without thinking.
    tools: Any = [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}]
    forced = chat.chat.completions.create(
        model="anthropic/claude-sonnet-4-6",
        messages=[{"role": "user", "content": QUESTION}],
        tools=tools,
        tool_choice="required",
        reasoning_effort="high",
    )
    assert "thinking" not in sent(fakes[0])
    assert forced.choices[0].message.tool_calls


def test_reasoning_effort_is_a_thinking_budget_before_claude_4_6(
    chat: openai.OpenAI, fakes: tuple[FakeAnthropic, FakeGemini]
) -> None:
    chat.chat.completions.create(
        model="anthropic/claude-sonnet-4-5",
        messages=[{"role": "user", "content": QUESTION}],
        reasoning_effort="high",
        max_completion_tokens=1000,
    )
    body = sent(fakes[0])
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert body["max_tokens"] == 1000 + 4096  # the answer keeps the room it was given


def test_a_streamed_answer_gives_reasoning_deltas_and_the_signed_block(
    chat: openai.OpenAI, fakes: tuple[FakeAnthropic, FakeGemini]
) -> None:
    pieces: list[str] = []
    blocks: list[Any] = []
    for chunk in chat.chat.completions.create(
        model="anthropic/claude-sonnet-4-6",
        messages=[{"role": "user", "content": QUESTION}],
        reasoning_effort="medium",
        stream=True,
    ):
        for choice in chunk.choices:
            extra = choice.delta.model_extra or {}
            pieces.append(extra.get("reasoning_content") or "")
            blocks += extra.get("thinking_blocks") or []
    assert "".join(pieces) == THOUGHT
    assert blocks == [{"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE}]


def test_thinking_blocks_go_back_to_claude_in_a_tool_loop(
    chat: openai.OpenAI, fakes: tuple[FakeAnthropic, FakeGemini]
) -> None:
    call = {"id": "toolu_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}
    signed = {"type": "thinking", "thinking": THOUGHT, "signature": SIGNATURE}
    history: Any = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": None, "tool_calls": [call], "thinking_blocks": [signed]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Rayleigh scattering"},
    ]
    tools: Any = [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}]
    chat.chat.completions.create(
        model="anthropic/claude-sonnet-4-6", messages=history, tools=tools, reasoning_effort="low"
    )
    assistant = sent(fakes[0])["messages"][1]
    assert assistant["content"][0] == signed
    assert assistant["content"][1]["type"] == "tool_use"


def test_responses_reasoning_effort_gives_a_reasoning_item(
    chat: openai.OpenAI, fakes: tuple[FakeAnthropic, FakeGemini]
) -> None:
    whole = chat.responses.create(
        model="anthropic/claude-sonnet-4-6",
        input=QUESTION,
        reasoning={"effort": "medium"},
        max_output_tokens=500,
    )
    assert sent(fakes[0])["output_config"] == {"effort": "medium"}
    reasoning = whole.output[0]
    assert reasoning.type == "reasoning"
    assert [part.text for part in reasoning.summary] == [THOUGHT]
    assert whole.output_text == f"echo: {QUESTION}"
    summary: list[str] = []
    with chat.responses.stream(
        model="anthropic/claude-sonnet-4-6",
        input=QUESTION,
        reasoning={"effort": "medium"},
        max_output_tokens=500,
    ) as stream:
        for event in stream:
            if event.type == "response.reasoning_summary_text.delta":
                summary.append(event.delta)
        final = stream.get_final_response()
    assert "".join(summary) == THOUGHT
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output_text == f"echo: {QUESTION}"


def test_a_messages_thinking_budget_is_geminis_thinking_budget(
    gateway: RunningGateway, fakes: tuple[FakeAnthropic, FakeGemini]
) -> None:
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as claude:
        claude.messages.create(
            model="google-ai-studio/gemini-2.5-flash",
            max_tokens=4000,
            thinking={"type": "enabled", "budget_tokens": 2048},
            messages=[{"role": "user", "content": QUESTION}],
        )
    assert sent(fakes[1])["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 2048,
        "includeThoughts": True,
    }


def test_a_responses_reasoning_summary_asks_gemini_for_its_thoughts(
    chat: openai.OpenAI, fakes: tuple[FakeAnthropic, FakeGemini]
) -> None:
    # Codex and the Agents SDK ask for a summary to show: Gemini thinks unseen unless asked.
    whole = chat.responses.create(
        model="google-ai-studio/gemini-2.5-flash",
        input=QUESTION,
        reasoning={"effort": "low", "summary": "auto"},
    )
    assert sent(fakes[1])["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 1024,
        "includeThoughts": True,
    }
    reasoning = whole.output[0]
    assert reasoning.type == "reasoning"
    assert [part.text for part in reasoning.summary] == [THOUGHT]
    # Only how much to think, nothing to show: as before, no thoughts asked for.
    chat.responses.create(
        model="google-ai-studio/gemini-2.5-flash", input=QUESTION, reasoning={"effort": "low"}
    )
    assert sent(fakes[1])["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 1024}
