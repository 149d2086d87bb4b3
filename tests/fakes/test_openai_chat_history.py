"""The fake OpenAI refuses, with OpenAI's 400, a chat history OpenAI refuses, and answers one it takes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.test_openai_server import sync_client

USER = {"role": "user", "content": "weather in Paris and Rome?"}


def calling(*ids: str) -> dict[str, Any]:
    calls = [
        {"id": id_, "type": "function", "function": {"name": "weather", "arguments": "{}"}} for id_ in ids
    ]
    return {"role": "assistant", "content": None, "tool_calls": calls}


def answer(id_: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": id_, "content": "sunny"}


@pytest.fixture
def client() -> Iterator[OpenAI]:
    with FakeOpenAI().serve() as fake, sync_client(fake) as sdk:
        yield sdk


def refusal(client: OpenAI, messages: list[dict[str, Any]]) -> dict[str, Any]:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "invalid_request_error"
    return body


def test_a_well_formed_tool_round_trip_is_answered(client: OpenAI) -> None:
    messages = [USER, calling("call_a", "call_b"), answer("call_b"), answer("call_a"), USER]
    reply = client.chat.completions.create(model="gpt-4o", messages=messages)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "echo: weather in Paris and Rome?"


def test_a_tool_message_must_follow_an_assistant_message_with_calls(client: OpenAI) -> None:
    body = refusal(client, [USER, calling("call_a"), answer("call_a"), USER, answer("call_a")])
    assert body["message"] == (
        "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with"
        " 'tool_calls'."
    )
    assert body["param"] == "messages.[4].role"
    assert body["code"] is None


def test_every_call_must_be_answered_before_the_next_message(client: OpenAI) -> None:
    body = refusal(client, [USER, calling("call_a", "call_b", "call_c"), answer("call_b"), USER])
    assert body["message"] == (
        "An assistant message with 'tool_calls' must be followed by tool messages responding to each"
        " 'tool_call_id'. The following tool_call_ids did not have response messages: call_a, call_c"
    )
    assert body["param"] == "messages.[1].role"
    assert refusal(client, [USER, calling("call_a")])["param"] == "messages.[1].role"


def test_a_tool_message_answers_a_call_of_its_assistant_once(client: OpenAI) -> None:
    body = refusal(client, [USER, calling("call_a"), answer("call_z")])
    assert body["message"] == (
        "Invalid parameter: 'tool_call_id' of 'call_z' not found in 'tool_calls' of previous message."
    )
    assert body["param"] == "messages.[2].tool_call_id"
    body = refusal(client, [USER, calling("call_a"), answer("call_a"), answer("call_a")])
    assert body["message"] == (
        "Invalid parameter: Duplicate value for 'tool_call_id' of 'call_a', in messages[2] and messages[3]."
    )
    assert body["param"] == "messages.[3].tool_call_id"


def test_messages_are_refused_by_their_shape(client: OpenAI) -> None:
    assert refusal(client, [])["code"] == "empty_array"
    assert refusal(client, [{"role": "model", "content": "hi"}]) == {
        "message": "Invalid value: 'model'. Supported values are: 'system', 'assistant', 'user', 'function',"
        " 'tool', and 'developer'.",
        "type": "invalid_request_error",
        "param": "messages[0].role",
        "code": "invalid_value",
    }
    assert refusal(client, [{"content": "hi"}])["code"] == "missing_required_parameter"
    silent = refusal(client, [USER, {"role": "assistant", "content": None}])
    assert (silent["message"], silent["param"]) == (
        "Invalid value for 'content': expected a string, got null.",
        "messages.[1].content",
    )
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    drawn = refusal(client, [USER, {"role": "assistant", "content": [image]}, USER])
    assert drawn["message"] == (
        "Invalid 'messages[1]'. Image URLs are only allowed for messages with role 'user', but this message"
        " with role 'assistant' contains an image URL."
    )
    anonymous = refusal(client, [USER, calling("call_a"), {"role": "tool", "content": "sunny"}])
    assert anonymous["param"] == "messages.[2].tool_call_id"
