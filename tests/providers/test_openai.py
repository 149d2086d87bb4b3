"""The OpenAI adapter on recorded bodies and streams: facts, URLs, usage, generated text."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.providers import REGISTRY
from sluicegate.providers.base import Route
from sluicegate.providers.openai import OPENAI
from sluicegate.providers.openai_usage import usage_object
from sluicegate.providers.sse import iter_data, iter_json
from sluicegate.types import Usage

CHAT = Route("local", "chat/completions")
RESPONSES = Route("local", "responses")

CHAT_BODY = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
        ],
        "usage": {
            "prompt_tokens": 14,
            "completion_tokens": 2,
            "total_tokens": 16,
            "prompt_tokens_details": {"cached_tokens": 8},
            "completion_tokens_details": {"reasoning_tokens": 1},
        },
    }
)
CHAT_STREAM = (
    b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":"Par"}}],"usage":null}\n\n'
    b'data: {"choices":[{"index":0,"delta":{"content":"is."}}],"usage":null}\n\n'
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n'
    b'data: {"choices":[],"usage":{"prompt_tokens":14,"completion_tokens":2,"total_tokens":16}}\n\n'
    b"data: [DONE]\n\n"
)
RESPONSES_STREAM = (
    b'event: response.created\ndata: {"type":"response.created","response":{"usage":null}}\n\n'
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"Hel"}\n\n'
    b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"lo"}\n\n'
    b'event: response.completed\ndata: {"type":"response.completed","response":{"usage":'
    b'{"input_tokens":5,"output_tokens":2,"total_tokens":7,"input_tokens_details":{"cached_tokens":0},'
    b'"output_tokens_details":{"reasoning_tokens":0}}}}\n\n'
)


def test_registry_maps_slugs_to_adapters() -> None:
    assert REGISTRY["openai"] is OPENAI
    assert all(name == adapter.name for name, adapter in REGISTRY.items())


def test_upstream_url_keeps_path_and_query_as_sent() -> None:
    route = Route("local", "models/ft%3Agpt-4o%3Aacme", "limit=2&after=x%20y")
    url = OPENAI.upstream_url("http://127.0.0.1:9000/v1/", route)
    assert url == "http://127.0.0.1:9000/v1/models/ft%3Agpt-4o%3Aacme?limit=2&after=x%20y"
    assert (
        OPENAI.upstream_url("https://api.openai.com/v1", CHAT) == "https://api.openai.com/v1/chat/completions"
    )


def test_request_facts() -> None:
    facts = OPENAI.read_request(CHAT, b'{"model": "gpt-4o", "stream": true, "messages": []}')
    assert (facts.model, facts.stream) == ("gpt-4o", True)
    assert OPENAI.read_request(CHAT, b'{"model": "gpt-4o", "stream": "yes"}').stream is False
    assert OPENAI.read_request(CHAT, b"not json").model is None
    assert OPENAI.read_request(CHAT, b"").payload is None
    assert OPENAI.read_request(CHAT, b'{"model": 7}').model is None
    assert OPENAI.read_request(CHAT, b"[1, 2]").payload == [1, 2]


def test_usage_from_a_chat_completion() -> None:
    usage = OPENAI.read_usage(CHAT, CHAT_BODY)
    assert usage == Usage(input_tokens=14, output_tokens=2, cached_tokens=8, reasoning_tokens=1)
    assert OPENAI.read_usage(CHAT, b'{"choices": []}') is None
    assert OPENAI.read_usage(CHAT, b"<html>bad gateway</html>") is None


def test_usage_from_streams() -> None:
    assert OPENAI.read_stream_usage(CHAT, CHAT_STREAM) == Usage(input_tokens=14, output_tokens=2)
    assert OPENAI.read_stream_usage(RESPONSES, RESPONSES_STREAM) == Usage(input_tokens=5, output_tokens=2)
    without_usage = CHAT_STREAM.replace(
        b'"usage":{"prompt_tokens":14,"completion_tokens":2,"total_tokens":16}', b'"usage":null'
    )
    assert OPENAI.read_stream_usage(CHAT, without_usage) is None


def test_stream_events_split_across_crlf_and_multiline_data() -> None:
    stream = b'data: {"choices":[],\r\ndata: "usage":{"prompt_tokens":3,"completion_tokens":4}}\r\n\r\n'
    assert OPENAI.read_stream_usage(CHAT, stream) == Usage(input_tokens=3, output_tokens=4)


def test_output_text() -> None:
    assert OPENAI.output_text(CHAT, CHAT_BODY, streamed=False) == "Paris."
    assert OPENAI.output_text(CHAT, CHAT_STREAM, streamed=True) == "Paris."
    assert OPENAI.output_text(RESPONSES, RESPONSES_STREAM, streamed=True) == "Hello"
    assert OPENAI.output_text(CHAT, b"garbage", streamed=False) == ""


def test_output_text_holds_the_tool_calls_an_answer_makes() -> None:
    # Parallel calls in one chat stream: each named by its first delta, then its arguments in pieces.
    chat_stream = b"".join(
        b"data: " + orjson.dumps({"choices": [{"index": 0, "delta": delta}]}) + b"\n\n"
        for delta in (
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"index": 0, "id": "c0", "function": {"name": "weather", "arguments": ""}},
                    {"index": 1, "id": "c1", "function": {"name": "time", "arguments": ""}},
                ],
            },
            {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]},
            {"tool_calls": [{"index": 1, "function": {"arguments": '{"zone":"CET"}'}}]},
            {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
        )
    )
    expected = 'weathertime{"city":{"zone":"CET"}"Paris"}'
    assert OPENAI.output_text(CHAT, chat_stream, streamed=True) == expected
    call = {"id": "c0", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}}
    chat_body = orjson.dumps({"choices": [{"message": {"content": None, "tool_calls": [call]}}]})
    assert OPENAI.output_text(CHAT, chat_body, streamed=False) == 'weather{"city":"Paris"}'
    item = {"type": "function_call", "id": "fc_1", "call_id": "c0", "name": "weather", "arguments": ""}
    responses_stream = (
        b"event: response.output_item.added\ndata: "
        + orjson.dumps({"type": "response.output_item.added", "item": item})
        + b"\n\nevent: response.function_call_arguments.delta\ndata: "
        b'{"type":"response.function_call_arguments.delta","delta":"{\\"city\\":\\"Paris\\"}"}\n\n'
        b"event: response.function_call_arguments.done\ndata: "
        b'{"type":"response.function_call_arguments.done","arguments":"{\\"city\\":\\"Paris\\"}"}\n\n'
    )
    assert OPENAI.output_text(RESPONSES, responses_stream, streamed=True) == 'weather{"city":"Paris"}'
    whole = orjson.dumps({"output": [{**item, "arguments": '{"city":"Paris"}'}]})
    assert OPENAI.output_text(RESPONSES, whole, streamed=False) == 'weather{"city":"Paris"}'


def test_malformed_bodies_never_raise() -> None:
    odd = [
        b'{"usage": {"prompt_tokens": 1, "prompt_tokens_details": [1]}}',
        b'{"choices": [1, "x", {"message": "str"}, {"delta": [1]}], "output": [{"content": 3}, 4]}',
        b'{"usage": "lots"}',
        b"[]",
    ]
    for body in odd:
        OPENAI.read_usage(CHAT, body)
        OPENAI.output_text(CHAT, body, streamed=False)
        OPENAI.output_text(CHAT, b"data: " + body + b"\n\n", streamed=True)
        OPENAI.read_stream_usage(CHAT, b"data: " + body + b"\n\n")
    assert OPENAI.read_usage(CHAT, odd[0]) == Usage(input_tokens=1)


def _usage_forwards(events: bytes) -> Usage | None:
    """The straightforward reading the adapter must agree with: every event parsed, front to back,
    the last one that reports usage wins."""
    usage = None
    for event in iter_json(events):
        if not isinstance(event, dict):
            continue
        if event.get("type") == "response.completed":
            response = event.get("response")
            usage = usage_object(response.get("usage")) if isinstance(response, dict) else usage
        elif event.get("usage"):
            usage = usage_object(event["usage"]) or usage
        elif isinstance(event.get("x_groq"), dict):
            usage = usage_object(event["x_groq"].get("usage")) or usage
    return usage


_USAGE_OBJECTS = st.sampled_from(
    [
        None,
        {},
        {"prompt_tokens": 3, "completion_tokens": 4},
        {"prompt_tokens": 5, "completion_tokens": 6, "prompt_tokens_details": {"cached_tokens": 2}},
        {"input_tokens": 7, "output_tokens": 8, "output_tokens_details": {"reasoning_tokens": 1}},
        {"prompt_tokens": "many"},
    ]
)
_EVENTS = st.one_of(
    st.builds(lambda u: {"choices": [{"index": 0, "delta": {"content": "x"}}], "usage": u}, _USAGE_OBJECTS),
    st.builds(lambda u: {"choices": [], "x_groq": {"id": "req_1", "usage": u}}, _USAGE_OBJECTS),
    st.builds(lambda u: {"type": "response.completed", "response": {"usage": u}}, _USAGE_OBJECTS),
    st.just({"type": "response.completed", "response": "not an object"}),
    st.just({"type": "response.output_text.delta", "delta": "Hel"}),
    st.just([1, 2]),
)


@given(st.lists(st.one_of(_EVENTS.map(orjson.dumps), st.sampled_from([b"[DONE]", b"not json"])), max_size=8))
def test_stream_usage_read_backwards_agrees_with_reading_every_event(data: list[bytes]) -> None:
    events = b"".join(b"data: " + item + b"\n\n" for item in data)
    assert OPENAI.read_stream_usage(CHAT, events) == _usage_forwards(events)


@given(
    st.lists(
        st.sampled_from([b"data: 1", b"data: [2]", b"event: x", b": comment", b"", b"data:3"]), max_size=12
    )
)
def test_events_read_backwards_are_the_events_in_reverse(lines: list[bytes]) -> None:
    for newline in (b"\n", b"\r\n"):
        events = newline.join(lines)
        assert list(iter_data(events, backwards=True)) == list(iter_data(events))[::-1]
