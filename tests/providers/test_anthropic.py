"""The Anthropic adapter on recorded bodies and streams: facts, URLs, usage, generated text."""

from __future__ import annotations

from collections.abc import Mapping

import orjson

from sluicegate.providers import REGISTRY
from sluicegate.providers.anthropic import ANTHROPIC
from sluicegate.providers.base import Route
from sluicegate.types import Usage

MESSAGES = Route("local", "v1/messages")
COUNT_TOKENS = Route("local", "v1/messages/count_tokens")

MESSAGE_BODY = orjson.dumps(
    {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-6",
        "content": [
            {"type": "thinking", "thinking": "Capital of France.", "signature": "EqQBCgIYAhIM"},
            {"type": "text", "text": "Paris"},
            {"type": "text", "text": " is the capital."},
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 12,
            "cache_creation_input_tokens": 100,
            "cache_read_input_tokens": 2048,
            "cache_creation": {"ephemeral_5m_input_tokens": 100, "ephemeral_1h_input_tokens": 0},
            "output_tokens": 30,
            "output_tokens_details": {"thinking_tokens": 21},
            "service_tier": "standard",
        },
    }
)


def event(payload: Mapping[str, object]) -> bytes:
    return b"event: " + str(payload["type"]).encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def text_delta(text: str) -> bytes:
    return event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}})


START = event(
    {
        "type": "message_start",
        "message": {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-sonnet-4-6",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 25,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 1000,
                "output_tokens": 1,
            },
        },
    }
)
# As documented: message_delta carries only the cumulative output count.
STREAM = (
    START
    + event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    + event({"type": "ping"})
    + text_delta("Hello")
    + text_delta("!")
    + event({"type": "content_block_stop", "index": 0})
    + event(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 15},
        }
    )
    + event({"type": "message_stop"})
)


def test_registry_maps_the_slug_to_the_adapter() -> None:
    assert REGISTRY["anthropic"] is ANTHROPIC
    assert ANTHROPIC.default_base_url == "https://api.anthropic.com"


def test_upstream_url_appends_the_path_the_sdk_sent() -> None:
    assert (
        ANTHROPIC.upstream_url("https://api.anthropic.com", MESSAGES)
        == "https://api.anthropic.com/v1/messages"
    )
    route = Route("local", "v1/models", "limit=2&after_id=claude%2Dx")
    url = ANTHROPIC.upstream_url("http://127.0.0.1:9000/", route)
    assert url == "http://127.0.0.1:9000/v1/models?limit=2&after_id=claude%2Dx"


def test_request_facts() -> None:
    body = b'{"model": "claude-haiku-4-5", "max_tokens": 64, "stream": true, "messages": []}'
    facts = ANTHROPIC.read_request(MESSAGES, body)
    assert (facts.model, facts.stream) == ("claude-haiku-4-5", True)
    assert facts.payload["max_tokens"] == 64
    assert ANTHROPIC.read_request(MESSAGES, b'{"model": "claude-haiku-4-5"}').stream is False
    assert ANTHROPIC.read_request(MESSAGES, b'{"model": 4, "stream": 1}').model is None
    assert ANTHROPIC.read_request(MESSAGES, b"{broken").payload is None
    assert ANTHROPIC.read_request(MESSAGES, b"").model is None


def test_usage_adds_cache_reads_and_writes_to_input() -> None:
    usage = ANTHROPIC.read_usage(MESSAGES, MESSAGE_BODY)
    assert usage == Usage(
        input_tokens=12 + 100 + 2048,
        output_tokens=30,
        cached_tokens=2048,
        reasoning_tokens=21,
        cache_write_tokens=100,
    )


