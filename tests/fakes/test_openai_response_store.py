"""The fake OpenAI refuses, as OpenAI does, Responses requests that name what it never kept; and its
forced tool calls fill every required parameter."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.test_openai_server import sync_client

CALL = {"type": "function_call", "call_id": "call_1", "name": "lookup", "arguments": "{}"}
OUTPUT = {"type": "function_call_output", "call_id": "call_1", "output": "42"}


@pytest.fixture
def client() -> Iterator[OpenAI]:
    with FakeOpenAI().serve() as fake, sync_client(fake) as sdk:
        yield sdk


def error_of(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.body
    assert isinstance(body, dict)
    return body


def test_a_kept_response_is_continued_and_an_unknown_one_refused(client: OpenAI) -> None:
    first = client.responses.create(model="gpt-4o", input="hello there")
    second = client.responses.create(model="gpt-4o", input="again", previous_response_id=first.id)
    assert second.previous_response_id == first.id
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4o", input="again", previous_response_id="resp_nowhere")
    assert error_of(caught.value) == {
        "message": "Previous response with id 'resp_nowhere' not found.",
        "type": "invalid_request_error",
        "param": "previous_response_id",
        "code": "previous_response_not_found",
    }


def test_an_unstored_response_cannot_be_continued(client: OpenAI) -> None:
    first = client.responses.create(model="gpt-4o", input="hello there", store=False)
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt-4o", input="again", previous_response_id=first.id)


def test_item_references_resolve_only_to_kept_items(client: OpenAI) -> None:
    first = client.responses.create(model="gpt-4o", input="hello there")
    kept = first.output[0].id
    client.responses.create(model="gpt-4o", input=[{"type": "item_reference", "id": kept}])
    client.responses.create(model="gpt-4o", input=[{"id": kept}])  # type: ignore[list-item]
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model="gpt-4o", input=[{"type": "item_reference", "id": "msg_nowhere"}])
    assert error_of(caught.value) == {
        "message": "Item with id 'msg_nowhere' not found.",
        "type": "invalid_request_error",
        "param": "input",
        "code": None,
    }


def test_a_reasoning_item_it_never_wrote_is_refused(client: OpenAI) -> None:
    reasoning: Any = {"type": "reasoning", "id": "rs_elsewhere", "summary": []}
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(
            model="gpt-4o", input=[reasoning, {"role": "user", "content": "hi"}], store=False
        )
    assert error_of(caught.value)["message"].startswith(
        "Item with id 'rs_elsewhere' not found. Items are not"
    )


def test_a_function_call_output_needs_its_call(client: OpenAI) -> None:
    client.responses.create(model="gpt-4o", input=[CALL, OUTPUT])  # type: ignore[list-item]
    first = client.responses.create(model="gpt-4o", input=[{"role": "user", "content": "hi"}, CALL])  # type: ignore[list-item]
    client.responses.create(model="gpt-4o", input=[OUTPUT], previous_response_id=first.id)  # type: ignore[list-item]
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model="gpt-4o", input=[OUTPUT])  # type: ignore[list-item]
    assert error_of(caught.value) == {
        "message": "No tool call found for function call output with call_id call_1.",
        "type": "invalid_request_error",
        "param": "input",
        "code": None,
    }


def test_a_forced_tool_call_fills_every_required_parameter(client: OpenAI) -> None:
    parameters = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "metric": {"type": "boolean"},
            "unit": {"type": "string", "enum": ["c", "f"]},
            "note": {"type": "string"},
        },
        "required": ["city", "days", "metric", "unit"],
    }
    answer = client.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "weather in Paris"}],
        tools=[{"type": "function", "function": {"name": "weather", "parameters": parameters}}],
        tool_choice={"type": "function", "function": {"name": "weather"}},
    )
    calls = answer.choices[0].message.tool_calls
    assert calls is not None
    assert calls[0].type == "function"
    arguments = json.loads(calls[0].function.arguments)
    assert arguments == {"city": "weather in Paris", "days": 3, "metric": True, "unit": "c"}
