"""What an OpenAI answer says, as text: its content and the names and arguments of the tools it
calls, from a whole answer (chat, completions, Responses) or from its stream's events. Guardrails
read it, and the token estimate counts it when the provider reports no usage."""

from __future__ import annotations

from typing import Any


def _dict(value: Any) -> dict[str, Any]:
    """`value` if it is an object, else an empty one: upstream bodies are not trusted to be well formed."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


# The Responses API's stream events whose `delta` is part of the answer: text, and a function call's
# arguments (https://platform.openai.com/docs/api-reference/responses-streaming).
_ANSWER_DELTAS = frozenset({"response.output_text.delta", "response.function_call_arguments.delta"})


def stream_text(event: Any) -> str:
    """What one streamed event adds to the answer: text, and the names and arguments of the tools it
    calls (a forced tool call has no text at all, yet its arguments are billed as output)."""
    if not isinstance(event, dict):
        return ""
    kind = event.get("type")
    if kind in _ANSWER_DELTAS:
        return _string(event.get("delta"))
    if kind == "response.output_item.added":  # a function call's name comes with its item
        return _call_text(_dict(event.get("item")))
    parts = []
    for choice in map(_dict, _list(event.get("choices"))):
        delta = _dict(choice.get("delta"))
        parts.append(_string(delta.get("content") or choice.get("text")))
        parts.extend(_tool_calls_text(delta))  # the first delta of a call names it, the rest add arguments
    return "".join(parts)


def document_text(document: dict[str, Any]) -> str:
    """A whole answer's text, with the names and arguments of the tools it calls."""
    parts: list[str] = []
    for choice in map(_dict, _list(document.get("choices"))):
        message = _dict(choice.get("message"))
        parts.append(_string(message.get("content") or choice.get("text")))
        parts.extend(_tool_calls_text(message))
    for item in map(_dict, _list(document.get("output"))):  # Responses API
        parts.append(_call_text(item))
        parts.extend(_string(content.get("text")) for content in map(_dict, _list(item.get("content"))))
    return "".join(parts)


def _tool_calls_text(message: dict[str, Any]) -> list[str]:
    """A chat message's (or delta's) tool calls, and the legacy `function_call`: names and arguments."""
    functions = [_dict(call.get("function")) for call in map(_dict, _list(message.get("tool_calls")))]
    functions.append(_dict(message.get("function_call")))
    return [_string(function.get(key)) for function in functions for key in ("name", "arguments")]


def _call_text(item: dict[str, Any]) -> str:
    """A Responses API function call item's name and arguments ("" for any other item)."""
    if item.get("type") != "function_call":
        return ""
    return _string(item.get("name")) + _string(item.get("arguments"))


def _string(value: Any) -> str:
    return value if isinstance(value, str) else ""
