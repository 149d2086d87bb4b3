"""`parallel_tool_calls: false` (and Anthropic's `disable_parallel_tool_use`) to Gemini through the
compat endpoint: Gemini has no such switch, so the request goes without it and the client gets
the answer's first function call only, whole and streamed; the later call never shows, not even
its arguments. It was a 400, which failed every Codex CLI turn (Codex sends parallel_tool_calls:
false to models that are not OpenAI's)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini

MODEL = "google-ai-studio/gemini-2.5-flash"
# The fake Gemini calls every declared function the question names, in one turn.
QUESTION = "get_weather and get_time for Paris"
SCHEMA: Any = {"type": "object", "properties": {"query": {"type": "string"}}}
NAMES = ("get_weather", "get_time")
CHAT_TOOLS: Any = [{"type": "function", "function": {"name": name, "parameters": SCHEMA}} for name in NAMES]


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], gemini: FakeGemini) -> RunningGateway:
    return make_gateway(upstreams={"google-ai-studio": gemini.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


def _sent(gemini: FakeGemini) -> dict[str, Any]:
    body: dict[str, Any] = gemini.requests[-1].json
    return body


def test_a_whole_answer_keeps_its_first_call(client: openai.OpenAI, gemini: FakeGemini) -> None:
    messages: Any = [{"role": "user", "content": QUESTION}]
    both = client.chat.completions.create(model=MODEL, messages=messages, tools=CHAT_TOOLS)
    assert [c.function.name for c in both.choices[0].message.tool_calls or ()] == ["get_weather", "get_time"]

    one = client.chat.completions.create(
        model=MODEL, messages=messages, tools=CHAT_TOOLS, parallel_tool_calls=False
    )
    calls = one.choices[0].message.tool_calls or []
    assert [c.function.name for c in calls] == ["get_weather"]
    assert one.choices[0].finish_reason == "tool_calls"
    sent = _sent(gemini)
    assert [d["name"] for d in sent["tools"][0]["functionDeclarations"]] == ["get_weather", "get_time"]
    assert "parallel_tool_calls" not in str(sent)


def test_a_stream_keeps_its_first_call(client: openai.OpenAI, gemini: FakeGemini) -> None:
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": QUESTION}],
        tools=CHAT_TOOLS,
        parallel_tool_calls=False,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    calls = [call for c in chunks for choice in c.choices for call in choice.delta.tool_calls or ()]
    assert [call.function.name for call in calls if call.function and call.function.name] == ["get_weather"]
    assert all(call.index == 0 for call in calls)
    assert '"name":"get_time"' not in "".join(c.model_dump_json() for c in chunks)
    arguments = "".join(call.function.arguments or "" for call in calls if call.function)
    assert json.loads(arguments) == {"query": QUESTION}  # one call's arguments, no other's
    assert [choice.finish_reason for c in chunks for choice in c.choices if choice.finish_reason] == [
        "tool_calls"
    ]
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens > 0
    assert len(gemini.requests) == 1


def test_a_messages_client_that_disables_parallel_tool_use_gets_one_tool_use(
    gateway: RunningGateway, gemini: FakeGemini
) -> None:
    tools: Any = [{"name": name, "input_schema": SCHEMA} for name in ("get_weather", "get_time")]
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as claude:
        with claude.messages.stream(
            model=MODEL,
            max_tokens=200,
            messages=[{"role": "user", "content": QUESTION}],
            tools=tools,
            tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        ) as stream:
            events = [event.model_dump_json() for event in stream]
            final = stream.get_final_message()
        whole = claude.messages.create(
            model=MODEL,
            max_tokens=200,
            messages=[{"role": "user", "content": QUESTION}],
            tools=tools,
            tool_choice={"type": "auto", "disable_parallel_tool_use": True},
        )
    for message in (final, whole):
        assert [(b.type, getattr(b, "name", None)) for b in message.content] == [("tool_use", "get_weather")]
        assert message.stop_reason == "tool_use"
    assert not any('"name":"get_time"' in event for event in events)
    assert len(gemini.requests) == 2


def test_a_codex_turn_through_the_responses_api_gets_one_call(
    client: openai.OpenAI, gemini: FakeGemini
) -> None:
    tools: Any = [{"type": "function", "name": n, "parameters": SCHEMA} for n in ("get_weather", "get_time")]
    with client.responses.stream(
        model=MODEL, input=QUESTION, tools=tools, parallel_tool_calls=False, tool_choice="auto"
    ) as stream:
        events = [event.model_dump_json() for event in stream]
        final = stream.get_final_response()
    assert [(item.type, getattr(item, "name", None)) for item in final.output] == [
        ("function_call", "get_weather")
    ]
    assert final.parallel_tool_calls is False
    items = [json.loads(e) for e in events if '"type":"response.output_item.added"' in e]
    assert [item["item"]["name"] for item in items] == ["get_weather"]  # the responses echo the tools


def test_a_cached_answer_is_cut_for_the_request_that_asks_and_whole_for_the_one_that_does_not(
    gateway: RunningGateway, client: openai.OpenAI, gemini: FakeGemini
) -> None:
    """The native request names no constraint, so both requests share one cache entry: the
    provider's answer as it came, cut on its way to the client that asked for one call."""
    gateway.configure(cache_enabled=True)
    messages: Any = [{"role": "user", "content": QUESTION}]
    both = client.chat.completions.create(model=MODEL, messages=messages, tools=CHAT_TOOLS)
    one = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=messages, tools=CHAT_TOOLS, parallel_tool_calls=False
    )
    again = client.chat.completions.create(model=MODEL, messages=messages, tools=CHAT_TOOLS)
    assert one.headers["cf-aig-cache-status"] == "HIT"
    assert [c.function.name for c in one.parse().choices[0].message.tool_calls or ()] == ["get_weather"]
    for answer in (both, again):
        calls = answer.choices[0].message.tool_calls or []
        assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert len(gemini.requests) == 1
