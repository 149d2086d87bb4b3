"""The OpenAI -> Workers AI translator on recorded requests, answers, errors and streams."""

from __future__ import annotations

import itertools
import re
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from sluicegate.compat.base import TranslationError, Translator
from sluicegate.providers.sse import iter_json
from sluicegate.providers.workers_ai.compat import WorkersAITranslator

CREATED = 1_767_225_600
TRANSLATOR: Translator = WorkersAITranslator(clock=lambda: CREATED + 0.9)
MODEL = "@cf/meta/llama-3.1-8b-instruct"
USER: list[Any] = [{"role": "user", "content": "What is Cloudflare?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def native(payload: dict[str, Any]) -> dict[str, Any]:
    request = TRANSLATOR.request({"model": f"workers-ai/{MODEL}", **payload}, MODEL)
    assert (request.path, request.query) == (MODEL, "")
    body: dict[str, Any] = orjson.loads(request.body)
    return body


def envelope(result: dict[str, Any]) -> bytes:
    return orjson.dumps({"result": result, "success": True, "errors": [], "messages": []})


def data(payload: dict[str, Any] | str) -> bytes:
    return b"data: " + (payload.encode() if isinstance(payload, str) else orjson.dumps(payload)) + b"\n\n"


# As Workers AI streams: `p` padding, an empty event, the cumulative usage, then [DONE]; the text
# has multi-byte characters to split.
STREAM = (
    data({"response": "Clo", "p": "abcdefghijklmnop"})
    + data({"response": "udflare ", "p": "abcd"})
    + data({"response": "est très ", "p": "abcdefghijklmnopqrstuvwxyz012"})
    + data({"response": "rapide ⚡", "p": "abcdefgh"})
    + data({"response": ""})
    + data({"response": "", "usage": {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}})
    + data("[DONE]")
)


def translate(stream: bytes, cuts: list[int], include_usage: bool = True) -> bytes:
    """The translation of `stream` fed in pieces cut at `cuts`."""
    translator = TRANSLATOR.stream(MODEL, include_usage)
    edges = [0, *cuts, len(stream)]
    out = [translator.feed(stream[a:b]) for a, b in itertools.pairwise(edges)]
    return b"".join(out) + translator.close()


def chunks(translated: bytes) -> list[dict[str, Any]]:
    assert translated.endswith(b"data: [DONE]\n\n")
    events = list(iter_json(translated))
    for item in events:
        ChatCompletionChunk.model_validate(item)  # the OpenAI SDK's own schema accepts it
    return events


def content(events: list[dict[str, Any]]) -> str:
    return "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e["choices"])


# Requests


def test_request_keeps_messages_and_sampling_and_names_the_model_in_the_path() -> None:
    body = native(
        {
            "messages": [{"role": "system", "content": "Be brief."}, *USER],
            "max_tokens": 100,
            "temperature": 0.2,
            "top_p": 0.9,
            "seed": 7,
            "frequency_penalty": 0.5,
            "presence_penalty": 0.1,
            "logit_bias": {},  # no bias: taken, not sent
            "user": "ada",
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    assert body == {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is Cloudflare?"},
        ],
        "max_tokens": 100,
        "temperature": 0.2,
        "top_p": 0.9,
        "seed": 7,
        "frequency_penalty": 0.5,
        "presence_penalty": 0.1,
        "stream": True,
    }


def test_minimal_request_leaves_workers_ais_defaults() -> None:
    assert native({"messages": USER}) == {"messages": [{"role": "user", "content": "What is Cloudflare?"}]}
    assert native({"messages": USER, "max_completion_tokens": 9, "max_tokens": 100})["max_tokens"] == 9


def test_developer_messages_and_text_parts() -> None:
    body = native(
        {
            "messages": [
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "there"}],
                },
            ]
        }
    )
    assert body["messages"] == [
        {"role": "system", "content": "Answer in French."},
        {"role": "user", "content": "Hello\nthere"},
    ]


