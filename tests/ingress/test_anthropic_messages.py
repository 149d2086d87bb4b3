"""Anthropic's Messages API <-> OpenAI chat, on requests, answers and chat streams cut anywhere."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import orjson
import pytest
from anthropic.types import Message

from sluicegate.ingress.anthropic_messages import COUNT_TOKENS, MESSAGES
from sluicegate.ingress.base import TranslationError
from sluicegate.providers.anthropic import ANTHROPIC
from sluicegate.providers.base import Route

ASKED: Any = {
    "model": "openai/gpt-4o-mini",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "hi"}],
}


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "gpt-4o-mini",
        "choices": [choice],
        **extra,
    }


SUNNY = {"type": "text", "text": "sunny"}
OBJECT = {"type": "object"}
PARIS = '{"city":"Paris"}'
FILE_IMAGE = {"type": "image", "source": {"type": "file", "file_id": "f"}}
USAGE = {"prompt_tokens": 30, "completion_tokens": 7, "prompt_tokens_details": {"cached_tokens": 10}}
CHAT_STREAM = (
    b"".join(
        b"data: " + orjson.dumps(event) + b"\n\n"
        for event in [
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Let me look "}),
            chunk({"content": "that up ⚡"}),
            chunk(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": ""},
                        }
                    ]
                }
            ),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
            chunk({}, "tool_calls"),
            {"id": "chatcmpl-1", "choices": [], "usage": USAGE},
        ]
    )
    + b"data: [DONE]\n\n"
)


def events(stream: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line[6:]) for line in stream.split(b"\n") if line.startswith(b"data: ")]


def render(cuts: list[int]) -> bytes:
    renderer = replace(MESSAGES, ids=lambda: "1").stream(ASKED)  # the same id each time
    pieces = [CHAT_STREAM[a:b] for a, b in itertools.pairwise([0, *cuts, len(CHAT_STREAM)])]
    return b"".join(renderer.feed(piece) for piece in pieces) + renderer.close()


def test_a_request_becomes_the_chat_request_it_means() -> None:
    chat = MESSAGES.to_chat(
        {
            "model": "openai/gpt-4o-mini",
            "max_tokens": 100,
            "system": [{"type": "text", "text": "Be brief."}],
            "stop_sequences": ["END"],
            "temperature": 0.2,
            "cache_control": {"type": "ephemeral"},  # changes no answer: taken, not sent
            "service_tier": "auto",
            "metadata": {"user_id": "u-1"},
            "stream": True,
            "tools": [{"name": "f", "description": "d", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "messages": [
                {"role": "user", "content": "weather?"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "s"},
                    {"type": "tool_use", "id": "call_1", "name": "f", "input": {"city": "Paris"}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "call_1", "content": [SUNNY]},
                    {"type": "text", "text": "and tomorrow?"},
                ]},
            ],
        }
    )  # fmt: skip
    assert chat == {
        "model": "openai/gpt-4o-mini",
        "max_completion_tokens": 100,
        "temperature": 0.2,
        "stop": ["END"],
        "user": "u-1",
        "stream": True,
        "stream_options": {"include_usage": True},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": OBJECT, "description": "d"}}],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": PARIS}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "user", "content": "and tomorrow?"},
        ],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools.0"),
        ({"mcp_servers": [{"url": "https://x"}]}, "mcp_servers"),
        ({"context_management": {"edits": []}}, "context_management"),
        ({"top_k": 3}, "top_k"),
        ({"tools": [{"name": "f"}]}, "tools.0.input_schema"),  # a custom tool without its schema
        ({"output_config": {"effort": "low"}}, "output_config.effort"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),  # no Messages field: Anthropic refuses it too
        ({"tool_choice": {"type": "sometimes"}}, "tool_choice"),
        ({"messages": [{"role": "user", "content": [FILE_IMAGE]}]}, "messages.0.content.0.source"),
    ],
)  # fmt: skip
def test_what_chat_cannot_say_is_refused_by_name(change: dict[str, Any], field: str) -> None:
    with pytest.raises(TranslationError, match=field.replace(".", r"\.")):
        MESSAGES.to_chat({**ASKED, **change})


def test_count_tokens_needs_no_max_tokens_and_never_streams() -> None:
    chat = COUNT_TOKENS.to_chat(
        {"model": "m/x", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    )
    assert "max_completion_tokens" not in chat
    assert "stream" not in chat


def test_a_chat_answer_becomes_a_message_the_sdk_reads() -> None:
    completion = {
        "id": "chatcmpl-1",
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "Looking.",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
                    ],
                },
            }
        ],
        "usage": {**USAGE, "total_tokens": 37},
    }
    message = Message.model_validate(orjson.loads(MESSAGES.answer(ASKED, orjson.dumps(completion))))
    assert message.id.startswith("msg_")
    assert [block.type for block in message.content] == ["text", "tool_use"]
    assert message.content[1].input == {"a": 1}  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    # Anthropic counts cache reads apart from input_tokens; read back, the usage is the chat one.
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (20, 10)
    usage = ANTHROPIC.read_usage(Route("a", "v1/messages"), message.model_dump_json().encode())
    assert usage is not None
    assert (usage.input_tokens, usage.cached_tokens, usage.output_tokens) == (30, 10, 7)


@pytest.mark.parametrize("cuts", [[], [1], [7, 8, 9, 10], list(range(1, len(CHAT_STREAM), 13))])
def test_a_chat_stream_cut_anywhere_renders_the_same_events(cuts: list[int]) -> None:
    assert render(cuts) == render([])
    found = events(render(cuts))
    assert [e["type"] for e in found] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert found[0]["message"]["id"] == "msg_1"  # the format's, not the chat stream's chatcmpl-1
    assert found[5]["content_block"] == {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}
    arguments = [
        e["delta"]["partial_json"] for e in found if e["type"] == "content_block_delta" and e["index"] == 1
    ]
    assert "".join(arguments) == '{"city": "Paris"}'
    assert found[-2]["delta"]["stop_reason"] == "tool_use"
    usage = ANTHROPIC.read_stream_usage(Route("a", "v1/messages"), render(cuts))
    assert usage is not None
    assert (usage.input_tokens, usage.cached_tokens, usage.output_tokens) == (30, 10, 7)


def test_an_error_inside_the_stream_ends_it_as_anthropics_error_event() -> None:
    renderer = MESSAGES.stream(ASKED)
    out = renderer.feed(b"data: " + orjson.dumps(chunk({"content": "a"})) + b"\n\n")
    out += renderer.feed(b'data: {"error": {"message": "overloaded", "code": "overloaded_error"}}\n\n')
    out += renderer.close()
    found = events(out)
    assert found[-1] == {"type": "error", "error": {"type": "overloaded_error", "message": "overloaded"}}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (429, b'{"error": {"message": "slow down", "code": "rate_limit_exceeded"}}', "rate_limit_error"),
        (400, b'{"error": {"message": "bad", "code": "not_found_error"}}', "not_found_error"),
        # An upstream's 503 is an overload, as Anthropic says it (its own is HTTP 529); the
        # gateway's own 503 (a backend it needs is down) is not.
        (503, b"upstream down", "overloaded_error"),
        (503, b'{"error": {"message": "upstream down", "type": "sluicegate_error"}}', "api_error"),
    ],
)  # fmt: skip
def test_errors_take_anthropics_shape(status: int, body: bytes, kind: str) -> None:
    error = orjson.loads(MESSAGES.error(status, body))
    assert error["type"] == "error"
    assert error["error"]["type"] == kind
    assert error["error"]["message"] in ("slow down", "bad", "upstream down")


def test_each_rendered_message_has_a_msg_id_of_its_own() -> None:
    """Anthropic's ids are `msg_…` and one per message; a chat answer's id is another API's and
    may be shared (Gemini's translation says `chatcmpl-gemini` when the answer has no responseId)."""
    body = orjson.dumps({"id": "chatcmpl-gemini", "choices": [{"index": 0, "message": {"content": "a"}}]})
    whole = {orjson.loads(MESSAGES.answer(ASKED, body))["id"] for _ in range(2)}
    streamed = {events(MESSAGES.stream(ASKED).feed(CHAT_STREAM))[0]["message"]["id"] for _ in range(2)}
    assert len(whole | streamed) == 4
    assert all(found.startswith("msg_") and "chatcmpl" not in found for found in whole | streamed)
