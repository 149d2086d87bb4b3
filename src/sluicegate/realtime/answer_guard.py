"""The gateway's guardrails on a realtime session's server events: the model's text, checked as a
streamed answer's is (`guardrails/sse.py`), before the client sees it.

Text is read where OpenAI's Realtime API carries the model's words (GA names and the beta's): the
deltas of `response.output_text` / `response.text` and of `response.output_audio_transcript` /
`response.audio_transcript`, the whole texts their `.done` events repeat, and the assistant
items' `output_text` / `text` parts and audio parts' `transcript` in `response.content_part.*`,
`response.output_item.*`, `conversation.item.*` and `response.created` / `response.done`.

Each part's deltas go through a pipe of their own, which holds back only the few characters a
match may still span; what it still holds when the part's `.done` (or, failing that, its
response's `response.done`) arrives goes to the client as one more delta event just before it. A
whole text gets the same redaction its deltas got (the session's one vault: the same value, the
same placeholder). As in any stream, a response `block` rule redacts: what was sent cannot be
withdrawn. With `restore`, the placeholders the client's own values were sent upstream as are put
back. Audio, function-call arguments and the transcripts of the user's own speech are not read;
other events pass untouched, unparsed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

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
    client instead of `frame` (`kind` is its type, read from its head); `spans` and `flagged` say
    what was found."""

    def __init__(self, pipe: Callable[[], TextPipe]) -> None:
        self._pipes = OpenPipes(pipe)
        self._delta_kinds: dict[PartKey, str] = {}  # the delta event's name per open part (GA or beta)
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
        if kind not in READ:
            return [frame]
        try:
            event = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return [frame]
        if not isinstance(event, dict) or event.get("type") != kind:
            return [frame]
        before = self._event(kind, event)
        for pipe in self._pipes.take_closed():
            _distinct(self._found, pipe.redactor.spans)
            if pipe.flagger is not None:
                _distinct(self._flagged, pipe.flagger.spans)
        return [*before, orjson.dumps(event).decode()]

    def _event(self, kind: str, event: dict[str, Any]) -> list[str]:
        """Edits `event` in place; returns the events to send before it."""
        if kind in _DELTAS:
            if isinstance(event.get("delta"), str):
                key = _part_key(_DELTAS[kind], event)
                self._delta_kinds[key] = kind
                event["delta"] = self._pipes.feed(key, event["delta"])
            return []
        before = []
        if kind in _DONES:
            field = _DONES[kind]
            key = _part_key(field, event)
            self._delta_kinds.pop(key, None)
            rest = self._pipes.close(key)
            for text in string(event, field, "assistant"):
                text.set(self._pipes.whole(text.value))
            if rest:
                before.append(_delta(kind.removesuffix(".done") + ".delta", rest, key, event))
        elif kind == _RESPONSE_DONE:  # parts it ended without their `.done` (cancelled, cut short)
            ended = _response_id(event)
            for key, rest in self._pipes.close_where(lambda key: key[1] == ended):
                before.append(_delta(self._delta_kinds.pop(key), rest, key, event))
        texts: Iterator[Text] = iter(())
        if kind in _PARTS:
            texts = _part_texts(event.get("part"))
        elif kind in _ITEMS:
            texts = _item_texts(event.get("item"))
        elif isinstance(event.get("response"), dict):
            texts = (text for item in as_list(event["response"].get("output")) for text in _item_texts(item))
        for text in texts:
            text.set(self._pipes.whole(text.value))
        return before


PartKey = tuple[str, Any, Any, Any]


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


def _delta(kind: str, text: str, key: PartKey, done: dict[str, Any]) -> str:
    """What a part's pipe still held when it ended, as one more delta of that part."""
    _, response_id, item_id, content_index = key
    delta = {"event_id": f"event_gw_{secrets.token_hex(8)}", "type": kind, "response_id": response_id}
    delta |= {"item_id": item_id, "output_index": done.get("output_index", 0), "content_index": content_index}
    return orjson.dumps({**delta, "delta": text}).decode()
