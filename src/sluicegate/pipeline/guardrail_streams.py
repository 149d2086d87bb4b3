"""The answer guardrails of a JSON answer and of a stream (guardrails.py's stage decides which
rules apply). What an answer is, is read from its first bytes, not only from its Content-Type (an
upstream or a proxy may label an SSE stream `application/json` or `text/plain`, a JSON answer
`text/plain`): JSON starts with `{` or `[`, SSE with a field (`data:`, `event:`, `id:`, `retry:`)
or a comment (`:`). An image, audio or video answer (by its Content-Type) is no text and is not
read; an empty one holds nothing; anything else is `Unreadable`, for the stage to refuse.

An SSE stream is filtered event by event as it passes. A JSON answer is one of two things. To a
request that asked for a stream, a JSON array is a stream too, Gemini's streamGenerateContent
without `alt=sse`: filtered element by element as it passes (or at once, when it came whole), read
as the same stream sent as SSE would be (guardrails/array_stream.py). Anything else is one whole
answer, read whole and checked (`check`): a rule that blocks refuses it. Newline-delimited JSON
(Cohere's v1 chat stream, `application/stream+json`) is a stream whatever the request said,
filtered line by line as the array is element by element; so is a body of JSON lines labelled
otherwise, which the whole check could not read as one JSON text.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Protocol

import orjson

from sluicegate.exchange import Reply
from sluicegate.guardrails.detector import Span

_SPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"  # which an SSE stream may start with
# How an SSE stream starts: a field or a comment (https://html.spec.whatwg.org/multipage/server-sent-events.html).
_SSE_STARTS = (b"data:", b"event:", b"id:", b"retry:", b":")
_SNIFF = 6  # the bytes that tell them apart (`event:`, `retry:`)
# Answers that are no text, by their media type: a generated image, speech, a video.
_MEDIA = ("image/", "audio/", "video/")
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


class Unreadable(Exception):
    """An answer the guardrails cannot read: neither JSON nor SSE (nor, where its text was expected
    whole, a JSON object). The reply is left as it was (a stream: whole again, its start included)."""


@dataclass(frozen=True, slots=True)
class AnswerReaders:
    """How an answer's text is read in each form it comes in: `sse`, `array` (a JSON array stream)
    and `lines` (JSON lines) make a stream's filter; `check` reads a whole JSON answer (raising
    `Unreadable` when it is not a JSON object) and may raise a block; `ended` is told what a
    filter found."""

    sse: Callable[[], AnswerFilter]
    array: Callable[[], AnswerFilter]
    lines: Callable[[], AnswerFilter]
    check: Callable[[bytes], bytes]
    ended: Ended


async def guard_answer(reply: Reply, streamed: bool, readers: AnswerReaders) -> None:
    """`reply` (a 2xx answer) with its text read in the form its first bytes show; `streamed`: the
    request asked for a stream. Raises `Unreadable` for an answer in none of them."""
    content_type = reply.headers.get("Content-Type", "")
    if content_type.partition(";")[0].strip().lower().startswith(_MEDIA):
        return
    if reply.stream is not None:
        opening, reply.stream = await _opening(reply.stream)
    else:
        opening = _start(reply.body)
    if not opening:
        return  # an empty answer: nothing to read
    if opening[:1] in b"{[":
        if is_json_lines(content_type):
            await guard_json_lines(reply, readers.lines, readers.ended)
        else:
            await guard_json_answer(reply, streamed, opening, readers)
    elif opening.startswith(_SSE_STARTS):
        reply.headers.popall("Content-Length", None)  # what is read may come out longer
        if reply.stream is not None:
            reply.stream = filtered(reply.stream, readers.sse(), readers.ended)
        else:  # a stream that came whole
            _filter_whole(reply, readers.sse(), readers.ended)
    else:
        raise Unreadable


async def filtered(
    stream: AsyncGenerator[bytes, None], text_filter: AnswerFilter, ended: Ended
) -> AsyncGenerator[bytes, None]:
    """`stream` with its text filtered; `ended` is told when it ends, however it does, and before
    the bytes that carry new findings go out: a client that hangs up on its last event (an SDK
    leaves at `[DONE]`) may end the request before this generator is closed, and the record is
    built then."""
    found = 0
    try:
        async for chunk in stream:
            out = text_filter.feed(chunk)
            if len(text_filter.spans) + len(text_filter.flagged) != found:
                found = len(text_filter.spans) + len(text_filter.flagged)
                ended(text_filter)
            if out:
                yield out
        out = text_filter.close()
        ended(text_filter)
        if out:
            yield out
    finally:
        await stream.aclose()
        ended(text_filter)


async def guard_json_answer(reply: Reply, streamed: bool, opening: bytes, readers: AnswerReaders) -> None:
    """`reply`, a JSON answer (`opening`: its first bytes), with its text read: with `streamed`
    (the request asked for a stream), an array as a stream; anything else whole, through `check`,
    or as JSON lines when it is not one JSON text but one a line."""
    reply.headers.popall("Content-Length", None)  # what is read may come out longer
    if reply.stream is not None:
        if streamed and opening[:1] == b"[":
            reply.stream = filtered(reply.stream, readers.array(), readers.ended)
            return
        reply.body, reply.stream = b"".join([chunk async for chunk in reply.stream]), None
    if streamed and opening[:1] == b"[":  # a stream that came whole
        _filter_whole(reply, readers.array(), readers.ended)
        return
    try:
        reply.body = readers.check(reply.body)
    except Unreadable:
        if not _json_lines(reply.body):
            raise
        _filter_whole(reply, readers.lines(), readers.ended)


def _filter_whole(reply: Reply, text_filter: AnswerFilter, ended: Ended) -> None:
    reply.body = text_filter.feed(reply.body) + text_filter.close()
    ended(text_filter)


def _json_lines(body: bytes) -> bool:
    """Whether `body` is JSON objects, one a line (and more than one)."""
    lines = [line for line in body.splitlines() if line.strip(_SPACE)]
    if len(lines) < 2:
        return False
    try:
        return all(isinstance(orjson.loads(line), dict) for line in lines)
    except orjson.JSONDecodeError:
        return False


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
    _filter_whole(reply, lines(), ended)


def _start(body: bytes) -> bytes:
    """The first bytes of `body` past whitespace and a byte order mark, enough to tell its form."""
    body = body.lstrip(_SPACE)
    return body[len(_BOM) :].lstrip(_SPACE)[:_SNIFF] if body.startswith(_BOM) else body[:_SNIFF]


def _decided(opening: bytes) -> bool:
    """Whether an answer's first bytes tell its form: all that `_start` takes, an SSE start, or
    bytes no SSE start begins with (JSON's, or no form's)."""
    if len(opening) >= _SNIFF or opening.startswith(_SSE_STARTS):
        return True
    return not any(start.startswith(opening) for start in _SSE_STARTS)


async def _opening(stream: AsyncGenerator[bytes, None]) -> tuple[bytes, AsyncGenerator[bytes, None]]:
    """The first bytes of `stream` that tell its form (`_start`; b"" if none), and the stream whole
    again: what was read to find them first."""
    read: list[bytes] = []
    opening = b""
    try:
        async for chunk in stream:
            read.append(chunk)
            opening = _start(b"".join(read))
            if _decided(opening):
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
