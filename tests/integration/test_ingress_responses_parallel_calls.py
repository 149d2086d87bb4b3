"""Parallel tool calls whose chat deltas interleave (index 0 begins, index 1 begins, then 0's
arguments, then 1's, as some OpenAI-compatible servers stream them), rendered for a Responses
client: no argument piece follows its item's `response.output_item.done`, and each function call
holds its whole arguments."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

QUESTION = "weather and time in Paris"
TOOLS: Any = [
    {
        "type": "function",
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
    {
        "type": "function",
        "name": "get_time",
        "parameters": {"type": "object", "properties": {"zone": {"type": "string"}}},
    },
]


@pytest.fixture
def client(make_gateway: Callable[..., RunningGateway]) -> Iterator[openai.OpenAI]:
    # groq: an OpenAI-compatible provider, so a Responses request goes to it as chat.
    with FakeOpenAI().serve() as fake:
        gateway = make_gateway(upstreams={"groq": fake.base_url})
        with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="key", max_retries=0) as client:
            yield client


def test_interleaved_parallel_calls_never_follow_their_items_done(client: openai.OpenAI) -> None:
    done: set[str] = set()
    late: list[str] = []
    with client.responses.stream(
        model="groq/llama-3.1-8b-instant",
        input=QUESTION,
        tools=TOOLS,
        tool_choice="required",
        extra_headers={"x-fake-behavior": "interleaved-calls"},
    ) as stream:
        for event in stream:
            if event.type == "response.output_item.done":
                done.add(event.item.id or "")
            elif event.type == "response.function_call_arguments.delta" and event.item_id in done:
                late.append(event.item_id)
        response = stream.get_final_response()
    assert late == []
    calls = [
        (item.name, json.loads(item.arguments)) for item in response.output if item.type == "function_call"
    ]
    assert calls == [("get_weather", {"city": QUESTION}), ("get_time", {"zone": QUESTION})]
    assert response.status == "completed"
