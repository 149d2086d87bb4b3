"""`OpenAICompatible.chat_request`: the chat request the gateway writes for a Messages or Responses
client, in the fields each OpenAI-compatible server takes, as its adapter declares them."""

from __future__ import annotations

from typing import Any

import pytest

from sluicegate.providers import REGISTRY
from sluicegate.providers.openai import WRITTEN_CAP, OpenAICompatible

WRITTEN: dict[str, Any] = {
    "model": "m",
    "messages": [{"role": "user", "content": "hi"}],
    "max_completion_tokens": 64,
    "stream": True,
    "stream_options": {"include_usage": True},
    "user": "u-1",
    "parallel_tool_calls": False,
}
# Whose cap is OpenAI's current name, and what each server refuses: the rest take `max_tokens`.
CAPPED_AS_OPENAI = {"openai", "azure-openai", "groq"}
REFUSED = {"mistral": {"user", "stream_options"}}


@pytest.mark.parametrize(
    "provider", [p for p in REGISTRY.values() if isinstance(p, OpenAICompatible)], ids=lambda p: p.name
)
def test_each_server_gets_its_cap_and_none_of_what_it_refuses(provider: OpenAICompatible) -> None:
    taken = provider.chat_request(WRITTEN)
    cap = WRITTEN_CAP if provider.name in CAPPED_AS_OPENAI else "max_tokens"
    assert taken[cap] == 64
    assert {"max_tokens", "max_completion_tokens"} & set(taken) == {cap}
    refused = REFUSED.get(provider.name, set())
    assert set(WRITTEN) - set(taken) - {"max_completion_tokens"} == refused
    assert taken["parallel_tool_calls"] is False  # Mistral takes it
    assert WRITTEN["max_completion_tokens"] == 64  # the written request is not changed


def test_a_custom_server_takes_max_tokens_and_every_field() -> None:
    """vLLM, llama.cpp, Ollama: what an operator adds is built with the defaults."""
    custom = OpenAICompatible("custom-vllm", "http://127.0.0.1:8000/v1")
    taken = custom.chat_request(WRITTEN)
    assert taken == {**{k: v for k, v in WRITTEN.items() if k != "max_completion_tokens"}, "max_tokens": 64}


def test_a_request_without_a_cap_gets_none() -> None:
    unbounded = {k: v for k, v in WRITTEN.items() if k != "max_completion_tokens"}
    for provider in (REGISTRY["openai"], REGISTRY["deepseek"]):
        assert isinstance(provider, OpenAICompatible)
        assert "max_tokens" not in provider.chat_request(unbounded)
        assert "max_completion_tokens" not in provider.chat_request(unbounded)
