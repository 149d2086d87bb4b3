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
# An agent's tool list, some 20 KB of JSON: the first tool is the one the fake calls.
TOOLS: Any = [WEATHER] + [
    {
        "type": "function",
        "function": {
            "name": f"tool_{n}",
            "description": f"Tool {n} looks up the record it is named for and reports what it finds",
            "parameters": {"type": "object", "properties": PROPERTIES},
        },
    }
    for n in range(20)
]


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI) -> RunningGateway:
    return make_gateway(upstreams={"openai": fake.base_url})


def described(tools: list[Any]) -> list[str]:
    """The names and descriptions in `tools`: text the model reads, whatever else is counted."""
    texts = []
    for tool in tools:
        function = tool["function"]
        texts += [function["name"], function["description"]]
        texts += [
            field["description"]
            for field in function["parameters"]["properties"].values()
            if "description" in field
        ]
    return texts


def test_a_streamed_tool_call_without_usage_counts_its_arguments_and_the_tools_offered(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    with openai.OpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0) as sdk:
        # An upstream that sends no usage chunk though the gateway asks for one (stream_usage.py).
        no_usage = {"x-fake-behavior": "no-usage"}
        for _ in sdk.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, extra_headers=no_usage
        ):
            pass
        [bare] = gateway.wait_for_logs(1)
        stream = sdk.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            tools=TOOLS,
            tool_choice="required",
            stream=True,
            extra_headers=no_usage,
        )
        name, arguments = "", ""
        for chunk in stream:
            assert chunk.usage is None
            for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                assert call.function is not None
                name += call.function.name or ""
                arguments += call.function.arguments or ""
        assert (name, orjson.loads(arguments)) == ("get_weather", {"city": "the weather in Paris, please"})
        assert all(request.json["stream_options"] == {"include_usage": True} for request in fake.requests)
        [tooled] = [record for record in gateway.wait_for_logs(2) if record["id"] != bare["id"]]
        assert bare["usage_estimated"] is tooled["usage_estimated"] is True
        counter = TokenCounter()
        # The call is the answer: at least its arguments' tokens, where its text alone is none.
        assert tooled["tokens_out"] >= counter.count_text(arguments, MODEL) > 0
        # The same prompt with the tools offered counts at least the text the tools describe themselves in.
        descriptions = sum(counter.count_text(text, MODEL) for text in described(TOOLS))
        assert descriptions > 300
        assert tooled["tokens_in"] - bare["tokens_in"] >= descriptions
