"""Gemini's generateContent API <-> OpenAI chat: paths, requests, answers and chat streams cut anywhere."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from google.genai import types

from sluicegate.ingress import format_at
from sluicegate.ingress.base import TranslationError
from sluicegate.ingress.gemini_generate import GeminiGenerate, gemini_format


def generate(path: str = "v1beta/models/openai/gpt-4o-mini:generateContent") -> GeminiGenerate:
    found = gemini_format(path)
    assert found is not None
    return GeminiGenerate(found.path_model, found.method, found.native, ids=lambda: "r1")


def chat_of(payload: dict[str, Any], path: str = "v1beta/models/openai/gpt-4o-mini:generateContent") -> Any:
    return generate(path).to_chat({**payload, "model": "openai/gpt-4o-mini"})


USER: Any = {"role": "user", "parts": [{"text": "hi"}]}


@pytest.mark.parametrize(
    ("tail", "model", "method"),
    [
        ("v1beta/models/openai/gpt-4o-mini:generateContent", "openai/gpt-4o-mini", "generateContent"),
        (
            "v1/models/openai%2Fgpt-4o-mini:streamGenerateContent",
            "openai/gpt-4o-mini",
            "streamGenerateContent",
        ),
        (
            "v1beta/models/workers-ai/@cf/meta/llama-3.1-8b-instruct:countTokens",
            "workers-ai/@cf/meta/llama-3.1-8b-instruct",
            "countTokens",
        ),
        ("v1beta/models/openrouter/x/y:free:generateContent", "openrouter/x/y:free", "generateContent"),
        ("v1beta/models/dynamic/r%3AgenerateContent", "dynamic/r", "generateContent"),
    ],
)
def test_the_path_names_the_model_and_the_method(tail: str, model: str, method: str) -> None:
    found = format_at(tail)
    assert isinstance(found, GeminiGenerate)
    assert (found.path_model, found.method, found.counts) == (model, method, method == "countTokens")
    assert found.name == ("gemini-count-tokens" if found.counts else "gemini-generate-content")


@pytest.mark.parametrize(
    "tail",
    [
        "v1beta/models/openai/gpt-4o-mini:embedContent",
        "v1beta/models/:generateContent",
        "v2/models/m:generateContent",
        "v1beta/tunedModels/m:generateContent",
        "v1beta/models/openai/gpt-4o-mini",
        "chat/completions",
    ],
)
def test_other_paths_are_not_gemini_ones(tail: str) -> None:
    assert gemini_format(tail) is None


def test_a_gemini_target_gets_the_body_as_it_came_at_its_models_path() -> None:
    native = generate("v1/models/dynamic/r:streamGenerateContent").native
    assert native.provider.name == "google-ai-studio"
    path, body = native.request({"model": "dynamic/r", "contents": []}, "gemini-2.5-flash")
    assert (path, body) == ("v1/models/gemini-2.5-flash:streamGenerateContent", {"contents": []})
    assert native.request({}, "models/tuned x")[0] == "v1/models/tuned%20x:streamGenerateContent"


def test_a_conversation_with_function_calls_is_the_chat_request_it_means() -> None:
    payload: Any = {
        "system_instruction": {"parts": [{"text": "Be brief."}, {"text": "Be kind."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Weather in "}, {"text": "Paris and Rome?"}]},
            {
                "role": "model",
                "parts": [
                    {"text": "thinking…", "thought": True},
                    {"text": "Looking."},
                    {
                        "functionCall": {"name": "weather", "args": {"city": "Paris"}},
                        "thoughtSignature": "sig",
                    },
                    {"function_call": {"id": "given", "name": "weather", "args": {"city": "Rome"}}},
                ],
            },
            {
                "role": "user",
                "parts": [
                    {"functionResponse": {"id": "given", "name": "weather", "response": {"t": 20}}},
                    {"functionResponse": {"name": "weather", "response": {"t": 18}}},
                    {"inline_data": {"mime_type": "image/png", "data": "AAAA"}},
                ],
            },
        ],
        "generationConfig": {
            "temperature": 0.5,
            "max_output_tokens": 64,
            "stopSequences": ["END"],
            "seed": 7,
        },
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "weather",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"city": {"type": "STRING", "nullable": True}},
                        },
                    }
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    }
    chat = chat_of(payload, "v1beta/models/openai/gpt-4o-mini:streamGenerateContent")
    assert chat == {
        "model": "openai/gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief.\nBe kind."},
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": "Looking.",
                "tool_calls": [
                    {
                        "id": "call_1_2",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                        "extra_content": {"google": {"thought_signature": "sig"}},
                    },
                    {
                        "id": "given",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "given", "content": '{"t":20}'},
            {"role": "tool", "tool_call_id": "call_1_2", "content": '{"t":18}'},
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}],
            },
        ],
        "temperature": 0.5,
        "max_completion_tokens": 64,
        "seed": 7,
        "stop": ["END"],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": ["string", "null"]}}},
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_json_mode_and_thinking_are_chat_fields() -> None:
    config: Any = {
        "responseMimeType": "application/json",
        "thinkingConfig": {"thinkingBudget": 0, "includeThoughts": False},
    }
    chat = chat_of({"contents": [USER], "generationConfig": config})
    assert chat["response_format"] == {"type": "json_object"}
    assert chat["thinking"] == {"type": "disabled"}
    config = {
        "responseMimeType": "application/json",
        "responseJsonSchema": {"type": "object"},
        "thinkingConfig": {"thinkingLevel": "HIGH", "thinkingBudget": 2048},
    }
    chat = chat_of({"contents": [USER], "generationConfig": config})
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": {"type": "object"}},
    }
    assert (chat["reasoning_effort"], chat["thinking"]) == (
        "high",
        {"type": "enabled", "budget_tokens": 2048},
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"cachedContent": "cachedContents/1"}, "cachedContent"),
        ({"generationConfig": {"topK": 3}}, "generationConfig.topK"),
        ({"generationConfig": {"responseLogprobs": True}}, "generationConfig.responseLogprobs"),
        ({"generationConfig": {"responseModalities": ["AUDIO"]}}, "generationConfig.responseModalities"),
        ({"generationConfig": {"responseMimeType": "text/x.enum"}}, "generationConfig.responseMimeType"),
        (
            {"generationConfig": {"thinkingConfig": {"thinkingBudget": -2}}},
            "generationConfig.thinkingConfig.thinkingBudget",
        ),
        (
            {
                "safetySettings": [
                    {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_LOW_AND_ABOVE"}
                ]
            },
            "safetySettings[0].threshold",
        ),
        ({"tools": [{"codeExecution": {}}]}, "tools[0].codeExecution"),
        (
            {"tools": [{"functionDeclarations": [{"name": "f", "response": {"type": "OBJECT"}}]}]},
            "tools[0].functionDeclarations[0].response",
        ),
        (
            {"toolConfig": {"functionCallingConfig": {"mode": "VALIDATED"}}},
            "toolConfig.functionCallingConfig.mode",
        ),
        (
            {"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["a", "b"]}}},
            "toolConfig.functionCallingConfig.allowedFunctionNames",
        ),
        (
            {"contents": [{"role": "user", "parts": [{"executableCode": {"code": "1"}}]}]},
            "contents[0].parts[0]",
        ),
        (
            {"contents": [{"role": "user", "parts": [{"text": "a", "videoMetadata": {}}]}]},
            "contents[0].parts[0].videoMetadata",
        ),
        (
            {"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
            "contents[0].parts[0].functionResponse",
        ),
        ({"contents": [{"role": "system", "parts": [{"text": "a"}]}]}, "contents[0].role"),
        ({"contents": []}, "contents"),
        ({"store": True}, "store"),
    ],
)
def test_what_chat_cannot_say_is_refused_naming_the_field(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(TranslationError) as refused:
        chat_of({"contents": [USER], **payload})
    assert refused.value.field == field


COMPLETION: Any = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "Checking.",
                "reasoning_content": "Hmm.",
                "tool_calls": [
                    {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
                ],
            },
            "finish_reason": "tool_calls",
        },
        {"index": 1, "message": {"role": "assistant", "content": "Cut"}, "finish_reason": "length"},
    ],
    "usage": {
        "prompt_tokens": 30,
        "completion_tokens": 12,
        "prompt_tokens_details": {"cached_tokens": 10},
        "completion_tokens_details": {"reasoning_tokens": 4},
    },
}


@pytest.mark.parametrize("thoughts", [False, True])
def test_a_chat_answer_is_a_generate_content_response(thoughts: bool) -> None:
    asked: Any = {"model": "openai/gpt-4o-mini", "contents": [USER]}
    if thoughts:
        asked["generationConfig"] = {"thinkingConfig": {"includeThoughts": True}}
    answer = orjson.loads(generate().answer(asked, orjson.dumps(COMPLETION)))
    thought = [{"text": "Hmm.", "thought": True}] if thoughts else []
    assert answer == {
        "candidates": [
            {
                "content": {
                    "parts": [
                        *thought,
                        {"text": "Checking."},
                        {"functionCall": {"id": "call_9", "name": "f", "args": {"a": 1}}},
                    ],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            },
            {
                "content": {"parts": [{"text": "Cut"}], "role": "model"},
                "finishReason": "MAX_TOKENS",
                "index": 1,
            },
        ],
        "usageMetadata": {
            "promptTokenCount": 30,
            "candidatesTokenCount": 8,
            "totalTokenCount": 42,
            "thoughtsTokenCount": 4,
            "cachedContentTokenCount": 10,
        },
        "modelVersion": "gpt-4o-mini-2024",
        "responseId": "r1",
    }
    parsed = types.GenerateContentResponse.model_validate(answer)
    assert parsed.function_calls is not None
    assert parsed.function_calls[0].args == {"a": 1}


def sse(*events: Any) -> bytes:
    return b"".join(b"data: " + (e if isinstance(e, bytes) else orjson.dumps(e)) + b"\n\n" for e in events)


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "c",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


CALL: Any = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a"'}}
CHAT_STREAM = sse(
    chunk({"role": "assistant", "content": ""}),
    chunk({"content": "Let me ⚡ "}),
    chunk({"content": "look."}),
    chunk({"tool_calls": [CALL]}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": ": 1}"}}]}),
    chunk({}, "tool_calls"),
    {"id": "c", "model": "gpt-4o-mini", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 5}},
    b"[DONE]",
)


def rendered(body: bytes, split: int | None = None) -> list[dict[str, Any]]:
    renderer = generate().stream({"model": "openai/gpt-4o-mini"})
    pieces = [body] if split is None else [body[:split], body[split:]]
    out = b"".join(renderer.feed(piece) for piece in pieces) + renderer.close()
    return [orjson.loads(line[6:]) for line in out.split(b"\n\n") if line]


def test_a_chat_stream_is_gemini_events_whatever_its_cuts() -> None:
    events = rendered(CHAT_STREAM)
    assert [e["candidates"] for e in events] == [
        [{"content": {"parts": [{"text": "Let me ⚡ "}], "role": "model"}, "index": 0}],
        [{"content": {"parts": [{"text": "look."}], "role": "model"}, "index": 0}],
        [
            {
                "content": {
                    "parts": [{"functionCall": {"id": "call_1", "name": "f", "args": {"a": 1}}}],
                    "role": "model",
                },
                "index": 0,
                "finishReason": "STOP",
            }
        ],
    ]
    assert "usageMetadata" not in events[0]
    assert events[-1]["usageMetadata"] == {
        "promptTokenCount": 9,
        "candidatesTokenCount": 5,
        "totalTokenCount": 14,
    }
    assert {(e["responseId"], e["modelVersion"]) for e in events} == {("r1", "gpt-4o-mini")}
    for split in range(1, len(CHAT_STREAM)):
        assert rendered(CHAT_STREAM, split) == events


def test_a_stream_that_stops_or_fails_ends_in_googles_error_event() -> None:
    renderer = generate().stream({})
    out = renderer.feed(sse(chunk({"content": "Hi"}))) + renderer.close()
    assert orjson.loads(out.split(b"\n\n")[-2][6:])["error"]["status"] == "INTERNAL"
    assert renderer.unfinished() is not None
    error = {"error": {"message": "overloaded", "type": "server_error", "code": 503}}
    failed = rendered(sse(chunk({"content": "Hi"}), error, chunk({"content": "more"}), b"[DONE]"))
    assert failed[-1] == {"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}
    assert len(failed) == 2


def test_errors_are_googles_shape_and_a_count_is_total_tokens() -> None:
    error = orjson.loads(generate().error(429, b'{"error": {"message": "slow down", "type": "rate_limit"}}'))
    assert error["error"] | {"sluicegate": None} == {
        "code": 429,
        "message": "slow down",
        "status": "RESOURCE_EXHAUSTED",
        "sluicegate": None,
    }
    counter = generate("v1beta/models/openai/gpt-4o-mini:countTokens")
    assert orjson.loads(counter.count_answer(12)) == {"totalTokens": 12}
    chat = counter.to_chat({"model": "m", "generateContentRequest": {"contents": [USER]}})
    assert chat == {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