def test_usage_of_a_plain_answer_and_of_bodies_without_usage() -> None:
    body = b'{"type":"message","content":[],"usage":{"input_tokens":9,"output_tokens":4}}'
    assert ANTHROPIC.read_usage(MESSAGES, body) == Usage(input_tokens=9, output_tokens=4)
    assert ANTHROPIC.read_usage(MESSAGES, b'{"type":"message","content":[]}') is None
    assert ANTHROPIC.read_usage(MESSAGES, b'{"usage":{"output_tokens":4}}') is None
    assert ANTHROPIC.read_usage(MESSAGES, b"<html>502 Bad Gateway</html>") is None
    assert ANTHROPIC.read_usage(MESSAGES, b"[1, 2]") is None


def test_token_counting_costs_nothing() -> None:
    # Free per Anthropic: logged as zero usage, not estimated with the tokenizer.
    assert ANTHROPIC.read_usage(COUNT_TOKENS, b'{"input_tokens": 2095}') == Usage()
    assert ANTHROPIC.read_usage(Route("local", "v1/messages/count_tokens/"), b"{}") == Usage()


def test_stream_usage_takes_input_from_message_start_and_output_from_message_delta() -> None:
    usage = ANTHROPIC.read_stream_usage(MESSAGES, STREAM)
    assert usage == Usage(input_tokens=25 + 1000, output_tokens=15, cached_tokens=1000)


def test_cumulative_message_delta_figures_replace_those_of_message_start() -> None:
    # Newer streams (and server tools) repeat the input side in message_delta; nulls keep the old value.
    final = {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {
            "input_tokens": 40,
            "cache_creation_input_tokens": None,
            "cache_read_input_tokens": 1000,
            "output_tokens": 90,
            "output_tokens_details": {"thinking_tokens": 60},
        },
    }
    stream = STREAM.replace(b"event: message_stop", event(final) + b"event: message_stop")
    assert ANTHROPIC.read_stream_usage(MESSAGES, stream) == Usage(
        input_tokens=1040, output_tokens=90, cached_tokens=1000, reasoning_tokens=60
    )


def test_stream_without_usage_and_with_crlf_line_ends() -> None:
    assert ANTHROPIC.read_stream_usage(MESSAGES, text_delta("hi") + event({"type": "message_stop"})) is None
    crlf = STREAM.replace(b"\n", b"\r\n")
    assert ANTHROPIC.read_stream_usage(MESSAGES, crlf) == Usage(
        input_tokens=1025, output_tokens=15, cached_tokens=1000
    )


def test_stream_broken_off_by_an_error_event_keeps_the_usage_it_had() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    stream = START + text_delta("Hel") + event(error)
    assert ANTHROPIC.read_stream_usage(MESSAGES, stream) == Usage(
        input_tokens=1025, output_tokens=1, cached_tokens=1000
    )
    assert ANTHROPIC.output_text(MESSAGES, stream, streamed=True) == "Hel"


def test_output_text() -> None:
    # Thinking is not output text: its tokens are reported as reasoning when at all.
    assert ANTHROPIC.output_text(MESSAGES, MESSAGE_BODY, streamed=False) == "Paris is the capital."
    assert ANTHROPIC.output_text(MESSAGES, STREAM, streamed=True) == "Hello!"
    tool = {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": "{"},
    }
    assert ANTHROPIC.output_text(MESSAGES, STREAM + event(tool), streamed=True) == "Hello!"
    assert ANTHROPIC.output_text(MESSAGES, b"not json", streamed=False) == ""
    assert ANTHROPIC.output_text(MESSAGES, b'{"content": "oops"}', streamed=False) == ""


def test_output_text_of_legacy_text_completions() -> None:
    complete = Route("local", "v1/complete")
    body = b'{"type":"completion","completion":" Hello there","stop_reason":"stop_sequence"}'
    assert ANTHROPIC.output_text(complete, body, streamed=False) == " Hello there"
    stream = b'event: completion\ndata: {"type":"completion","completion":" Hel"}\n\n' + (
        b'event: completion\ndata: {"type":"completion","completion":"lo"}\n\n'
    )
    assert ANTHROPIC.output_text(complete, stream, streamed=True) == " Hello"
