"""A chat client of the compat endpoint that asks for usage (`stream_options.include_usage`) gets
its usage chunk from a translated stream whose provider reported none (Workers AI's models without a
usage event; Anthropic or Gemini streams without usage): the gateway's count, the figures its log
record holds, marked estimated there. A cached copy keeps no such count: its hit counts for itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.workers_ai_server import FakeWorkersAI

NO_USAGE = {"x-fake-behavior": "no-usage"}
MESSAGES: list[Any] = [{"role": "user", "content": "name the three largest cities of France in order"}]
MODELS = {
    "anthropic": "anthropic/claude-sonnet-4-6",
    "google-ai-studio": "google-ai-studio/gemini-2.5-flash",
    "workers-ai": "workers-ai/@cf/meta/llama-3.1-8b-instruct",
}


@pytest.fixture
def fakes() -> Iterator[dict[str, Any]]:
    with FakeAnthropic().serve() as an, FakeGemini().serve() as ge, FakeWorkersAI().serve() as wa:
        yield {"anthropic": an, "google-ai-studio": ge, "workers-ai": wa}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fakes: dict[str, Any]) -> RunningGateway:
    gateway = make_gateway(upstreams={name: fake.base_url for name, fake in fakes.items()})
    gateway.configure(cache_enabled=True, semantic_cache_enabled=False)
    return gateway


def streamed(gateway: RunningGateway, model: str, **asked: Any) -> list[Any]:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="key", max_retries=0) as client:
        return list(
            client.chat.completions.create(
                model=model, messages=MESSAGES, stream=True, extra_headers=NO_USAGE, **asked
            )
        )


@pytest.mark.parametrize("provider", sorted(MODELS))
def test_a_stream_without_the_providers_usage_gets_the_gateways_count(
    gateway: RunningGateway, fakes: dict[str, Any], provider: str
) -> None:
    chunks = streamed(gateway, MODELS[provider], stream_options={"include_usage": True})
    *content, last = chunks
    assert "".join(c.choices[0].delta.content or "" for c in content if c.choices)
    assert content[-1].choices[0].finish_reason == "stop"
    assert (last.choices, last.id, last.model) == ([], content[0].id, content[0].model)
    usage = last.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.completion_tokens > 1
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    record = gateway.wait_for_logs(1)[0]
    assert (record["provider"], record["cache_status"]) == (provider, "MISS")
    assert (record["tokens_in"], record["tokens_out"]) == (usage.prompt_tokens, usage.completion_tokens)
    assert record["usage_estimated"] is True

    # Served again from the cache, which kept the stream without the gateway's count: the hit
    # counts for itself (pipeline/hit_usage.py: the chat request's input), still an estimate.
    again = streamed(gateway, MODELS[provider], stream_options={"include_usage": True})
    counted = again[-1].usage
    assert counted is not None
    assert counted.completion_tokens == usage.completion_tokens
    hit = gateway.wait_for_logs(2)[0]
    assert (hit["cache_status"], hit["usage_estimated"]) == ("HIT", True)
    assert (hit["tokens_in"], hit["tokens_out"]) == (counted.prompt_tokens, counted.completion_tokens)
    assert len(fakes[provider].requests) == 1
    # A client that did not ask gets no usage chunk, from the cache or not.
    assert all(chunk.choices and chunk.usage is None for chunk in streamed(gateway, MODELS[provider]))
