"""`parallel_tool_calls: false` (and Anthropic's `disable_parallel_tool_use`) to Workers AI through
the compat endpoint: Workers AI has no such switch, so the request goes without it and the client
gets the answer's first tool call only, whole and streamed, and never the later call's arguments.

Workers AI streams a tool call keyed by its index: its id and name with a first piece of its
arguments, then the rest piece by piece (tests/fakes/workers_ai_server.py); each call reaches the
client whole, as one OpenAI streamed call."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest
from openai.types.chat import ChatCompletion

from tests.conftest import RunningGateway
from tests.fakes.workers_ai_server import FakeWorkersAI

MODEL = "workers-ai/@cf/meta/llama-3.1-8b-instruct"
QUESTION = "get_weather and get_time for Paris"
# The fake calls each declared tool, its first parameter set to the question.
TWO_CALLS = {"x-fake-behavior": "tool-calls"}
SCHEMA: Any = {"type": "object", "properties": {"query": {"type": "string"}}}
NAMES = ("get_weather", "get_time")
CHAT_TOOLS: Any = [{"type": "function", "function": {"name": name, "parameters": SCHEMA}} for name in NAMES]
MESSAGES: Any = [{"role": "user", "content": QUESTION}]


@pytest.fixture
def workers_ai() -> Iterator[FakeWorkersAI]:
    with FakeWorkersAI().serve() as fake:
        yield fake


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], workers_ai: FakeWorkersAI) -> RunningGateway:
    return make_gateway(upstreams={"workers-ai": workers_ai.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


def whole_calls(answer: ChatCompletion) -> list[tuple[str, Any]]:
    """The answer's tool calls: each one's name and arguments."""
    calls = answer.choices[0].message.tool_calls or ()
    return [(c.function.name, json.loads(c.function.arguments)) for c in calls if c.type == "function"]


def streamed_calls(client: openai.OpenAI, **asked: Any) -> tuple[list[Any], dict[int, dict[str, str]]]:
    """The chunks of a streamed chat answer, and its tool calls put together by index."""
    stream = client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        tools=CHAT_TOOLS,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=TWO_CALLS,
        **asked,
    )
    chunks = list(stream)
    calls: dict[int, dict[str, str]] = {}
    for call in (call for c in chunks for choice in c.choices for call in choice.delta.tool_calls or ()):
        whole = calls.setdefault(call.index, {"name": "", "arguments": ""})
        if call.function is not None:
            whole["name"] += call.function.name or ""
            whole["arguments"] += call.function.arguments or ""
    return chunks, calls


def test_a_whole_answer_keeps_its_first_call(client: openai.OpenAI, workers_ai: FakeWorkersAI) -> None:
    both = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, tools=CHAT_TOOLS, extra_headers=TWO_CALLS
    )
    assert [name for name, _ in whole_calls(both)] == list(NAMES)

    one = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, tools=CHAT_TOOLS, parallel_tool_calls=False, extra_headers=TWO_CALLS
    )
    assert whole_calls(one) == [("get_weather", {"query": QUESTION})]
    assert one.choices[0].finish_reason == "tool_calls"
    sent = workers_ai.requests[-1].json
    assert [tool["function"]["name"] for tool in sent["tools"]] == list(NAMES)
    assert "parallel_tool_calls" not in str(sent)


def test_a_stream_brings_each_call_whole(client: openai.OpenAI) -> None:
    chunks, calls = streamed_calls(client)
    assert calls == {
        0: {"name": "get_weather", "arguments": json.dumps({"query": QUESTION})},
        1: {"name": "get_time", "arguments": json.dumps({"query": QUESTION})},
    }
    ids = [
        call.id for c in chunks for choice in c.choices for call in choice.delta.tool_calls or () if call.id
    ]
    assert len(set(ids)) == len(ids) == 2


def test_a_stream_keeps_its_first_call(client: openai.OpenAI, workers_ai: FakeWorkersAI) -> None:
    chunks, calls = streamed_calls(client, parallel_tool_calls=False)
    assert calls == {0: {"name": "get_weather", "arguments": json.dumps({"query": QUESTION})}}
    assert '"get_time"' not in "".join(c.model_dump_json() for c in chunks)
    assert [choice.finish_reason for c in chunks for choice in c.choices if choice.finish_reason] == [
        "tool_calls"
    ]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens > 0
    assert len(workers_ai.requests) == 1
    assert "parallel_tool_calls" not in str(workers_ai.requests[-1].json)


def test_a_messages_client_that_disables_parallel_tool_use_gets_one_tool_use(
    gateway: RunningGateway, workers_ai: FakeWorkersAI
) -> None:
    tools: Any = [{"name": name, "input_schema": SCHEMA} for name in NAMES]
    asked: Any = {
        "model": MODEL,
        "max_tokens": 200,
        "messages": MESSAGES,
        "tools": tools,
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "extra_headers": TWO_CALLS,
    }
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as claude:
        with claude.messages.stream(**asked) as stream:
            events = [event.model_dump_json() for event in stream]
            final = stream.get_final_message()
        whole = claude.messages.create(**asked)
    for message in (final, whole):
        blocks = [(b.type, getattr(b, "name", None), getattr(b, "input", None)) for b in message.content]
        assert blocks == [("tool_use", "get_weather", {"query": QUESTION})]
        assert message.stop_reason == "tool_use"
    assert not any('"get_time"' in event for event in events)
    assert len(workers_ai.requests) == 2


def test_a_codex_turn_through_the_responses_api_gets_one_call(client: openai.OpenAI) -> None:
    tools: Any = [{"type": "function", "name": name, "parameters": SCHEMA} for name in NAMES]
    with client.responses.stream(
        model=MODEL,
        input=QUESTION,
        tools=tools,
        parallel_tool_calls=False,
        tool_choice="auto",
        extra_headers=TWO_CALLS,
    ) as stream:
        events = [event.model_dump_json() for event in stream]
        final = stream.get_final_response()
    assert [
        (item.type, getattr(item, "name", None), getattr(item, "arguments", None)) for item in final.output
    ] == [("function_call", "get_weather", json.dumps({"query": QUESTION}))]
    items = [json.loads(e) for e in events if '"type":"response.output_item.added"' in e]
    assert [item["item"]["name"] for item in items] == ["get_weather"]
