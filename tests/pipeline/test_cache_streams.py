"""When a stream holds a whole answer the caches may serve again: its format's closing line came
(or, for a format without one, it was read to its end), and no error event or cut-short end did."""

from __future__ import annotations

import pytest

from sluicegate.pipeline.cache_streams import closing_usage, complete_stream
from sluicegate.providers import REGISTRY
from sluicegate.providers.base import Route

OPENAI, ANTHROPIC, GEMINI = (
    REGISTRY[name].stream_ends for name in ("openai", "anthropic", "google-ai-studio")
)
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
        (b"event: response.incomplete\ndata: {}\n\n", OPENAI, False),
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
    gemini = b'data: {"candidates": [{"content": {"parts": [{"text": "hi"}]}}]}\n\n'
    assert complete_stream(gemini, GEMINI, read_to_end=True)
    assert not complete_stream(gemini, GEMINI, read_to_end=False)  # the client hung up: maybe cut
    assert not complete_stream(gemini + b'data: {"error": {"code": 500}}\n\n', GEMINI, read_to_end=True)


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
