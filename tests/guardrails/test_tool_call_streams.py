"""Tool call arguments in streamed answers: redacted as they pass in every format that streams them
(OpenAI chat `tool_calls` deltas, Responses `function_call_arguments` events, Anthropic
`input_json_delta`, Gemini's whole `functionCall`), staying valid JSON however the bytes are cut;
and events the filter changes nothing in go out byte for byte."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.guardrails.placeholders import Vault
from sluicegate.providers.anthropic.texts import MESSAGES_TEXTS
from sluicegate.providers.gemini.texts import GEMINI_TEXTS
from sluicegate.providers.openai_texts import CHAT_TEXTS, RESPONSES_TEXTS
from tests.guardrails.test_sse import events, make_filter, run

ARGUMENTS = json.dumps({"note": "card 4111 1111 1111 1111 for\nbob@example.com", "copies": 2})
REDACTED = {"note": "card [CREDIT_CARD_1] for\n[EMAIL_1]", "copies": 2}
HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}


def fragments(text: str, size: int = 7) -> list[str]:
    return [text[at : at + size] for at in range(0, len(text), size)]


def chat_chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {**HEAD, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def chat_tool_stream(calls: list[str], *, finish: bool = True, last_with_finish: bool = False) -> bytes:
    chunks = [chat_chunk({"role": "assistant", "content": None})]
    for number, arguments in enumerate(calls):
        opening = {"index": number, "id": f"call_{number}", "type": "function"}
        chunks.append(
            chat_chunk({"tool_calls": [{**opening, "function": {"name": "save", "arguments": ""}}]})
        )
        chunks += [
            chat_chunk({"tool_calls": [{"index": number, "function": {"arguments": piece}}]})
            for piece in fragments(arguments)
        ]
    if last_with_finish:
        chunks[-1]["choices"][0]["finish_reason"] = "tool_calls"
    elif finish:
        chunks.append(chat_chunk({}, "tool_calls"))
    data = [b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks]
    return b"".join(data) + (b"data: [DONE]\n\n" if finish else b"")


def chat_arguments(out: bytes) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in events(out):
        for choice in chunk["choices"]:
            for call in (choice.get("delta") or {}).get("tool_calls") or []:
                found[call["index"]] = found.get(call["index"], "") + call["function"].get("arguments", "")
    return found


@given(st.lists(st.integers(min_value=0, max_value=6000), max_size=12), st.booleans())
def test_chat_tool_call_arguments_cut_anywhere_are_redacted(cuts: list[int], last_with_finish: bool) -> None:
    data = chat_tool_stream([ARGUMENTS, '{"note": "nothing here"}'], last_with_finish=last_with_finish)
    out = run(make_filter(CHAT_TEXTS), data, cuts)
    arguments = chat_arguments(out)
    assert json.loads(arguments[0]) == REDACTED
    assert json.loads(arguments[1]) == {"note": "nothing here"}
    assert b"4111" not in out
    assert b"bob@" not in out
    assert out.endswith(b"data: [DONE]\n\n")
    assert [c["choices"][0]["finish_reason"] for c in events(out)].count("tool_calls") == 1


def test_chat_tool_call_arguments_held_at_an_abrupt_end_are_flushed() -> None:
    out = run(make_filter(CHAT_TEXTS), chat_tool_stream([ARGUMENTS], finish=False), [])
    assert json.loads(chat_arguments(out)[0]) == REDACTED
    assert events(out)[-1]["id"] == "chatcmpl-1"


def test_chat_tool_call_arguments_get_the_request_s_values_back() -> None:
    vault = Vault()
    vault.placeholder("email", "ann@example.org")
    data = chat_tool_stream(['{"to": "[EMAIL_1]", "cc": "[EMAIL_2]"}'])
    out = run(make_filter(CHAT_TEXTS, vault, restore=True), data, [])
    assert json.loads(chat_arguments(out)[0]) == {"to": "ann@example.org", "cc": "[EMAIL_2]"}


def responses_tool_stream(arguments: str) -> bytes:
    item = {"id": "fc_1", "type": "function_call", "call_id": "call_1", "name": "save", "arguments": ""}
    where = {"item_id": "fc_1", "output_index": 0}
    done = {**item, "arguments": arguments, "status": "completed"}
    named: list[dict[str, Any]] = [
        {"type": "response.created", "response": {"id": "r", "output": []}},
        {"type": "response.output_item.added", "output_index": 0, "item": item},
    ]
    named += [
        {"type": "response.function_call_arguments.delta", **where, "delta": d} for d in fragments(arguments)
    ]
    named += [
        {"type": "response.function_call_arguments.done", **where, "arguments": arguments},
        {"type": "response.output_item.done", "output_index": 0, "item": done},
        {"type": "response.completed", "response": {"id": "r", "output": [done]}},
    ]
    for number, event in enumerate(named):
        event["sequence_number"] = number
    return b"".join(f"event: {e['type']}\n".encode() + b"data: " + orjson.dumps(e) + b"\n\n" for e in named)


@given(st.lists(st.integers(min_value=0, max_value=5000), max_size=8))
def test_responses_function_call_arguments_and_their_repeats_are_redacted(cuts: list[int]) -> None:
    out = run(make_filter(RESPONSES_TEXTS), responses_tool_stream(ARGUMENTS), cuts)
    found = events(out)
    deltas = "".join(e["delta"] for e in found if e["type"] == "response.function_call_arguments.delta")
    assert json.loads(deltas) == REDACTED
    done = next(e for e in found if e["type"] == "response.function_call_arguments.done")
    assert done["arguments"] == deltas  # the repeat is redacted alike, the same placeholders
    assert found[-2]["item"]["arguments"] == deltas
    assert found[-1]["response"]["output"][0]["arguments"] == deltas
    assert b"4111" not in out
    assert b"bob@" not in out


def anthropic_tool_stream(arguments: str) -> bytes:
    block = {"type": "tool_use", "id": "toolu_1", "name": "save", "input": {}}
    named: list[dict[str, Any]] = [
        {"type": "message_start", "message": {"id": "msg_1", "content": []}},
        {"type": "content_block_start", "index": 0, "content_block": block},
    ]
    named += [
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": p}}
        for p in ["", *fragments(arguments)]
    ]
    named += [{"type": "content_block_stop", "index": 0}, {"type": "message_stop"}]
    return b"".join(f"event: {e['type']}\n".encode() + b"data: " + orjson.dumps(e) + b"\n\n" for e in named)


@given(st.lists(st.integers(min_value=0, max_value=5000), max_size=12))
def test_anthropic_input_json_deltas_cut_anywhere_are_redacted(cuts: list[int]) -> None:
    out = run(make_filter(MESSAGES_TEXTS), anthropic_tool_stream(ARGUMENTS), cuts)
    found = events(out)
    partial = "".join(e["delta"]["partial_json"] for e in found if e["type"] == "content_block_delta")
    assert json.loads(partial) == REDACTED
    assert [e["type"] for e in found][-2:] == ["content_block_stop", "message_stop"]
    assert b"4111" not in out


def test_gemini_function_call_args_are_redacted_and_stay_an_object() -> None:
    call = {"functionCall": {"name": "save", "args": json.loads(ARGUMENTS)}, "thoughtSignature": "sig"}
    chunk = {"candidates": [{"content": {"role": "model", "parts": [call]}, "finishReason": "STOP"}]}
    out = run(make_filter(GEMINI_TEXTS), b"data: " + orjson.dumps(chunk) + b"\r\n\r\n", [])
    part = events(out)[0]["candidates"][0]["content"]["parts"][0]
    assert part == {"functionCall": {"name": "save", "args": REDACTED}, "thoughtSignature": "sig"}


def test_events_nothing_was_changed_in_go_out_byte_for_byte() -> None:
    # Spaced JSON, as Gemini writes it: an event re-encoded would lose its spaces.
    quiet = [
        b'data: {"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}}]}\r\n\r\n',
        b'data: {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": {"q": 1}}}]}}]}'
        b"\r\n\r\n",
        b'data: {"candidates": [], "usageMetadata": {"totalTokenCount": 3}}\r\n\r\n',
    ]
    assert run(make_filter(GEMINI_TEXTS), b"".join(quiet), [5, 90]) == b"".join(quiet)
    head = chat_tool_stream([ARGUMENTS]).split(b"\n\n")[0] + b"\n\n"  # the role chunk
    spaced = head.replace(b'":', b'": ')
    assert run(make_filter(CHAT_TEXTS), spaced, []) == spaced


def test_legacy_function_call_arguments_and_null_fields_in_the_finishing_chunk() -> None:
    chunks = [chat_chunk({"role": "assistant", "function_call": {"name": "save", "arguments": ""}})]
    chunks += [chat_chunk({"function_call": {"arguments": piece}}) for piece in fragments(ARGUMENTS)]
    chunks.append(chat_chunk({"content": None, "tool_calls": None, "function_call": None}, "function_call"))
    data = b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks) + b"data: [DONE]\n\n"
    out = run(make_filter(CHAT_TEXTS), data, [])
    arguments = "".join(
        (c["choices"][0]["delta"].get("function_call") or {}).get("arguments") or "" for c in events(out)
    )
    assert json.loads(arguments) == REDACTED
