"""The text deltas of a streamed answer, filtered as they pass; which of an event's fields are
text is the provider's `TextFormat` (providers/texts.py): OpenAI chat chunks (content and tool
call arguments), Responses `output_text` and `function_call_arguments` deltas, Anthropic
`text_delta` and `input_json_delta` events, Gemini stream chunks.

Events are parsed one at a time (only an unfinished event is held); the text of each choice,
content block or tool call goes through its own pipe, which holds back only the tail a match may
still span: a `TextPipe` for prose, a `JsonPipe` (json_values.py) for a tool call's arguments and
an answer asked to be JSON, which are JSON and stay so. What a pipe still holds when its choice
or block ends is put in that event or just before it (the format decides); at the end of the
stream (or at `[DONE]`), in one last event per pipe. An event whose text none of this changed
goes out as it came, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import orjson

from sluicegate.providers.sse import SseEvent, SseParser
from sluicegate.providers.texts import TextFormat

from .detector import NO_NUMBER, Span
from .json_values import JsonPipe, rewrite_json
from .placeholders import RestoreStream
from .stream import StreamRedactor


class TextPipe:
    """Redaction, then (when asked) placeholders of the request put back. `flagger`, when given,
    reads what redaction lets through for what is only to be flagged (its own output unused)."""

    def __init__(
        self, redactor: StreamRedactor, restore: RestoreStream | None, flagger: StreamRedactor | None = None
    ) -> None:
        self.redactor = redactor
        self.flagger = flagger
        self._restore = restore

    @property
    def shortest_number(self) -> int:
        """A JSON number with fewer characters than this comes out of this pipe as it went in: no
        detector can match it, and a placeholder to restore is no number."""
        flagger = self.flagger.shortest_number if self.flagger is not None else NO_NUMBER
        return min(self.redactor.shortest_number, flagger)

    @property
    def altered(self) -> bool:
        """Whether what came out differs from what went in: something redacted or restored."""
        return bool(self.redactor.spans) or (self._restore is not None and self._restore.changed)

    def feed(self, text: str) -> str:
        out = self.redactor.feed(text)
        if self.flagger is not None:
            self.flagger.feed(out)
        return self._restore.feed(out) if self._restore is not None else out

    def close(self, text: str = "") -> str:
        """What the pipe still holds, `text` (the last piece) included."""
        out = self.redactor.close(text)
        if self.flagger is not None:
            self.flagger.feed(out)
            self.flagger.close()
        if self._restore is None:
            return out
        return self._restore.feed(out) + self._restore.close()

    def restored(self, text: str) -> str:
        """`text` whole with the request's placeholders put back (when asked), nothing read."""
        return text if self._restore is None else self._restore.feed(text) + self._restore.close()


def _rewritten(raw: bytes, data_line: bytes) -> bytes:
    """The event with its data lines replaced by `data_line` (its other fields kept, in order)."""
    lines = [line for line in raw.splitlines() if line]
    at = next(i for i, line in enumerate(lines) if line.partition(b":")[0] == b"data")
    kept = [line for line in lines if line.partition(b":")[0] != b"data"]
    kept.insert(at, data_line)
    return b"\n".join(kept) + b"\n\n"


