"""Structured outputs to Anthropic through the unified endpoint: the OpenAI SDK's `parse` and
`stream` helpers with a Pydantic model, and JSON mode, against the fake Anthropic, which fills a
forced tool's input in as its schema says (see its docstring)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

import openai
import pytest
from pydantic import BaseModel

from tests.conftest import RunningGateway
from tests.fakes.anthropic_server import FakeAnthropic

MODEL = "anthropic/claude-sonnet-4-5"
TEXT = "Ada Lovelace wrote the first program"
MESSAGES: list[Any] = [
    {"role": "system", "content": "Extract the person."},
    {"role": "user", "content": TEXT},
]


class Address(BaseModel):
    city: str
    country: str


class Person(BaseModel):
    name: str
    age: int
    height_m: float
    retired: bool
    role: Literal["engineer", "writer"]
    nicknames: list[str]
    address: Address
    employer: str | None


# What the fake's forced tool call says for Person: strings are the user text, integers its words.
ADA = Person(
    name=TEXT,
    age=6,
    height_m=6.5,
    retired=True,
    role="engineer",
    nicknames=[TEXT],
    address=Address(city=TEXT, country=TEXT),
    employer=TEXT,
)


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], claude: FakeAnthropic) -> RunningGateway:
    return make_gateway(upstreams={"anthropic": claude.base_url})


@pytest.fixture
def client(gateway: RunningGateway) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="sk-ant-test", max_retries=0)


def assert_logged(gateway: RunningGateway, usage: Any) -> None:
    record = gateway.wait_for_logs(1)[0]
    assert (record["provider"], record["status"], record["usage_estimated"]) == ("anthropic", 200, False)
    assert (record["tokens_in"], record["tokens_out"]) == (usage.prompt_tokens, usage.completion_tokens)


def test_parse_with_a_pydantic_model_returns_the_object(
    client: openai.OpenAI, gateway: RunningGateway, claude: FakeAnthropic
) -> None:
    completion = client.chat.completions.parse(model=MODEL, messages=MESSAGES, response_format=Person)
    choice = completion.choices[0]
    assert choice.message.parsed == ADA
    assert (choice.finish_reason, choice.message.tool_calls) == ("stop", None)
    sent = claude.requests[-1].json
    assert sent["tool_choice"] == {"type": "tool", "name": sent["tools"][0]["name"]}
    assert sent["tools"][0]["input_schema"]["properties"].keys() == Person.model_fields.keys()
    assert completion.usage is not None
    assert_logged(gateway, completion.usage)


def test_a_streamed_parse_returns_the_object(client: openai.OpenAI, gateway: RunningGateway) -> None:
    with client.chat.completions.stream(
        model=MODEL, messages=MESSAGES, response_format=Person, stream_options={"include_usage": True}
    ) as stream:
        pieces = [event.delta for event in stream if event.type == "content.delta"]
        completion = stream.get_final_completion()
    assert len(pieces) > 1  # the tool's input came as deltas, and went out as content deltas
    assert completion.choices[0].message.parsed == ADA
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert_logged(gateway, completion.usage)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
def test_json_mode_answers_a_json_object(
    client: openai.OpenAI, gateway: RunningGateway, stream: bool
) -> None:
    options: dict[str, Any] = {"response_format": {"type": "json_object"}}
    if stream:
        chunks = list(
            client.chat.completions.create(
                model=MODEL, messages=MESSAGES, stream=True, stream_options={"include_usage": True}, **options
            )
        )
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = next(c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason)
        usage = chunks[-1].usage
    else:
        answer = client.chat.completions.create(model=MODEL, messages=MESSAGES, **options)
        content, finish, usage = (
            answer.choices[0].message.content or "",
            answer.choices[0].finish_reason,
            answer.usage,
        )
    assert json.loads(content) == {"input": TEXT}
    assert finish == "stop"
    assert_logged(gateway, usage)


def test_a_format_beside_the_requests_own_tools_lets_the_model_call_them(
    client: openai.OpenAI, claude: FakeAnthropic
) -> None:
    lookup: Any = {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    }
    schema = {"name": "Person", "schema": Person.model_json_schema()}
    answer = client.chat.completions.create(
        model=MODEL,
        messages=MESSAGES,
        tools=[lookup],
        response_format={"type": "json_schema", "json_schema": schema},
    )
    sent = claude.requests[-1].json
    assert [tool["name"] for tool in sent["tools"]] == ["lookup", "json_answer"]
    assert sent["tool_choice"] == {"type": "any"}  # a tool call, or the answer
    calls = answer.choices[0].message.tool_calls or []
    assert [call.function.name for call in calls] == ["lookup"]  # type: ignore[union-attr]
    assert answer.choices[0].finish_reason == "tool_calls"
