"""Cached answers served whole or streamed (`Provider.answer_as`): the conversions round-trip what the
SDK tests do not reach (tool calls, thinking, citations, several choices, logprobs), and refuse, rather
than guess, what they cannot read."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sluicegate.providers import REGISTRY
from sluicegate.providers.anthropic import ANTHROPIC
from sluicegate.providers.base import Answer, Route
from sluicegate.providers.gemini.stream import iter_responses
from sluicegate.providers.openai import OPENAI
from sluicegate.providers.sse import iter_json

CHAT = Route("local", "chat/completions")
MESSAGES = Route("local", "v1/messages")
GEMINI = "v1beta/models/gemini-2.0-flash"


def facts(provider: Any, route: Route, body: dict[str, Any]) -> Any:
    return provider.read_request(route, orjson.dumps(body))


def round_trip(
    provider: Any, route: Route, stream_route: Route, whole: dict[str, Any], ask: dict[str, Any]
) -> Any:
    """`whole` streamed, then that stream made whole again."""
    streamed = provider.answer_as(
        stream_route,
        facts(provider, stream_route, {**ask, "stream": True}),
        Answer(orjson.dumps(whole), False),
    )
    assert streamed is not None
    assert streamed.streamed
    back = provider.answer_as(route, facts(provider, route, ask), Answer(streamed.body, True))
    assert back is not None
    assert not back.streamed
    return streamed, orjson.loads(back.body)


CHAT_WHOLE: dict[str, Any] = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "refusal": None,
                "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}},
                    {"id": "call_b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
                ],
            },
            "logprobs": None,
            "finish_reason": "tool_calls",
        },
        {
            "index": 1,
            "message": {"role": "assistant", "content": "two", "refusal": None},
            "logprobs": {
                "content": [{"token": "two", "logprob": -0.1, "bytes": None, "top_logprobs": []}],
                "refusal": None,
            },
            "finish_reason": "stop",
        },
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    "system_fingerprint": "fp_1",
}


def test_openai_chat_tool_calls_and_choices_round_trip() -> None:
    ask = {"model": "gpt-4o", "messages": [], "stream_options": {"include_usage": True}}
    streamed, back = round_trip(OPENAI, CHAT, CHAT, CHAT_WHOLE, ask)
    chunks = list(iter_json(streamed.body))
    assert streamed.body.endswith(b"data: [DONE]\n\n")
    assert chunks[-1] == {
        **{k: CHAT_WHOLE[k] for k in ("id", "created", "model", "system_fingerprint")},
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": CHAT_WHOLE["usage"],
    }
    assert all("usage" in chunk for chunk in chunks)  # null on all but the last, as OpenAI sends them
    assert back == CHAT_WHOLE


def test_openai_chat_stream_without_usage_asked_has_no_usage_chunk() -> None:
    ask = facts(OPENAI, CHAT, {"model": "gpt-4o", "messages": [], "stream": True})
    streamed = OPENAI.answer_as(CHAT, ask, Answer(orjson.dumps(CHAT_WHOLE), False))
    assert streamed is not None
    assert all(chunk["choices"] and "usage" not in chunk for chunk in iter_json(streamed.body))


def test_openai_chat_stream_keeps_provider_fields_and_merges_tool_call_pieces() -> None:
    """Deltas as they come from OpenAI-compatible servers: arguments in pieces, a reasoning field."""
    head = {"id": "c", "object": "chat.completion.chunk", "created": 2, "model": "m"}
    deltas: list[Any] = [
        {"role": "assistant", "content": "", "reasoning_content": "thin"},
        {"reasoning_content": "king"},
        {
            "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": " 2}"}}]},
    ]
    chunks = [{**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    events = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    whole = OPENAI.answer_as(CHAT, facts(OPENAI, CHAT, {"messages": []}), Answer(events, True))
    assert whole is not None
    assert whole.content_type == "application/json"
    message = orjson.loads(whole.body)["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": None,
        "reasoning_content": "thinking",
        "refusal": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 2}'}}
        ],
    }


def test_openai_legacy_completion_round_trips_with_logprobs() -> None:
    whole = {
        "id": "cmpl-1",
        "object": "text_completion",
        "created": 1,
        "model": "gpt-3.5-turbo-instruct",
        "choices": [
            {
                "text": "hi there",
                "index": 0,
                "logprobs": {"tokens": ["hi", " there"], "token_logprobs": [-1.0, -2.0]},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4},
    }
    route = Route("local", "v1/completions")
    _, back = round_trip(
        OPENAI, route, route, whole, {"model": "m", "prompt": "x", "stream_options": {"include_usage": True}}
    )
    assert back == whole


def test_a_responses_answer_round_trips_through_a_stream() -> None:
    message = {
        "id": "msg_1",
        "type": "message",
        "status": "completed",
        "role": "assistant",
        "content": [{"type": "output_text", "annotations": [], "text": "Checking."}],
    }
    call = {"id": "fc_1", "type": "function_call", "status": "completed", "call_id": "c1"}
    call |= {"name": "weather", "arguments": '{"city":"Paris"}'}
    usage = {"input_tokens": 5, "output_tokens": 9, "total_tokens": 14}
    whole = {
        "id": "resp_1",
        "object": "response",
        "status": "completed",
        "output": [message, call],
        "usage": usage,
    }
    route = Route("local", "v1/responses")
    streamed, back = round_trip(OPENAI, route, route, whole, {"model": "m", "input": "x"})
    assert back == whole
    events = list(iter_json(streamed.body))
    assert [event["sequence_number"] for event in events] == list(range(len(events)))
    assert events[0]["response"]["status"] == "in_progress"
    assert OPENAI.output_text(route, streamed.body, streamed=True) == 'Checking.weather{"city":"Paris"}'
    assert OPENAI.read_stream_usage(route, streamed.body) == OPENAI.read_usage(route, orjson.dumps(whole))


@pytest.mark.parametrize(
    ("route", "body"),
    [
        (CHAT, b'{"type": "message", "content": []}'),  # an Anthropic answer under an OpenAI route
        (CHAT, b"not json"),
        (MESSAGES, b'{"object": "chat.completion", "choices": []}'),
        (Route("local", "responses"), b'{"object": "chat.completion", "choices": []}'),  # not a response
    ],
)
def test_what_cannot_be_converted_is_refused(route: Route, body: bytes) -> None:
    provider = ANTHROPIC if route is MESSAGES else OPENAI
    ask = facts(provider, route, {"model": "m", "messages": [], "stream": True})
    assert provider.answer_as(route, ask, Answer(body, False)) is None


def test_every_provider_serves_an_answer_in_its_stored_form_unchanged() -> None:
    stored = Answer(b'{"anything": true}', False)
    for provider in REGISTRY.values():
        route = Route("local", "chat/completions")
        assert provider.answer_as(route, facts(provider, route, {"model": "m"}), stored) is stored


MESSAGE: dict[str, Any] = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-6",
    "content": [
        {"type": "thinking", "thinking": "Let me see.", "signature": "sig=="},
        {"type": "redacted_thinking", "data": "opaque"},
        {
            "type": "text",
            "text": "Paris.",
            "citations": [
                {
                    "type": "char_location",
                    "cited_text": "Paris",
                    "document_index": 0,
                    "start_char_index": 0,
                    "end_char_index": 5,
                }
            ],
        },
        {"type": "tool_use", "id": "toolu_1", "name": "lookup", "input": {"q": "capital", "n": [1, 2]}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {"input_tokens": 10, "cache_read_input_tokens": 4, "output_tokens": 7},
}


def test_anthropic_blocks_round_trip() -> None:
    streamed, back = round_trip(
        ANTHROPIC, MESSAGES, MESSAGES, MESSAGE, {"model": "m", "max_tokens": 9, "messages": []}
    )
    kinds = [event["type"] for event in iter_json(streamed.body)]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert b"event: content_block_delta\ndata: " in streamed.body
    assert back == MESSAGE
    assert ANTHROPIC.read_stream_usage(MESSAGES, streamed.body) == ANTHROPIC.read_usage(
        MESSAGES, orjson.dumps(MESSAGE)
    )


@pytest.mark.parametrize(
    "event",
    [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "some_future_delta", "x": 1}},
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
    ],
)
def test_anthropic_stream_with_an_unknown_delta_or_an_error_is_not_made_whole(event: dict[str, Any]) -> None:
    start = {"type": "message_start", "message": {**MESSAGE, "content": []}}
    block = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    events = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in (start, block, event))
    assert (
        ANTHROPIC.answer_as(MESSAGES, facts(ANTHROPIC, MESSAGES, {"messages": []}), Answer(events, True))
        is None
    )


RESPONSES: list[dict[str, Any]] = [
    {
        "candidates": [
            {"content": {"parts": [{"text": "Let", "thought": True}], "role": "model"}, "index": 0}
        ],
        "responseId": "r",
    },
    {
        "candidates": [
            {
                "content": {"parts": [{"text": " me", "thought": True}, {"text": "It is"}], "role": "model"},
                "index": 0,
            }
        ],
        "responseId": "r",
    },
    {
        "candidates": [
            {
                "content": {
                    "parts": [{"text": " Paris"}, {"functionCall": {"name": "f", "args": {}}}],
                    "role": "model",
                },
                "index": 0,
            }
        ],
        "responseId": "r",
    },
    {
        "candidates": [
            {"content": {"parts": [{"text": "."}], "role": "model"}, "finishReason": "STOP", "index": 0}
        ],
        "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 4, "totalTokenCount": 7},
        "modelVersion": "gemini-2.0-flash",
        "responseId": "r",
    },
]


def test_gemini_stream_is_made_whole_with_parts_joined_by_kind() -> None:
    provider = REGISTRY["google-ai-studio"]
    route = Route("local", f"{GEMINI}:generateContent")
    sse = b"".join(b"data: " + orjson.dumps(r) + b"\r\n\r\n" for r in RESPONSES)
    whole = provider.answer_as(route, facts(provider, route, {"contents": []}), Answer(sse, True))
    assert whole is not None
    assert orjson.loads(whole.body) == {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "Let me", "thought": True},
                        {"text": "It is Paris"},
                        {"functionCall": {"name": "f", "args": {}}},
                        {"text": "."},
                    ],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": RESPONSES[-1]["usageMetadata"],
        "modelVersion": "gemini-2.0-flash",
        "responseId": "r",
    }


def test_gemini_streams_are_framed_as_the_request_asks() -> None:
    provider = REGISTRY["google-ai-studio"]
    sse_route = Route("local", f"{GEMINI}:streamGenerateContent", "alt=sse")
    array_route = Route("local", f"{GEMINI}:streamGenerateContent")
    sse = b"".join(b"data: " + orjson.dumps(r) + b"\r\n\r\n" for r in RESPONSES)
    ask = facts(provider, array_route, {"contents": []})
    array = provider.answer_as(array_route, ask, Answer(sse, True))
    assert array is not None
    assert array.body.startswith(b"[")
    assert list(iter_responses(array.body)) == RESPONSES
    assert provider.answer_as(sse_route, ask, Answer(sse, True)) == Answer(sse, True)  # as stored
    again = provider.answer_as(sse_route, ask, array)
    assert again is not None
    assert list(iter_responses(again.body)) == RESPONSES


def test_gemini_streamed_and_whole_calls_share_an_answer_route() -> None:
    provider = REGISTRY["google-vertex-ai"]
    path = "v1/projects/p/locations/l/publishers/google/models/gemini-2.0-flash"
    streamed = provider.read_request(Route("local", f"{path}:streamGenerateContent", "alt=sse&key=k"), b"{}")
    whole = provider.read_request(Route("local", f"{path}:generateContent", "key=k"), b"{}")
    assert streamed.answer_route == Route("local", f"{path}:generateContent", "key=k")  # `alt` only frames
    assert whole.answer_route is None  # the route itself
