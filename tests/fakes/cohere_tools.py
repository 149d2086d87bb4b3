"""The fake Cohere's tool calls, thinking and citations, each as Cohere sends it, whole and streamed
(https://docs.cohere.com/docs/tool-use-streaming, https://docs.cohere.com/docs/streaming,
https://docs.cohere.com/v1/reference/chat-stream). With the reply's text `text` ("echo: <last user
text>"):

- `tools` in the request: the model calls the first tool with `{"note": <the user's text>}` after a
  plan, "I will save: <the user's text>", instead of answering (finish reason TOOL_CALL). v2 streams
  `tool-plan-delta` a word an event, `tool-call-start` (empty arguments), the arguments a word a
  `tool-call-delta`, `tool-call-end`; v1 streams the plan a word a `tool-calls-chunk`, the call's
  name, its parameters a word a chunk, then `tool-calls-generation` with the plan and calls whole.
- v2 `thinking: {"type": "enabled"}`: the answer starts with a `thinking` part, "The user wrote:
  <the user's text>", streamed a word a `content-delta` at index 0 (the text then at index 1).
- `documents` in the request: one citation quoting the whole text (v2: `citation-start` and
  `citation-end` after its deltas; v1: a `citation-generation` event after its text).
"""

from __future__ import annotations

import json
from typing import Any

COMPACT = (",", ":")


def words(text: str) -> list[str]:
    """`text` a word a piece, each but the first with the space before it: joined, `text` again."""
    parts = text.split(" ")
    return [parts[0], *(" " + part for part in parts[1:])]


def _user_text(reply: str) -> str:
    return reply.removeprefix("echo: ")


def _tool(body: dict[str, Any]) -> str | None:
    """The name of the tool the model calls: the request's first (v2's `function.name`, v1's `name`)."""
    tools = body.get("tools")
    if not isinstance(tools, list) or not tools or not isinstance(tools[0], dict):
        return None
    first = tools[0]
    name = (first.get("function") or {}).get("name") if "function" in first else first.get("name")
    return str(name) if name else None


def _plan(reply: str) -> str:
    return f"I will save: {_user_text(reply)}"


def _arguments(reply: str) -> str:
    return json.dumps({"note": _user_text(reply)}, separators=COMPACT)


def _thinks(body: dict[str, Any]) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") == "enabled"


def _citation(body: dict[str, Any], text: str) -> dict[str, Any] | None:
    return {"start": 0, "end": len(text), "text": text} if body.get("documents") else None


def calls_tool(body: dict[str, Any]) -> bool:
    return _tool(body) is not None


def v2_message(body: dict[str, Any], text: str, number: int) -> dict[str, Any]:
    """A whole v2 answer's `message`."""
    name = _tool(body)
    if name is not None:
        call = {"id": f"{name}_{number:06d}", "type": "function"}
        call["function"] = {"name": name, "arguments": _arguments(text)}  # type: ignore[assignment]
        return {"role": "assistant", "tool_plan": _plan(text), "tool_calls": [call]}
    content: list[dict[str, Any]] = [{"type": "text", "text": text}]
    if _thinks(body):
        content.insert(0, {"type": "thinking", "thinking": f"The user wrote: {_user_text(text)}"})
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if (citation := _citation(body, text)) is not None:
        message["citations"] = [{**citation, "sources": [{"type": "document", "id": "doc:0"}]}]
    return message


def v2_events(body: dict[str, Any], text: str, pieces: list[str], number: int) -> list[dict[str, Any]]:
    """A v2 stream's events between `message-start` and `message-end`."""
    name = _tool(body)
    if name is not None:
        plan = [
            {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": p}}} for p in words(_plan(text))
        ]
        call = {"id": f"{name}_{number:06d}", "type": "function", "function": {"name": name, "arguments": ""}}
        start = {"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": call}}}
        deltas = [
            {
                "type": "tool-call-delta",
                "index": 0,
                "delta": {"message": {"tool_calls": {"function": {"arguments": a}}}},
            }
            for a in words(_arguments(text))
        ]
        return [*plan, start, *deltas, {"type": "tool-call-end", "index": 0}]
    events: list[dict[str, Any]] = []
    index = 0
    if _thinks(body):
        events += _content(0, "thinking", words(f"The user wrote: {_user_text(text)}"))
        index = 1
    events += _content(index, "text", pieces)
    if (citation := _citation(body, text)) is not None:
        sources = [{"type": "document", "id": "doc:0"}]
        cited = {
            "type": "citation-start",
            "index": 0,
            "delta": {"message": {"citations": {**citation, "sources": sources}}},
        }
        events[-1:-1] = [cited, {"type": "citation-end", "index": 0}]  # before content-end
    return events


def _content(index: int, kind: str, pieces: list[str]) -> list[dict[str, Any]]:
    start = {
        "type": "content-start",
        "index": index,
        "delta": {"message": {"content": {"type": kind, kind: ""}}},
    }
    deltas = [
        {"type": "content-delta", "index": index, "delta": {"message": {"content": {kind: piece}}}}
        for piece in pieces
    ]
    return [start, *deltas, {"type": "content-end", "index": index}]


def v1_answer(body: dict[str, Any], answer: dict[str, Any]) -> None:
    """A whole v1 answer with its tool calls (the plan as its text) or its citation, in place."""
    text, name = answer["text"], _tool(body)
    if name is not None:
        calls = [{"name": name, "parameters": {"note": _user_text(text)}}]
        answer["text"] = _plan(text)
        answer["tool_calls"] = calls
        answer["chat_history"][-1] = {"role": "CHATBOT", "message": _plan(text), "tool_calls": calls}
    elif (citation := _citation(body, text)) is not None:
        answer["citations"] = [{**citation, "document_ids": ["doc_0"]}]


def v1_events(
    body: dict[str, Any], text: str, pieces: list[str], answer: dict[str, Any]
) -> list[dict[str, Any]]:
    """A v1 stream's events between `stream-start` and `stream-end` (`answer`: the whole answer,
    its tool calls or citation added by `v1_answer`)."""
    name = _tool(body)
    if name is None:
        events = [{"is_finished": False, "event_type": "text-generation", "text": piece} for piece in pieces]
        if "citations" in answer:
            events.append(
                {"is_finished": False, "event_type": "citation-generation", "citations": answer["citations"]}
            )
        return events
    chunk = {"is_finished": False, "event_type": "tool-calls-chunk"}
    plan = [{**chunk, "text": piece} for piece in words(_plan(text))]
    named = {**chunk, "tool_call_delta": {"index": 0, "name": name}}
    parameters = [
        {**chunk, "tool_call_delta": {"index": 0, "parameters": p}} for p in words(_arguments(text))
    ]
    whole = {"is_finished": False, "event_type": "tool-calls-generation", "text": answer["text"]}
    return [*plan, named, *parameters, {**whole, "tool_calls": answer["tool_calls"]}]
