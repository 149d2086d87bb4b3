"""The OpenAI -> Anthropic translator on recorded requests, answers, errors and streams."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from typing import Any

import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from sluicegate.compat.base import TranslationError, Translator
from sluicegate.providers.anthropic.compat import AnthropicStream, AnthropicTranslator
from sluicegate.providers.anthropic.compat_request import ANSWER_TOOL, DEFAULT_MAX_TOKENS
from sluicegate.providers.sse import iter_json

CREATED = 1_767_225_600
TRANSLATOR: Translator = AnthropicTranslator(clock=lambda: CREATED + 0.9)
MODEL = "claude-sonnet-4-6"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def native(payload: dict[str, Any]) -> dict[str, Any]:
    request = TRANSLATOR.request(payload, MODEL)
    assert request.path == "v1/messages"
    body: dict[str, Any] = orjson.loads(request.body)
    return body


def event(payload: Mapping[str, Any]) -> bytes:
    return b"event: " + str(payload["type"]).encode() + b"\ndata: " + orjson.dumps(payload) + b"\n\n"


def block_delta(index: int, delta: dict[str, Any]) -> bytes:
    return event({"type": "content_block_delta", "index": index, "delta": delta})


def message_start(usage: dict[str, Any]) -> bytes:
    message: dict[str, Any] = {
        "id": "msg_01ABC",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    return event({"type": "message_start", "message": message})


def message_end(stop_reason: str, usage: dict[str, Any]) -> bytes:
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
        "usage": usage,
    }
    return event(delta) + event({"type": "message_stop"})


# A recorded text answer with a prompt-cache read; the text has multi-byte characters to split.
TEXT_STREAM = (
    message_start(
        {
            "input_tokens": 21,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 1800,
            "output_tokens": 1,
        }
    )
    + event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    + event({"type": "ping"})
    + block_delta(0, {"type": "text_delta", "text": "Paris — "})
    + block_delta(0, {"type": "text_delta", "text": "la capitale 🇫🇷"})
    + event({"type": "content_block_stop", "index": 0})
    + message_end("end_turn", {"output_tokens": 9})
)
# Thinking, then text, then two parallel tool calls whose input arrives as partial JSON.
TOOL_STREAM = (
    message_start({"input_tokens": 380, "output_tokens": 2})
    + event(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}
    )
    + block_delta(0, {"type": "thinking_delta", "thinking": "Two cities: call the tool twice."})
    + block_delta(0, {"type": "signature_delta", "signature": "EqQBCgIYAhIM"})
    + event({"type": "content_block_stop", "index": 0})
    + event({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}})
    + block_delta(1, {"type": "text_delta", "text": "Checking both."})
    + event({"type": "content_block_stop", "index": 1})
    + event(
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {}},
        }
    )
    + block_delta(2, {"type": "input_json_delta", "partial_json": ""})
    + block_delta(2, {"type": "input_json_delta", "partial_json": '{"city": "Par'})
    + block_delta(2, {"type": "input_json_delta", "partial_json": 'is"}'})
    + event({"type": "content_block_stop", "index": 2})
    + event(
        {
            "type": "content_block_start",
            "index": 3,
            "content_block": {"type": "tool_use", "id": "toolu_01B", "name": "get_weather", "input": {}},
        }
    )
    + block_delta(3, {"type": "input_json_delta", "partial_json": '{"city": "Lyon"}'})
    + event({"type": "content_block_stop", "index": 3})
    + message_end("tool_use", {"output_tokens": 88, "output_tokens_details": {"thinking_tokens": 20}})
)

# A forced answer tool: its input, split anywhere, is the content.
ANSWER_STREAM = (
    message_start({"input_tokens": 410, "output_tokens": 1})
    + event(
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "tool_use", "id": "toolu_01C", "name": ANSWER_TOOL, "input": {}},
        }
    )
    + block_delta(0, {"type": "input_json_delta", "partial_json": ""})
    + block_delta(0, {"type": "input_json_delta", "partial_json": '{"name": "Ad'})
    + block_delta(0, {"type": "input_json_delta", "partial_json": 'a", "age": 36}'})
    + event({"type": "content_block_stop", "index": 0})
    + message_end("tool_use", {"output_tokens": 17})
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
        if "error" not in item:
            ChatCompletionChunk.model_validate(item)  # the OpenAI SDK's own schema accepts it
    return events


# Requests


def test_minimal_request_gets_the_default_max_tokens() -> None:
    body = native({"model": f"anthropic/{MODEL}", "messages": [{"role": "user", "content": "Hello"}]})
    assert body == {
        "model": MODEL,
        "max_tokens": DEFAULT_MAX_TOKENS,
        "messages": [{"role": "user", "content": "Hello"}],
    }


def test_system_and_developer_messages_become_system() -> None:
    body = native(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                {"role": "user", "content": "Capital of France?"},
            ]
        }
    )
    assert body["system"] == [
        {"type": "text", "text": "Be brief."},
        {"type": "text", "text": "Answer in French."},
    ]
    assert body["messages"] == [{"role": "user", "content": "Capital of France?"}]
    single = native(
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}
    )
    assert single["system"] == "Be brief."


def test_sampling_limits_and_stop_are_renamed() -> None:
    body = native(
        {
            "messages": [{"role": "user", "content": "Count"}],
            "max_tokens": 50,
            "max_completion_tokens": 100,
            "temperature": 0.2,
            "top_p": 0.9,
            "stop": "\n\n",
            "stream": True,
            "stream_options": {"include_usage": True},
            "user": "user-42",
            "seed": 7,  # Anthropic has none; OpenAI's is best effort: taken, not sent
            "presence_penalty": 0,  # a default Anthropic lacks: taken, not sent
        }
    )
    assert body == {
        "model": MODEL,
        "max_tokens": 100,  # max_completion_tokens wins, as in OpenAI
        "messages": [{"role": "user", "content": "Count"}],
        "temperature": 0.2,
        "top_p": 0.9,
        "stop_sequences": ["\n\n"],
        "metadata": {"user_id": "user-42"},
        "stream": True,
    }
    assert native({"messages": [{"role": "user", "content": "x"}], "stop": ["a", "b"]})["stop_sequences"] == [
        "a",
        "b",
    ]
    assert native({"messages": [{"role": "user", "content": "x"}], "max_tokens": 12})["max_tokens"] == 12


def test_images_by_url_and_by_data_url() -> None:
    body = native(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Compare these."},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://example.com/a.jpg", "detail": "high"},
                        },
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    ],
                }
            ]
        }
    )
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Compare these."},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
    ]


def test_pdf_file_parts_become_documents() -> None:
    part = {
        "type": "file",
        "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"},
    }
    body = native({"messages": [{"role": "user", "content": [part]}]})
    source = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}
    assert body["messages"][0]["content"] == [{"type": "document", "source": source}]


def test_tools_tool_calls_and_tool_results() -> None:
    body = native(
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris and Lyon?"},
                {
                    "role": "assistant",
                    "content": "Checking both.",
                    "tool_calls": [
                        {
                            "id": "toolu_01A",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        },
                        {
                            "id": "toolu_01B",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Lyon"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "toolu_01A", "content": "18°C, sunny"},
                {"role": "tool", "tool_call_id": "toolu_01B", "content": [{"type": "text", "text": "15°C"}]},
                {"role": "user", "content": "And tomorrow?"},
            ],
            "tools": [WEATHER_TOOL],
            "tool_choice": "required",
            "parallel_tool_calls": False,
        }
    )
    assert body["tools"] == [
        {
            "name": "get_weather",
            "input_schema": WEATHER_TOOL["function"]["parameters"],  # type: ignore[index]
            "description": "Current weather in a city",
        }
    ]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris and Lyon?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking both."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_01B", "name": "get_weather", "input": {"city": "Lyon"}},
            ],
        },
        # Both results and the next question in one user turn: Anthropic's turns alternate.
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18°C, sunny"},
                {"type": "tool_result", "tool_use_id": "toolu_01B", "content": "15°C"},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("none", False, {"type": "none"}),
        ("required", None, {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            None,
            {"type": "tool", "name": "get_weather"},
        ),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
        (None, None, None),
    ],
)
def test_tool_choice(choice: Any, parallel: Any, expected: Any) -> None:
    payload = {"messages": [{"role": "user", "content": "x"}], "tools": [WEATHER_TOOL], "tool_choice": choice}
    body = native({**payload, "parallel_tool_calls": parallel})
    assert body.get("tool_choice") == expected


def test_assistant_tool_call_without_text_and_empty_messages() -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    body = native(
        {
            "messages": [
                {"role": "user", "content": "Weather?"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
                {"role": "assistant", "content": ""},  # nothing to send: Anthropic refuses empty content
            ]
        }
    )
    assert body["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {}}],
    }
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "call_1", "content": "sunny"}
    ]
    assert len(body["messages"]) == 3


PERSON_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
PERSON_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "Person",
        "description": "Who is asked about.",
        "schema": PERSON_SCHEMA,
        "strict": True,
    },
}


def test_a_json_schema_format_is_a_forced_tool_of_that_schema() -> None:
    body = native({"messages": [{"role": "user", "content": "Ada, 36"}], "response_format": PERSON_FORMAT})
    assert body["tools"] == [
        {
            "name": ANSWER_TOOL,
            "description": "Give your answer to the user with this tool: its input is the answer, "
            "a `Person`. Who is asked about.",
            "input_schema": PERSON_SCHEMA,
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": ANSWER_TOOL}
    assert "strict" not in body["tools"][0]  # Anthropic's strict tools exist on recent models only


def test_a_json_object_format_is_a_forced_tool_of_any_object() -> None:
    body = native(
        {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}
    )
    assert body["tools"][0]["input_schema"] == {
        "type": "object",
        "properties": {},
        "additionalProperties": True,
    }
    assert body["tool_choice"] == {"type": "tool", "name": ANSWER_TOOL}
    assert "tools" not in native(
        {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "text"}}
    )


@pytest.mark.parametrize(
    ("choice", "parallel", "tools", "expected"),
    [
        (None, None, ["get_weather", ANSWER_TOOL], {"type": "any"}),
        ("auto", False, ["get_weather", ANSWER_TOOL], {"type": "any", "disable_parallel_tool_use": True}),
        ("none", None, ["get_weather", ANSWER_TOOL], {"type": "tool", "name": ANSWER_TOOL}),
        # A tool call is required: the model cannot answer this turn, the format has no part in it.
        ("required", None, ["get_weather"], {"type": "any"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            None,
            ["get_weather"],
            {"type": "tool", "name": "get_weather"},
        ),
    ],
)
def test_a_format_beside_the_requests_own_tools(
    choice: Any, parallel: Any, tools: list[str], expected: dict[str, Any]
) -> None:
    payload = {"messages": [{"role": "user", "content": "x"}], "tools": [WEATHER_TOOL], "tool_choice": choice}
    body = native({**payload, "parallel_tool_calls": parallel, "response_format": PERSON_FORMAT})
    assert [tool["name"] for tool in body["tools"]] == tools
    assert body["tool_choice"] == expected


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"response_format": {"type": "grammar"}}, "response_format"),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "n", "schema": {"type": "array"}},
                }
            },
            "response_format.json_schema.schema",
        ),
        ({"tools": [{"type": "function", "function": {"name": ANSWER_TOOL}}]}, "tools[0].function.name"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"stop": 7}, "stop"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "messages[0].content[0]"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:,x"}}]}
                ]
            },
            "messages[0].content[0].image_url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "[1]"}}],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"tools": [{"type": "code_interpreter"}]}, "tools[0]"),
        ({"tools": [WEATHER_TOOL], "tool_choice": {"type": "allowed_tools"}}, "tool_choice"),
    ],
)
def test_untranslatable_requests_name_the_field(change: dict[str, Any], field: str) -> None:
    payload = {"messages": [{"role": "user", "content": "x"}], **change}
    with pytest.raises(TranslationError, match="^" + re.escape(field) + ":"):
        TRANSLATOR.request(payload, MODEL)


EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}
WEATHER_FUNCTION: Any = WEATHER_TOOL["function"]


def test_cache_control_goes_on_the_blocks_and_tools_it_marks() -> None:
    """OpenRouter's and LiteLLM's form: on a part, a message, a tool call, a tool (or its function)."""
    body = native(
        {
            "messages": [
                {"role": "system", "content": "You are a tutor.", "cache_control": HOUR},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "<a long book>", "cache_control": EPHEMERAL},
                        {"type": "text", "text": "Who is the hero?"},
                    ],
                },
                {
                    "role": "assistant",
                    "content": "Let me look.",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                            "cache_control": EPHEMERAL,
                        }
                    ],
                },
            ],
            "tools": [{**WEATHER_TOOL, "function": {**WEATHER_FUNCTION, "cache_control": HOUR}}],
        }
    )
    assert body["tools"][0]["cache_control"] == HOUR
    assert body["system"] == [{"type": "text", "text": "You are a tutor.", "cache_control": HOUR}]
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "<a long book>", "cache_control": EPHEMERAL},
        {"type": "text", "text": "Who is the hero?"},
    ]
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "Let me look."},
        {
            "type": "tool_use",
            "id": "call_1",
            "name": "get_weather",
            "input": {"city": "Paris"},
            "cache_control": EPHEMERAL,
        },
    ]


def test_a_messages_cache_control_marks_its_last_block() -> None:
    body = native(
        {
            "messages": [
                {"role": "user", "content": "What is the weather?", "cache_control": EPHEMERAL},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "function": {"name": "get_weather", "arguments": "{}"}},
                        {"id": "c2", "function": {"name": "get_weather", "arguments": "{}"}},
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "Sunny", "cache_control": EPHEMERAL},
                {
                    "role": "tool",
                    "tool_call_id": "c2",
                    "content": [
                        {"type": "text", "text": "Rain"},
                        {"type": "text", "text": "!", "cache_control": HOUR},
                    ],
                },
            ],
            "tools": [{**WEATHER_TOOL, "cache_control": EPHEMERAL}],  # beside `function`
        }
    )
    # A lone marked text stays a block (a string has no room for the mark).
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "What is the weather?", "cache_control": EPHEMERAL}
    ]
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1", "content": "Sunny", "cache_control": EPHEMERAL},
        {"type": "tool_result", "tool_use_id": "c2", "content": "Rain!", "cache_control": HOUR},
    ]
    assert body["tools"][0]["cache_control"] == EPHEMERAL
    unmarked = native({"messages": [{"role": "system", "content": "Hi"}, {"role": "user", "content": "Yo"}]})
    assert (unmarked["system"], unmarked["messages"][0]["content"]) == ("Hi", "Yo")


def test_more_than_four_breakpoints_are_refused_as_anthropic_refuses_them() -> None:
    marked = {"type": "text", "text": "x", "cache_control": EPHEMERAL}
    four = {"messages": [{"role": "user", "content": [marked] * 4}]}
    assert len(native(four)["messages"][0]["content"]) == 4
    five = {
        "messages": [{"role": "user", "content": [marked] * 4}],
        "tools": [{**WEATHER_TOOL, "cache_control": EPHEMERAL}],
    }
    with pytest.raises(
        TranslationError, match=r"^cache_control: Anthropic takes at most 4 .* this one has 5"
    ):
        TRANSLATOR.request(five, MODEL)
    wrong = {"messages": [{"role": "user", "content": [{**marked, "cache_control": "ephemeral"}]}]}
    with pytest.raises(
        TranslationError, match=re.escape("messages[0].content[0].cache_control: must be an object")
    ):
        TRANSLATOR.request(wrong, MODEL)


# Answers and errors


def test_text_answer_with_cache_usage() -> None:
    body = orjson.dumps(
        {
            "id": "msg_01XFD",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-6",
            "content": [
                {"type": "thinking", "thinking": "Easy.", "signature": "sig"},
                {"type": "text", "text": "Paris."},
            ],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                "input_tokens": 12,
                "cache_creation_input_tokens": 30,
                "cache_read_input_tokens": 2000,
                "output_tokens": 40,
                "output_tokens_details": {"thinking_tokens": 35},
            },
        }
    )
    answer = orjson.loads(TRANSLATOR.response(body, MODEL))
    assert answer == {
        "id": "msg_01XFD",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Paris.",
                    "refusal": None,
                    # the thinking: its text, and the block whole to send back in a tool loop
                    "reasoning_content": "Easy.",
                    "thinking_blocks": [{"type": "thinking", "thinking": "Easy.", "signature": "sig"}],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 2042,
            "completion_tokens": 40,
            "total_tokens": 2082,
            "prompt_tokens_details": {"cached_tokens": 2000, "cache_write_tokens": 30},
            "completion_tokens_details": {"reasoning_tokens": 35},
        },
    }
    ChatCompletion.model_validate(answer)


def test_tool_use_answer_becomes_tool_calls() -> None:
    body = orjson.dumps(
        {
            "id": "msg_02",
            "type": "message",
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
            ],
            "stop_reason": "tool_use",
            "usage": {"input_tokens": 300, "output_tokens": 20},
        }
    )
    answer = ChatCompletion.model_validate(orjson.loads(TRANSLATOR.response(body, MODEL)))
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert (call.id, call.type, call.function.name) == ("toolu_01A", "function", "get_weather")  # type: ignore[union-attr]
    assert orjson.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]


def answer_body(*blocks: dict[str, Any], stop_reason: str = "tool_use") -> bytes:
    usage = {"input_tokens": 300, "output_tokens": 20}
    return orjson.dumps({"id": "msg_03", "content": list(blocks), "stop_reason": stop_reason, "usage": usage})


def test_the_answer_tools_input_is_the_content() -> None:
    ada = {"type": "tool_use", "id": "toolu_01C", "name": ANSWER_TOOL, "input": {"name": "Ada", "age": 36}}
    answer = ChatCompletion.model_validate(orjson.loads(TRANSLATOR.response(answer_body(ada), MODEL)))
    choice = answer.choices[0]
    assert (choice.finish_reason, choice.message.tool_calls) == ("stop", None)
    assert choice.message.content is not None
    assert orjson.loads(choice.message.content) == {"name": "Ada", "age": 36}
    empty = {**ada, "input": {}}
    assert (
        orjson.loads(TRANSLATOR.response(answer_body(empty), MODEL))["choices"][0]["message"]["content"]
        == "{}"
    )


def test_the_answer_tool_beside_a_tool_call() -> None:
    call = {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}}
    ada = {"type": "tool_use", "id": "toolu_01C", "name": ANSWER_TOOL, "input": {"name": "Ada", "age": 36}}
    answer = ChatCompletion.model_validate(orjson.loads(TRANSLATOR.response(answer_body(call, ada), MODEL)))
    choice = answer.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert [c.function.name for c in choice.message.tool_calls or ()] == ["get_weather"]  # type: ignore[union-attr]
    assert orjson.loads(choice.message.content or "") == {"name": "Ada", "age": 36}


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("stop_sequence", "stop"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("model_context_window_exceeded", "length"),
    ],
)
def test_stop_reasons(stop_reason: str, finish_reason: str) -> None:
    body = orjson.dumps({"id": "m", "content": [{"type": "text", "text": "a"}], "stop_reason": stop_reason})
    assert orjson.loads(TRANSLATOR.response(body, MODEL))["choices"][0]["finish_reason"] == finish_reason


def test_created_is_the_clocks_time_once_per_answer() -> None:
    ticks = iter(range(1_767_225_600, 1_767_225_700, 10))
    translator = AnthropicTranslator(clock=lambda: next(ticks))
    body = orjson.dumps({"id": "m", "content": [{"type": "text", "text": "a"}], "stop_reason": "end_turn"})
    assert orjson.loads(translator.response(body, MODEL))["created"] == 1_767_225_600
    stream = translator.stream(MODEL, include_usage=True)
    events = chunks(stream.feed(TOOL_STREAM) + stream.close())
    assert {item["created"] for item in events} == {1_767_225_610}  # the stream's time, in every chunk


def test_unreadable_answer_raises() -> None:
    with pytest.raises(TranslationError):
        TRANSLATOR.response(b"<html>", MODEL)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (
            429,
            b'{"type":"error","error":{"type":"rate_limit_error","message":"Slow down"},"request_id":"r"}',
            {"message": "Slow down", "type": "rate_limit_error", "param": None, "code": "rate_limit_error"},
        ),
        (
            529,
            b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
            {"message": "Overloaded", "type": "server_error", "param": None, "code": "overloaded_error"},
        ),
        (
            502,
            b"<html>Bad Gateway</html>",
            {"message": "<html>Bad Gateway</html>", "type": "server_error", "param": None, "code": None},
        ),
        (
            400,
            b"",
            {
                "message": "Anthropic answered HTTP 400",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            },
        ),
    ],
)
def test_errors_take_openais_shape(status: int, body: bytes, expected: dict[str, Any]) -> None:
    assert orjson.loads(TRANSLATOR.error(status, body)) == {"error": expected}


# Streams


def test_text_stream_translation() -> None:
    events = chunks(translate(TEXT_STREAM, []))
    head = {"id": "msg_01ABC", "object": "chat.completion.chunk", "created": CREATED, "model": MODEL}
    head["usage"] = None

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    assert events == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Paris — "}),
        chunk({"content": "la capitale 🇫🇷"}),
        chunk({}, "stop"),
        {
            **head,
            "choices": [],
            "usage": {
                "prompt_tokens": 1821,
                "completion_tokens": 9,
                "total_tokens": 1830,
                "prompt_tokens_details": {"cached_tokens": 1800},
                "completion_tokens_details": {"reasoning_tokens": 0},
            },
        },
    ]


def test_without_include_usage_there_is_no_usage_at_all() -> None:
    events = chunks(translate(TEXT_STREAM, [], include_usage=False))
    assert all("usage" not in item for item in events)
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events) == "Paris — la capitale 🇫🇷"


def test_tool_stream_translation() -> None:
    events = chunks(translate(TOOL_STREAM, []))
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Two cities: call the tool twice."},  # thinking, as it comes
        # then, once its block stops, the block whole and signed (to send back in a tool loop)
        {
            "thinking_blocks": [
                {
                    "type": "thinking",
                    "thinking": "Two cities: call the tool twice.",
                    "signature": "EqQBCgIYAhIM",
                }
            ]
        },
        {"content": "Checking both."},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "toolu_01A",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Par'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": 'is"}'}}]},
        {
            "tool_calls": [
                {
                    "index": 1,
                    "id": "toolu_01B",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 1, "function": {"arguments": '{"city": "Lyon"}'}}]},
        {},
    ]
    assert events[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 20}
    assert events[-1]["usage"]["prompt_tokens"] == 380


def test_answer_tool_stream_translation() -> None:
    events = chunks(translate(ANSWER_STREAM, []))
    deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"content": '{"name": "Ad'},
        {"content": 'a", "age": 36}'},
        {},
    ]
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["usage"]["completion_tokens"] == 17


def test_an_answer_without_input_streams_an_empty_object() -> None:
    empty = re.sub(rb"event: content_block_delta\n[^\n]*\n\n", b"", ANSWER_STREAM)
    deltas = [e["choices"][0]["delta"] for e in chunks(translate(empty, [])) if e["choices"]]
    assert deltas == [{"role": "assistant", "content": ""}, {"content": "{}"}, {}]


def no_argument_tool_stream(*pieces: str) -> bytes:
    """A call of a tool without parameters, as Anthropic streams it: content_block_start's `input`
    is `{}`, then `pieces` (none, or one empty), then content_block_stop."""
    block = {"type": "tool_use", "id": "toolu_01T", "name": "get_time", "input": {}}
    return (
        message_start({"input_tokens": 300, "output_tokens": 1})
        + event({"type": "content_block_start", "index": 0, "content_block": block})
        + b"".join(block_delta(0, {"type": "input_json_delta", "partial_json": p}) for p in pieces)
        + event({"type": "content_block_stop", "index": 0})
        + message_end("tool_use", {"output_tokens": 12})
    )


@pytest.mark.parametrize("pieces", [(), ("",)], ids=["no-piece", "empty-piece"])
def test_a_tool_without_parameters_streams_an_empty_object(pieces: tuple[str, ...]) -> None:
    events = [e for e in chunks(translate(no_argument_tool_stream(*pieces), [])) if e["choices"]]
    deltas = [e["choices"][0]["delta"] for e in events]
    call = {
        "index": 0,
        "id": "toolu_01T",
        "type": "function",
        "function": {"name": "get_time", "arguments": ""},
    }
    assert deltas == [
        {"role": "assistant", "content": ""},
        {"tool_calls": [call]},
        {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]},  # once, before the finish
        {},
    ]
    assert events[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_tool_input_given_whole_at_its_start_is_its_arguments() -> None:
    """A server that puts the whole input in content_block_start and streams no piece (Anthropic
    puts `{}` there) is read as Anthropic's SDK reads it: the start's input stands."""
    stream = no_argument_tool_stream().replace(b'"input":{}', b'"input":{"zone":"UTC"}')
    deltas = [e["choices"][0]["delta"] for e in chunks(translate(stream, [])) if e["choices"]]
    assert deltas[2] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"zone":"UTC"}'}}]}


@pytest.mark.parametrize("stream", [TEXT_STREAM, TOOL_STREAM, ANSWER_STREAM], ids=["text", "tools", "answer"])
def test_stream_translation_is_the_same_whatever_the_chunking(stream: bytes) -> None:
    whole = translate(stream, [])
    for cut in range(len(stream) + 1):
        assert translate(stream, [cut]) == whole, cut
    assert translate(stream, list(range(1, len(stream)))) == whole  # byte by byte
    step = 7919  # a prime walk gives three-way cuts everywhere, in order
    for start in range(0, len(stream), 13):
        first, second = sorted((start, (start * step) % (len(stream) + 1)))
        assert translate(stream, [first, second]) == whole, (first, second)


@pytest.mark.parametrize("line_end", [b"\r\n", b"\r"], ids=["crlf", "cr"])
def test_other_line_ends_translate_the_same(line_end: bytes) -> None:
    stream = TEXT_STREAM.replace(b"\n", line_end)
    whole = translate(TEXT_STREAM, [])
    for cut in range(len(stream) + 1):
        assert translate(stream, [cut]) == whole, cut


def test_each_event_is_translated_as_soon_as_it_is_complete() -> None:
    translator = AnthropicStream(MODEL, include_usage=False, created=CREATED)
    first_end = TEXT_STREAM.index(b"\n\n") + 2
    assert translator.feed(TEXT_STREAM[: first_end - 1]) == b""  # the blank line has not arrived
    assert b'"role":"assistant"' in translator.feed(TEXT_STREAM[first_end - 1 : first_end])
    text_event = block_delta(0, {"type": "text_delta", "text": "Hi"})
    assert translator.feed(text_event) != b""


def test_error_event_mid_stream_becomes_an_openai_error() -> None:
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    stream = TEXT_STREAM[: TEXT_STREAM.index(b"event: content_block_stop")] + event(error)
    events = chunks(translate(stream, [len(stream) // 2]))
    assert events[-1] == {
        "error": {"message": "Overloaded", "type": "server_error", "param": None, "code": "overloaded_error"}
    }
    assert all(e.get("choices") != [] for e in events)  # no usage chunk after a failure


def test_a_stream_without_message_stop_ends_in_an_openai_error() -> None:
    # Cut before its message_delta: no finish, no usage chunk, no [DONE]; OpenAI's in-stream error.
    stream = TEXT_STREAM[: TEXT_STREAM.index(b"event: content_block_stop")]
    translated = translate(stream, [len(stream) // 3])
    *events, last = list(iter_json(translated))
    assert "".join(e["choices"][0]["delta"].get("content") or "" for e in events) == "Paris — la capitale 🇫🇷"
    assert all(e["choices"] and e["choices"][0]["finish_reason"] is None for e in events)
    reason = "the upstream stream ended before it finished (message_stop never came)"
    assert last == {"error": {"message": reason, "type": "server_error", "param": None, "code": None}}
    assert b"data: [DONE]" not in translated


def test_a_last_event_without_its_blank_line_still_counts() -> None:
    stream = TEXT_STREAM.removesuffix(b"\n\n")
    assert translate(stream, [len(stream) - 1]) == translate(TEXT_STREAM, [])
