"""The SSE text filter: text deltas of OpenAI, Anthropic and Gemini streams redacted as they pass,
whatever way the bytes are cut, with only an unfinished event and a match's tail held back."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.guardrails.placeholders import RestoreStream, Vault
from sluicegate.guardrails.scanner import Scanner, builtin_detectors
from sluicegate.guardrails.sse import SseTextFilter, TextPipe
from sluicegate.guardrails.stream import StreamRedactor
from sluicegate.providers.anthropic.texts import MESSAGES_TEXTS
from sluicegate.providers.gemini.texts import GEMINI_TEXTS
from sluicegate.providers.openai_texts import CHAT_TEXTS, RESPONSES_TEXTS
from sluicegate.providers.texts import TextFormat

SCANNER = Scanner(builtin_detectors(["credit_card", "email"]))
WORDS = ["echo:", " pay", " 4111", " 1111", " 1111", " 1111", " to", " bob@example.com", " now"]
REDACTED = "echo: pay [CREDIT_CARD_1] to [EMAIL_1] now"


def make_filter(text_format: TextFormat, vault: Vault | None = None, restore: bool = False) -> SseTextFilter:
    vault = vault or Vault()

    def pipe() -> TextPipe:
        return TextPipe(StreamRedactor(SCANNER, vault), RestoreStream(vault) if restore else None)

    return SseTextFilter(text_format, pipe)


def openai_stream(words: list[str], newline: bytes = b"\n") -> bytes:
    head = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    chunks = [
        {**head, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]} for w in words
    ]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    events = [b"data: " + orjson.dumps(chunk) for chunk in chunks] + [b"data: [DONE]"]
    return b"".join(event + newline * 2 for event in events)


def anthropic_stream(words: list[str]) -> bytes:
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {"id": "msg_1", "content": []}}),
        (
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
    ]
    events += [
        (
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}},
        )
        for w in words
    ]
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(
        f"event: {name}\n".encode() + b"data: " + orjson.dumps(data) + b"\n\n" for name, data in events
    )


def gemini_stream(words: list[str]) -> bytes:
    chunks = [{"candidates": [{"content": {"role": "model", "parts": [{"text": w}]}}]} for w in words[:-1]]
    chunks.append(
        {
            "candidates": [
                {"content": {"role": "model", "parts": [{"text": words[-1]}]}, "finishReason": "STOP"}
            ]
        }
    )
    return b"".join(b"data: " + orjson.dumps(chunk) + b"\r\n\r\n" for chunk in chunks)


def events(data: bytes) -> list[dict[str, Any]]:
    found = []
    for line in data.replace(b"\r\n", b"\n").split(b"\n"):
        if line.startswith(b"data: ") and line != b"data: [DONE]":
            found.append(orjson.loads(line[6:]))
    return found


def openai_text(data: bytes) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in events(data) if c["choices"])


def anthropic_text(data: bytes) -> str:
    return "".join(e["delta"]["text"] for e in events(data) if e["type"] == "content_block_delta")


def gemini_text(data: bytes) -> str:
    return "".join(p["text"] for c in events(data) for p in c["candidates"][0]["content"]["parts"])


def run(sse: SseTextFilter, data: bytes, cuts: list[int]) -> bytes:
    out, last = [], 0
    for cut in sorted(set(cuts)):
        out.append(sse.feed(data[last:cut]))
        last = cut
    out.append(sse.feed(data[last:]))
    out.append(sse.close())
    return b"".join(out)


@given(st.lists(st.integers(min_value=0, max_value=2000), max_size=12))
def test_openai_chunks_cut_anywhere_redact_like_the_whole_text(cuts: list[int]) -> None:
    data = openai_stream(WORDS)
    out = run(make_filter(CHAT_TEXTS), data, cuts)
    assert openai_text(out) == REDACTED
    assert b"4111" not in out
    assert b"bob@" not in out
    assert out.endswith(b"data: [DONE]\n\n")


@given(st.lists(st.integers(min_value=0, max_value=3000), max_size=12))
def test_anthropic_text_deltas_cut_anywhere_are_redacted(cuts: list[int]) -> None:
    out = run(make_filter(MESSAGES_TEXTS), anthropic_stream(WORDS), cuts)
    assert anthropic_text(out) == REDACTED
    kinds = [e["type"] for e in events(out)]
    assert kinds[-2:] == ["content_block_stop", "message_stop"]  # held text goes out before the stop


def test_gemini_chunks_with_crlf_are_redacted() -> None:
    out = run(make_filter(GEMINI_TEXTS), gemini_stream(WORDS), [7, 100, 333])
    assert gemini_text(out) == REDACTED


def test_only_what_a_match_may_still_span_is_held() -> None:
    sse = make_filter(CHAT_TEXTS)
    data = openai_stream(["hello", " there! ", "4111"])
    third = data.index(b"data: ", data.index(b"there"))
    fourth = data.index(b"data: ", third + 1)
    assert openai_text(sse.feed(data[:third])) == "hello there!"  # the space may precede a card
    assert openai_text(sse.feed(data[third:fourth])) == ""  # " 4111" may begin one: held
    assert openai_text(sse.feed(data[fourth:]) + sse.close()) == " 4111"  # the stream ended: it did not


def test_a_stream_without_a_finish_chunk_is_flushed_at_the_end() -> None:
    data = openai_stream(["card", " 4111", " 1111", " 1111", " 1111"]).split(b"data: [DONE]")[0]
    head, _, _ = data.rpartition(b"data: ")  # drop the finish chunk too: the upstream just ended
    out = run(make_filter(CHAT_TEXTS), head, [])
    assert openai_text(out) == "card [CREDIT_CARD_1]"
    assert events(out)[-1]["id"] == "chatcmpl-1"


def test_restore_puts_the_request_placeholders_back() -> None:
    vault = Vault()
    vault.placeholder("email", "ann@example.org")
    out = run(
        make_filter(CHAT_TEXTS, vault, restore=True), openai_stream(["to", " [EMAIL", "_1]", " ok"]), []
    )
    assert openai_text(out) == "to ann@example.org ok"


def test_events_it_cannot_read_pass_unchanged() -> None:
    data = b": keep-alive\n\nevent: ping\ndata: not json\n\n"
    assert run(make_filter(CHAT_TEXTS), data, [3]) == data


def responses_stream(words: list[str]) -> bytes:
    whole = "".join(words)
    part = {"type": "output_text", "text": whole, "annotations": []}
    item = {"id": "msg_1", "type": "message", "role": "assistant", "content": [part]}
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    named: list[dict[str, Any]] = [{"type": "response.created", "response": {"id": "r", "output": []}}]
    named += [{"type": "response.output_text.delta", **where, "delta": w} for w in words]
    named += [
        {"type": "response.output_text.done", **where, "text": whole},
        {"type": "response.content_part.done", **where, "part": part},
        {"type": "response.output_item.done", "output_index": 0, "item": item},
        {"type": "response.completed", "response": {"id": "r", "output": [item]}},
    ]
    return b"".join(f"event: {e['type']}\n".encode() + b"data: " + orjson.dumps(e) + b"\n\n" for e in named)


@given(st.lists(st.integers(min_value=0, max_value=4000), max_size=8))
def test_responses_deltas_and_the_texts_done_events_repeat_are_redacted(cuts: list[int]) -> None:
    out = run(make_filter(RESPONSES_TEXTS), responses_stream(WORDS), cuts)
    found = events(out)
    assert "".join(e["delta"] for e in found if e["type"] == "response.output_text.delta") == REDACTED
    assert b"4111" not in out
    assert b"bob@" not in out
    completed = found[-1]["response"]["output"][0]["content"][0]["text"]
    assert completed == REDACTED


def gemini_thought_stream(runs: list[tuple[int, list[str], str]]) -> bytes:
    """Each candidate's thought words, then an empty thought part with its signature, then "ok"."""
    chunks: list[dict[str, Any]] = []
    for index, words, signature in runs:
        parts: list[dict[str, Any]] = [{"text": w, "thought": True} for w in words]
        parts.append({"text": "", "thought": True, "thoughtSignature": signature})
        chunks += [{"candidates": [{"index": index, "content": {"parts": [part]}}]} for part in parts]
    for index, _, _ in runs:
        answer = {"index": index, "content": {"parts": [{"text": "ok"}]}, "finishReason": "STOP"}
        chunks.append({"candidates": [answer]})
    return b"".join(b"data: " + orjson.dumps(chunk) + b"\r\n\r\n" for chunk in chunks)


