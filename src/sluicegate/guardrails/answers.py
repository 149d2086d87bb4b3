"""Which API shape a request or its answer has, and the user-visible text of an answer (the
request walkers are in `bodies.py`): OpenAI chat `choices[].message.content`, Responses
`output[].content[]` `output_text` parts, Anthropic `content[]` `text` blocks, Gemini
`candidates[].content.parts[].text`."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote

from .bodies import Shape, Text


def shape_of(path: str, payload: Any) -> Shape | None:
    """The shape of a request to `path` (a provider route's path), by its endpoint, else by the
    keys of its body; None for what guardrails cannot read (embeddings, images, …)."""
    path = unquote(path).rstrip("/")
    if path.endswith("chat/completions"):
        return "openai_chat"
    if path.endswith("responses"):
        return "openai_responses"
    if path.endswith("messages"):
        return "anthropic_messages"
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return "gemini"
    if isinstance(payload, dict):
        if isinstance(payload.get("messages"), list):
            return "openai_chat"  # the OpenAI-compatible servers (Workers AI's model paths)
        if isinstance(payload.get("contents"), list):
            return "gemini"
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text_parts(parts: Any, types: tuple[str, ...], role: str = "assistant") -> Iterator[Text]:
    for part in _list(parts):
        if (
            isinstance(part, dict)
            and part.get("type", types[0]) in types
            and isinstance(part.get("text"), str)
        ):
            yield Text(part, "text", role)


def _openai_chat(body: dict[str, Any]) -> Iterator[Text]:
    for choice in _list(body.get("choices")):
        message = choice.get("message") if isinstance(choice, dict) else None
        if isinstance(message, dict) and isinstance(message.get("content"), str):
            yield Text(message, "content", "assistant")


def _openai_responses(body: dict[str, Any]) -> Iterator[Text]:
    for item in _list(body.get("output")):
        if isinstance(item, dict) and item.get("type") == "message":
            yield from _text_parts(item.get("content"), ("output_text",))


def _anthropic_messages(body: dict[str, Any]) -> Iterator[Text]:
    yield from _text_parts(body.get("content"), ("text",))


def _gemini(body: dict[str, Any]) -> Iterator[Text]:
    for candidate in _list(body.get("candidates")):
        content = candidate.get("content") if isinstance(candidate, dict) else None
        if isinstance(content, dict):
            for part in _list(content.get("parts")):
                if isinstance(part, dict) and not part.get("thought") and isinstance(part.get("text"), str):
                    yield Text(part, "text", "assistant")


ANSWERS: dict[Shape, Callable[[dict[str, Any]], Iterator[Text]]] = {
    "openai_chat": _openai_chat,
    "openai_responses": _openai_responses,
    "anthropic_messages": _anthropic_messages,
    "gemini": _gemini,
}


def answer_texts(shape: Shape, body: Any) -> list[Text]:
    """Every user-visible text of a parsed JSON answer, in order (none if it is not an object)."""
    return list(ANSWERS[shape](body)) if isinstance(body, dict) else []
