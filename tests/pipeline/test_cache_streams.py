"""When a stream holds a whole answer the caches may serve again: its format's closing line came
(where its route's streams have one), or it ended as its format ends a whole answer (Gemini's
finishReason, text-generation-inference's last event), or, for a format without either, it was read
to its end; and no error event or cut-short end came."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sluicegate.pipeline.cache_streams import closing_usage, complete_stream, stored_usage
from sluicegate.providers import REGISTRY
from sluicegate.providers.base import Route
from sluicegate.storage.cache import CacheEntry

OPENAI, ANTHROPIC = (REGISTRY[name].stream_ends for name in ("openai", "anthropic"))
CHUNK = b'data: {"choices": [{"delta": {"content": "half"}}]}\n\n'
# The Responses API's end event carries the whole response: its marker is far from the end, and a
# large one arrives over many reads.
COMPLETED = b'event: response.completed\ndata: {"response": {"output_text": "' + b"x" * 300_000 + b'"}}\n\n'


@pytest.mark.parametrize(
    ("body", "ends", "complete"),
    [
        (CHUNK + b"data: [DONE]\n\n", OPENAI, True),
        (b"event: response.output_text.done\ndata: {}\n\n" + COMPLETED, OPENAI, True),
        (b'event: message_stop\ndata: {"type": "message_stop"}\n\n', ANTHROPIC, True),
        (CHUNK, OPENAI, False),  # cut short: no [DONE]
        # A response whole but for max_output_tokens or content_filter, as one asked for whole is.
        (b"event: response.incomplete\ndata: {}\n\n", OPENAI, True),
        (b"event: response.failed\ndata: {}\n\n", OPENAI, False),
        # An error event, then the closing line a translator or a vLLM-style server still sends.
        (CHUNK + b'data: {"error": {"message": "overloaded"}}\n\ndata: [DONE]\n\n', OPENAI, False),
        (CHUNK + b'data:{"error":{"message":"overloaded"}}\n\ndata: [DONE]\n\n', OPENAI, False),
        (b'event:error\ndata: {"type": "error"}\n\nevent: message_stop\ndata: {}\n\n', ANTHROPIC, False),
        # Some OpenAI-compatible servers put "error": null in every chunk: no failure.
        (b'data: {"error": null, "choices": []}\n\ndata: [DONE]\n\n', OPENAI, True),
        # An answer that talks about errors is still an answer.
        (
            b'data: {"choices": [{"delta": {"content": "event: error\\ndata: {\\"error\\""}}]}\n\n'
            b"data: [DONE]\n\n",
            OPENAI,
            True,
        ),
    ],
)
def test_a_stream_is_whole_when_it_closed_without_an_error(body: bytes, ends: object, complete: bool) -> None:
    assert complete_stream(body, ends, read_to_end=True) is complete  # type: ignore[arg-type]


def test_a_format_without_a_closing_line_is_whole_only_when_read_to_its_end() -> None:
    replicate = REGISTRY["replicate"].stream_ends  # no end line, and no rule of its own declared
    events = b"event: output\ndata: half\n\n"
    assert complete_stream(events, replicate, read_to_end=True)
    assert not complete_stream(events, replicate, read_to_end=False)  # the client hung up: maybe cut
    assert not complete_stream(events + b'data: {"error": {"code": 500}}\n\n', replicate, read_to_end=True)


STUDIO, VERTEX, HUGGING = (REGISTRY[name] for name in ("google-ai-studio", "google-vertex-ai", "huggingface"))
GENERATE = "v1beta/models/gemini-2.5-flash:streamGenerateContent"
VERTEX_GEMINI = (
    "v1/projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash:streamGenerateContent"
)
VERTEX_CLAUDE = (
    "v1/projects/p/locations/us-central1/publishers/anthropic/models/claude-sonnet-4-6:streamRawPredict"
)


def gemini_chunk(*candidates: dict[str, Any], end: bytes = b"\r\n\r\n") -> bytes:
    return b"data: " + orjson.dumps({"candidates": list(candidates)}) + end


TEXT: dict[str, Any] = {"content": {"parts": [{"text": "hi"}], "role": "model"}}
FINISHED: dict[str, Any] = {**TEXT, "finishReason": "STOP"}


@pytest.mark.parametrize(
    ("body", "whole"),
    [
        (gemini_chunk(TEXT) + gemini_chunk(FINISHED), True),
        (gemini_chunk(TEXT) + gemini_chunk(TEXT), False),  # cut before its finishReason
        # The last chunk may say only the finishReason, or follow it with the usage alone.
        (gemini_chunk(TEXT) + gemini_chunk({"finishReason": "MAX_TOKENS", "index": 0}), True),
        (gemini_chunk(FINISHED) + b'data: {"usageMetadata": {"totalTokenCount": 9}}\r\n\r\n', True),
        # Two candidates: each must finish (the first one alone did here).
        (gemini_chunk(TEXT, {**TEXT, "index": 1}) + gemini_chunk(FINISHED), False),
        (gemini_chunk({**FINISHED, "index": 1}) + gemini_chunk(FINISHED), True),
        # A blocked prompt answers with its feedback, no candidates.
        (b'data: {"promptFeedback": {"blockReason": "SAFETY"}}\r\n\r\n', True),
        (b'data: {"usageMetadata": {"totalTokenCount": 9}}\r\n\r\n', False),
        # Without `alt=sse`: one JSON array, whole only with its `]`.
        (
            b"["
            + orjson.dumps({"candidates": [TEXT]})
            + b",\r\n"
            + orjson.dumps({"candidates": [FINISHED]})
            + b"]",
            True,
        ),
        (
            b"[" + orjson.dumps({"candidates": [TEXT]}) + b",\r\n" + orjson.dumps({"candidates": [FINISHED]}),
            False,
        ),
        (b"[" + orjson.dumps({"candidates": [TEXT]}) + b"]", False),
    ],
)
def test_a_gemini_stream_is_whole_when_each_candidate_finished(body: bytes, whole: bool) -> None:
    for provider, path in ((STUDIO, GENERATE), (VERTEX, VERTEX_GEMINI)):
        route = Route("local", path, "alt=sse")
        # Read to its end or not: a stream of this format says itself whether it is whole.
        for read_to_end in (True, False):
            assert complete_stream(body, provider.stream_ends, read_to_end, route) is whole, (
                provider.name,
                body,
            )


def test_the_other_streams_of_gemini_hosts_end_as_theirs_do() -> None:
    """Claude's on Vertex AI with message_stop; the hosts' OpenAI-compatible chat with `[DONE]`."""
    claude = Route("local", VERTEX_CLAUDE)
    stop = b'event: message_stop\ndata: {"type": "message_stop"}\n\n'
    assert complete_stream(b"event: ping\ndata: {}\n\n" + stop, VERTEX.stream_ends, True, claude)
    assert not complete_stream(b"event: ping\ndata: {}\n\n", VERTEX.stream_ends, True, claude)
    for provider, path in (
        (STUDIO, "v1beta/openai/chat/completions"),
        (VERTEX, "v1/projects/p/locations/us-central1/endpoints/openapi/chat/completions"),
    ):
        route = Route("local", path)
        assert complete_stream(CHUNK + b"data: [DONE]\n\n", provider.stream_ends, True, route)
        assert not complete_stream(CHUNK, provider.stream_ends, True, route)


def tgi_event(generated: str | None) -> bytes:
    token = {"id": 5, "text": " hi", "logprob": -0.5, "special": False}
    return (
        b"data:"
        + orjson.dumps({"index": 1, "token": token, "generated_text": generated, "details": None})
        + b"\n\n"
    )


def test_a_text_generation_stream_is_whole_at_its_last_event() -> None:
    """Its last event carries the whole `generated_text` (null before); Hugging Face's chat ends
    with `[DONE]`."""
    tgi = Route("local", "gpt2")
    ends = HUGGING.stream_ends
    assert complete_stream(tgi_event(None) + tgi_event("hi hi"), ends, False, tgi)
    assert not complete_stream(tgi_event(None) + tgi_event(None), ends, True, tgi)
    assert not complete_stream(
        tgi_event(None) + b'data:{"error":"overloaded","error_type":"overloaded"}\n\n', ends, True, tgi
    )
    chat = Route("local", "v1/chat/completions")
    assert complete_stream(CHUNK + b"data: [DONE]\n\n", ends, True, chat)
    assert not complete_stream(CHUNK, ends, True, chat)


def test_a_replays_usage_ahead_is_read_from_its_closing_events_only() -> None:
    """A chat stream's usage chunk closes it: a 1 MB stream is not parsed to find it (nor to find
    none), as it was on the event loop for every Messages stream client's cache hit."""
    reader, route = REGISTRY["openai"], Route("local", "chat/completions")
    chunks, done = CHUNK * 20_000, b"data: [DONE]\n\n"
    usage_chunk = (
        b'data: {"id": "c1", "object": "chat.completion.chunk", "choices": [], '
        b'"usage": {"prompt_tokens": 6, "completion_tokens": 19, "total_tokens": 25}}\n\n'
    )
    usage = closing_usage(reader, route, chunks + usage_chunk + done)
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (6, 19)
    assert closing_usage(reader, route, usage_chunk + CHUNK + done) == usage  # a short stream: read whole
    assert closing_usage(reader, route, chunks + done) is None
    assert closing_usage(reader, route, usage_chunk + chunks + done) is None  # not looked for that far back
    # Its last event alone is larger than what is read (cut mid-line): no usage chunk, none found.
    assert (
        closing_usage(reader, route, b'data: {"choices": [{"delta": {"content": "' + b"x" * 10_000 + b'"}}]}')
        is None
    )


def test_a_hits_stored_usage_is_read_from_a_stored_stream_or_a_whole_answers_end() -> None:
    """What a hit served without usage (a chat stream whose client did not ask) is logged with."""
    reader, route = REGISTRY["openai"], Route("local", "chat/completions")
    usage = {"prompt_tokens": 6, "completion_tokens": 19, "total_tokens": 25}
    streamed = CHUNK + b"data: " + orjson.dumps({"choices": [], "usage": usage}) + b"\n\ndata: [DONE]\n\n"
    message = {"role": "assistant", "content": "x" * 20_000}
    whole = orjson.dumps({"object": "chat.completion", "choices": [{"message": message}], "usage": usage})
    for body, is_stream in ((streamed, True), (whole, False)):
        read = stored_usage(reader, route, CacheEntry(200, (), body, is_stream, 1.0, 0.0, 60.0))
        assert read is not None
        assert (read.input_tokens, read.output_tokens) == (6, 19)
    assert (
        stored_usage(reader, route, CacheEntry(200, (), CHUNK + b"data: [DONE]\n\n", True, 1, 0, 60)) is None
    )
