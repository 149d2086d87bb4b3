"""Chat fields the Gemini translation cannot honour are refused with a 400 naming them (they were
dropped, so the client got an answer without what it asked for), as the Anthropic translator does
(logprobs are translated: test_compat_gemini_candidates.py, but not past Gemini's 20 top tokens);
reasoning_effort becomes a thinking budget or level, as in Google's own OpenAI compatibility."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini

MODEL = "google-ai-studio/gemini-2.5-flash"
MESSAGES: Any = [{"role": "user", "content": "one two three"}]
TOOLS: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]


@pytest.fixture
def client(make_gateway: Callable[..., RunningGateway], gemini: FakeGemini) -> openai.OpenAI:
    gateway = make_gateway(upstreams={"google-ai-studio": gemini.base_url})
    return openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0)


@pytest.mark.parametrize(
    ("field", "asked"),
    [
        ("functions", {"functions": [{"name": "f", "parameters": {"type": "object"}}]}),
        ("function_call", {"function_call": "auto"}),
        ("modalities", {"modalities": ["text", "audio"]}),
        ("audio", {"audio": {"voice": "alloy", "format": "wav"}}),
        ("web_search_options", {"web_search_options": {}}),
        ("prediction", {"prediction": {"type": "content", "content": "x"}}),
        ("reasoning_effort", {"extra_body": {"reasoning_effort": "extreme"}}),
    ],
)
def test_a_field_gemini_cannot_honour_is_refused_naming_it(
    client: openai.OpenAI, gemini: FakeGemini, field: str, asked: dict[str, Any]
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, **asked)
    assert field in caught.value.message
    assert not gemini.requests  # refused before it was sent


@pytest.mark.parametrize(
    ("asked", "said"),
    [
        # generationConfig.logprobs is "in the range of [0, 20]"
        ({"logprobs": True, "top_logprobs": 21}, "top_logprobs: must be an integer from 0 to 20"),
        ({"top_logprobs": 2}, "top_logprobs: needs logprobs: true"),
        ({"logprobs": False, "top_logprobs": 2}, "top_logprobs: needs logprobs: true"),
    ],
)
def test_top_logprobs_gemini_cannot_give_are_refused_saying_why(
    client: openai.OpenAI, gemini: FakeGemini, asked: dict[str, Any], said: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=MESSAGES, **asked)
    assert said in caught.value.message
    assert not gemini.requests


def test_defaults_of_those_fields_still_pass(client: openai.OpenAI, gemini: FakeGemini) -> None:
    client.chat.completions.create(
        model=MODEL, messages=MESSAGES, logprobs=False, modalities=["text"], parallel_tool_calls=False
    )
    assert gemini.requests


@pytest.mark.parametrize(
    ("model", "effort", "thinking"),
    [
        (MODEL, "high", {"thinkingBudget": 24576}),
        (MODEL, "none", {"thinkingBudget": 0}),
        ("google-ai-studio/gemini-3-pro-preview", "medium", {"thinkingLevel": "high"}),
    ],
)
def test_reasoning_effort_becomes_a_thinking_config(
    client: openai.OpenAI, gemini: FakeGemini, model: str, effort: Any, thinking: dict[str, Any]
) -> None:
    client.chat.completions.create(model=model, messages=MESSAGES, reasoning_effort=effort)
    assert gemini.requests[-1].json["generationConfig"]["thinkingConfig"] == thinking
