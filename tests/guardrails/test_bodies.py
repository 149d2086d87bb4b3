"""The text of each text format's requests and answers, and only that: prose, tool results, and
the arguments of tool calls (JSON, changed value by value)."""

from __future__ import annotations

from typing import Any

import orjson

from sluicegate.guardrails.bodies import answer_texts, rewrite, rewrite_answer, texts
from sluicegate.providers.anthropic.texts import MESSAGES_TEXTS
from sluicegate.providers.gemini.texts import GEMINI_TEXTS
from sluicegate.providers.openai_texts import CHAT_TEXTS, RESPONSES_TEXTS
from sluicegate.providers.texts import TextFormat


def upper(text: str, role: str) -> str:
    return f"{role}:{text.upper()}"


def test_openai_chat() -> None:
    body: dict[str, Any] = {
        "model": "gpt-x",
        "messages": [
            {"role": "developer", "content": "be brief"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
                ],
            },
            {"role": "assistant", "content": None, "tool_calls": [{"function": {"arguments": '{"a": 1}'}}]},
            {"role": "tool", "content": "42", "tool_call_id": "c1"},
        ],
    }
    assert rewrite(CHAT_TEXTS, body, upper)
    assert body["model"] == "gpt-x"
    assert body["messages"][0]["content"] == "system:BE BRIEF"
    assert body["messages"][1]["content"][0]["text"] == "user:LOOK"
    assert body["messages"][1]["content"][1] == {"type": "image_url", "image_url": {"url": "https://x/a.png"}}
    # Keys and values of the arguments, each a text of its own; a changed number becomes a string.
    arguments = body["messages"][2]["tool_calls"][0]["function"]["arguments"]
    assert arguments == '{"assistant:A": "assistant:1"}'
    assert body["messages"][3]["content"] == "tool:42"


def test_openai_responses() -> None:
    body: dict[str, Any] = {
        "instructions": "be brief",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}, {"type": "input_image"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "yo"}]},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": '{"q": "x"}'},
            {"type": "function_call_output", "call_id": "c", "output": "secret"},
            {"type": "function_call_output", "call_id": "d", "output": [{"type": "input_text", "text": "s"}]},
            {"type": "custom_tool_call", "call_id": "e", "name": "g", "input": "raw input"},
            {"type": "custom_tool_call_output", "call_id": "e", "output": "raw output"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "no"}]},
        ],
    }
    found = texts(RESPONSES_TEXTS, body)
    assert [(text.role, text.value, text.json) for text in found] == [
        ("system", "be brief", False),
        ("user", "hi", False),
        ("assistant", "yo", False),
        ("assistant", '{"q": "x"}', True),
        ("tool", "secret", False),
        ("tool", "s", False),
        ("assistant", "raw input", False),
        ("tool", "raw output", False),
        ("assistant", "no", False),  # a reasoning item's summary goes upstream too
    ]
    plain: dict[str, Any] = {"input": "hello"}
    rewrite(RESPONSES_TEXTS, plain, upper)
    assert plain == {"input": "user:HELLO"}


def test_anthropic_messages() -> None:
    body: dict[str, Any] = {
        "system": [{"type": "text", "text": "sys"}],
        "messages": [
            {"role": "user", "content": "hello"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "more"},
                    {"type": "tool_result", "tool_use_id": "t", "content": "raw"},
                    {"type": "image", "source": {"type": "base64", "data": "AAAA"}},
                    {"type": "tool_result", "tool_use_id": "u", "content": [{"type": "text", "text": "r"}]},
                ],
            },
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"q": 1}}],
            },
        ],
    }
    assert [(text.role, text.value) for text in texts(MESSAGES_TEXTS, body)] == [
        ("system", "sys"),
        ("user", "hello"),
        ("user", "more"),
        ("tool", "raw"),
        ("tool", "r"),
        ("assistant", '{"q":1}'),
    ]
    assert rewrite(MESSAGES_TEXTS, body, upper)
    assert body["messages"][2]["content"][0]["input"] == {"assistant:Q": "assistant:1"}  # still an object


def test_gemini() -> None:
    body: dict[str, Any] = {
        "systemInstruction": {"parts": [{"text": "sys"}]},
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": "AA"}}],
            },
            {
                "role": "model",
                "parts": [
                    {"text": "thinking", "thought": True},
                    {"text": "yo"},
                    {"functionCall": {"name": "f", "args": {"q": "a"}}, "thoughtSignature": "sig"},
                ],
            },
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"r": "b"}}}]},
        ],
    }
    assert [(text.role, text.value) for text in texts(GEMINI_TEXTS, body)] == [
        ("system", "sys"),
        ("user", "hi"),
        ("assistant", "yo"),
        ("assistant", '{"q":"a"}'),
        ("tool", '{"r":"b"}'),
    ]


def test_malformed_bodies_yield_nothing() -> None:
    formats: list[TextFormat] = [CHAT_TEXTS, RESPONSES_TEXTS, MESSAGES_TEXTS, GEMINI_TEXTS]
    for text_format in formats:
        for body in ([], "x", {"messages": "x", "contents": [1], "input": [1], "system": 3}):
            assert texts(text_format, body) == []
            assert rewrite(text_format, body, upper) is False


def test_the_answer_texts_of_each_format() -> None:
    answers: list[tuple[TextFormat, dict[str, Any]]] = [
        (CHAT_TEXTS, {"choices": [{"message": {"content": "a"}}, {"message": {"content": None}}]}),
        (
            RESPONSES_TEXTS,
            {
                "output": [
                    {"type": "reasoning", "summary": [{"type": "summary_text", "text": "no"}]},
                    {"type": "message", "content": [{"type": "output_text", "text": "a"}, {"type": "x"}]},
                ]
            },
        ),
        (MESSAGES_TEXTS, {"content": [{"type": "thinking", "thinking": "no"}, {"text": "a"}]}),
        (
            GEMINI_TEXTS,
            {"candidates": [{"content": {"parts": [{"text": "no", "thought": True}, {"text": "a"}]}}]},
        ),
    ]
    # The model's thinking is read too (a reasoning summary, a thinking block, a thought summary).
    read = [["a"], ["no", "a"], ["no", "a"], ["no", "a"]]
    for (text_format, answer), expected in zip(answers, read, strict=True):
        assert [(text.role, text.value) for text in answer_texts(text_format, answer)] == [
            ("assistant", value) for value in expected
        ]
        assert answer_texts(text_format, [answer]) == []


def test_the_tool_calls_of_each_format_s_answers() -> None:
    answers: list[tuple[TextFormat, dict[str, Any]]] = [
        (
            CHAT_TEXTS,
            {
                "choices": [
                    {
                        "message": {
                            "content": None,
                            "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": '{"n": "a"}'}}],
                        }
                    }
                ]
            },
        ),
        (RESPONSES_TEXTS, {"output": [{"type": "function_call", "name": "f", "arguments": '{"n": "a"}'}]}),
        (MESSAGES_TEXTS, {"content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"n": "a"}}]}),
        (
            GEMINI_TEXTS,
            {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"n": "a"}}}]}}]},
        ),
    ]
    for text_format, answer in answers:
        found = answer_texts(text_format, answer)
        assert [(text.role, text.json) for text in found] == [("assistant", True)]
        assert rewrite_answer(text_format, answer, upper)
        assert orjson.loads(found[0].value) == {"assistant:N": "assistant:A"}
