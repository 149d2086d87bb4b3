"""Parallel tool calls whose chat deltas interleave (index 0 begins, index 1 begins, then 0's
arguments, then 1's, as some OpenAI-compatible servers stream them), rendered for a Messages
client: no piece goes to a block already stopped, and each tool_use holds its whole input."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

QUESTION = "weather and time in Paris"
TOOLS: Any = [
    {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
    {"name": "get_time", "input_schema": {"type": "object", "properties": {"zone": {"type": "string"}}}},
]


@pytest.fixture
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI().serve() as fake:
        yield fake


@pytest.fixture
def client(
    make_gateway: Callable[..., RunningGateway], openai_fake: FakeOpenAI
) -> Iterator[anthropic.Anthropic]:
    gateway = make_gateway(upstreams={"openai": openai_fake.base_url})
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="key", max_retries=0) as client:
        yield client


def test_interleaved_parallel_calls_never_write_to_a_stopped_block(client: anthropic.Anthropic) -> None:
    stopped: set[int] = set()
    late: list[int] = []
    with client.messages.stream(
        model="openai/gpt-4o-mini",
        max_tokens=200,
        messages=[{"role": "user", "content": QUESTION}],
        tools=TOOLS,
        tool_choice={"type": "any"},
        extra_headers={"x-fake-behavior": "interleaved-calls"},
    ) as stream:
        for event in stream:
            if event.type == "content_block_stop":
                stopped.add(event.index)
            elif event.type == "content_block_delta" and event.index in stopped:
                late.append(event.index)
        message = stream.get_final_message()
    assert late == []
    calls = [(block.name, block.input) for block in message.content if block.type == "tool_use"]
    assert calls == [("get_weather", {"city": QUESTION}), ("get_time", {"zone": QUESTION})]
    assert message.stop_reason == "tool_use"
