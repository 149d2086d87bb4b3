"""Cohere's chat stream events as guardrails read them (cohere_texts.py's format hands them here).

v2 (SSE): `content-delta` text and thinking, each content `index` through a pipe of its own
(opened by `content-start`, whose text is fed too, and ended by `content-end`: what the pipe held
goes out as one more `content-delta` just before it); `tool-plan-delta` through the plan's pipe
(ended by the first `tool-call-start`, a `content-start` or `message-end`); `tool-call-start` and
`tool-call-delta` arguments, JSON, a pipe per call `index`, ended by its `tool-call-end` (what it
held as a `tool-call-delta` before it); a `citation-start`'s `text` whole; `message-start`'s
message whole (it comes empty); at `message-end`, what any pipe still holds, before it.
https://docs.cohere.com/docs/streaming, https://docs.cohere.com/docs/tool-use-streaming

v1 (one JSON object a line, `application/stream+json`, or SSE): `text-generation` `text` through
one pipe; `tool-calls-chunk` plan `text` (at the top or in its `tool_call_delta`) through the plan's,
its `tool_call_delta.parameters` (JSON) through one per call `index`, the plan's ended by a call's
first chunk; `tool-calls-generation`, which repeats the plan and the calls whole, ends them all
(what they held as `tool-calls-chunk` events before it) and is read whole; a `citation-generation`'s
citations' `text` whole; `stream-end` ends every pipe (their tails as events before it), then its
`response`, the whole answer again, is read whole, as a JSON answer is (the same placeholders).
https://docs.cohere.com/v1/reference/chat-stream
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any

from sluicegate.providers.sse import sse_data
from sluicegate.providers.texts import Text, TextPipes, string

AnswerTexts = Callable[[dict[str, Any]], Iterator[Text]]

# Pipe indexes (tuples): v2's content (_TEXT or _THINKING, its index), tool plan (_PLAN,) and calls
# (_CALL, its index); v1's text (_V1_TEXT,), plan (_V1_PLAN,) and calls (_V1_CALL, its index).
_TEXT, _THINKING, _PLAN, _CALL = "text", "thinking", "plan", "call"
_V1_TEXT, _V1_PLAN, _V1_CALL = "v1-text", "v1-plan", "v1-call"


def v2_event(event: dict[str, Any], pipes: TextPipes, json: bool, answer_texts: AnswerTexts) -> bytes:
    """One v2 event's text through `pipes`, edited in place; what goes before it (`json`: the answer's
    text is JSON)."""
    kind, index = event["type"], event.get("index", 0)
    message = _dig(event, "delta", "message")
    if kind in ("content-start", "content-delta"):
        before = _closed(pipes, (_PLAN,)) if kind == "content-start" else b""
        content = _dig(message, "content")
        if isinstance(content, dict):
            if isinstance(content.get("text"), str):
                content["text"] = pipes.feed((_TEXT, index), content["text"], json=json)
            if isinstance(content.get("thinking"), str):
                content["thinking"] = pipes.feed((_THINKING, index), content["thinking"])
        return before
    if kind == "content-end":
        return _closed(pipes, (_THINKING, index), (_TEXT, index))
    if kind == "tool-plan-delta":
        if isinstance(message, dict) and isinstance(message.get("tool_plan"), str):
            message["tool_plan"] = pipes.feed((_PLAN,), message["tool_plan"])
        return b""
    if kind in ("tool-call-start", "tool-call-delta"):
        before = _closed(pipes, (_PLAN,)) if kind == "tool-call-start" else b""
        function = _dig(message, "tool_calls", "function")
        if isinstance(function, dict) and isinstance(function.get("arguments"), str):
            function["arguments"] = pipes.feed((_CALL, index), function["arguments"], json=True)
        return before
    if kind == "tool-call-end":
        return _closed(pipes, (_CALL, index))
    if kind == "citation-start":
        _whole(string(_dig(message, "citations"), "text", "assistant"), pipes)
    elif kind == "message-start" and isinstance(message, dict):
        _whole(answer_texts({"message": message}), pipes)
    elif kind == "message-end":
        return _all_closed(pipes)
    return b""


def v1_event(event: dict[str, Any], pipes: TextPipes, json: bool, answer_texts: AnswerTexts) -> bytes:
    """One v1 event's text through `pipes`, edited in place; what goes before it."""
    kind = event["event_type"]
    if kind == "text-generation":
        if isinstance(event.get("text"), str):
            event["text"] = pipes.feed((_V1_TEXT,), event["text"], json=json)
        return b""
    if kind == "tool-calls-chunk":
        return _v1_chunk(event, pipes)
    # The calls and citations are read as an answer holding only them is (cohere_texts.py's walkers).
    if kind == "tool-calls-generation":
        before = _all_closed(pipes)
        _whole(
            [*string(event, "text", "assistant"), *answer_texts({"tool_calls": event.get("tool_calls")})],
            pipes,
        )
        return before
    if kind == "citation-generation":
        _whole(answer_texts({"citations": event.get("citations")}), pipes)
    elif kind == "stream-end":
        before = _all_closed(pipes)
        if isinstance(event.get("response"), dict):
            _whole(answer_texts(event["response"]), pipes)
        return before
    return b""


