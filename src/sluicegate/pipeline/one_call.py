"""`parallel_tool_calls: false` held by the gateway for the providers that cannot be told it.

Gemini and Workers AI have no switch for one function call per turn (Anthropic's is
`disable_parallel_tool_use`, which its translator sends). Codex CLI sends `parallel_tool_calls:
false` to every model that is not OpenAI's, and Claude Code may send `disable_parallel_tool_use`,
so refusing it failed every turn. The request goes without the constraint, and the answer keeps
only its first tool call per choice, whole or streamed: a later call is dropped, its arguments
never shown. The client then runs one call, sends its result, and the model calls the next one
in a later turn, as it would have.

Applied by the Ingress stage (pipeline/ingress.py) before it renders the answer, so a Messages or
Responses client's rendering is made of the one call; outside the caches, which store the
provider's answer as it came (the native request names no constraint, so one entry serves a request
with it and one without), and each answer is cut on its way out. Only a translated step's answer
(`Step.one_tool_call`, set by Plan from the chat request it parsed): a provider that takes the chat
request as it is honours `parallel_tool_calls` itself. Not a stage of its own: every request, the
plain proxy's too, paid one more stage's call for it.

Wire format: https://platform.openai.com/docs/api-reference/chat-streaming — a tool call's chunks
name it by `index` within its choice; the first call is the first index a choice streams.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any

import orjson

from sluicegate.exchange import Reply
from sluicegate.providers.sse import SseParser


def one_tool_call(reply: Reply) -> Reply:
    """`reply` of a step with `one_tool_call`, cut to each choice's first tool call when it is a
    success (an error goes as it came)."""
    if not 200 <= reply.status < 300:
        return reply
    if reply.stream is None:
        reply.body = one_call_answer(reply.body)
    else:
        reply.stream = _one_call_stream(reply.stream)
    return reply


def one_call_answer(body: bytes) -> bytes:
    """A chat completion with each choice's first tool call only (as it came if it has no more)."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    cut = False
    for choice in document.get("choices") or () if isinstance(document, dict) else ():
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            continue
        calls = message.get("tool_calls")
        if isinstance(calls, list) and len(calls) > 1:
            message["tool_calls"], cut = calls[:1], True
    return orjson.dumps(document) if cut else body


class OneCallChunks:
    """A chat.completion.chunk stream, split anywhere, with each choice's first tool call only.
    An event with no later call goes out as it came; one with some is written again without them,
    and left out when nothing else remains in it."""

    def __init__(self) -> None:
        self._events = SseParser()
        self._first: dict[Any, Any] = {}  # choice index -> the index of its first tool call

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._kept(event.raw, event.data) for event in self._events.feed(chunk))

    def close(self) -> bytes:
        return b"".join(self._kept(event.raw, event.data) for event in self._events.close())

    def _kept(self, raw: bytes, data: bytes | None) -> bytes:
        if data is None or b'"tool_calls"' not in data:
            return raw
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            return raw
        choices = chunk.get("choices") if isinstance(chunk, dict) else None
        if not isinstance(choices, list):
            return raw
        kept_choices, cut = [], False
        for choice in choices:
            delta = choice.get("delta") if isinstance(choice, dict) else None
            calls = delta.get("tool_calls") if isinstance(delta, dict) else None
            if not isinstance(delta, dict) or not isinstance(calls, list):
                kept_choices.append(choice)
                continue
            if calls and (at := choice.get("index", 0)) not in self._first:
                self._first[at] = _call_index(calls[0])
            first = self._first.get(choice.get("index", 0))
            kept = [call for call in calls if _call_index(call) == first]
            if len(kept) == len(calls):
                kept_choices.append(choice)
                continue
            cut = True
            rest = {key: value for key, value in delta.items() if key != "tool_calls"}
            if kept:
                rest["tool_calls"] = kept
            if _says_something(rest) or choice.get("finish_reason") is not None:
                kept_choices.append({**choice, "delta": rest})
        if not cut:
            return raw
        if not kept_choices and not chunk.get("usage"):
            return b""
        return b"data: " + orjson.dumps({**chunk, "choices": kept_choices}) + b"\n\n"


def _call_index(call: Any) -> Any:
    return call.get("index", 0) if isinstance(call, dict) else None


def _says_something(delta: dict[str, Any]) -> bool:
    return any(value not in (None, "", []) for value in delta.values())


async def _one_call_stream(stream: AsyncGenerator[bytes, None]) -> AsyncGenerator[bytes, None]:
    chunks = OneCallChunks()
    async with aclosing(stream):
        async for chunk in stream:
            if out := chunks.feed(chunk):
                yield out
    if last := chunks.close():
        yield last
