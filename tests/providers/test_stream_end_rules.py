"""How each route's streams end (`StreamEnds`), as the caches and the log read them: Cohere's v2
chat with its `message-end` event, its Compatibility API's chat with `[DONE]`, its v1 streams at
their `stream-end` object (no end line); Hugging Face relaying Cohere under `cohere/` as Cohere
does; and a rule read in pieces (`EndRule.skip`, as the log drops the start of a long stream) says
what it says of the stream read whole."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import orjson
import pytest

from sluicegate.pipeline.cache_streams import complete_stream
from sluicegate.providers import REGISTRY
from sluicegate.providers.base import Route

if TYPE_CHECKING:
    from sluicegate.providers.stream_ends import EndRule, StreamEnds

COHERE, HUGGING, STUDIO = (
    REGISTRY[name].stream_ends for name in ("cohere", "huggingface", "google-ai-studio")
)
GENERATE = Route("local", "v1beta/models/gemini-2.5-flash:streamGenerateContent")


def v2_event(kind: str, **fields: Any) -> bytes:
    return f"event: {kind}\n".encode() + b"data: " + orjson.dumps({"type": kind, **fields}) + b"\n\n"


V2_TEXT = v2_event("message-start", id="m") + v2_event("content-delta", index=0)
V2_END = v2_event("message-end", delta={"finish_reason": "COMPLETE"})
V1_TEXT = (
    b'{"is_finished":false,"event_type":"stream-start"}\n'
    b'{"is_finished":false,"event_type":"text-generation","text":"hi"}\n'
)
V1_END = (
    b'{"is_finished":true,"event_type":"stream-end","response":{"text":"hi"},"finish_reason":"COMPLETE"}\n'
)
CHAT_CHUNK = b'data: {"choices": [{"delta": {"content": "half"}}]}\n\n'


@pytest.mark.parametrize(
    ("ends", "path", "body", "whole"),
    [
        (COHERE, "v2/chat", V2_TEXT + V2_END, True),
        (COHERE, "v2/chat", V2_TEXT + V2_END + b"data: [DONE]\n\n", True),
        (COHERE, "v2/chat", V2_TEXT, False),
        (COHERE, "v1/chat", V1_TEXT + V1_END, True),
        (COHERE, "v1/chat", V1_TEXT, False),
        (COHERE, "v1/chat", V1_TEXT + V1_END[:40], False),  # cut inside its last object
        (COHERE, "v1/chat", b"data: " + V1_TEXT.splitlines()[0] + b"\n\ndata: " + V1_END + b"\n", True),
        (COHERE, "compatibility/v1/chat/completions", CHAT_CHUNK + b"data: [DONE]\n\n", True),
        (COHERE, "compatibility/v1/chat/completions", CHAT_CHUNK, False),
        (HUGGING, "cohere/v2/chat", V2_TEXT + V2_END, True),
        (HUGGING, "cohere/v2/chat", V2_TEXT, False),
        (HUGGING, "cohere/v1/chat", V1_TEXT + V1_END, True),
        (HUGGING, "cohere/v1/chat", V1_TEXT, False),
        (HUGGING, "cohere/compatibility/v1/chat/completions", CHAT_CHUNK + b"data: [DONE]\n\n", True),
    ],
)
def test_each_route_ends_as_its_format_does(ends: StreamEnds, path: str, body: bytes, whole: bool) -> None:
    assert complete_stream(body, ends, read_to_end=True, route=Route("local", path)) is whole


def test_routes_of_unknown_formats_have_no_rule() -> None:
    """The log takes none of their streams for a broken one; Hugging Face's text generation rule is
    a model's, not another provider's route's."""
    assert HUGGING.rule(Route("local", "fal-ai/fal-ai/flux/dev")) is None
    assert HUGGING.rule(Route("local", "gpt2")) is not None
    assert COHERE.rule(Route("local", "v2/embed")) is None
    assert STUDIO.rule(Route("local", "v1beta/interactions")) is None


def read_in_pieces(rule: EndRule, body: bytes, size: int, kept: int) -> bool:
    """`body` as the log reads it: all but its last `kept` bytes skipped, `size` bytes at a time."""
    cut = max(0, len(body) - kept)
    for start in range(0, cut, size):
        rule.skip(body[start : min(start + size, cut)])
    return rule.finished(body[cut:])


def gemini_sse(*chunks: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(c, separators=(",", ": ")).encode() + b"\r\n\r\n" for c in chunks)


def gemini_array(*chunks: dict[str, Any]) -> bytes:
    pretty = [json.dumps(chunk, indent=2).encode() for chunk in chunks]
    return b"[" + pretty[0] + b"".join(b"\n,\r\n" + piece for piece in pretty[1:]) + b"\n]"


def candidate(index: int, finished: bool) -> dict[str, Any]:
    content: dict[str, Any] = {"content": {"parts": [{"text": "word " * 20}], "role": "model"}}
    return {**content, "index": index, **({"finishReason": "STOP"} if finished else {})}


# Two candidates: the first finishes early, the second much later, so that a log keeping only the
# stream's end sees no trace of the first there.
FIRST_EARLY = [
    {"candidates": [candidate(0, True)]},
    *({"candidates": [candidate(1, False)]} for _ in range(12)),
    {"candidates": [candidate(1, True)]},
]
SECOND_CUT = [{"candidates": [candidate(0, False)]}, *FIRST_EARLY[1:-1]]


@pytest.mark.parametrize("form", [gemini_sse, gemini_array])
@pytest.mark.parametrize(("chunks", "whole"), [(FIRST_EARLY, True), (SECOND_CUT, False)])
def test_a_gemini_stream_read_in_pieces_is_judged_as_read_whole(form: Any, chunks: Any, whole: bool) -> None:
    body = form(*chunks)
    assert complete_stream(body, STUDIO, read_to_end=True, route=GENERATE) is whole
    for size in (1, 7, 64, 500):
        for kept in (0, 1, 300, len(body) // 2):
            rule = STUDIO.rule(GENERATE)
            assert rule is not None
            assert read_in_pieces(rule, body, size, kept) is whole, (size, kept)


def test_an_unclosed_gemini_array_read_in_pieces_is_not_whole() -> None:
    body = gemini_array(*FIRST_EARLY)[:-1]  # no `]`
    rule = STUDIO.rule(GENERATE)
    assert rule is not None
    assert not read_in_pieces(rule, body, 9, 100)


def test_a_cohere_v1_stream_whose_last_event_the_log_did_not_keep_whole() -> None:
    """Its `stream-end` object repeats the conversation: a log keeping less of the stream than
    that object reads the object's start as it drops it."""
    history = [{"role": "USER", "message": "word " * 50}] * 40
    end = b'{"is_finished":true,"event_type":"stream-end","response":' + orjson.dumps(
        {"chat_history": history}
    )
    for body, whole in ((V1_TEXT + end + b"}\n", True), (V1_TEXT + end[:3000], False), (V1_TEXT, False)):
        for size in (1, 10, 100):
            for kept in (0, 20, 500, len(body)):
                rule = COHERE.rule(Route("local", "v1/chat"))
                assert rule is not None
                assert read_in_pieces(rule, body, size, kept) is whole, (body[-20:], size, kept)
