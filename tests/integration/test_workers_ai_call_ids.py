"""Workers AI's tool calls reach compat clients with ids of their own in every answer, random as
OpenAI's are: its native calls carry none (the gateway made one from the call, the same for the same
call in every turn) and its streamed ones repeat by index (`chatcmpl-tool-0000000000000000`), so a
client keeping a conversation's calls by id mixed up two turns' calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import RunningGateway
from tests.fakes.workers_ai_server import FakeWorkersAI

MODEL = "workers-ai/@cf/meta/llama-3.1-8b-instruct"
CALLS = {"x-fake-behavior": "tool-call"}
TOOL: Any = {
    "type": "function",
    "function": {
        "name": "lookup_capital",
        "description": "Find a country's capital",
        "parameters": {"type": "object", "properties": {"country": {"type": "string"}}},
    },
}
MESSAGES: Any = [{"role": "user", "content": "France"}]


@pytest.fixture
def gateway(make_gateway: Callable[..., RunningGateway]) -> Iterator[RunningGateway]:
    with FakeWorkersAI().serve() as fake:
        yield make_gateway(upstreams={"workers-ai": fake.base_url})


def test_every_answer_gives_its_calls_new_ids(gateway: RunningGateway) -> None:
    ids: list[str] = []
    with openai.OpenAI(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as client:
        for _ in range(2):
            whole = client.chat.completions.create(
                model=MODEL, messages=MESSAGES, tools=[TOOL], extra_headers=CALLS
            )
            ids += [call.id for call in whole.choices[0].message.tool_calls or ()]
            chunks = client.chat.completions.create(
                model=MODEL, messages=MESSAGES, tools=[TOOL], stream=True, extra_headers=CALLS
            )
            ids += [
                call.id
                for chunk in chunks
                for choice in chunk.choices
                for call in choice.delta.tool_calls or ()
                if call.id
            ]
    with anthropic.Anthropic(base_url=gateway.provider_url("compat"), api_key="k", max_retries=0) as claude:
        tools: Any = [{"name": "lookup_capital", "input_schema": TOOL["function"]["parameters"]}]
        for _ in range(2):
            message = claude.messages.create(
                model=MODEL, max_tokens=100, messages=MESSAGES, tools=tools, extra_headers=CALLS
            )
            ids += [block.id for block in message.content if block.type == "tool_use"]
    assert len(ids) == 6
    assert len(set(ids)) == 6, ids
    assert all(call_id.startswith(("call_", "toolu_")) for call_id in ids)
