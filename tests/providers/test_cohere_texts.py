"""Cohere's text format (providers/cohere_texts.py, cohere_streams.py): which texts of its v1 and
v2 chat requests and answers guardrails read, in whose role, and its v2 SSE stream read through the
SSE filter however the bytes are cut, what a pipe held going out as the event its text came in."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.guardrails.array_stream import JsonArrayTextFilter
from sluicegate.guardrails.bodies import answer_texts, texts
from sluicegate.guardrails.placeholders import RestoreStream, Vault
from sluicegate.guardrails.policy import GuardrailsPolicy
from sluicegate.guardrails.sse import TextPipe
from sluicegate.guardrails.stream import StreamRedactor
from sluicegate.pipeline.guardrail_findings import Findings
from sluicegate.pipeline.guardrails import check_answer, compile_policy
from sluicegate.providers.cohere_texts import COHERE_TEXTS
from sluicegate.providers.sse import iter_events
from tests.guardrails.test_array_stream import run
from tests.guardrails.test_sse import REDACTED, SCANNER, WORDS, make_filter


def read(found: list[Any]) -> list[tuple[str, str]]:
    return [(text.role, text.value) for text in found]


def test_a_v1_request_is_read_turn_by_turn_in_its_roles() -> None:
    body = {
        "preamble": "p",
        "chat_history": [
            {"role": "USER", "message": "u1"},
            {"role": "CHATBOT", "message": "c1", "tool_calls": [{"name": "f", "parameters": {"a": 1}}]},
            {
                "role": "TOOL",
                "tool_results": [{"call": {"name": "f", "parameters": {}}, "outputs": [{"o": "x"}]}],
            },
        ],
        "message": "u2",
        "tool_results": [{"call": {"name": "g", "parameters": {"b": "y"}}, "outputs": [{"o": "z"}]}],
        "documents": [{"title": "t"}],
        "model": "command-r",
    }
    assert read(texts(COHERE_TEXTS, body)) == [
        ("system", "p"),
        ("user", "u1"),
        ("assistant", "c1"),
        ("assistant", '{"a":1}'),
        ("assistant", "{}"),
        ("tool", '{"o":"x"}'),
        ("user", "u2"),
        ("assistant", '{"b":"y"}'),
        ("tool", '{"o":"z"}'),
        ("tool", '{"title":"t"}'),
    ]


def test_a_v2_request_reads_strings_parts_plans_calls_and_documents() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
    document = {"type": "document", "document": {"data": {"d": "v"}}}
    body = {
        "messages": [
            {"role": "system", "content": "s"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "u"}, {"type": "image_url", "image_url": {}}],
            },
            {
                "role": "assistant",
                "content": [{"type": "thinking", "thinking": "t"}],
                "tool_plan": "p",
                "tool_calls": [call],
            },
            {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "r"}, document]},
        ],
        "documents": ["plain", {"data": {"k": "v"}, "id": "d1"}],
    }
    assert read(texts(COHERE_TEXTS, body)) == [
        ("system", "s"),
        ("user", "u"),
        ("assistant", "t"),
        ("assistant", "p"),
        ("assistant", '{"a":1}'),
        ("tool", "r"),
        ("tool", '{"data":{"d":"v"}}'),
        ("tool", "plain"),
        ("tool", '{"data":{"k":"v"},"id":"d1"}'),
    ]


def test_answers_are_json_where_the_request_asked_for_a_json_object() -> None:
    assert COHERE_TEXTS.answering({"response_format": {"type": "json_object"}}).json_answers
    assert not COHERE_TEXTS.answering({"response_format": {"type": "text"}}).json_answers
    asked = COHERE_TEXTS.answering({"response_format": {"type": "json_object", "schema": {}}})
    v2 = {"message": {"content": [{"type": "thinking", "thinking": "t"}, {"type": "text", "text": "{}"}]}}
    assert [(text.value, text.json) for text in answer_texts(asked, v2)] == [("t", False), ("{}", True)]
    assert [(text.value, text.json) for text in answer_texts(asked, {"text": "{}"})] == [("{}", True)]


def v2_stream() -> bytes:
    """Thinking at index 0, the text at 1, each a word an event; a plan and a call's arguments in
    fragments; a citation quoting the text."""
    found: list[dict[str, Any]] = [
        {"type": "message-start", "id": "m", "delta": {"message": {"role": "assistant"}}}
    ]
    for index, kind in ((0, "thinking"), (1, "text")):
        found.append(
            {
                "type": "content-start",
                "index": index,
                "delta": {"message": {"content": {"type": kind, kind: ""}}},
            }
        )
        found += [
            {"type": "content-delta", "index": index, "delta": {"message": {"content": {kind: w}}}}
            for w in WORDS
        ]
        found.append({"type": "content-end", "index": index})
    found += [{"type": "tool-plan-delta", "delta": {"message": {"tool_plan": w}}} for w in WORDS]
    arguments = json.dumps({"note": "".join(WORDS)})
    start = {"id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}
    found.append({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": start}}})
    for at in range(0, len(arguments), 4):
        function = {"function": {"arguments": arguments[at : at + 4]}}
        found.append({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": function}}})
    found.append({"type": "tool-call-end", "index": 0})
    citation = {"start": 0, "end": 9, "text": "".join(WORDS)}
    found += [{"type": "citation-start", "index": 0, "delta": {"message": {"citations": citation}}}]
    found.append({"type": "message-end", "delta": {"finish_reason": "COMPLETE"}})
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in found)


def parsed(out: bytes) -> list[tuple[bytes | None, dict[str, Any]]]:
    """Each event's name and payload; the name must be its payload's type."""
    found: list[tuple[bytes | None, dict[str, Any]]] = [
        (event.name, json.loads(event.data or b"")) for event in iter_events(out)
    ]
    assert all(name == payload["type"].encode() for name, payload in found)
    return found


def said(found: list[tuple[bytes | None, dict[str, Any]]], kind: str, *path: str, index: int = 0) -> str:
    out = ""
    for _, event in found:
        if event["type"] == kind and event.get("index", 0) == index:
            value: Any = event["delta"]["message"]
            for key in path:
                value = value[key]
            out += value
    return out


@given(st.lists(st.integers(min_value=0, max_value=6000), max_size=12))
def test_a_v2_stream_cut_anywhere_is_redacted_in_each_of_its_texts(cuts: list[int]) -> None:
    out = run(make_filter(COHERE_TEXTS), v2_stream(), cuts)
    assert b"4111" not in out
    assert b"bob@" not in out
    found = parsed(out)
    assert said(found, "content-delta", "content", "thinking") == REDACTED
    assert said(found, "content-delta", "content", "text", index=1) == REDACTED
    assert said(found, "tool-plan-delta", "tool_plan") == REDACTED
    arguments = said(found, "tool-call-start", "tool_calls", "function", "arguments")
    arguments += said(found, "tool-call-delta", "tool_calls", "function", "arguments")
    assert json.loads(arguments) == {"note": REDACTED}
    assert said(found, "citation-start", "citations", "text") == REDACTED
    # What a pipe held goes out before the event that ends it, never after.
    kinds = [(event["type"], event.get("index")) for _, event in found]
    last_text = max(i for i, kind in enumerate(kinds) if kind == ("content-delta", 1))
    assert last_text < kinds.index(("content-end", 1))
    assert max(i for i, (kind, _) in enumerate(kinds) if kind == "tool-plan-delta") < kinds.index(
        ("tool-call-start", 0)
    )


def test_a_v2_stream_cut_short_ends_with_what_its_pipes_held() -> None:
    data = v2_stream()
    cut = data.index(b'event: content-end\ndata: {"type": "content-end", "index": 1}')
    found = parsed(run(make_filter(COHERE_TEXTS), data[:cut], []))
    assert said(found, "content-delta", "content", "text", index=1) == REDACTED
    assert found[-1][1]["type"] == "content-delta"


def test_a_v1_plan_piece_in_both_places_the_sdk_types_is_read_once() -> None:
    chunk = {"is_finished": False, "event_type": "tool-calls-chunk"}
    found = [{**chunk, "text": w, "tool_call_delta": {"text": w}} for w in WORDS]
    found.append({"is_finished": False, "event_type": "tool-calls-generation", "tool_calls": []})
    data = b"".join(f"data: {json.dumps(event)}\n\n".encode() for event in found)
    out = [json.loads(event.data or b"") for event in iter_events(run(make_filter(COHERE_TEXTS), data, []))]
    chunks = [event for event in out if event["event_type"] == "tool-calls-chunk"]
    assert "".join(event.get("text", "") for event in chunks) == REDACTED
    # Each piece the same in both places (what the pipe held at the end comes in `text` alone).
    assert all(
        event["tool_call_delta"]["text"] == event["text"] for event in chunks if "tool_call_delta" in event
    )


def test_a_v1_answer_reads_the_models_turns_once_and_the_clients_only_as_echoes() -> None:
    called = [{"name": "f", "parameters": {"a": 1}}]
    results = [{"call": {"name": "g", "parameters": {}}, "outputs": [{"o": "x"}]}]
    answer: dict[str, Any] = {
        "text": "done",
        "tool_calls": called,
        "chat_history": [
            {"role": "SYSTEM", "message": "s"},
            {"role": "USER", "message": "u1"},
            {"role": "CHATBOT", "message": "c1"},
            {"role": "TOOL", "tool_results": results},
            {"role": "USER", "message": "u2"},
            {"role": "CHATBOT", "message": "done", "tool_calls": [{"name": "f", "parameters": {"a": 1}}]},
        ],
    }
    found = answer_texts(COHERE_TEXTS, answer)
    # The last turn repeats the text and the call: not read again, set with them.
    assert [(text.role, text.value, text.echo, len(text.copies)) for text in found] == [
        ("assistant", "done", False, 1),
        ("assistant", '{"a":1}', False, 1),
        ("system", "s", True, 0),
        ("user", "u1", True, 0),
        ("assistant", "c1", False, 0),
        ("assistant", "{}", True, 0),
        ("tool", '{"o":"x"}', True, 0),
        ("user", "u2", True, 0),
    ]
    found[0].set("DONE")
    found[1].set('{"a":2}')
    assert answer["text"] == answer["chat_history"][-1]["message"] == "DONE"
    assert answer["chat_history"][-1]["tool_calls"] == called == [{"name": "f", "parameters": {"a": 2}}]
    assert called[0]["parameters"] is not answer["chat_history"][-1]["tool_calls"][0]["parameters"]


def test_a_response_rule_does_not_run_on_the_users_turns_of_a_whole_v1_answer() -> None:
    # The reviewer's case: an address the user wrote, repeated in the history; none in the answer.
    policy = GuardrailsPolicy.model_validate(
        {"pii": {"action": "block", "entities": ["email", "credit_card"], "direction": "response"}}
    )
    guard = compile_policy(policy).guard
    user = "my address is bob@example.com, card 4111 1111 1111 1111"
    answer: dict[str, Any] = {
        "text": "Noted, I will reply soon.",
        "chat_history": [
            {"role": "USER", "message": user},
            {"role": "CHATBOT", "message": "Noted, I will reply soon."},
        ],
    }
    body = orjson.dumps(answer)
    found: list[str] = []
    assert check_answer(body, COHERE_TEXTS, guard, Vault(), Findings(found), restore=False) == body
    assert found == []
    # With restore, the request's placeholders are put back there, and still nothing read.
    vault = Vault()
    asked = vault.placeholder("name", "Carol")
    answer["chat_history"][0]["message"] = f"{user} for {asked}"
    out = check_answer(orjson.dumps(answer), COHERE_TEXTS, guard, vault, Findings(found), restore=True)
    assert orjson.loads(out)["chat_history"][0]["message"] == f"{user} for Carol"
    assert found == []


def v1_stream_with_history(user: str, tool_output: dict[str, Any]) -> bytes:
    """The text a word a line, then `stream-end` with the answer whole: its history repeats the
    user's turn, a tool's result and the answer's text."""
    found: list[dict[str, Any]] = [
        {"is_finished": False, "event_type": "text-generation", "text": word} for word in WORDS
    ]
    results = [{"call": {"name": "f", "parameters": {}}, "outputs": [tool_output]}]
    history = [
        {"role": "USER", "message": user},
        {"role": "TOOL", "tool_results": results},
        {"role": "CHATBOT", "message": "".join(WORDS)},
    ]
    response = {"text": "".join(WORDS), "chat_history": history}
    found.append({"is_finished": True, "event_type": "stream-end", "response": response})
    return b"".join(json.dumps(event).encode() + b"\n" for event in found)


def test_a_v1_streams_end_restores_the_users_turns_and_reads_the_answer_as_often_as_before() -> None:
    vault = Vault()
    asked = vault.placeholder("name", "Carol")

    def pipe() -> TextPipe:
        return TextPipe(StreamRedactor(SCANNER, vault), RestoreStream(vault))

    text_filter = JsonArrayTextFilter(COHERE_TEXTS, pipe, lines=True)
    user = f"pay 4111 1111 1111 1111 for {asked}"
    out = run(text_filter, v1_stream_with_history(user, {"for": asked}), [])
    got = [json.loads(line) for line in out.splitlines()]
    assert "".join(e["text"] for e in got if e["event_type"] == "text-generation") == REDACTED
    response = got[-1]["response"]
    assert response["text"] == response["chat_history"][-1]["message"] == REDACTED
    user_turn, tool_turn = response["chat_history"][:2]
    assert user_turn["message"] == "pay 4111 1111 1111 1111 for Carol"  # restored, not redacted
    assert tool_turn["tool_results"][0]["outputs"] == [{"for": "Carol"}]
    # The deltas and stream-end's text (the answer whole again), each card and address once: the
    # history's copy of the text and the user's turn are not read.
    assert len(text_filter.spans) == 4
