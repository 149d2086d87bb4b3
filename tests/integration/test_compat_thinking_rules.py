"""Reasoning across the compat endpoint within the providers' rules, against fakes that refuse
what Anthropic and Gemini refuse (tests/fakes/thinking_rules.py): a tool loop whose last tool-use
turn carries no signed thinking goes without thinking (Anthropic's "a final `assistant` message
must start with a thinking block"), and a Responses client gets Claude's signed thinking in the
reasoning item's `encrypted_content` and gives it back in `input`, so a Codex-style loop keeps
thinking; Claude models without extended thinking get none; `max_tokens` gets the budget added,
capped at the model's most output; a Messages thinking budget to Gemini is clamped to the model's
range, and `disabled` to 2.5 Pro (which cannot stop thinking) is left out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini

QUESTION = "why is the sky blue, use the look tool"
SIGNED = {"type": "thinking", "thinking": f"The user wrote: {QUESTION}", "signature": "c2lnLWZha2U="}
TOOLS: Any = [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}]
RESPONSES_TOOLS: Any = [{"type": "function", "name": "look", "parameters": {"type": "object"}}]


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


def test_a_tool_loop_without_signed_thinking_goes_without_thinking(
    chat: openai.OpenAI, fakes: tuple[FakeAnthropic, FakeGemini]
) -> None:
    call = {"id": "toolu_1", "type": "function", "function": {"name": "look", "arguments": "{}"}}
    unsigned = {**SIGNED, "signature": ""}  # as a guardrail leaves a block whose text it changed
    for blocks in (None, [unsigned]):
        assistant: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
        if blocks is not None:
            assistant["thinking_blocks"] = blocks
        history: Any = [
            {"role": "user", "content": "why is the sky blue"},
            assistant,
            {"role": "tool", "tool_call_id": "toolu_1", "content": "Rayleigh scattering"},
        ]
        answer = chat.chat.completions.create(
            model="anthropic/claude-sonnet-4-5", messages=history, tools=TOOLS, reasoning_effort="high"
        )
        body = sent(fakes[0])
        assert "thinking" not in body
        assert body["messages"][1]["content"][0]["type"] == "tool_use"
        assert answer.choices[0].message.content


@pytest.mark.parametrize("stream", [False, True])
def test_a_responses_tool_loop_gives_claude_its_signed_thinking_back(
    chat: openai.OpenAI, fakes: tuple[FakeAnthropic, FakeGemini], stream: bool
) -> None:
    asked: Any = {
        "model": "anthropic/claude-sonnet-4-5",
        "tools": RESPONSES_TOOLS,
        "reasoning": {"effort": "low"},
        "include": ["reasoning.encrypted_content"],
        "store": False,
    }
    if stream:
        with chat.responses.stream(input=QUESTION, **asked) as events:
            first = events.get_final_response()
    else:
        first = chat.responses.create(input=QUESTION, **asked)
    assert [item.type for item in first.output] == ["reasoning", "function_call"]
    reasoning, call = first.output
    assert reasoning.type == "reasoning"
    assert call.type == "function_call"
    assert reasoning.encrypted_content
    history: Any = [
        {"role": "user", "content": QUESTION},
        *(item.model_dump(exclude_none=True) for item in first.output),
        {"type": "function_call_output", "call_id": call.call_id, "output": "Rayleigh scattering"},
    ]
    second = chat.responses.create(input=history, **asked)
    body = sent(fakes[0])
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    assert body["messages"][1]["content"][0] == SIGNED  # Claude's own block, first in its turn
    assert body["messages"][1]["content"][1]["type"] == "tool_use"
    assert second.output[0].type == "reasoning"


def test_claude_models_without_extended_thinking_go_without(
    chat: openai.OpenAI, fakes: tuple[FakeAnthropic, FakeGemini]
) -> None:
    for model in ("claude-3-5-haiku-20241022", "claude-3-opus-latest", "claude-3-5-sonnet-20241022"):
        answer = chat.chat.completions.create(
            model=f"anthropic/{model}",
            messages=[{"role": "user", "content": "why is the sky blue"}],
            reasoning_effort="low",
        )
        assert "thinking" not in sent(fakes[0])
        assert answer.choices[0].message.content == "echo: why is the sky blue"
    chat.chat.completions.create(
        model="anthropic/claude-3-7-sonnet-20250219",
        messages=[{"role": "user", "content": "why is the sky blue"}],
        reasoning_effort="low",
    )
    assert sent(fakes[0])["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_the_budget_is_added_to_max_tokens_within_the_models_most_output(
    chat: openai.OpenAI, fakes: tuple[FakeAnthropic, FakeGemini]
) -> None:
    question: Any = [{"role": "user", "content": "why is the sky blue"}]
    chat.chat.completions.create(
        model="anthropic/claude-sonnet-4-5", messages=question, reasoning_effort="low", max_tokens=1500
    )
    assert sent(fakes[0])["max_tokens"] == 1500 + 1024  # the answer keeps its 1500
    chat.chat.completions.create(
        model="anthropic/claude-opus-4-1-20250805",
        messages=question,
        reasoning_effort="max",
        max_tokens=16000,
    )
    body = sent(fakes[0])
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 16384}
    assert body["max_tokens"] == 32000  # Opus 4.1 writes at most 32000


def test_a_messages_thinking_budget_is_kept_in_geminis_range(
    gateway: RunningGateway, fakes: tuple[FakeAnthropic, FakeGemini]
) -> None:
    question: Any = [{"role": "user", "content": "why is the sky blue"}]
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as claude:
        claude.messages.create(  # Claude Code's budget
            model="google-ai-studio/gemini-2.5-flash",
            max_tokens=20000,
            thinking={"type": "enabled", "budget_tokens": 31999},
            messages=question,
        )
        assert sent(fakes[1])["generationConfig"]["thinkingConfig"] == {
            "thinkingBudget": 24576,
            "includeThoughts": True,
        }
        claude.messages.create(
            model="google-ai-studio/gemini-2.5-pro",
            max_tokens=1000,
            thinking={"type": "disabled"},
            messages=question,
        )
        assert "thinkingConfig" not in sent(fakes[1]).get("generationConfig", {})
        claude.messages.create(
            model="google-ai-studio/gemini-2.5-flash-lite",
            max_tokens=1000,
            thinking={"type": "enabled", "budget_tokens": 100},
            messages=question,
        )
        assert sent(fakes[1])["generationConfig"]["thinkingConfig"] == {
            "thinkingBudget": 512,
            "includeThoughts": True,
        }
