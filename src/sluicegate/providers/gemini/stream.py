"""Gemini's streams: reading one's responses, and serving a cached generateContent answer whole or
streamed.

Wire format: https://ai.google.dev/api/generate-content#method:-models.streamgeneratecontent — a
stream is a sequence of GenerateContentResponse objects, each of the unstreamed response's shape:
SSE events with `?alt=sse` (no end marker), else the elements of one JSON array sent piece by
piece. So a whole answer is a stream of one response, and a stream folds into one response: its
candidates' parts joined, the last chunk's finish reason, usage and ids.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import orjson

from sluicegate.providers.base import JSON_TYPE, SSE_TYPE, Answer, RequestFacts, Route
from sluicegate.providers.sse import iter_json

Response = dict[str, Any]
# A candidate's index where a response names it (its text, escaped in JSON, cannot say `"index"`; a
# function call's arguments that do only keep the stream from being stored).
_CANDIDATE_INDEX = re.compile(rb'"index"\s*:\s*(\d+)')
_SSE_END = b"\r\n\r\n"  # what Google's SSE puts after each event
_ARRAY_GAP = b"\n,"  # what Google's JSON array puts before each element after the first
_TEXT_PART = frozenset({"text", "thought"})  # a part with no more than these joins the text before it


def iter_responses(events: bytes) -> Iterator[Any]:
    """Each GenerateContentResponse of a stream: SSE (`alt=sse`) or a JSON array, maybe cut short."""
    start = events.lstrip()[:1]
    if start == b"[":
        yield from _iter_array(events.decode("utf-8", "replace"))
    else:
        yield from iter_json(events)


class FinishReasons:
    """Gemini's rule for a whole stream (an `EndRule`), read in order: each candidate the stream
    names came to its finishReason ("If empty, the model has not stopped generating the tokens":
    https://ai.google.dev/api/generate-content#candidate), or the prompt was blocked
    (`promptFeedback.blockReason`, no candidates); a JSON array also came to its `]`.

    Read a piece at a time (an SSE line; an array's elements, which Google writes pretty-printed,
    one `\n,` before each after the first), keeping of what it read only the candidates named and
    finished: the log hands it what it drops of a long stream as it drops it. Only the pieces that
    mention a finishReason or a blockReason are parsed, found by a byte search; the others, and the
    bytes after the last whole piece, are only held until their piece is whole."""

    awaited = "finishReason"

    def __init__(self) -> None:
        self._named = {0}  # a candidate's index may be left out: 0
        self._finished: set[int] = set()
        self._blocked = False
        self._array: bool | None = None  # the form, known at the first byte that is not a space
        self._pending: list[bytes] = []  # what came after the last whole piece

    def skip(self, data: bytes) -> None:
        if self._array is None and (head := data.lstrip()[:1]):
            self._array = head == b"["
        cut = data.rfind(_ARRAY_GAP if self._array else b"\n")
        if cut < 0:
            self._pending.append(data)
            return
        self._pending.append(data[:cut])
        self._read(b"".join(self._pending))
        self._pending = [data[cut:]]

    def finished(self, rest: bytes) -> bool:
        self.skip(rest)
        last = b"".join(self._pending)
        self._pending = []
        self._read(last)
        if self._array and not last.rstrip().endswith(b"]"):
            return False  # the array was never closed
        return self._blocked or (bool(self._finished) and self._named <= self._finished)

    def _read(self, pieces: bytes) -> None:
        """Whole pieces (lines, or elements with the commas and brackets between them)."""
        self._named.update(int(index) for index in _CANDIDATE_INDEX.findall(pieces))
        if b'"finishReason"' not in pieces and b'"blockReason"' not in pieces:
            return
        if self._array:
            elements = pieces.lstrip(b" \t\r\n,[").decode("utf-8", "replace")
            responses: Iterator[Any] = _iter_array("[" + elements)
        else:
            lines = (line[5:] for line in pieces.splitlines() if line.startswith(b"data:"))
            responses = (
                _json(data) for data in lines if b'"finishReason"' in data or b'"blockReason"' in data
            )
        for response in responses:
            if not isinstance(response, dict):
                continue
            candidates = response.get("candidates")
            feedback = response.get("promptFeedback")
            if not candidates and isinstance(feedback, dict) and feedback.get("blockReason"):
                self._blocked = True
            for candidate in candidates if isinstance(candidates, list) else ():
                if isinstance(candidate, dict) and candidate.get("finishReason"):
                    self._finished.add(_index(candidate))


def _json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def generate_content_answer(route: Route, facts: RequestFacts, stored: Answer) -> Answer | None:
    """A cached generateContent / streamGenerateContent answer as the request at `route` asks for it
    (see `Provider.answer_as`): one response, SSE events, or a JSON array."""
    if not facts.stream:
        if not stored.streamed:
            return stored
        merged = _merged([r for r in iter_responses(stored.body) if isinstance(r, dict)])
        return None if merged is None else Answer(orjson.dumps(merged), False, JSON_TYPE)
    sse = parse_qs(route.query).get("alt") == ["sse"]
    if stored.streamed and (stored.body.lstrip()[:1] != b"[") == sse:
        return stored  # already framed as asked (SSE, or a JSON array)
    if stored.streamed:
        responses = [r for r in iter_responses(stored.body) if isinstance(r, dict)]
    else:
        try:
            document = orjson.loads(stored.body)
        except orjson.JSONDecodeError:
            return None
        responses = [document] if _is_response(document) else []
    if not responses:
        return None
    if sse:
        return Answer(b"".join(b"data: " + orjson.dumps(r) + _SSE_END for r in responses), True, SSE_TYPE)
    return Answer(b"[" + b",\r\n".join(orjson.dumps(r) for r in responses) + b"]", True, JSON_TYPE)


def _is_response(document: Any) -> bool:
    return isinstance(document, dict) and ("candidates" in document or "promptFeedback" in document)


def _merged(responses: list[Response]) -> Response | None:
    """One response from a stream's: every field from the last chunk that has it, candidates joined."""
    if not any(_is_response(r) for r in responses):
        return None
    merged: Response = {}
    candidates: dict[int, Response] = {}
    for response in responses:
        merged |= {key: value for key, value in response.items() if key != "candidates"}
        for candidate in response.get("candidates") or ():
            if isinstance(candidate, dict):
                _merge_candidate(candidates.setdefault(_index(candidate), {}), candidate)
    if candidates:
        merged["candidates"] = [candidates[index] for index in sorted(candidates)]
    return merged


def _index(candidate: Response) -> int:
    index = candidate.get("index", 0)
    return index if isinstance(index, int) else 0


def _merge_candidate(target: Response, chunk: Response) -> None:
    for key, value in chunk.items():
        if key == "content" and isinstance(value, dict):
            content = target.setdefault("content", {"parts": []})
            content |= {k: v for k, v in value.items() if k != "parts"}
            for part in value.get("parts") or ():
                _add_part(content["parts"], part)
        elif key == "citationMetadata" and isinstance(value, dict):
            sources = (target.get("citationMetadata") or {}).get("citationSources") or []
            target["citationMetadata"] = {
                **value,
                "citationSources": sources + (value.get("citationSources") or []),
            }
        else:
            target[key] = value  # finishReason, safetyRatings, ...: the last chunk's


def _add_part(parts: list[Any], part: Any) -> None:
    """Consecutive text pieces (of the same kind: thought or answer) become one part, as unstreamed."""
    last = parts[-1] if parts else None
    if (
        isinstance(part, dict)
        and isinstance(last, dict)
        and isinstance(part.get("text"), str)
        and isinstance(last.get("text"), str)
        and part.keys() <= _TEXT_PART
        and last.keys() <= _TEXT_PART
        and part.get("thought") == last.get("thought")
    ):
        parts[-1] = {**last, "text": last["text"] + part["text"]}
    else:
        parts.append(part)


def _iter_array(text: str) -> Iterator[Any]:
    """The elements of a JSON array one by one, stopping quietly where the text breaks off."""
    decoder = json.JSONDecoder()
    position = text.find("[") + 1
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            return
        try:
            element, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return
        yield element