def test_tools_tool_calls_and_tool_results() -> None:
    bare_tool = {"type": "function", "function": {"name": "now"}}
    body = native(
        {
            "messages": [
                *USER,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "12°C, rain"},
            ],
            "tools": [WEATHER_TOOL, bare_tool],
            "tool_choice": "auto",
        }
    )
    assert body["messages"][1:] == [
        {"role": "assistant", "content": '[{"name":"get_weather","arguments":{"city":"Lyon"}}]'},
        {"role": "tool", "content": "12°C, rain", "name": "get_weather"},
    ]
    # Workers AI requires a description and parameters on every tool.
    assert body["tools"] == [
        WEATHER_TOOL,
        {
            "type": "function",
            "function": {
                "name": "now",
                "description": "",
                "parameters": {"type": "object", "properties": {}},
            },
        },
    ]
    assert "tools" not in native({"messages": USER, "tools": [WEATHER_TOOL], "tool_choice": "none"})


def test_json_mode() -> None:
    schema = {"type": "object", "properties": {"capital": {"type": "string"}}}
    body = native(
        {
            "messages": USER,
            "response_format": {"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
        }
    )
    assert body["response_format"] == {"type": "json_schema", "json_schema": schema}
    assert native({"messages": USER, "response_format": {"type": "json_object"}})["response_format"] == {
        "type": "json_object"
    }
    assert "response_format" not in native({"messages": USER, "response_format": {"type": "text"}})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"messages": []}, "messages"),
        ({"stop": ["\n"]}, "stop"),
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"tool_choice": "required", "tools": [WEATHER_TOOL]}, "tool_choice"),
        ({"tools": [{"type": "web_search"}]}, "tools[0]"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        ({"messages": [{"role": "narrator", "content": "x"}]}, "messages[0].role"),
        ({"stream": True, "response_format": {"type": "json_object"}}, "response_format"),
        ({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, "response_format"),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{"}}],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
    ],
)
def test_untranslatable_requests_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(TranslationError, match=rf"^{re.escape(field)}:"):
        TRANSLATOR.request({"model": f"workers-ai/{MODEL}", "messages": USER, **change}, MODEL)


# Answers


def test_created_is_the_clocks_time_once_per_answer() -> None:
    ticks = iter(range(1_767_225_600, 1_767_225_700, 10))
    translator = WorkersAITranslator(clock=lambda: next(ticks))
    answer = translator.response(envelope({"response": "Hi"}), MODEL)
    assert ChatCompletion.model_validate_json(answer).created == 1_767_225_600
    stream = translator.stream(MODEL, include_usage=True)
    events = chunks(stream.feed(STREAM) + stream.close())
    assert {item["created"] for item in events} == {1_767_225_610}  # the stream's time, in every chunk


def test_text_answer() -> None:
    body = envelope(
        {
            "response": "Cloudflare is a connectivity cloud.",
            "tool_calls": [],
            "usage": {"prompt_tokens": 17, "completion_tokens": 8, "total_tokens": 25},
        }
    )
    answer = ChatCompletion.model_validate_json(TRANSLATOR.response(body, MODEL))
    assert (answer.object, answer.model, answer.created) == ("chat.completion", MODEL, CREATED)
    assert answer.id.startswith("chatcmpl-")
    assert answer.id == ChatCompletion.model_validate_json(TRANSLATOR.response(body, MODEL)).id  # pure
    choice = answer.choices[0]
    assert (choice.message.role, choice.message.content, choice.finish_reason) == (
        "assistant",
        "Cloudflare is a connectivity cloud.",
        "stop",
    )
    assert answer.usage is not None
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens, answer.usage.total_tokens) == (
        17,
        8,
        25,
    )


