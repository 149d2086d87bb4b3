"""The text of a streamed answer sent as one JSON array, filtered element by element as it passes:
Gemini's streamGenerateContent without `alt=sse` (`[{…}\\n,\\r\\n{…}\\n]`, each element a
GenerateContentResponse, the same object an SSE event of `alt=sse` carries).

Each element is read as `sse.py` reads an event, with the same pipes and the format's own stream
handler (`TextFormat.stream_event`), so the semantics are the SSE form's: the text of each
candidate (and its thoughts) through a pipe of its own, a match split across elements caught, a
`block` rule redacting, `restore` putting placeholders back, a changed thought run unsigned. Only
an unfinished element is held (json_array.py); an element nothing changed goes out as it came,
byte for byte, a changed one as compact JSON. What the format gives as SSE events of its own (an
event before another, what a pipe held when the stream ended) goes as elements: their data. What
the pipes hold when the array closes goes in elements just before its `]`, so the client's array
stays valid JSON; at the end of a body cut short, after what came.

With `lines`, the body is newline-delimited JSON instead (Cohere's v1 chat stream,
`application/stream+json`: one event object a line): read alike, element by element, with a line
break where the array form writes a comma, so every element the filter adds is a line of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from sluicegate.providers.sse import iter_data
from sluicegate.providers.texts import TextFormat

from .detector import Span
from .json_array import JsonArraySplitter, Kind, Piece
from .sse import OpenPipes, TextPipe

_SEPARATOR = b",\r\n"  # between two elements the gateway writes (Google's is `\n,\r\n`)
_LINE = b"\n"


class JsonArrayTextFilter:
    """`feed` the raw bytes of the array as they come, then `close()`; each returns what may go to
    the client now. `spans` lists what the pipes redacted, `flagged` what they flagged."""

    def __init__(self, text_format: TextFormat, pipe: Callable[[], TextPipe], *, lines: bool = False) -> None:
        self._format = text_format
        self._pipes = OpenPipes(pipe)
        self._split = JsonArraySplitter(opened=lines)
        self._lines = lines
        self._separator = _LINE if lines else _SEPARATOR
        self._last: dict[str, Any] = {}  # the last element's payload: its ids for a final element
        self._elements = 0  # elements sent so far: one more needs a comma before it
        self._line_open = False  # (lines) what went out so far does not end with a line break

    @property
    def spans(self) -> list[Span]:
        return self._pipes.spans

    @property
    def flagged(self) -> list[Span]:
        return self._pipes.flagged

    def feed(self, chunk: bytes) -> bytes:
        return self._sent(b"".join(self._piece(piece) for piece in self._split.feed(chunk)))

    def close(self) -> bytes:
        out = self._sent(b"".join(self._piece(piece) for piece in self._split.close()))
        return out + self._flush()

    def _sent(self, out: bytes) -> bytes:
        if out:
            self._line_open = not out.endswith(_LINE)
        return out

    def _piece(self, piece: Piece) -> bytes:
        if piece.kind is Kind.RAW:
            return piece.data
        if piece.kind is Kind.END:  # (lines: a stray `]`, no array to close; what it held goes last)
            return (b"" if self._lines else self._flush()) + piece.data
        self._elements += 1
        try:
            payload = orjson.loads(piece.data)
        except orjson.JSONDecodeError:
            return piece.data
        if not isinstance(payload, dict):
            return piece.data
        self._last = payload
        self._pipes.changed = False
        before = self._format.stream_event(payload, self._pipes)
        element = orjson.dumps(payload) if self._pipes.changed else piece.data
        # Each element the format puts before this one: the separator before this one is out.
        return b"".join(data + self._separator for data in iter_data(before)) + element

    def _flush(self) -> bytes:
        """Whatever the open pipes still hold, as one more element per choice or part."""
        last = self._last
        out = b""
        for index, rest in self._pipes.close_all():
            for data in iter_data(self._format.stream_leftover(index, rest, last)):
                if self._lines:  # a line of its own: after a line break, ending with one
                    out += (_LINE if self._line_open else b"") + data + _LINE
                    self._line_open = False
                else:
                    out += (_SEPARATOR if self._elements else b"") + data
                self._elements += 1
        return out
