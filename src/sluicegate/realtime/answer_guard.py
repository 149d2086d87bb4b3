"""The gateway's guardrails on a realtime session's server events: the model's text, checked as a
streamed answer's is (`guardrails/sse.py`), before the client sees it.

Text is read where OpenAI's Realtime API carries the model's words (GA names and the beta's): the
deltas of `response.output_text` / `response.text` and of `response.output_audio_transcript` /
`response.audio_transcript`, the whole texts their `.done` events repeat, and the assistant
items' `output_text` / `text` parts and audio parts' `transcript` in `response.content_part.*`,
`response.output_item.*`, `conversation.item.*` and `response.created` / `response.done`.

Each part's deltas go through a pipe of their own, which holds back only the few characters a
match may still span; what it still holds when the part ends (its `.done`, or, for a part cut
short, its `response.content_part.done`, `response.output_item.done` or `response.done`) goes to
the client as one more delta event just before that event. A whole text gets the same redaction
its deltas got (the session's one vault: the same value, the same placeholder), and is scanned
once however many events repeat it. An event none of whose text changed goes out as it came.

As in any stream, a response `block` rule redacts: what was sent cannot be withdrawn. With
`restore`, the placeholders the client's own values were sent upstream as are put back. Audio,
function-call arguments and the transcripts of the user's own speech are not read; other events
pass untouched, unparsed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import orjson

from sluicegate.guardrails.detector import Span
from sluicegate.guardrails.sse import OpenPipes, TextPipe
from sluicegate.providers.texts import Text, as_list, string

_DELTAS = {
    "response.output_text.delta": "text",
    "response.text.delta": "text",
    "response.output_audio_transcript.delta": "transcript",
    "response.audio_transcript.delta": "transcript",
}
_DONES = {
    "response.output_text.done": "text",
    "response.text.done": "text",
    "response.output_audio_transcript.done": "transcript",
    "response.audio_transcript.done": "transcript",
}
_PARTS = frozenset({"response.content_part.added", "response.content_part.done"})
_ITEMS = frozenset(
    {
        "response.output_item.added",
        "response.output_item.done",
        "conversation.item.created",  # beta
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.retrieved",
    }
)
_RESPONSE_DONE = "response.done"
_RESPONSES = frozenset({"response.created", _RESPONSE_DONE})
READ = frozenset(_DELTAS) | frozenset(_DONES) | _PARTS | _ITEMS | _RESPONSES
_TEXT_PARTS = frozenset({"output_text", "text"})
_AUDIO_PARTS = frozenset({"output_audio", "audio"})


class AnswerGuard:
    """One session's check of its server events. `check(kind, frame)` gives the frames to send the
    client instead of `frame` (`kind` is its type, read from its head, as OpenAI writes it; a frame
    whose head names none is parsed to find it); `spans` and `flagged` say what was found. A frame
    none of whose text changed goes out as it came."""

    def __init__(self, pipe: Callable[[], TextPipe]) -> None:
        self._pipes = OpenPipes(pipe)
        self._parts: dict[PartKey, _OpenPart] = {}  # the parts whose deltas are passing
        self._wholes: dict[str, str] = {}  # recent whole texts as sent: a response repeats each
        # What closed pipes found, one span per entity and detector (a session may run for hours).
        self._found: dict[tuple[str, str], Span] = {}
        self._flagged: dict[tuple[str, str], Span] = {}

    @property
    def spans(self) -> list[Span]:
        return _distinct(self._found, [span for pipe in self._pipes.made for span in pipe.redactor.spans])

    @property
    def flagged(self) -> list[Span]:
        open_flags = [
            span for pipe in self._pipes.made if pipe.flagger is not None for span in pipe.flagger.spans
        ]
        return _distinct(self._flagged, open_flags)

    def check(self, kind: str, frame: str) -> list[str]:
        if kind and kind not in READ:
            return [frame]
        try:
            event = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return [frame]
        if not isinstance(event, dict) or event.get("type") not in READ:
            return [frame]
        before, changed = self._event(event["type"], event)
        for pipe in self._pipes.take_closed():
            _distinct(self._found, pipe.redactor.spans)
            if pipe.flagger is not None:
                _distinct(self._flagged, pipe.flagger.spans)
        return [*before, orjson.dumps(event).decode() if changed else frame]

    def _event(self, kind: str, event: dict[str, Any]) -> tuple[list[str], bool]:
        """Edits `event` in place; returns the events to send before it, and whether it changed."""
        if kind in _DELTAS:
            delta = event.get("delta")
            if not isinstance(delta, str):
                return [], False
            key = _part_key(_DELTAS[kind], event)
            self._parts.setdefault(key, _OpenPart(kind, event.get("output_index", 0)))
            event["delta"] = self._pipes.feed(key, delta)
            return [], event["delta"] != delta
        # What the parts this event ends still hold goes just before it (a part cancelled or cut
        # short ends with its item or response, without its own `.done`).
        ends = _ended_by(kind, event)
        before = [self._leftover(key, rest) for key, rest in self._pipes.close_where(ends)]
        for key in [key for key in self._parts if ends(key)]:
            del self._parts[key]
        changed = False
        for text in self._texts(kind, event):
            sent = self._whole(text.value)
            if sent != text.value:
                text.set(sent)
                changed = True
        return before, changed

    def _texts(self, kind: str, event: dict[str, Any]) -> Iterator[Text]:
        if kind in _DONES:
            return string(event, _DONES[kind], "assistant")
        if kind in _PARTS:
            return _part_texts(event.get("part"))
        if kind in _ITEMS:
            return _item_texts(event.get("item"))
        response = event.get("response")
        outputs = as_list(response.get("output")) if isinstance(response, dict) else []
        return (text for item in outputs for text in _item_texts(item))

    def _whole(self, text: str) -> str:
        """A whole text as sent (the same value, the same placeholder: the session's one vault);
        a response repeats each text in up to four events, scanned once."""
        sent = self._wholes.get(text)
        if sent is None:
            if len(self._wholes) >= _WHOLES_KEPT:
                self._wholes.clear()
            sent = self._wholes[text] = self._pipes.whole(text)
        return sent

    def _leftover(self, key: PartKey, text: str) -> str:
        """What a part's pipe still held when it ended, as one more delta of that part."""
        part = self._parts.get(key, _OpenPart(_DEFAULT_DELTAS[key[0]], 0))
        _, response_id, item_id, content_index = key
        delta = {"event_id": f"event_gw_{secrets.token_hex(8)}", "type": part.delta_kind}
        delta |= {"response_id": response_id, "item_id": item_id, "output_index": part.output_index}
        return orjson.dumps({**delta, "content_index": content_index, "delta": text}).decode()


class _OpenPart(NamedTuple):
    delta_kind: str  # the name its deltas came under (GA or beta), for one more
    output_index: Any


PartKey = tuple[str, Any, Any, Any]
_DEFAULT_DELTAS = {
    "text": "response.output_text.delta",
    "transcript": "response.output_audio_transcript.delta",
}
_WHOLES_KEPT = 32


def _ended_by(kind: str, event: dict[str, Any]) -> Callable[[PartKey], bool]:
    """Which open parts the event `kind` ends: its own part, a content part's, an item's or a
    response's (none for the events that start something)."""
    response, item, index = event.get("response_id"), event.get("item_id"), event.get("content_index", 0)
    if kind in _DONES:
        own = _part_key(_DONES[kind], event)
        return lambda key: key == own
    if kind == "response.content_part.done":
        return lambda key: key[1:] == (response, item, index)
    if kind == "response.output_item.done":
        ended = event["item"].get("id") if isinstance(event.get("item"), dict) else None
        return lambda key: key[1] == response and key[2] == ended
    if kind == _RESPONSE_DONE:
        ended = _response_id(event)
        return lambda key: key[1] == ended
    return lambda key: False


def _distinct(kept: dict[tuple[str, str], Span], spans: list[Span]) -> list[Span]:
    """`spans` added to `kept` (the first of each entity and detector); all of them, in order."""
    for span in spans:
        kept.setdefault((span.entity, span.detector), span)
    return list(kept.values())


def _part_key(field: str, event: dict[str, Any]) -> PartKey:
    """One pipe per content part: its response, item and index (and whether text or a transcript)."""
    return field, event.get("response_id"), event.get("item_id"), event.get("content_index", 0)


def _response_id(event: dict[str, Any]) -> Any:
    response = event.get("response")
    return response.get("id") if isinstance(response, dict) else None


def _item_texts(item: Any) -> Iterator[Text]:
    """The model's text in an item: an assistant message's parts (a user's was checked on its way in)."""
    if not isinstance(item, dict) or item.get("role") != "assistant":
        return
    if item.get("type", "message") == "message":
        for part in as_list(item.get("content")):
            yield from _part_texts(part)


def _part_texts(part: Any) -> Iterator[Text]:
    if not isinstance(part, dict):
        return
    if part.get("type") in _TEXT_PARTS:
        yield from string(part, "text", "assistant")
    elif part.get("type") in _AUDIO_PARTS:
        yield from string(part, "transcript", "assistant")
