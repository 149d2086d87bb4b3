"""Structured outputs beside function tools to Gemini through the unified endpoint. Gemini 2.x
refuses functionDeclarations beside responseMimeType application/json (the fake does too), so the
format goes as one more function the model must call (mode ANY), whose call comes back as the
answer's content, whole and streamed; Gemini 3 combines them natively."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini

MODEL = "google-ai-studio/gemini-2.5-flash"
TEXT = "weather in Paris"
LOOKUP: Any = {
    "type": "function",
    "function": {
        "name": "lookup",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {"q": {"type": "string"}},
            "required": ["q"],
            "additionalProperties": False,
        },
    },
}


class Answer(BaseModel):
    summary: str
    words: int


@pytest.fixture
def client(make_gateway: Callable[..., RunningGateway], gemini: FakeGemini) -> openai.OpenAI:
    gateway = make_gateway(upstreams={"google-ai-studio": gemini.base_url})
    return openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0)


def test_parse_beside_tools_answers_through_the_answer_function(
    client: openai.OpenAI, gemini: FakeGemini
) -> None:
    messages: Any = [{"role": "user", "content": TEXT}]
    completion = client.chat.completions.parse(
        model=MODEL, messages=messages, response_format=Answer, tools=[LOOKUP]
    )
    choice = completion.choices[0]
    assert choice.message.parsed == Answer(summary=TEXT, words=3)
    assert (choice.finish_reason, choice.message.tool_calls) == ("stop", None)
    sent = gemini.requests[-1].json
    assert "responseMimeType" not in sent.get("generationConfig", {})
    names = [d["name"] for d in sent["tools"][0]["functionDeclarations"]]
    assert names == ["lookup", "json_answer"]
    assert sent["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_a_streamed_parse_beside_tools_returns_the_object(client: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": TEXT}]
    with client.chat.completions.stream(
        model=MODEL, messages=messages, response_format=Answer, tools=[LOOKUP]
    ) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.parsed == Answer(summary=TEXT, words=3)
    assert final.choices[0].finish_reason == "stop"


def test_the_model_may_still_call_the_requests_tool(client: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "lookup Paris"}]
    completion = client.chat.completions.parse(
        model=MODEL, messages=messages, response_format=Answer, tools=[LOOKUP]
    )
    calls = completion.choices[0].message.tool_calls or []
    assert [call.function.name for call in calls] == ["lookup"]
    assert completion.choices[0].finish_reason == "tool_calls"


def test_responses_text_format_beside_function_tools(client: openai.OpenAI, gemini: FakeGemini) -> None:
    response = client.responses.create(
        model=MODEL,
        input=TEXT,
        tools=[{"type": "function", "name": "lookup", "parameters": LOOKUP["function"]["parameters"]}],
        text={
            "format": {
                "type": "json_schema",
                "name": "Answer",
                "schema": {**Answer.model_json_schema(), "additionalProperties": False},
                "strict": True,
            }
        },
    )
    assert Answer.model_validate_json(response.output_text) == Answer(summary=TEXT, words=3)
    assert [item.type for item in response.output] == ["message"]
    assert "responseMimeType" not in gemini.requests[-1].json.get("generationConfig", {})


def test_gemini_3_takes_the_format_beside_tools_natively(client: openai.OpenAI, gemini: FakeGemini) -> None:
    messages: Any = [{"role": "user", "content": TEXT}]
    client.chat.completions.create(
        model="google-ai-studio/gemini-3-pro-preview",
        messages=messages,
        tools=[LOOKUP],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "A", "schema": Answer.model_json_schema()},
        },
    )
    sent = gemini.requests[-1].json
    assert sent["generationConfig"]["responseMimeType"] == "application/json"
    assert [d["name"] for d in sent["tools"][0]["functionDeclarations"]] == ["lookup"]
