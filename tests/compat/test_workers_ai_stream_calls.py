"""Workers AI's streamed tool calls through the translator: keyed by `index`, a call's first event
has its id, name and a first piece of its arguments, later ones more of them, and an event of
nulls closes them (as github.com/cloudflare/ai's workers-ai-provider reads them)."""

from __future__ import annotations

import itertools
import re
from dataclasses import replace
from typing import Any

import orjson
from openai.types.chat import ChatCompletionChunk

from sluicegate.providers.sse import iter_json
from sluicegate.providers.workers_ai.compat import WorkersAITranslator

MODEL = "@cf/meta/llama-4-scout-17b-16e-instruct"
TRANSLATOR = WorkersAITranslator(clock=lambda: 1_767_225_600.0)
USAGE = {"prompt_tokens": 90, "completion_tokens": 24, "total_tokens": 114}


def data(payload: dict[str, Any] | str) -> bytes:
    return b"data: " + (payload.encode() if isinstance(payload, str) else orjson.dumps(payload)) + b"\n\n"


def start(index: int, call_id: str, name: str, piece: str) -> bytes:
    function = {"name": name, "arguments": piece}
    return data({"tool_calls": [{"id": call_id, "type": "function", "index": index, "function": function}]})


def more(index: int, piece: str) -> bytes:
    return data({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})


TWO_CALLS = (
    start(0, "chatcmpl-tool-a1", "get_weather", '{"loc')
    + more(0, 'ation": "')
    + more(0, 'Lyon"}')
    + start(1, "chatcmpl-tool-b2", "get_time", "")
    + more(1, '{"location": "Lyon"}')
    + data({"tool_calls": [{"id": None, "type": None, "function": {"name": None}}]})
    + data({"response": "", "usage": USAGE})
    + data("[DONE]")
)


def translate(stream: bytes, cuts: list[int]) -> bytes:
    ids = (f"call_{n}" for n in itertools.count(1))  # each translation's own, as its calls come
    translator = replace(TRANSLATOR, call_ids=lambda: next(ids)).stream(MODEL, include_usage=True)
    edges = [0, *cuts, len(stream)]
    return b"".join(translator.feed(stream[a:b]) for a, b in itertools.pairwise(edges)) + translator.close()


def calls_of(translated: bytes) -> dict[int, dict[str, str]]:
    """The chunks' tool calls put together by index, as a client does."""
    calls: dict[int, dict[str, str]] = {}
    for event in iter_json(translated):
        ChatCompletionChunk.model_validate(event)
        for choice in event["choices"]:
            for delta in choice["delta"].get("tool_calls") or ():
                whole = calls.setdefault(delta["index"], {"id": "", "name": "", "arguments": ""})
                whole["id"] += delta.get("id") or ""
                whole["name"] += delta.get("function", {}).get("name") or ""
                whole["arguments"] += delta.get("function", {}).get("arguments") or ""
    return calls


def test_each_call_arrives_whole_under_its_own_index() -> None:
    translated = translate(TWO_CALLS, [])
    assert calls_of(translated) == {
        0: {"id": "call_1", "name": "get_weather", "arguments": '{"location": "Lyon"}'},
        1: {"id": "call_2", "name": "get_time", "arguments": '{"location": "Lyon"}'},
    }
    events = list(iter_json(translated))
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[-1]["usage"]["completion_tokens"] == 24
    assert translated.endswith(b"data: [DONE]\n\n")
    for cut in range(1, len(TWO_CALLS)):  # however the events are split
        assert translate(TWO_CALLS, [cut]) == translated, cut


def test_a_call_whose_arguments_never_came_has_none() -> None:
    stream = start(0, "chatcmpl-tool-c3", "list_cities", "") + data("[DONE]")
    assert calls_of(translate(stream, [])) == {0: {"id": "call_1", "name": "list_cities", "arguments": "{}"}}


def test_each_call_has_an_id_of_its_own_in_every_answer() -> None:
    """Workers AI's ids repeat from one answer to the next (`chatcmpl-tool-…` by index) and its older
    models send none: the translator gives each call a random one, as OpenAI's are."""
    streamed = [TRANSLATOR.stream(MODEL, include_usage=False) for _ in range(2)]
    ids = [call["id"] for translator in streamed for call in calls_of(translator.feed(TWO_CALLS)).values()]
    native = {"result": {"response": "", "tool_calls": [{"name": "now", "arguments": {}}] * 2}}
    for _ in range(2):
        answer = orjson.loads(TRANSLATOR.response(orjson.dumps(native), MODEL))
        ids += [call["id"] for call in answer["choices"][0]["message"]["tool_calls"]]
    assert len(set(ids)) == len(ids) == 8
    assert all(re.fullmatch(r"call_[0-9a-f]{24}", call_id) for call_id in ids)
