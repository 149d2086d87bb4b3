"""A stream that reports no usage (no `stream_options.include_usage`) is estimated with tiktoken; a
tool call is part of the answer, and the tools offered part of the prompt, so both are counted: a
forced tool call, with no text at all, was logged with 0 output tokens and its schema never counted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import orjson
import pytest

from sluicegate.usage.tokens import TokenCounter
from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI

MODEL = "gpt-4o-mini"
MESSAGES: Any = [{"role": "user", "content": "the weather in Paris, please"}]
PROPERTIES = {
    f"field_{i}": {"type": "string", "description": f"the {i}th detail the tool takes"} for i in range(8)
}
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Reports the weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, **PROPERTIES}},
    },
}


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def test_a_streamed_tool_call_without_usage_counts_its_arguments_and_the_tools_schemas(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    sdk = openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)
    stream = sdk.chat.completions.create(
        model=MODEL, messages=MESSAGES, tools=[WEATHER], tool_choice="required", stream=True
    )
    name, arguments = "", ""
    for chunk in stream:
        assert chunk.usage is None
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            assert call.function is not None
            name += call.function.name or ""
            arguments += call.function.arguments or ""
    assert (name, orjson.loads(arguments)) == ("get_weather", {"city": "the weather in Paris, please"})
    sent = fake.requests[-1].json
    assert "stream_options" not in sent  # so the stream reports no usage
    record = gateway.wait_for_logs(1)[0]
    assert record["usage_estimated"] is True
    counter = TokenCounter()
    assert record["tokens_out"] == counter.count_text(name + arguments, MODEL) > 0
    schemas = counter.count_text(orjson.dumps(sent["tools"]).decode(), MODEL)
    assert schemas > 100
    assert record["tokens_in"] == counter.count_chat_input(MESSAGES, MODEL) + schemas
