"""`parallel_tool_calls: false` is read once, where Plan parses the compat request: a translated
step carries it (`Step.one_tool_call`), and the Ingress stage cuts that step's answer to one tool
call per choice; a step passed through as it is (an OpenAI-compatible provider, which honours the
field itself) does not. The answer is never parsed again to find out (it was, on every answer whose
body named the field, even `true`)."""

from __future__ import annotations

import dataclasses

import orjson
from multidict import CIMultiDict

from sluicegate.compat import compat_targets
from sluicegate.custom_providers import CustomProviderDirectory, ProviderBook
from sluicegate.exchange import Exchange, Reply
from sluicegate.ingress import FORMATS
from sluicegate.keys import KeyVault
from sluicegate.pipeline.compat import compat_planner
from sluicegate.pipeline.dynamic import DynamicRoutes
from sluicegate.pipeline.ingress import Ingress
from sluicegate.pipeline.resolve import Plan
from sluicegate.pipeline.response_items import ResponseItems
from sluicegate.providers import REGISTRY
from sluicegate.storage.limiter import MemoryLimiter
from sluicegate.storage.sqlite import SqliteDatabase
from sluicegate.usage.tokens import TokenCounter
from tests.pipeline.stage_parts import Downstream, make_exchange, make_gateway

GEMINI, OPENAI_MODEL = "google-ai-studio/gemini-2.5-flash", "openai/gpt-4o-mini"
TOOLS = [
    {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}
    for name in ("get_weather", "get_time")
]
TWO_CALLS = {
    "id": "c1", "object": "chat.completion", "created": 1, "model": "gemini-2.5-flash",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{n}", "type": "function", "function": {"name": n, "arguments": "{}"}}
            for n in ("get_weather", "get_time")
        ]}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
}  # fmt: skip


async def planned(database: SqliteDatabase, body: object, path: str = "chat/completions") -> Exchange:
    book = ProviderBook(REGISTRY, CustomProviderDirectory(database, KeyVault(""), allowed_hosts=()))
    planner = compat_planner(
        book, compat_targets(REGISTRY), DynamicRoutes(MemoryLimiter(), TokenCounter()), ResponseItems(None)
    )
    exchange = make_exchange(
        path, provider="compat", kind="compat", body=orjson.dumps(body), gateway=make_gateway()
    )
    exchange.request = dataclasses.replace(exchange.request, ingress=FORMATS.get(path))
    downstream = Downstream()
    await Plan({"compat": planner})(exchange, downstream)
    return downstream.seen[0]


def _chat(model: str, **asks: object) -> dict[str, object]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "weather and time"}],
        "tools": TOOLS,
        **asks,
    }


async def test_a_translated_step_carries_the_chat_requests_parallel_tool_calls_false(
    database: SqliteDatabase,
) -> None:
    async def flag(body: object, path: str = "chat/completions") -> bool:
        [step] = (await planned(database, body, path)).plan.steps
        return step.one_tool_call

    assert await flag(_chat(GEMINI, parallel_tool_calls=False)) is True
    assert await flag(_chat(GEMINI, parallel_tool_calls=True)) is False
    assert await flag(_chat(GEMINI)) is False
    assert await flag(_chat(OPENAI_MODEL, parallel_tool_calls=False)) is False  # OpenAI honours it
    messages = {
        "model": GEMINI,
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "weather and time"}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
    }
    assert await flag(messages, "v1/messages") is True  # its chat request says parallel_tool_calls: false
    assert await flag({"model": GEMINI, "input": "hi", "parallel_tool_calls": False}, "responses") is True


async def test_the_ingress_stage_cuts_a_flagged_steps_answer_only(database: SqliteDatabase) -> None:
    async def calls(exchange: Exchange) -> list[str]:
        async def answer(_: Exchange) -> Reply:
            return Reply(200, CIMultiDict({"Content-Type": "application/json"}), orjson.dumps(TWO_CALLS))

        reply = await Ingress(ResponseItems(None))(exchange, answer)
        message = orjson.loads(reply.body)["choices"][0]["message"]
        return [call["function"]["name"] for call in message["tool_calls"]]

    assert await calls(await planned(database, _chat(GEMINI, parallel_tool_calls=False))) == ["get_weather"]
    assert await calls(await planned(database, _chat(GEMINI, parallel_tool_calls=True))) == [
        "get_weather",
        "get_time",
    ]
    assert await calls(await planned(database, _chat(OPENAI_MODEL, parallel_tool_calls=False))) == [
        "get_weather",
        "get_time",
    ]
