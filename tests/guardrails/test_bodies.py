"""The user-visible text of each text format's requests and answers, and only that."""

from __future__ import annotations

from typing import Any

from sluicegate.guardrails.bodies import answer_texts, rewrite, texts
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
    assert body["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"a": 1}'
    assert body["messages"][3]["content"] == "tool:42"


def test_openai_responses() -> None:
    body: dict[str, Any] = {
        "instructions": "be brief",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "hi"}, {"type": "input_image"}]},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "yo"}]},
            {"type": "function_call_output", "call_id": "c", "output": "secret"},
        ],
    }
    assert [(text.role, text.value) for text in texts(RESPONSES_TEXTS, body)] == [
        ("system", "be brief"),
        ("user", "hi"),
        ("assistant", "yo"),
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
                ],
            },
        ],
    }
    assert [(text.role, text.value) for text in texts(MESSAGES_TEXTS, body)] == [
        ("system", "sys"),
        ("user", "hello"),
        ("user", "more"),
    ]


def test_gemini() -> None:
    body: dict[str, Any] = {
        "systemInstruction": {"parts": [{"text": "sys"}]},
        "contents": [
            {
                "role": "user",
                "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": "AA"}}],
            },
            {"role": "model", "parts": [{"text": "thinking", "thought": True}, {"text": "yo"}]},
        ],
    }
    assert [(text.role, text.value) for text in texts(GEMINI_TEXTS, body)] == [
        ("system", "sys"),
        ("user", "hi"),
        ("assistant", "yo"),
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
    for text_format, answer in answers:
        assert [(text.role, text.value) for text in answer_texts(text_format, answer)] == [("assistant", "a")]
        assert answer_texts(text_format, [answer]) == []
