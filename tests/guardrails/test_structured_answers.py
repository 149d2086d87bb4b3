"""Answers a request asked to be JSON (structured outputs, JSON mode) are read as JSON in each
format, whole and streamed: each value as the text it stands for, the answer still valid JSON;
an answer that is not JSON after all is read as prose, as tool call arguments are."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from sluicegate.guardrails.bodies import rewrite_answer
from sluicegate.guardrails.placeholders import Vault, redact
from sluicegate.guardrails.scanner import Scanner, builtin_detectors
from sluicegate.guardrails.sse import SseTextFilter, TextPipe
from sluicegate.guardrails.stream import StreamRedactor
from sluicegate.providers.anthropic.texts import MESSAGES_TEXTS
from sluicegate.providers.gemini.texts import GEMINI_TEXTS
from sluicegate.providers.openai_texts import CHAT_TEXTS, RESPONSES_TEXTS
from sluicegate.providers.texts import TextFormat

SCANNER = Scanner(builtin_detectors(["credit_card", "email"]))
ANSWER = json.dumps({"note": "to:\nbob@example.com", "card": 4111111111111111, "n": 2})
EXPECTED = {"note": "to:\n[EMAIL_1]", "card": "[CREDIT_CARD_1]", "n": 2}
PROSE = "Sorry: card 4111 1111 1111 1111"  # a JSON answer that is not JSON after all
SCHEMA = {"type": "object", "properties": {"note": {"type": "string"}}}

# Each format with a request that asks for a JSON answer.
ASKING: list[tuple[TextFormat, dict[str, Any]]] = [
    (
        CHAT_TEXTS,
        {"response_format": {"type": "json_schema", "json_schema": {"name": "n", "schema": SCHEMA}}},
    ),
    (CHAT_TEXTS, {"response_format": {"type": "json_object"}}),
    (RESPONSES_TEXTS, {"text": {"format": {"type": "json_schema", "name": "n", "schema": SCHEMA}}}),
    (RESPONSES_TEXTS, {"text": {"format": {"type": "json_object"}}}),
    (MESSAGES_TEXTS, {"output_config": {"format": {"type": "json_schema", "schema": SCHEMA}}}),
    (MESSAGES_TEXTS, {"output_format": {"type": "json_schema", "schema": SCHEMA}}),  # the beta's
    (GEMINI_TEXTS, {"generationConfig": {"responseMimeType": "application/json"}}),
    (GEMINI_TEXTS, {"generation_config": {"response_mime_type": "application/json"}}),
    (GEMINI_TEXTS, {"generationConfig": {"responseJsonSchema": SCHEMA}}),
]
# Requests for prose.
NOT_ASKING: list[tuple[TextFormat, Any]] = [
    (CHAT_TEXTS, {"response_format": {"type": "text"}}),
    (CHAT_TEXTS, {}),
    (CHAT_TEXTS, None),  # a body that is not JSON
    (RESPONSES_TEXTS, {"text": {"format": {"type": "text"}}}),
    (RESPONSES_TEXTS, {"text": "json_object"}),
    (MESSAGES_TEXTS, {"output_config": {"effort": "low"}}),
    (GEMINI_TEXTS, {"generationConfig": {"responseMimeType": "text/x.enum", "responseSchema": SCHEMA}}),
    (GEMINI_TEXTS, {"generationConfig": {"temperature": 0}}),
]


def answer(text_format: TextFormat, text: str) -> dict[str, Any]:
    """A whole answer of `text_format` whose text is `text`."""
    match text_format.name:
        case "openai_chat":
            return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
        case "openai_responses":
            part = {"type": "output_text", "text": text, "annotations": []}
            return {"output": [{"type": "message", "id": "msg_1", "content": [part]}]}
        case "anthropic_messages":
            return {"content": [{"type": "text", "text": text}]}
    return {"candidates": [{"index": 0, "content": {"role": "model", "parts": [{"text": text}]}}]}


def events(text_format: TextFormat, pieces: list[str]) -> list[dict[str, Any]]:
    """A stream of `text_format` whose text comes in `pieces`."""
    deltas: list[dict[str, Any]]
    match text_format.name:
        case "openai_chat":
            deltas = [
                {"choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]} for p in pieces
            ]
            return [*deltas, {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
        case "openai_responses":
            where: dict[str, Any] = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
            deltas = [{"type": "response.output_text.delta", **where, "delta": p} for p in pieces]
            text = "".join(pieces)
            done = {"type": "response.output_text.done", **where, "text": text}
            completed = {"type": "response.completed", "response": answer(text_format, text)}
            return [*deltas, done, completed]
        case "anthropic_messages":
            deltas = [
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
                for p in pieces
            ]
            return [*deltas, {"type": "content_block_stop", "index": 0}]
    chunks: list[dict[str, Any]] = [
        {"candidates": [{"index": 0, "content": {"parts": [{"text": p}]}}]} for p in pieces
    ]
    chunks[-1]["candidates"][0]["finishReason"] = "STOP"
    return chunks


def streamed_texts(text_format: TextFormat, pieces: list[str]) -> list[str]:
    """What the client gets of a stream's text: its deltas put together, and each whole text an
    event repeats."""
    vault = Vault()
    sse = SseTextFilter(text_format, lambda: TextPipe(StreamRedactor(SCANNER, vault), None))
    raw = b"".join(b"data: " + orjson.dumps(event) + b"\n\n" for event in events(text_format, pieces))
    out = sse.feed(raw) + sse.close()
    deltas, wholes = [], []
    for line in out.split(b"\n"):
        if not line.startswith(b"data: "):
            continue
        event = orjson.loads(line[6:])
        kind = event.get("type")
        if kind == "response.output_text.delta":
            deltas.append(event["delta"])
        elif kind == "response.output_text.done":
            wholes.append(event["text"])
        elif kind == "response.completed":
            wholes.append(event["response"]["output"][0]["content"][0]["text"])
        elif kind == "content_block_delta":
            deltas.append(event["delta"]["text"])
        elif "choices" in event:
            deltas += [choice["delta"].get("content") or "" for choice in event["choices"]]
        elif "candidates" in event:
            deltas += [part["text"] for c in event["candidates"] for part in c["content"]["parts"]]
    return ["".join(deltas), *wholes]


def whole_text(text_format: TextFormat, text: str) -> str:
    body = answer(text_format, text)
    vault = Vault()
    rewrite_answer(text_format, body, lambda value, _role: redact(value, SCANNER, vault)[0])
    (found,) = text_format.answer_texts(body)
    return found.value


@pytest.mark.parametrize(("text_format", "request_body"), ASKING)
def test_a_json_answer_is_read_value_by_value_and_stays_json(
    text_format: TextFormat, request_body: dict[str, Any]
) -> None:
    answering = text_format.answering(request_body)
    assert json.loads(whole_text(answering, ANSWER)) == EXPECTED
    pieces = [ANSWER[at : at + 5] for at in range(0, len(ANSWER), 5)]  # `\n` and the address cut
    for text in streamed_texts(answering, pieces):
        assert json.loads(text) == EXPECTED


@pytest.mark.parametrize(("text_format", "request_body"), ASKING)
def test_a_json_answer_that_is_not_json_is_read_as_prose(
    text_format: TextFormat, request_body: dict[str, Any]
) -> None:
    answering = text_format.answering(request_body)
    assert whole_text(answering, PROSE) == "Sorry: card [CREDIT_CARD_1]"
    for text in streamed_texts(answering, [PROSE[at : at + 4] for at in range(0, len(PROSE), 4)]):
        assert text == "Sorry: card [CREDIT_CARD_1]"


@pytest.mark.parametrize(("text_format", "request_body"), NOT_ASKING)
def test_an_answer_asked_as_prose_is_read_as_prose(text_format: TextFormat, request_body: Any) -> None:
    answering = text_format.answering(request_body)
    assert answering == text_format
    assert all(not text.json for text in answering.answer_texts(answer(answering, ANSWER)))
    assert whole_text(answering, "mail bob@example.com") == "mail [EMAIL_1]"


def test_the_format_asked_once_is_kept_for_its_answers_only() -> None:
    json_chat = CHAT_TEXTS.answering({"response_format": {"type": "json_object"}})
    assert json_chat.answering({}) == CHAT_TEXTS  # read per request, not sticky
    assert CHAT_TEXTS.answering({}) is CHAT_TEXTS
    # Requests are read as they were: a JSON answer sent back in a history is the client's text.
    history = {"messages": [{"role": "assistant", "content": ANSWER}]}
    assert [text.json for text in json_chat.request_texts(history)] == [False]
