"""The text deltas of a streamed answer, filtered as they pass: OpenAI chat chunks
(`choices[].delta.content`), Responses `output_text` deltas (and the whole texts its `done` and
`completed` events repeat), Anthropic `text_delta` events and Gemini stream chunks.

Events are parsed one at a time (only an unfinished event is held); the text of each choice or
content block goes through its own `TextPipe`, which holds back only the tail a match may still
span. What a pipe still holds when its choice or block ends is put in that event (OpenAI, Gemini)
or in a `text_delta` sent just before it (Anthropic); at the end of the stream, in one last event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from sluicegate.providers.sse import SseEvent, SseParser

from .answers import answer_texts
from .bodies import Shape
from .detector import Span
from .placeholders import RestoreStream
from .stream import StreamRedactor

STREAMED_SHAPES = ("openai_chat", "openai_responses", "anthropic_messages", "gemini")


class TextPipe:
    """Redaction, then (when asked) placeholders of the request put back. `flagger`, when given,
    reads what redaction lets through for what is only to be flagged (its own output unused)."""

    def __init__(
        self, redactor: StreamRedactor, restore: RestoreStream | None, flagger: StreamRedactor | None = None
    ) -> None:
        self.redactor = redactor
        self.flagger = flagger
        self._restore = restore

    def feed(self, text: str) -> str:
        out = self.redactor.feed(text)
        if self.flagger is not None:
            self.flagger.feed(out)
        return self._restore.feed(out) if self._restore is not None else out

    def close(self) -> str:
        out = self.redactor.close()
        if self.flagger is not None:
            self.flagger.feed(out)
            self.flagger.close()
        if self._restore is None:
            return out
        return self._restore.feed(out) + self._restore.close()


def _rewritten(raw: bytes, data_line: bytes) -> bytes:
    """The event with its data lines replaced by `data_line` (its other fields kept, in order)."""
    lines = [line for line in raw.splitlines() if line]
    at = next(i for i, line in enumerate(lines) if line.partition(b":")[0] == b"data")
    kept = [line for line in lines if line.partition(b":")[0] != b"data"]
    kept.insert(at, data_line)
    return b"\n".join(kept) + b"\n\n"


def _data(payload: Any) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


class SseTextFilter:
    """`feed` the raw bytes of the stream as they come, then `close()`; each returns what may go
    to the client now. `spans` lists what the pipes redacted."""

    def __init__(self, shape: Shape, pipe: Callable[[], TextPipe]) -> None:
        self._shape = shape
        self._make = pipe
        self._events = SseParser()
        self._open: dict[Any, TextPipe] = {}  # a choice's or block's index; Responses: (item, part)
        self._all: list[TextPipe] = []
        self._last: dict[str, Any] = {}  # the last OpenAI chunk's id, model …: for a final chunk

    @property
    def spans(self) -> list[Span]:
        return [span for pipe in self._all for span in pipe.redactor.spans]

    @property
    def flagged(self) -> list[Span]:
        return [span for pipe in self._all if pipe.flagger is not None for span in pipe.flagger.spans]

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._event(event) for event in self._events.feed(chunk))

    def close(self) -> bytes:
        return b"".join(self._event(event) for event in self._events.close()) + self._flush()

    def _pipe(self, index: Any) -> TextPipe:
        pipe = self._open.get(index)
        if pipe is None:
            pipe = self._open[index] = self._make()
            self._all.append(pipe)
        return pipe

    def _event(self, event: SseEvent) -> bytes:
        if event.data is None:
            return event.raw
        if event.data.strip() == b"[DONE]":
            return self._flush() + event.raw
        try:
            payload = orjson.loads(event.data)
        except orjson.JSONDecodeError:
            return event.raw
        if not isinstance(payload, dict):
            return event.raw
        handler = {
            "openai_chat": self._openai,
            "openai_responses": self._responses,
            "anthropic_messages": self._anthropic,
            "gemini": self._gemini,
        }[self._shape]
        before = handler(payload)
        return before + _rewritten(event.raw, b"data: " + orjson.dumps(payload))

    def _openai(self, chunk: dict[str, Any]) -> bytes:
        self._last = {key: chunk[key] for key in ("id", "object", "created", "model") if key in chunk}
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            index = choice.get("index", 0)
            delta = choice.get("delta")
            if isinstance(delta, dict) and isinstance(delta.get("content"), str):
                delta["content"] = self._pipe(index).feed(delta["content"])
            if choice.get("finish_reason") is not None and index in self._open:
                rest = self._open.pop(index).close()
                if rest and isinstance(delta, dict):
                    delta["content"] = (delta.get("content") or "") + rest
        return b""

    def _whole(self, text: str) -> str:
        """A complete text at once (the same vault: the same placeholders as its deltas got)."""
        pipe = self._make()
        self._all.append(pipe)
        return pipe.feed(text) + pipe.close()

    def _responses(self, event: dict[str, Any]) -> bytes:
        kind = event.get("type")
        key = (event.get("output_index", 0), event.get("content_index", 0))
        if kind == "response.output_text.delta" and isinstance(event.get("delta"), str):
            event["delta"] = self._pipe(key).feed(event["delta"])
            return b""
        before = b""
        if kind == "response.output_text.done":
            before = self._responses_text(
                key, self._open.pop(key).close() if key in self._open else "", event
            )
            if isinstance(event.get("text"), str):
                event["text"] = self._whole(event["text"])
        part = event.get("part")
        if (
            kind == "response.content_part.done"
            and isinstance(part, dict)
            and isinstance(part.get("text"), str)
        ):
            part["text"] = self._whole(part["text"])
        item = event.get("item")
        if kind == "response.output_item.done" and isinstance(item, dict):
            for text in answer_texts("openai_responses", {"output": [item]}):
                text.set(self._whole(text.value))
        if isinstance(event.get("response"), dict):  # created, in_progress, completed, incomplete
            for text in answer_texts("openai_responses", event["response"]):
                text.set(self._whole(text.value))
        return before

    @staticmethod
    def _responses_text(key: tuple[Any, Any], text: str, event: dict[str, Any]) -> bytes:
        if not text:
            return b""
        delta = {
            "type": "response.output_text.delta",
            "item_id": event.get("item_id"),
            "output_index": key[0],
            "content_index": key[1],
            "delta": text,
            "sequence_number": event.get("sequence_number"),
        }
        return b"event: response.output_text.delta\n" + _data(delta)

    def _anthropic(self, event: dict[str, Any]) -> bytes:
        index = event.get("index", 0)
        delta = event.get("delta")
        if event.get("type") == "content_block_delta" and isinstance(delta, dict):
            if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
                delta["text"] = self._pipe(index).feed(delta["text"])
        elif event.get("type") == "content_block_stop" and index in self._open:
            return self._anthropic_text(index, self._open.pop(index).close())
        return b""

    @staticmethod
    def _anthropic_text(index: int, text: str) -> bytes:
        if not text:
            return b""
        delta = {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}
        return b"event: content_block_delta\n" + _data(delta)

    def _gemini(self, chunk: dict[str, Any]) -> bytes:
        for position, candidate in enumerate(chunk.get("candidates") or []):
            if not isinstance(candidate, dict):
                continue
            index = candidate.get("index", position)
            content = candidate.get("content")
            parts = content.get("parts") if isinstance(content, dict) else None
            texts = [
                part
                for part in (parts if isinstance(parts, list) else [])
                if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought")
            ]
            for part in texts:
                part["text"] = self._pipe(index).feed(part["text"])
            if candidate.get("finishReason") and index in self._open:
                rest = self._open.pop(index).close()
                if rest and texts:
                    texts[-1]["text"] += rest
                elif rest:
                    candidate["content"] = {"role": "model", "parts": [*(parts or []), {"text": rest}]}
        return b""

    def _flush(self) -> bytes:
        """Whatever the open pipes still hold, as one last event per choice or block."""
        out: list[bytes] = []
        for index, pipe in sorted(self._open.items()):
            rest = pipe.close()
            if not rest:
                continue
            if self._shape == "openai_chat":
                choice = {"index": index, "delta": {"content": rest}, "finish_reason": None}
                out.append(_data({**self._last, "choices": [choice]}))
            elif self._shape == "anthropic_messages":
                out.append(self._anthropic_text(index, rest))
            elif self._shape == "openai_responses":
                out.append(self._responses_text(index, rest, {}))
            elif self._shape == "gemini":
                content = {"role": "model", "parts": [{"text": rest}]}
                out.append(_data({"candidates": [{"index": index, "content": content}]}))
        self._open.clear()
        return b"".join(out)