def test_tool_call_answer() -> None:
    body = envelope(
        {
            "response": None,
            "tool_calls": [{"name": "get_weather", "arguments": {"city": "Lyon"}}],
            "usage": {
                "prompt_tokens": 90,
                "completion_tokens": 12,
                "total_tokens": 102,
                "prompt_tokens_details": {"cached_tokens": 64},
            },
        }
    )
    answer = ChatCompletion.model_validate_json(TRANSLATOR.response(body, MODEL))
    choice = answer.choices[0]
    assert (choice.finish_reason, choice.message.content) == ("tool_calls", None)
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert (call.function.name, orjson.loads(call.function.arguments)) == ("get_weather", {"city": "Lyon"})
    assert call.id.startswith("call_")
    assert answer.usage is not None
    assert answer.usage.prompt_tokens_details is not None
    assert answer.usage.prompt_tokens_details.cached_tokens == 64


def test_json_mode_and_openai_shaped_answers() -> None:
    json_mode = envelope(
        {"response": {"capital": "Paris"}, "usage": {"prompt_tokens": 5, "completion_tokens": 4}}
    )
    answer = ChatCompletion.model_validate_json(TRANSLATOR.response(json_mode, MODEL))
    assert answer.choices[0].message.content == '{"capital":"Paris"}'
    # Newer models answer OpenAI-shaped inside the envelope.
    shaped = envelope(
        {
            "id": "id-1",
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "length"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    )
    answer = ChatCompletion.model_validate_json(TRANSLATOR.response(shaped, MODEL))
    assert (answer.choices[0].message.content, answer.choices[0].finish_reason) == ("Hi", "length")
    with pytest.raises(TranslationError, match=r"^response:"):
        TRANSLATOR.response(b'{"success": true}', MODEL)
    with pytest.raises(TranslationError, match=r"^response:"):
        TRANSLATOR.response(b"<html>", MODEL)


def test_errors_take_openais_shape() -> None:
    body = (
        b'{"errors":[{"message":"You have used up your daily free allocation","code":3036}],'
        b'"success":false,"result":{},"messages":[]}'
    )
    assert orjson.loads(TRANSLATOR.error(429, body)) == {
        "error": {
            "message": "You have used up your daily free allocation",
            "type": "rate_limit_error",
            "param": None,
            "code": "3036",
        }
    }
    assert (
        orjson.loads(
            TRANSLATOR.error(400, b'{"errors":[{"message":"a","code":5006},{"message":"b","code":5007}]}')
        )["error"]["message"]
        == "a; b"
    )
    gateway = orjson.loads(TRANSLATOR.error(502, b"<html>bad gateway</html>"))["error"]
    assert (gateway["message"], gateway["type"], gateway["code"]) == (
        "<html>bad gateway</html>",
        "server_error",
        None,
    )
    assert orjson.loads(TRANSLATOR.error(500, b""))["error"]["message"] == "Workers AI answered HTTP 500"


# Streams


def test_stream_translates_each_event_as_it_arrives() -> None:
    translator = TRANSLATOR.stream(MODEL, include_usage=False)
    first_event = STREAM[: STREAM.index(b"\n\n") + 2]
    assert translator.feed(first_event[:-1]) == b""  # incomplete: nothing yet
    first = list(iter_json(translator.feed(first_event[-1:])))
    assert first[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Clo"}


def test_stream_split_at_every_byte_is_translated_the_same() -> None:
    whole = translate(STREAM, [])
    for cut in range(1, len(STREAM)):
        assert translate(STREAM, [cut]) == whole, cut
    assert translate(STREAM, list(range(1, len(STREAM)))) == whole  # one byte at a time
    crlf = STREAM.replace(b"\n", b"\r\n")
    assert translate(crlf, list(range(1, len(crlf)))) == whole  # a CRLF split between its bytes too


def test_stream_chunks_with_usage() -> None:
    events = chunks(translate(STREAM, [7, 100, 101, 250]))
    assert content(events) == "Cloudflare est très rapide ⚡"
    assert events[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(e["object"] == "chat.completion.chunk" and e["model"] == MODEL for e in events)
    assert len({e["id"] for e in events}) == 1
    *deltas, finish, usage = events
    assert all(e["usage"] is None and e["choices"][0]["finish_reason"] is None for e in deltas)
    assert (finish["choices"][0]["delta"], finish["choices"][0]["finish_reason"]) == ({}, "stop")
    assert (usage["choices"], usage["usage"]["prompt_tokens"], usage["usage"]["completion_tokens"]) == (
        [],
        42,
        7,
    )


def test_stream_without_include_usage_has_no_usage() -> None:
    events = chunks(translate(STREAM, [33], include_usage=False))
    assert all("usage" not in e for e in events)
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


def test_stream_without_done_is_unfinished() -> None:
    # Its text goes out (the last event too, though no blank line ended it), no finish nor [DONE]:
    # it ends in OpenAI's in-stream error, at which the openai SDKs raise.
    cut = STREAM[: STREAM.index(b'data: {"response":"","usage"')]
    translator = TRANSLATOR.stream(MODEL, include_usage=True)
    translated = translator.feed(cut[:10]) + translator.feed(cut[10:].rstrip(b"\n")) + translator.close()
    *events, last = list(iter_json(translated))
    assert content(events) == "Cloudflare est très rapide ⚡"
    assert b"data: [DONE]" not in translated
    assert all(e["choices"][0]["finish_reason"] is None for e in events)
    reason = "the upstream stream ended before it finished ([DONE] never came)"
    assert translator.unfinished() == reason
    assert last == {"error": {"message": reason, "type": "server_error", "param": None, "code": None}}
    assert translated.endswith(b"\n\n")
    whole = TRANSLATOR.stream(MODEL, include_usage=True)
    whole.feed(STREAM[:-2])
    assert whole.unfinished() is not None  # no blank line has ended its `[DONE]` yet: at close
    whole.close()
    assert whole.unfinished() is None


def test_stream_with_native_tool_calls() -> None:
    stream = (
        data({"response": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Lyon"}}]})
        + data({"response": "", "usage": {"prompt_tokens": 90, "completion_tokens": 12, "total_tokens": 102}})
        + data("[DONE]")
    )
    events = chunks(translate(stream, [20]))
    call = events[0]["choices"][0]["delta"]["tool_calls"][0]
    assert (call["index"], call["type"], call["function"]["name"]) == (0, "function", "get_weather")
    assert orjson.loads(call["function"]["arguments"]) == {"city": "Lyon"}
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[-1]["usage"]["completion_tokens"] == 12


def test_stream_of_openai_shaped_chunks_uses_the_native_total() -> None:
    # Newer models: OpenAI-shaped chunks with incremental usage, then the native cumulative usage.
    stream = (
        data(
            {
                "id": "x1",
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
            }
        )
        + data(
            {
                "id": "x1",
                "choices": [{"index": 0, "delta": {"content": "Bon"}}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 1, "total_tokens": 1},
            }
        )
        + data(
            {
                "id": "x1",
                "choices": [{"index": 0, "delta": {"content": "jour"}, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 1, "total_tokens": 1},
            }
        )
        + data({"response": "", "usage": {"prompt_tokens": 147, "completion_tokens": 2, "total_tokens": 149}})
        + data("[DONE]")
    )
    events = chunks(translate(stream, [3, 64]))
    assert content(events) == "Bonjour"
    assert {e["id"] for e in events} == {"x1"}
    assert events[-2]["choices"][0]["finish_reason"] == "length"
    assert (events[-1]["usage"]["prompt_tokens"], events[-1]["usage"]["completion_tokens"]) == (147, 2)


def test_stream_ignores_comments_garbage_and_events_after_done() -> None:
    stream = b": keep-alive\n\ndata: not json\n\n" + STREAM + data({"response": "late"})
    assert content(chunks(translate(stream, [5]))) == "Cloudflare est très rapide ⚡"
