"""OpenAI's Responses API <-> OpenAI chat, on requests, answers and chat streams cut anywhere."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import orjson
import pytest
from openai.types.responses import Response

from sluicegate.ingress.base import TranslationError
from sluicegate.ingress.openai_responses import RESPONSES
from sluicegate.providers.base import Route
from sluicegate.providers.openai import OPENAI
from tests.ingress.test_anthropic_messages import CHAT_STREAM, USAGE

ASKED: Any = {"model": "anthropic/claude", "input": "hi", "instructions": "Be brief."}
ITEMS: Any = [
    {"role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
    {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": '{"city":"Paris"}'},
    {"type": "reasoning", "id": "rs_1", "summary": []},
    {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    {"role": "developer", "content": "Use Celsius."},
]


def render(cuts: list[int]) -> bytes:
    # The same ids and clock each time: two renders a second apart must not differ in `created_at`.
    renderer = replace(RESPONSES, ids=lambda: "1", clock=lambda: 1.0).stream(ASKED)
    pieces = [CHAT_STREAM[a:b] for a, b in itertools.pairwise([0, *cuts, len(CHAT_STREAM)])]
    return b"".join(renderer.feed(piece) for piece in pieces) + renderer.close()


def events(stream: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line[6:]) for line in stream.split(b"\n") if line.startswith(b"data: ")]


def test_items_become_the_chat_conversation_they_mean() -> None:
    chat = RESPONSES.to_chat({**ASKED, "input": ITEMS, "max_output_tokens": 9, "stream": True})
    assert chat["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "f", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "system", "content": "Use Celsius."},
    ]
    assert (chat["max_completion_tokens"], chat["stream_options"]) == (9, {"include_usage": True})


def test_function_tools_and_formats_translate() -> None:
    chat = RESPONSES.to_chat(
        {
            **ASKED,
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}],
            "tool_choice": {"type": "function", "name": "f"},
            "text": {"format": {"type": "json_schema", "name": "answer", "schema": {"type": "object"}}},
        }
    )
    assert chat["tools"] == [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "answer", "schema": {"type": "object"}},
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"input": []}, "input"),
        ({"previous_response_id": "resp_1"}, "previous_response_id"),
        ({"tools": [{"type": "file_search"}]}, r"tools\[0\]"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, r"input\[0\]\.type"),
        (
            {"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]},
            r"content\[0\]",
        ),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        # Found by the fuzz test: sent on, these made a provider fail with a 500.
        ({"tools": [{"type": "function", "name": "f", "parameters": 1}]}, r"tools\[0\]\.parameters"),
        ({"tools": [{"type": "function", "name": ""}]}, r"tools\[0\]\.name"),
        # Fields that would change the answer and have no translation (they were dropped unseen).
        ({"context_management": [{"type": "compaction"}]}, "context_management"),
        ({"include": ["message.output_text.logprobs", "everything"]}, r"include\[1\]"),
        ({"top_logprobs": 21}, "top_logprobs"),
        ({"tools": [{"type": "custom", "name": "grep"}]}, r"tools\[0\]\.type: a custom tool"),
        ({"tools": [{"type": "function"}]}, r"tools\[0\]\.name"),
        ({"text": {"format": {"type": "text"}, "tone": "dry"}}, r"text\.tone"),
    ],
)
def test_what_chat_cannot_say_is_refused_by_name(change: dict[str, Any], field: str) -> None:
    with pytest.raises(TranslationError, match=field):
        RESPONSES.to_chat({**ASKED, **change})


def test_fields_that_change_the_answer_are_translated_and_the_others_taken() -> None:
    taken = {
        "max_tool_calls": 3,  # counts built-in tools' calls, which no translation sends
        "truncation": "auto",
        "prompt_cache_key": "k",
        "service_tier": "auto",
        "stream_options": {"include_obfuscation": False},
        "include": ["reasoning.encrypted_content", "file_search_call.results"],
        "top_logprobs": 2,  # without include's logprobs OpenAI returns none
    }
    assert RESPONSES.to_chat({**ASKED, **taken}) == RESPONSES.to_chat(ASKED)
    chat = RESPONSES.to_chat(
        {
            **ASKED,
            "top_logprobs": 2,
            "include": ["message.output_text.logprobs"],
            "text": {"verbosity": "low"},
        }
    )
    assert (chat["logprobs"], chat["top_logprobs"], chat["verbosity"]) == (True, 2, "low")
    assert "verbosity" not in RESPONSES.to_chat({**ASKED, "text": {"verbosity": "medium"}})


def test_a_chat_answer_becomes_a_response_the_sdk_reads() -> None:
    completion = {
        "id": "chatcmpl-1",
        "created": 7,
        "model": "claude",
        "choices": [
            {"index": 0, "finish_reason": "length", "message": {"role": "assistant", "content": "Par"}}
        ],
        "usage": {**USAGE, "total_tokens": 37},
    }
    body = RESPONSES.answer(ASKED, orjson.dumps(completion))
    response = Response.model_validate(orjson.loads(body))
    assert response.output_text == "Par"
    assert response.status == "incomplete"
    assert response.instructions == "Be brief."
    usage = OPENAI.read_usage(Route("a", "responses"), body)
    assert usage is not None
    assert (usage.input_tokens, usage.cached_tokens, usage.output_tokens) == (30, 10, 7)


@pytest.mark.parametrize("cuts", [[], [1], [7, 8, 9, 10], list(range(1, len(CHAT_STREAM), 11))])
def test_a_chat_stream_cut_anywhere_renders_the_same_events(cuts: list[int]) -> None:
    assert render(cuts) == render([])
    found = events(render(cuts))
    assert [e["sequence_number"] for e in found] == list(range(len(found)))
    kinds = [e["type"] for e in found]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed"
    final = Response.model_validate(found[-1]["response"])
    assert final.output_text == "Let me look that up ⚡"
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.arguments) for c in calls] == [("call_1", '{"city": "Paris"}')]
    usage = OPENAI.read_stream_usage(Route("a", "responses"), render(cuts))
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (30, 7)


def test_errors_keep_openais_shape() -> None:
    shaped = b'{"error": {"message": "slow down", "type": "rate_limit_error", "param": null, "code": null}}'
    assert RESPONSES.error(429, shaped) == shaped
    assert orjson.loads(RESPONSES.error(502, b"bad gateway"))["error"] == {
        "message": "bad gateway",
        "type": "server_error",
        "param": None,
        "code": None,
    }
