"""A call of a tool without parameters, streamed from Anthropic through the unified endpoint, has
`"{}"` for arguments, as the whole answer has: the openai SDK's stream helpers (and its `runTools`,
which JSON.parse them) read it, in chat and in the Responses API rendered from chat. The fake
Anthropic streams such a call as Anthropic does: content_block_start's `input: {}`, one empty
input_json_delta, content_block_stop."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic

MODEL = "anthropic/claude-sonnet-4-5"
NO_PARAMETERS: Any = {"type": "object", "properties": {}}
GET_TIME: Any = {"type": "function", "function": {"name": "get_time", "parameters": NO_PARAMETERS}}
MESSAGES: list[Any] = [{"role": "user", "content": "what time is it"}]


@pytest.fixture
def client(make_gateway: Callable[..., RunningGateway]) -> Iterator[openai.OpenAI]:
    with FakeAnthropic().serve() as anthropic:
        gateway = make_gateway(upstreams={"anthropic": anthropic.base_url})
        yield openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="sk-ant-test", max_retries=0)


def test_a_streamed_call_without_arguments_has_an_empty_object_for_them(client: openai.OpenAI) -> None:
    options: Any = {"model": MODEL, "messages": MESSAGES, "tools": [GET_TIME], "tool_choice": "required"}
    whole = client.chat.completions.create(**options)
    with client.chat.completions.stream(**options) as stream:
        pieces = [
            call.function.arguments
            for chunk in (event.chunk for event in stream if event.type == "chunk")
            for choice in chunk.choices
            for call in choice.delta.tool_calls or ()
            if call.function is not None and call.function.arguments
        ]
        streamed = stream.get_final_completion()
    assert pieces == ["{}"]  # one delta carries it
    for answer in (whole, streamed):
        calls = answer.choices[0].message.tool_calls
        assert calls is not None
        assert (calls[0].function.name, calls[0].function.arguments) == ("get_time", "{}")
        assert json.loads(calls[0].function.arguments) == {}
        assert answer.choices[0].finish_reason == "tool_calls"


def test_the_responses_api_streams_the_empty_object_too(client: openai.OpenAI) -> None:
    tool: Any = {"type": "function", "name": "get_time", "parameters": NO_PARAMETERS, "strict": False}
    with client.responses.stream(
        model=MODEL, input="what time is it", tools=[tool], tool_choice="required"
    ) as stream:
        done = [event.arguments for event in stream if event.type == "response.function_call_arguments.done"]
        response = stream.get_final_response()
    calls = [item for item in response.output if item.type == "function_call"]
    assert [(call.name, call.arguments) for call in calls] == [("get_time", "{}")]
    assert done == ["{}"]
