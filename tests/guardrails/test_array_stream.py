"""The JSON array text filter (Gemini's streamGenerateContent without `alt=sse`): each element read
as the SSE filter reads the same response as an event, whatever way the bytes are cut, and the
array still valid JSON, also where what a pipe held has to go out as elements of its own."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.guardrails.array_stream import JsonArrayTextFilter
from sluicegate.guardrails.placeholders import Vault
from sluicegate.guardrails.sse import SseTextFilter, TextPipe
from sluicegate.guardrails.stream import StreamRedactor
from sluicegate.providers.gemini.texts import GEMINI_TEXTS
from tests.guardrails.test_sse import REDACTED, SCANNER, WORDS, events

Filter = JsonArrayTextFilter | SseTextFilter


def pipes() -> Callable[[], TextPipe]:
    """A filter's pipes, one vault between them (the same value, the same placeholder)."""
    vault = Vault()
    return lambda: TextPipe(StreamRedactor(SCANNER, vault), None)


def array_filter() -> JsonArrayTextFilter:
    return JsonArrayTextFilter(GEMINI_TEXTS, pipes())


def responses(*, finish: bool = True) -> list[dict[str, Any]]:
    """Two candidates' signed thoughts a word a response, then their answers a word a response."""
    chunks: list[dict[str, Any]] = []
    for index, signature in [(0, "c2lnLTA="), (1, "c2lnLTE=")]:
        thoughts: list[dict[str, Any]] = [{"text": word, "thought": True} for word in WORDS]
        thoughts.append({"text": "", "thought": True, "thoughtSignature": signature})
        chunks += [{"candidates": [{"index": index, "content": {"parts": [part]}}]} for part in thoughts]
    for index in (0, 1):
        chunks += [{"candidates": [{"index": index, "content": {"parts": [{"text": w}]}}]} for w in WORDS]
        if finish:
            chunks[-1]["candidates"][0]["finishReason"] = "STOP"
    return chunks


def as_array(chunks: list[dict[str, Any]], *, end: bool = True) -> bytes:
    """Framed as Google frames it: pretty-printed elements, `\\n,\\r\\n` between them."""
    pretty = [json.dumps(chunk, indent=2).encode() for chunk in chunks]
    return b"[" + b"\n,\r\n".join(pretty) + (b"\n]" if end else b"")


def run(text_filter: Filter, data: bytes, cuts: list[int]) -> bytes:
    out, last = [], 0
    for cut in sorted(set(cuts)):
        out.append(text_filter.feed(data[last:cut]))
        last = cut
    return b"".join([*out, text_filter.feed(data[last:]), text_filter.close()])


def sse(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the SSE filter makes of the same responses sent as events."""
    data = b"".join(b"data: " + orjson.dumps(chunk) + b"\r\n\r\n" for chunk in chunks)
    return events(run(SseTextFilter(GEMINI_TEXTS, pipes()), data, []))


def text(chunks: list[dict[str, Any]], index: int, *, thought: bool) -> str:
    return "".join(
        part["text"]
        for chunk in chunks
        for candidate in chunk["candidates"]
        if candidate.get("index") == index
        for part in candidate["content"]["parts"]
        if bool(part.get("thought")) == thought
    )


@given(st.lists(st.integers(min_value=0, max_value=6000), max_size=12))
def test_cut_anywhere_each_element_is_read_as_its_sse_event(cuts: list[int]) -> None:
    chunks = responses()
    text_filter = array_filter()
    out = run(text_filter, as_array(chunks), cuts)
    assert b"4111" not in out
    assert b"bob@" not in out
    array = json.loads(out)  # still one JSON array, of as many elements
    assert array == sse(chunks)
    for index in (0, 1):
        assert text(array, index, thought=True) == REDACTED
        assert text(array, index, thought=False) == REDACTED
    assert not any("thoughtSignature" in json.dumps(element) for element in array)
    assert {span.entity for span in text_filter.spans} == {"credit_card", "email"}


def test_an_element_nothing_changed_goes_out_as_it_came() -> None:
    chunks = [{"candidates": [{"index": 0, "content": {"parts": [{"text": "all fine!"}]}}]}]
    data = as_array(chunks)
    assert run(array_filter(), data, []) == data


def test_what_the_pipes_hold_when_the_array_ends_goes_in_elements_before_its_end() -> None:
    # No finishReason: the answer pipes still hold the end of the text when `]` comes.
    chunks = responses(finish=False)
    out = run(array_filter(), as_array(chunks), [])
    assert out.endswith(b"]")
    array = json.loads(out)
    assert len(array) > len(chunks)
    assert array == sse(chunks)
    for index in (0, 1):
        assert text(array, index, thought=False) == REDACTED


def test_a_body_cut_short_gets_what_the_pipes_held_after_what_came() -> None:
    chunks = responses(finish=False)
    out = run(array_filter(), as_array(chunks, end=False), [])
    array = json.loads(out + b"]")  # what came, and the held text as elements after it
    assert array == sse(chunks)
    assert text(array, 1, thought=False) == REDACTED


def test_a_body_that_is_no_array_passes_unread() -> None:
    data = b'{"candidates": [{"content": {"parts": [{"text": "4111 1111 1111 1111"}]}}]}'
    assert run(array_filter(), data, [7]) == data
