"""Anthropic's web searches through the OpenAI translation: the chat answer (and a stream's usage
chunk) carries them in `server_tool_use`, as OpenRouter reports them, so the usage the log and the
cost rules read back from it bills them; without a usage chunk the stream's own figures do."""

from __future__ import annotations

from typing import Any

import orjson

from sluicegate.compat.base import Translator
from sluicegate.providers.anthropic.compat import AnthropicTranslator
from sluicegate.providers.base import Route
from sluicegate.providers.openai import OPENAI
from sluicegate.types import Usage

MODEL = "claude-sonnet-4-6"
TRANSLATOR: Translator = AnthropicTranslator(clock=lambda: 1_767_225_600)
CHAT = Route("local", "chat/completions")
USAGE: dict[str, Any] = {
    "input_tokens": 2100,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "output_tokens": 310,
    "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 1},
}
EXPECTED = Usage(input_tokens=2100, output_tokens=310, web_searches=2)


def event(payload: dict[str, Any]) -> bytes:
    return b"event: " + str(payload["type"]).encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def stream_events() -> bytes:
    start_usage = {**USAGE, "output_tokens": 1, "server_tool_use": {"web_search_requests": 0}}
    message = {"id": "msg_01", "type": "message", "role": "assistant", "model": MODEL, "content": []}
    return (
        event({"type": "message_start", "message": {**message, "usage": start_usage}})
        + event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        + event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}})
        + event({"type": "content_block_stop", "index": 0})
        + event({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": USAGE})
        + event({"type": "message_stop"})
    )


def test_a_whole_answer_carries_its_web_searches() -> None:
    body = orjson.dumps(
        {
            "id": "msg_01",
            "type": "message",
            "role": "assistant",
            "model": MODEL,
            "content": [{"type": "text", "text": "Hi"}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": USAGE,
        }
    )
    answer = orjson.loads(TRANSLATOR.response(body, MODEL))
    assert answer["usage"]["server_tool_use"] == {"web_search_requests": 2}
    assert OPENAI.read_usage(CHAT, orjson.dumps(answer)) == EXPECTED


def test_a_stream_carries_the_web_searches_of_its_message_delta() -> None:
    with_usage = TRANSLATOR.stream(MODEL, include_usage=True)
    chunks = with_usage.feed(stream_events()) + with_usage.close()
    assert with_usage.usage() == EXPECTED
    assert OPENAI.read_stream_usage(CHAT, chunks) == EXPECTED

    without = TRANSLATOR.stream(MODEL, include_usage=False)
    chunks = without.feed(stream_events()) + without.close()
    assert OPENAI.read_stream_usage(CHAT, chunks) is None
    assert without.usage() == EXPECTED  # what the log reads when the client asked for no usage
