"""The Google AI Studio translator: OpenAI chat requests to generateContent, and answers, errors and
SSE streams back, checked against the OpenAI SDK's own response models."""

from __future__ import annotations

import json
import re
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from sluicegate.compat.base import TranslationError
from sluicegate.providers.gemini.compat import GOOGLE_AI_STUDIO_TRANSLATOR, GoogleAIStudioTranslator

MODEL = "gemini-2.5-flash"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"


def native(payload: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(GOOGLE_AI_STUDIO_TRANSLATOR.request(payload, MODEL).body)
    return body


def test_messages_become_system_instruction_and_contents() -> None:
    body = native(
        {
            "model": f"google-ai-studio/{MODEL}",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Bonjour."},
                {"role": "user", "content": "Capital of Italy?"},
                {"role": "user", "content": [{"type": "text", "text": "One word."}]},
            ],
        }
    )
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hi"}]},
        {"role": "model", "parts": [{"text": "Bonjour."}]},
        {"role": "user", "parts": [{"text": "Capital of Italy?"}, {"text": "One word."}]},  # merged turns
    ]
    assert "generationConfig" not in body


def test_path_and_query_name_the_model_and_the_stream() -> None:
    messages = [{"role": "user", "content": "Hi"}]
    plain = GOOGLE_AI_STUDIO_TRANSLATOR.request({"messages": messages}, MODEL)
    assert (plain.path, plain.query) == (f"v1beta/models/{MODEL}:generateContent", "")
    streamed = GOOGLE_AI_STUDIO_TRANSLATOR.request({"messages": messages, "stream": True}, MODEL)
    assert (streamed.path, streamed.query) == (f"v1beta/models/{MODEL}:streamGenerateContent", "alt=sse")
    tuned = GOOGLE_AI_STUDIO_TRANSLATOR.request({"messages": messages}, "tunedModels/my-model")
    assert tuned.path == "v1beta/tunedModels/my-model:generateContent"


def test_images_inline_from_data_urls_and_by_reference_from_http_urls() -> None:
    content = [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.JPG?size=2", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": "https://example.com/render"}},
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "mp3"}},
    ]
    parts = native({"messages": [{"role": "user", "content": content}]})["contents"][0]["parts"]
    assert parts == [
        {"text": "What is in these?"},
        {"inlineData": {"mimeType": "image/png", "data": PNG}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.JPG?size=2"}},
        {"fileData": {"fileUri": "https://example.com/render"}},
        {"inlineData": {"mimeType": "audio/mp3", "data": "UklGRg=="}},
    ]


def test_tools_tool_calls_and_tool_results() -> None:
    weather = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    body = native(
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris and Rome?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                        },
                        {
                            "id": "call_2",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": '{"celsius": 21}'},
                {"role": "tool", "tool_call_id": "call_2", "content": "sunny"},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "weather", "description": "Today's weather", "parameters": weather},
                },
                {"type": "function", "function": {"name": "now"}},
            ],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
        }
    )
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {"name": "weather", "description": "Today's weather", "parametersJsonSchema": weather},
                {"name": "now"},
            ]
        }
    ]
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}
    }
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "weather", "args": {"city": "Rome"}}},
            ],
        },
        {  # parallel results answer together, in one turn
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "weather", "response": {"celsius": 21}}},
                {"functionResponse": {"name": "weather", "response": {"content": "sunny"}}},
            ],
        },
    ]