def gemini_parts(data: bytes, index: int) -> list[dict[str, Any]]:
    return [
        part
        for chunk in events(data)
        for candidate in chunk["candidates"]
        if candidate.get("index") == index
        for part in candidate["content"]["parts"]
    ]


@given(st.lists(st.integers(min_value=0, max_value=3000), max_size=12))
def test_gemini_thoughts_cut_anywhere_are_redacted_and_a_changed_run_unsigned(cuts: list[int]) -> None:
    data = gemini_thought_stream([(0, WORDS, "c2lnLTA="), (1, ["all", " fine"], "c2lnLTE=")])
    out = run(make_filter(GEMINI_TEXTS), data, cuts)
    assert b"4111" not in out
    assert b"bob@" not in out
    for index, thought, signatures in [(0, REDACTED, []), (1, "all fine", ["c2lnLTE="])]:
        parts = gemini_parts(out, index)
        assert "".join(p["text"] for p in parts if p.get("thought")) == thought
        assert "".join(p["text"] for p in parts if not p.get("thought")) == "ok"
        assert [p["thoughtSignature"] for p in parts if "thoughtSignature" in p] == signatures
        kinds = [bool(p.get("thought")) for p in parts]
        assert kinds == sorted(kinds, reverse=True)  # what a pipe held stays on its side of the answer


def test_gemini_thoughts_of_a_stream_cut_short_are_flushed_as_thoughts() -> None:
    data = gemini_thought_stream([(0, WORDS, "c2lnLTA=")]).split(b"data: ")
    out = run(make_filter(GEMINI_TEXTS), b"data: ".join(data[: len(WORDS) + 1]), [])
    parts = gemini_parts(out, 0)
    assert all(p.get("thought") for p in parts)
    assert "".join(p["text"] for p in parts) == REDACTED