def _v1_chunk(event: dict[str, Any], pipes: TextPipes) -> bytes:
    """A `tool-calls-chunk`: a piece of the plan, or of a call (its name, or its parameters)."""
    delta = event.get("tool_call_delta")
    call = isinstance(delta, dict) and ("name" in delta or "parameters" in delta)
    before = _closed(pipes, (_V1_PLAN,)) if call else b""
    fed: tuple[str, str] | None = None  # (a plan piece, what came out): the SDK types it in both places
    for owner in (event, delta):
        if isinstance(owner, dict) and isinstance(owner.get("text"), str):
            piece = owner["text"]
            out = fed[1] if fed is not None and fed[0] == piece else pipes.feed((_V1_PLAN,), piece)
            owner["text"], fed = out, (piece, out)
    if isinstance(delta, dict) and isinstance(delta.get("parameters"), str):
        delta["parameters"] = pipes.feed((_V1_CALL, delta.get("index", 0)), delta["parameters"], json=True)
    return before


def stream_leftover(index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
    """What the pipe at `index` held, as the event its text came in."""
    kind = index[0] if isinstance(index, tuple) else index
    at = index[1] if isinstance(index, tuple) and len(index) > 1 else 0
    payload: dict[str, Any]
    if kind in (_TEXT, _THINKING):
        content = {kind: text}
        payload = {"type": "content-delta", "index": at, "delta": {"message": {"content": content}}}
    elif kind == _PLAN:
        payload = {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": text}}}
    elif kind == _CALL:
        calls = {"function": {"arguments": text}}
        payload = {"type": "tool-call-delta", "index": at, "delta": {"message": {"tool_calls": calls}}}
    elif kind == _V1_CALL:
        delta = {"index": at, "parameters": text}
        payload = {"is_finished": False, "event_type": "tool-calls-chunk", "tool_call_delta": delta}
    else:
        name = "tool-calls-chunk" if kind == _V1_PLAN else "text-generation"
        payload = {"is_finished": False, "event_type": name, "text": text}
    return sse_data(payload, event=str(payload.get("type") or payload["event_type"]))


def _closed(pipes: TextPipes, *indexes: tuple[Any, ...]) -> bytes:
    """What the pipes at `indexes` held, closed, as events."""
    return b"".join(stream_leftover(index, rest, {}) for index in indexes if (rest := pipes.close(index)))


def _all_closed(pipes: TextPipes) -> bytes:
    """What every open pipe held, closed, as events: the answer ends here."""
    return b"".join(stream_leftover(index, rest, {}) for index, rest in pipes.close_where(_any))


def _any(_index: Any) -> bool:
    return True


def _whole(texts: Iterable[Text], pipes: TextPipes) -> None:
    """Texts that repeat the stream's deltas whole (or come only whole), filtered at once; the
    client's own repeated (`echo`: v1's user turns in `stream-end`) only restored."""
    for text in list(texts):
        before = text.value
        after = (pipes.restored if text.echo else pipes.whole)(before, json=text.json)
        if after != before:
            text.set(after)


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value