@pytest.mark.parametrize(("choice", "mode"), [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")])
def test_tool_choice_modes(choice: str, mode: str) -> None:
    body = native({"messages": [{"role": "user", "content": "x"}], "tool_choice": choice})
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": mode}}


def test_sampling_options_become_generation_config() -> None:
    base = {"messages": [{"role": "user", "content": "x"}]}
    config = native({**base, "max_tokens": 64, "temperature": 0.2, "top_p": 0.9, "stop": "END", "seed": 7})
    assert native(base | {"stop": ["a", "b"]})["generationConfig"] == {"stopSequences": ["a", "b"]}
    assert config["generationConfig"] == {
        "maxOutputTokens": 64,
        "temperature": 0.2,
        "topP": 0.9,
        "seed": 7,
        "stopSequences": ["END"],
    }
    assert native({**base, "max_completion_tokens": 99})["generationConfig"] == {"maxOutputTokens": 99}
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    json_schema = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    assert native({**base, "response_format": json_schema})["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseJsonSchema": schema,
    }


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "video", "video": {}}]}]},
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        (
            {"messages": [{"role": "tool", "tool_call_id": "nope", "content": "1"}]},
            "messages[0].tool_call_id",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{oops"}}],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "web_search"}]}, "tools[0]"),
        ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "messages"),
    ],
)
def test_what_cannot_be_translated_is_named(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(TranslationError, match="^" + re.escape(field)):
        GOOGLE_AI_STUDIO_TRANSLATOR.request(payload, MODEL)


ANSWER = {
    "candidates": [
        {
            "content": {
                "parts": [{"text": "Thinking about it", "thought": True}, {"text": "Rome"}, {"text": "."}],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 1200,
        "candidatesTokenCount": 2,
        "totalTokenCount": 1232,
        "cachedContentTokenCount": 1024,
        "thoughtsTokenCount": 30,
    },
    "modelVersion": MODEL,
    "responseId": "mV8zaPqWNN",
}


def test_response_becomes_a_chat_completion() -> None:
    completion = ChatCompletion.model_validate_json(
        GOOGLE_AI_STUDIO_TRANSLATOR.response(orjson.dumps(ANSWER), MODEL)
    )
    assert completion.id == "chatcmpl-mV8zaPqWNN"
    assert completion.model == MODEL
    assert completion.choices[0].message.content == "Rome."  # the thought summary is left out
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (1200, 32, 1232)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 1024
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 30


@pytest.mark.parametrize(
    ("reason", "finish"),
    [("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("OTHER", "stop")],
)
def test_finish_reasons(reason: str, finish: str) -> None:
    answer = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}
    completion = ChatCompletion.model_validate_json(
        GOOGLE_AI_STUDIO_TRANSLATOR.response(orjson.dumps(answer), MODEL)
    )
    assert completion.choices[0].finish_reason == finish
    assert completion.usage is None


def test_function_calls_become_tool_calls() -> None:
    call = {"functionCall": {"name": "weather", "args": {"city": "Paris"}}}
    answer = {
        "candidates": [{"content": {"parts": [call], "role": "model"}, "finishReason": "STOP"}],
        "responseId": "r1",
    }
    completion = ChatCompletion.model_validate_json(
        GOOGLE_AI_STUDIO_TRANSLATOR.response(orjson.dumps(answer), MODEL)
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    tool_call = choice.message.tool_calls[0]
    assert tool_call.id == "call_r1_0_0"
    assert tool_call.function.name == "weather"  # type: ignore[union-attr]
    assert json.loads(tool_call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]


def test_a_blocked_prompt_and_vertex_create_time() -> None:
    answer = {"promptFeedback": {"blockReason": "SAFETY"}, "createTime": "2025-01-01T00:00:10.123456Z"}
    completion = ChatCompletion.model_validate_json(
        GOOGLE_AI_STUDIO_TRANSLATOR.response(orjson.dumps(answer), MODEL)
    )
    assert completion.choices[0].finish_reason == "content_filter"
    assert completion.created == 1_735_689_610
    with pytest.raises(TranslationError):
        GOOGLE_AI_STUDIO_TRANSLATOR.response(b"<html>", MODEL)


def test_created_is_the_clocks_time_once_per_answer_without_a_create_time() -> None:
    ticks = iter(range(1_767_225_600, 1_767_225_700, 10))
    translator = GoogleAIStudioTranslator(clock=lambda: next(ticks) + 0.9)
    answer = orjson.loads(translator.response(orjson.dumps(ANSWER), MODEL))
    assert answer["created"] == 1_767_225_600
    stream = translator.stream(MODEL, include_usage=True)
    events = openai_events(stream.feed(STREAM) + stream.close())
    assert {orjson.loads(event)["created"] for event in events} == {1_767_225_610}  # every chunk
    vertex = {**ANSWER, "createTime": "2025-01-01T00:00:10Z"}  # Vertex's own time wins
    assert orjson.loads(translator.response(orjson.dumps(vertex), MODEL))["created"] == 1_735_689_610


def test_errors_take_openais_shape() -> None:
    google = {
        "error": {"code": 429, "message": "You exceeded your current quota.", "status": "RESOURCE_EXHAUSTED"}
    }
    assert orjson.loads(GOOGLE_AI_STUDIO_TRANSLATOR.error(429, orjson.dumps(google))) == {
        "error": {
            "message": "You exceeded your current quota.",
            "type": "rate_limit_error",
            "param": None,
            "code": "resource_exhausted",
        }
    }
    wrapped = orjson.dumps([{"error": {"code": 400, "message": "Bad key.", "status": "INVALID_ARGUMENT"}}])
    assert (
        orjson.loads(GOOGLE_AI_STUDIO_TRANSLATOR.error(400, wrapped))["error"]["type"]
        == "invalid_request_error"
    )
    plain = orjson.loads(GOOGLE_AI_STUDIO_TRANSLATOR.error(502, b"<html>Bad Gateway</html>"))["error"]
    assert (plain["message"], plain["type"], plain["code"]) == (
        "<html>Bad Gateway</html>",
        "server_error",
        None,
    )


def gemini_event(response: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(response, separators=(",", ": "), ensure_ascii=False).encode() + b"\r\n\r\n"


def text_chunk(text: str, finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    candidate: dict[str, Any] = {"content": {"parts": [{"text": text}], "role": "model"}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    response: dict[str, Any] = {"candidates": [candidate], "modelVersion": MODEL, "responseId": "s1"}
    if usage:
        response["usageMetadata"] = usage
    return gemini_event(response)


# As Google sends it: CRLF CRLF after each event, multi-byte text, usage on the last chunk.
STREAM = (
    text_chunk("Ciao", usage={"promptTokenCount": 4, "totalTokenCount": 4})
    + text_chunk(" dal caffè ☕", usage={"promptTokenCount": 4, "totalTokenCount": 4})
    + text_chunk(" 🇮🇹!", "STOP", {"promptTokenCount": 4, "candidatesTokenCount": 6, "thoughtsTokenCount": 3})
)


# One `created` for every translation of a stream: two made a second apart would differ in it alone.
STILL_CLOCK = GoogleAIStudioTranslator(clock=lambda: 1_765_000_000.0)


def translate(stream: bytes, pieces: list[bytes], include_usage: bool = True) -> bytes:
    translator = STILL_CLOCK.stream(MODEL, include_usage)
    return b"".join(translator.feed(piece) for piece in pieces) + translator.close()


def openai_events(output: bytes) -> list[bytes]:
    assert output.endswith(b"data: [DONE]\n\n")
    events = output.split(b"\n\n")[:-1]
    assert all(event.startswith(b"data: ") for event in events)
    return [event[6:] for event in events[:-1]]


def test_a_stream_without_a_finish_reason_ends_in_an_openai_error() -> None:
    # Its last chunk, with the finishReason, never came.
    translated = translate(b"", [text_chunk("Ciao"), text_chunk(" dal caffè ☕")])
    assert b"data: [DONE]" not in translated
    *events, last = [orjson.loads(e.removeprefix(b"data: ")) for e in translated.split(b"\n\n")[:-1]]
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events) == "Ciao dal caffè ☕"
    assert all(e["choices"][0]["finish_reason"] is None for e in events)
    reason = "the upstream stream ended before it finished (finishReason never came)"
    assert last == {"error": {"message": reason, "type": "server_error", "param": None, "code": None}}


def test_stream_becomes_chunks_with_a_final_usage_chunk() -> None:
    chunks = [ChatCompletionChunk.model_validate_json(e) for e in openai_events(translate(STREAM, [STREAM]))]
    assert {chunk.id for chunk in chunks} == {"chatcmpl-s1"}
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == "Ciao dal caffè ☕ 🇮🇹!"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (4, 9)


def test_stream_without_include_usage_has_no_usage_field() -> None:
    events = openai_events(translate(STREAM, [STREAM], include_usage=False))
    assert all(b'"usage"' not in event for event in events)
    assert orjson.loads(events[-1])["choices"][0]["finish_reason"] == "stop"


def split_everywhere() -> list[list[bytes]]:
    """The stream cut at awkward places: one byte at a time, between CR and LF, inside `data:`,
    inside a multi-byte character, and between every pair of neighbouring bytes."""
    crlf = STREAM.index(b"\r\n") + 1
    data = STREAM.index(b"data:", 10) + 3
    emoji = STREAM.index("☕".encode()) + 1
    cuts = [[STREAM[i : i + 1] for i in range(len(STREAM))]]
    cuts += [[STREAM[:at], STREAM[at:]] for at in (crlf, data, emoji, *range(1, len(STREAM), 7))]
    cuts.append([STREAM[:crlf], b"", STREAM[crlf:emoji], STREAM[emoji:]])
    return cuts


def test_stream_split_anywhere_translates_the_same() -> None:
    whole = translate(STREAM, [STREAM])
    for pieces in split_everywhere():
        assert translate(STREAM, pieces) == whole, [len(piece) for piece in pieces]


def test_each_event_is_translated_as_soon_as_it_is_complete() -> None:
    translator = GOOGLE_AI_STUDIO_TRANSLATOR.stream(MODEL, include_usage=False)
    first_event_end = STREAM.index(b"\r\n\r\n") + 4
    assert translator.feed(STREAM[: first_event_end - 1]) == b""  # not complete yet: nothing to say
    out = translator.feed(STREAM[first_event_end - 1 : first_event_end + 5])
    assert orjson.loads(out.removeprefix(b"data: "))["choices"][0]["delta"] == {
        "role": "assistant",
        "content": "Ciao",
    }


def test_lf_and_cr_streams_multi_line_data_and_an_unterminated_last_event() -> None:
    lf, cr = STREAM.replace(b"\r\n", b"\n"), STREAM.replace(b"\r\n", b"\r")
    assert translate(lf, [lf]) == translate(STREAM, [STREAM])
    assert translate(cr, [cr[i : i + 1] for i in range(len(cr))]) == translate(STREAM, [STREAM])
    first, rest = lf.split(b"\n\n", 1)
    multi_line = first.replace(b',"modelVersion"', b'\ndata: ,"modelVersion"') + b"\n\n" + rest
    assert translate(multi_line, [multi_line]) == translate(STREAM, [STREAM])
    unterminated = STREAM.removesuffix(b"\r\n\r\n")
    assert translate(unterminated, [unterminated]) == translate(STREAM, [STREAM])


def test_streamed_function_calls_and_errors() -> None:
    call = {"functionCall": {"name": "weather", "args": {"city": "Rome"}}}
    response = {
        "candidates": [{"content": {"parts": [call], "role": "model"}, "finishReason": "STOP"}],
        "responseId": "f",
    }
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    events = openai_events(translate(b"", [gemini_event(response), gemini_event(error)]))
    chunks = [orjson.loads(event) for event in events]
    delta = chunks[0]["choices"][0]["delta"]
    assert delta["tool_calls"] == [
        {
            "index": 0,
            "id": "call_f_0_0",
            "type": "function",
            "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
        }
    ]
    ChatCompletionChunk.model_validate(chunks[0])
    assert chunks[1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[2] == {
        "error": {
            "message": "The model is overloaded.",
            "type": "server_error",
            "param": None,
            "code": "unavailable",
        }
    }
