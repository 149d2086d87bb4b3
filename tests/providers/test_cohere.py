"""The Cohere adapter on recorded v2 and v1 bodies and streams."""

from __future__ import annotations

import orjson

from sluicegate.providers import REGISTRY
from sluicegate.providers.base import Route
from sluicegate.providers.cohere import COHERE
from sluicegate.types import Usage

V2_CHAT = Route("local", "v2/chat")
V1_CHAT = Route("local", "v1/chat")
V2_BODY = orjson.dumps(
    {
        "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
        "finish_reason": "COMPLETE",
        "message": {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "..."}, {"type": "text", "text": "Newton, 1643."}],
        },
        "usage": {
            "billed_units": {"input_tokens": 5, "output_tokens": 4},
            "tokens": {"input_tokens": 71, "output_tokens": 4},
            "cached_tokens": 2,
        },
    }
)
V2_STREAM = (
    b'event: message-start\ndata: {"id":"a1","type":"message-start","delta":{"message":{"role":"assistant",'
    b'"content":[],"tool_plan":"","tool_calls":[],"citations":[]}}}\n\n'
    b'event: content-start\ndata: {"type":"content-start","index":0,"delta":{"message":{"content":'
    b'{"type":"text","text":""}}}}\n\n'
    b'event: content-delta\ndata: {"type":"content-delta","index":0,"delta":{"message":{"content":'
    b'{"text":"New"}}}}\n\n'
    b'event: content-delta\ndata: {"type":"content-delta","index":0,"delta":{"message":{"content":'
    b'{"text":"ton"}}}}\n\n'
    b'event: content-end\ndata: {"type":"content-end","index":0}\n\n'
    b'event: message-end\ndata: {"type":"message-end","delta":{"finish_reason":"COMPLETE","usage":'
    b'{"billed_units":{"input_tokens":5,"output_tokens":2},"tokens":{"input_tokens":71,"output_tokens":2}}}}\n\n'
)
V1_BODY = orjson.dumps(
    {
        "response_id": "r1",
        "text": "He was born in 1643.",
        "generation_id": "g1",
        "chat_history": [],
        "finish_reason": "COMPLETE",
        "meta": {
            "api_version": {"version": "1"},
            "billed_units": {"input_tokens": 31, "output_tokens": 7},
            "tokens": {"input_tokens": 97, "output_tokens": 7},
        },
    }
)
V1_STREAM = (
    b'{"is_finished":false,"event_type":"stream-start","generation_id":"g1"}\n'
    b'{"is_finished":false,"event_type":"text-generation","text":"He was"}\n'
    b'{"is_finished":false,"event_type":"text-generation","text":" born in 1643."}\n'
    b'{"is_finished":true,"event_type":"stream-end","finish_reason":"COMPLETE","response":{"text":'
    b'"He was born in 1643.","meta":{"billed_units":{"input_tokens":31,"output_tokens":7}}}}\n'
)


def test_registered_and_routed_as_cloudflare_does() -> None:
    assert REGISTRY["cohere"] is COHERE
    assert COHERE.upstream_url(COHERE.default_base_url, V2_CHAT) == "https://api.cohere.ai/v2/chat"
    assert COHERE.upstream_url("http://127.0.0.1:9/", Route("local", "v1/embed", "a=1")) == (
        "http://127.0.0.1:9/v1/embed?a=1"
    )


def test_request_facts() -> None:
    facts = COHERE.read_request(V2_CHAT, b'{"model": "command-a-03-2025", "stream": true, "messages": []}')
    assert (facts.model, facts.stream) == ("command-a-03-2025", True)
    assert COHERE.read_request(V2_CHAT, b"not json").payload is None
    assert COHERE.read_request(V2_CHAT, b'["x"]').payload == ["x"]


def test_usage_counts_billed_units_first() -> None:
    assert COHERE.read_usage(V2_CHAT, V2_BODY) == Usage(input_tokens=5, output_tokens=4, cached_tokens=2)
    assert COHERE.read_usage(V1_CHAT, V1_BODY) == Usage(input_tokens=31, output_tokens=7)
    tokens_only = orjson.dumps({"usage": {"tokens": {"input_tokens": 71, "output_tokens": 4}}})
    assert COHERE.read_usage(V2_CHAT, tokens_only) == Usage(input_tokens=71, output_tokens=4)
    embed = orjson.dumps({"embeddings": {"float": [[0.1]]}, "meta": {"billed_units": {"input_tokens": 3}}})
    assert COHERE.read_usage(Route("local", "v2/embed"), embed) == Usage(input_tokens=3)
    rerank = orjson.dumps({"results": [], "meta": {"billed_units": {"search_units": 1}}})
    assert COHERE.read_usage(Route("local", "v2/rerank"), rerank) is None
    assert COHERE.read_usage(V2_CHAT, b'{"id": "e1", "message": "invalid api token"}') is None
    assert COHERE.read_usage(V2_CHAT, b"<html>bad gateway</html>") is None


def test_usage_from_v2_sse_and_v1_json_line_streams() -> None:
    assert COHERE.read_stream_usage(V2_CHAT, V2_STREAM) == Usage(input_tokens=5, output_tokens=2)
    assert COHERE.read_stream_usage(V1_CHAT, V1_STREAM) == Usage(input_tokens=31, output_tokens=7)
    without_usage = V2_STREAM[: V2_STREAM.index(b',"usage"')] + b"}}\n\n"
    assert COHERE.read_stream_usage(V2_CHAT, without_usage) is None


def test_output_text() -> None:
    assert COHERE.output_text(V2_CHAT, V2_BODY, streamed=False) == "Newton, 1643."
    assert COHERE.output_text(V2_CHAT, V2_STREAM, streamed=True) == "Newton"
    assert COHERE.output_text(V1_CHAT, V1_BODY, streamed=False) == "He was born in 1643."
    assert COHERE.output_text(V1_CHAT, V1_STREAM, streamed=True) == "He was born in 1643."
    generate = orjson.dumps({"generations": [{"text": "a"}, {"text": "b"}]})
    assert COHERE.output_text(Route("local", "v1/generate"), generate, streamed=False) == "ab"
    assert COHERE.output_text(V2_CHAT, b"garbage", streamed=False) == ""
    assert COHERE.output_text(V2_CHAT, b'data: {"type":"content-delta","delta":"x"}\n\n', streamed=True) == ""