class OpenPipes:
    """A stream's pipes by the format's index (a choice's, a block's, a tool call's …): the
    `TextPipes` its format's handler feeds. `made` lists every text pipe, closed ones and
    `whole`'s included, but not those a JSON pipe made for values that have ended: those are let
    go once what they found is kept (`spans`, `flagged`), so that a JSON text of many values
    holds no more pipes than one of few. `changed` says whether any text fed, closed or piped
    whole came out other than it went in since it was last reset."""

    def __init__(self, make: Callable[[], TextPipe]) -> None:
        self._make = make
        self._open: dict[Any, TextPipe | JsonPipe] = {}
        self.made: list[TextPipe] = []
        self._found: list[Span] = []  # what the pipes of ended JSON values redacted
        self._flagged: list[Span] = []  # and flagged
        self._altered: set[Any] = set()  # indexes whose last closed text pipe was altered
        self._restorer: TextPipe | None = None  # `restored`'s, made on first use
        self.changed = False

    @property
    def spans(self) -> list[Span]:
        """What every pipe redacted so far."""
        return [*self._found, *(span for pipe in self.made for span in pipe.redactor.spans)]

    @property
    def flagged(self) -> list[Span]:
        """What every pipe flagged so far."""
        made = (pipe.flagger.spans for pipe in self.made if pipe.flagger is not None)
        return [*self._flagged, *(span for spans in made for span in spans)]

    def feed(self, index: Hashable, text: str, *, json: bool = False) -> str:
        pipe = self._open.get(index)
        if pipe is None:
            self._altered.discard(index)
            pipe = self._open[index] = JsonPipe(self._new, self._ended) if json else self._new()
        out = pipe.feed(text)
        if out != text:
            self.changed = True
        return out

    def close(self, index: Hashable) -> str:
        pipe = self._open.pop(index, None)
        if pipe is None:
            return ""
        rest = self._rest(pipe.close())
        if isinstance(pipe, TextPipe) and pipe.altered:
            self._altered.add(index)
        return rest

    def altered(self, index: Hashable) -> bool:
        pipe = self._open.get(index)
        if isinstance(pipe, TextPipe):
            return pipe.altered
        return index in self._altered

    def whole(self, text: str, *, json: bool = False) -> str:
        """A complete text at once (the same vault: the same placeholders as its deltas got)."""
        if json:
            pipe = JsonPipe(self._new, self._ended)
            out = pipe.feed(text) + pipe.close()
        else:
            out = self._new().close(text)
        if out != text:
            self.changed = True
        return out

    def restored(self, text: str, *, json: bool = False) -> str:
        """The client's own text repeated: only restored (a pipe's restore, not listed in `made`:
        it finds nothing)."""
        if self._restorer is None:
            self._restorer = self._make()
        out = rewrite_json(text, self._restorer.restored) if json else self._restorer.restored(text)
        if out != text:
            self.changed = True
        return out

    def close_where(self, which: Callable[[Any], bool]) -> list[tuple[Any, str]]:
        """What the open pipes whose index `which` picks still hold (none that held nothing), closed."""
        picked = [index for index in self._open if which(index)]
        rests = [(index, self._rest(self._open.pop(index).close())) for index in picked]
        return [(index, rest) for index, rest in rests if rest]

    def take_closed(self) -> list[TextPipe]:
        """The pipes of `made` that are closed (`whole`'s too), no longer listed there: a long
        stream (a realtime session) keeps what they found, not the pipes."""
        still_open = {id(pipe) for pipe in self._open.values()}
        still_open |= {id(pipe.string) for pipe in self._open.values() if isinstance(pipe, JsonPipe)}
        closed = [pipe for pipe in self.made if id(pipe) not in still_open]
        self.made = [pipe for pipe in self.made if id(pipe) in still_open]
        return closed

    def close_all(self) -> list[tuple[Any, str]]:
        """What the open pipes still hold, in the order they opened, the pipes closed (none that
        held nothing)."""
        rests = [(index, self._rest(pipe.close())) for index, pipe in self._open.items()]
        self._open.clear()
        return [(index, rest) for index, rest in rests if rest]

    def _rest(self, rest: str) -> str:
        if rest:
            self.changed = True
        return rest

    def _new(self) -> TextPipe:
        pipe = self._make()
        self.made.append(pipe)
        return pipe

    def _ended(self, pipe: TextPipe) -> None:
        """A JSON value's pipe, closed: what it found kept, the pipe let go."""
        self._found += pipe.redactor.spans
        if pipe.flagger is not None:
            self._flagged += pipe.flagger.spans
        for at in range(len(self.made) - 1, -1, -1):  # the last made, but for a call's in parallel
            if self.made[at] is pipe:
                del self.made[at]
                return


class SseTextFilter:
    """`feed` the raw bytes of the stream as they come, then `close()`; each returns what may go
    to the client now. `spans` lists what the pipes redacted."""

    def __init__(self, text_format: TextFormat, pipe: Callable[[], TextPipe]) -> None:
        self._format = text_format
        self._pipes = OpenPipes(pipe)
        self._events = SseParser()
        self._last: dict[str, Any] = {}  # the last event's payload: its ids for a final event

    @property
    def spans(self) -> list[Span]:
        return self._pipes.spans

    @property
    def flagged(self) -> list[Span]:
        return self._pipes.flagged

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._event(event) for event in self._events.feed(chunk))

    def close(self) -> bytes:
        return b"".join(self._event(event) for event in self._events.close()) + self._flush()

    def _event(self, event: SseEvent) -> bytes:
        if event.data is None:
            return event.raw
        if event.data.strip() == b"[DONE]":
            return self._flush() + event.raw
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return self._unknown(event, json=False)
        if not isinstance(payload, dict):
            return self._unknown(event, json=True)
        self._last = payload
        self._pipes.changed = False
        before = self._format.stream_event(payload, self._pipes)
        if not self._pipes.changed:
            return before + event.raw
        return before + _rewritten(event.raw, b"data: " + orjson.dumps(payload))

    def _unknown(self, event: SseEvent, *, json: bool) -> bytes:
        """An event in no format's shape (its data no JSON object; no API sends one): its data read
        whole, as prose or as the JSON it is, so that it cannot carry what the rules stop."""
        assert event.data is not None
        text = event.data.decode("utf-8", "replace")
        out = self._pipes.whole(text, json=json)
        if out == text:
            return event.raw
        return _rewritten(event.raw, b"\n".join(b"data: " + line for line in out.encode().split(b"\n")))

    def _flush(self) -> bytes:
        """Whatever the open pipes still hold, as one last event per choice or block."""
        last = self._last
        return b"".join(
            self._format.stream_leftover(index, rest, last) for index, rest in self._pipes.close_all()
        )
