"""The answer guardrails of a JSON answer and of a stream (guardrails.py's stage decides which
rules apply): an SSE stream filtered event by event as it passes, and a JSON answer, which is one
of two things. To a request that asked for a stream, a JSON array is a stream too, Gemini's
streamGenerateContent without `alt=sse`: filtered element by element as it passes (or at once,
when it came whole), read as the same stream sent as SSE would be (guardrails/array_stream.py).
Anything else is one whole answer, read whole and checked (`check`): a rule that blocks refuses it.
Newline-delimited JSON (Cohere's v1 chat stream, `application/stream+json`) is a stream whatever
the request said, filtered line by line as the array is element by element.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Protocol

from sluicegate.exchange import Reply
from sluicegate.guardrails.detector import Span

_SPACE = b" \t\r\n"
# Media types of newline-delimited JSON: Cohere's `application/stream+json`, and its usual names.
_JSON_LINES = ("stream+json", "ndjson", "jsonl", "json-lines")


class AnswerFilter(Protocol):
    """A streamed answer's text filter (guardrails/sse.py's, guardrails/array_stream.py's)."""

    @property
    def spans(self) -> list[Span]: ...

    @property
    def flagged(self) -> list[Span]: ...

    def feed(self, chunk: bytes) -> bytes: ...

    def close(self) -> bytes: ...


Ended = Callable[[AnswerFilter], None]  # told what a filter found once its answer has passed


async def filtered(
    stream: AsyncGenerator[bytes, None], text_filter: AnswerFilter, ended: Ended
) -> AsyncGenerator[bytes, None]:
    """`stream` with its text filtered; `ended` is told when it ends, however it does."""
    try:
        async for chunk in stream:
            out = text_filter.feed(chunk)
            if out:
                yield out
        out = text_filter.close()
        if out:
            yield out
    finally:
        await stream.aclose()
        ended(text_filter)


async def guard_json_answer(
    reply: Reply,
    streamed: bool,
    array: Callable[[], AnswerFilter],
    check: Callable[[bytes], bytes],
    ended: Ended,
) -> None:
    """`reply`, a JSON answer, with its text read: with `streamed` (the request asked for a
    stream), an array as a stream; anything else whole, through `check`."""
    reply.headers.popall("Content-Length", None)  # what is read may come out longer
    if reply.stream is not None:
        opening, stream = await _opening(reply.stream)
        if streamed and opening == b"[":
            reply.stream = filtered(stream, array(), ended)
            return
        reply.body, reply.stream = b"".join([chunk async for chunk in stream]), None
    if streamed and reply.body.lstrip(_SPACE)[:1] == b"[":  # a stream that came whole
        text_filter = array()
        reply.body = text_filter.feed(reply.body) + text_filter.close()
        ended(text_filter)
    else:
        reply.body = check(reply.body)


def is_json_lines(content_type: str) -> bool:
    """Whether a `Content-Type` says the body is JSON values a line (a stream of them)."""
    media = content_type.partition(";")[0].strip().lower()
    return media.endswith(_JSON_LINES)


async def guard_json_lines(reply: Reply, lines: Callable[[], AnswerFilter], ended: Ended) -> None:
    """`reply`, newline-delimited JSON, with its text read line by line as it passes (at once when
    it came whole: a cache hit)."""
    reply.headers.popall("Content-Length", None)  # what is read may come out longer
    if reply.stream is not None:
        reply.stream = filtered(reply.stream, lines(), ended)
        return
    text_filter = lines()
    reply.body = text_filter.feed(reply.body) + text_filter.close()
    ended(text_filter)


async def _opening(stream: AsyncGenerator[bytes, None]) -> tuple[bytes, AsyncGenerator[bytes, None]]:
    """The first byte of `stream` that is not whitespace (b"" if none), and the stream whole again:
    what was read to find it first."""
    read: list[bytes] = []
    opening = b""
    try:
        async for chunk in stream:
            read.append(chunk)
            if opening := chunk.lstrip(_SPACE)[:1]:
                break
    except BaseException:
        await stream.aclose()
        raise
    return opening, _resumed(read, stream)


async def _resumed(read: list[bytes], stream: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    try:
        for chunk in read:
            yield chunk
        async for chunk in stream:
            yield chunk
    finally:
        await stream.aclose()
