"""The JSON array text filter in its `lines` form: newline-delimited JSON (Cohere's v1 chat stream,
`application/stream+json`) read event by event as the SSE filter reads the same events, however
the bytes are cut, every line still one JSON object, and what a pipe held a line of its own."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.guardrails.array_stream import JsonArrayTextFilter
from sluicegate.guardrails.json_array import JsonArraySplitter, Kind
from sluicegate.guardrails.sse import SseTextFilter
from sluicegate.providers.cohere_texts import COHERE_TEXTS
from tests.guardrails.test_array_stream import pipes, run
from tests.guardrails.test_sse import REDACTED, WORDS, events

CHUNK = {"is_finished": False, "event_type": "tool-calls-chunk"}


def v1_events(*, end: bool = True) -> list[dict[str, Any]]:
    """A v1 stream: the text a word an event, a call's parameters a word a chunk, then the end."""
    found: list[dict[str, Any]] = [{"is_finished": False, "event_type": "stream-start", "generation_id": "g"}]
    found += [{"is_finished": False, "event_type": "text-generation", "text": word} for word in WORDS]
    arguments = json.dumps({"note": "".join(WORDS)})
    pieces = [arguments[at : at + 5] for at in range(0, len(arguments), 5)]
    found += [{**CHUNK, "tool_call_delta": {"index": 0, "parameters": piece}} for piece in pieces]
    if end:
        response = {"text": "".join(WORDS), "chat_history": [{"role": "CHATBOT", "message": "".join(WORDS)}]}
        found.append({"is_finished": True, "event_type": "stream-end", "response": response})
    return found


def as_lines(found: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(event).encode() + b"\n" for event in found)


def lines_filter() -> JsonArrayTextFilter:
    return JsonArrayTextFilter(COHERE_TEXTS, pipes(), lines=True)


def sse(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the SSE filter makes of the same events."""
    data = b"".join(b"data: " + orjson.dumps(event) + b"\n\n" for event in found)
    return events(run(SseTextFilter(COHERE_TEXTS, pipes()), data, []))


def parsed(out: bytes) -> list[dict[str, Any]]:
    assert out.endswith(b"\n")
    return [json.loads(line) for line in out.split(b"\n")[:-1]]  # each line an object, none empty


def said(found: list[dict[str, Any]]) -> tuple[str, str]:
    text = "".join(e["text"] for e in found if e["event_type"] == "text-generation")
    chunks = [e["tool_call_delta"] for e in found if e["event_type"] == "tool-calls-chunk"]
    return text, "".join(chunk["parameters"] for chunk in chunks)


def test_the_splitter_opened_splits_values_a_line() -> None:
    splitter = JsonArraySplitter(opened=True)
    pieces = splitter.feed(b'{"a": "}\\n{"}\n{"b": 1}\n') + splitter.close()
    assert [p.data for p in pieces if p.kind is Kind.ELEMENT] == [b'{"a": "}\\n{"}', b'{"b": 1}']
    assert b"".join(p.data for p in pieces) == b'{"a": "}\\n{"}\n{"b": 1}\n'


@given(st.lists(st.integers(min_value=0, max_value=3000), max_size=12))
def test_cut_anywhere_each_line_is_read_as_its_sse_event(cuts: list[int]) -> None:
    found = v1_events()
    text_filter = lines_filter()
    out = run(text_filter, as_lines(found), cuts)
    assert b"4111" not in out
    assert b"bob@" not in out
    got = parsed(out)
    assert got == sse(found)
    text, parameters = said(got)
    assert text == REDACTED
    assert json.loads(parameters) == {"note": REDACTED}
    assert got[-1]["response"]["text"] == REDACTED  # the whole answer again, the same placeholders
    assert got[-1]["response"]["chat_history"][0]["message"] == REDACTED
    assert {span.entity for span in text_filter.spans} == {"credit_card", "email"}


def test_a_line_nothing_changed_goes_out_as_it_came() -> None:
    data = as_lines([{"is_finished": False, "event_type": "text-generation", "text": "all fine!"}])
    assert run(lines_filter(), data, []) == data


def test_a_stream_cut_short_gets_what_the_pipes_held_as_lines_of_their_own() -> None:
    found = v1_events(end=False)
    data = as_lines(found)
    for body in (data, data[:-1]):  # after a line break, or the last line left open
        got = parsed(run(lines_filter(), body, []))
        assert got == sse(found)
        assert len(got) > len(found)
        text, parameters = said(got)
        assert text == REDACTED
        assert json.loads(parameters) == {"note": REDACTED}
