"""Images a tool returned (Claude Code's Read tool on a screenshot: a `tool_result` holding an image
block; a Responses `function_call_output` holding `input_image`) reach a provider of another API:
chat's tool message keeps the text (or a note, when there is none), and the images go in one user
message right after the turn's last tool message, as OpenAI wants tool messages right after the
calls. Gemini gets them beside the functionResponse parts, in one user turn. They were a 400."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.gemini_server import FakeGemini
from tests.fakes.openai_server import FakeOpenAI

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
DATA_URL = f"data:image/png;base64,{PNG}"
IMAGE: Any = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
READ: Any = {
    "name": "Read",
    "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
}
CONVERSATION: Any = [
    {"role": "user", "content": "look at both screenshots"},
    {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "toolu_A", "name": "Read", "input": {"file_path": "/tmp/a.png"}},
            {"type": "tool_use", "id": "toolu_B", "name": "Read", "input": {"file_path": "/tmp/b.png"}},
        ],
    },
    {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "toolu_A",
                "content": [{"type": "text", "text": "a.png"}, IMAGE],
            },
            {"type": "tool_result", "tool_use_id": "toolu_B", "content": [IMAGE]},
            {"type": "text", "text": "what differs?"},
        ],
    },
]


@pytest.fixture
def gateway(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI, gemini: FakeGemini
) -> RunningGateway:
    # DeepSeek is OpenAI-compatible: a Responses request to it goes through chat (to openai/ it
    # would go to OpenAI's own /responses untranslated).
    upstreams = {"openai": fake.base_url, "deepseek": fake.base_url, "google-ai-studio": gemini.base_url}
    return make_gateway(upstreams=upstreams)


@pytest.fixture
def claude(gateway: RunningGateway) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        yield client


def test_a_tool_results_image_goes_to_openai_in_a_user_message_after_the_tool_messages(
    claude: anthropic.Anthropic, fake: FakeOpenAI
) -> None:
    answer = claude.messages.create(
        model="openai/gpt-4o-mini", max_tokens=100, tools=[READ], messages=CONVERSATION
    )
    assert answer.content
    sent = fake.requests[-1].json["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "user"]
    assert sent[2] == {"role": "tool", "tool_call_id": "toolu_A", "content": "a.png"}
    assert sent[3]["tool_call_id"] == "toolu_B"
    assert sent[3]["content"] == "[the tool returned 1 image: see the next user message]"
    assert sent[4]["content"] == [
        {"type": "text", "text": "The tool call toolu_A returned 1 image:"},
        {"type": "image_url", "image_url": {"url": DATA_URL}},
        {"type": "text", "text": "The tool call toolu_B returned 1 image:"},
        {"type": "image_url", "image_url": {"url": DATA_URL}},
        {"type": "text", "text": "what differs?"},
    ]


def test_a_tool_results_image_goes_to_gemini_beside_the_function_response(
    claude: anthropic.Anthropic, gemini: FakeGemini
) -> None:
    with claude.messages.stream(
        model="google-ai-studio/gemini-2.5-flash", max_tokens=100, tools=[READ], messages=CONVERSATION
    ) as stream:
        assert stream.get_final_message().content
    contents = gemini.requests[-1].json["contents"]
    assert [c["role"] for c in contents] == ["user", "model", "user"]
    parts = contents[2]["parts"]
    assert [p["functionResponse"]["name"] for p in parts[:2]] == ["Read", "Read"]
    assert parts[0]["functionResponse"]["response"] == {"content": "a.png"}
    assert [p for p in parts[2:] if "inlineData" in p] == [
        {"inlineData": {"mimeType": "image/png", "data": PNG}}
    ] * 2
    assert parts[-1] == {"text": "what differs?"}


def test_a_function_call_outputs_image_goes_in_a_user_message_after_the_outputs(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        tools: Any = [{"type": "function", "name": "screenshot", "parameters": {"type": "object"}}]
        response = client.responses.create(
            model="deepseek/deepseek-chat",
            tools=tools,
            input=[
                {"role": "user", "content": "take a screenshot"},
                {"type": "function_call", "call_id": "call_1", "name": "screenshot", "arguments": "{}"},
                {
                    "type": "function_call_output",
                    "call_id": "call_1",
                    "output": [{"type": "input_image", "image_url": DATA_URL}],
                },
                {"role": "user", "content": "describe it"},
            ],
        )
        assert response.output
        sent = fake.requests[-1].json["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "tool", "user", "user"]
        assert sent[2]["content"] == "[the tool returned 1 image: see the next user message]"
        assert sent[3]["content"] == [
            {"type": "text", "text": "The tool call call_1 returned 1 image:"},
            {"type": "image_url", "image_url": {"url": DATA_URL}},
        ]
        assert sent[4]["content"] == "describe it"
