"""The user-visible text of the request bodies the gateway knows, so guardrails can read or
rewrite it and leave the rest alone (models, tool schemas, images, tool call arguments).

Each shape is a walker that yields a `Text` per content string or text part, with the role of
its turn: OpenAI chat (`messages[].content`, string or `text` parts), OpenAI Responses
(`instructions`, `input` as a string or message items with `input_text`/`output_text` parts),
Anthropic messages (`system`, `messages[].content` string or `text` blocks) and Gemini
(`systemInstruction`/`system_instruction`, `contents[].parts[].text`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

Shape = Literal["openai_chat", "openai_responses", "anthropic_messages", "gemini"]


@dataclass(frozen=True, slots=True)
class Text:
    """One piece of text: `owner[key]` is the string; `role` is whose turn it is (`system` for
    system and developer instructions, `assistant` for the model's own turns)."""

    owner: dict[str, Any] | list[Any]
    key: str | int
    role: str

    @property
    def value(self) -> str:
        value: str = self.owner[self.key]  # type: ignore[index]
        return value

    def set(self, value: str) -> None:
        self.owner[self.key] = value  # type: ignore[index]


def _string(owner: Any, key: str | int, role: str) -> Iterator[Text]:
    try:
        value = owner[key]
    except (KeyError, IndexError, TypeError):
        return
    if isinstance(value, str):
        yield Text(owner, key, role)


def _parts(owner: Any, key: str, role: str, types: tuple[str, ...]) -> Iterator[Text]:
    """A string at `owner[key]`, or the `text` of each part in a list there whose type is one
    of `types` (a part with no type counts as text, as the APIs accept it)."""
    content = owner.get(key) if isinstance(owner, dict) else None
    if isinstance(content, str):
        yield Text(owner, key, role)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type", types[0]) in types:
                yield from _string(part, "text", role)


def _role(item: dict[str, Any], default: str = "user") -> str:
    role = item.get("role", default)
    role = role if isinstance(role, str) else default
    return {"developer": "system", "model": "assistant"}.get(role, role)


def _openai_chat(body: dict[str, Any]) -> Iterator[Text]:
    for message in _list(body.get("messages")):
        if isinstance(message, dict):
            yield from _parts(message, "content", _role(message), ("text",))


def _openai_responses(body: dict[str, Any]) -> Iterator[Text]:
    yield from _string(body, "instructions", "system")
    if isinstance(body.get("input"), str):
        yield Text(body, "input", "user")
        return
    for item in _list(body.get("input")):
        if isinstance(item, dict) and item.get("type", "message") == "message":
            yield from _parts(item, "content", _role(item), ("input_text", "output_text", "text"))


def _anthropic_messages(body: dict[str, Any]) -> Iterator[Text]:
    yield from _parts(body, "system", "system", ("text",))
    for message in _list(body.get("messages")):
        if isinstance(message, dict):
            yield from _parts(message, "content", _role(message), ("text",))


def _gemini(body: dict[str, Any]) -> Iterator[Text]:
    for key in ("systemInstruction", "system_instruction"):
        instruction = body.get(key)
        if isinstance(instruction, dict):
            for part in _list(instruction.get("parts")):
                yield from _string(part, "text", "system")
    for content in _list(body.get("contents")):
        if isinstance(content, dict):
            role = _role(content)
            for part in _list(content.get("parts")):
                if isinstance(part, dict) and not part.get("thought"):
                    yield from _string(part, "text", role)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


WALKERS: dict[Shape, Callable[[dict[str, Any]], Iterator[Text]]] = {
    "openai_chat": _openai_chat,
    "openai_responses": _openai_responses,
    "anthropic_messages": _anthropic_messages,
    "gemini": _gemini,
}


def texts(shape: Shape, body: Any) -> list[Text]:
    """Every user-visible text of a parsed request body, in order (none if it is not an object)."""
    return list(WALKERS[shape](body)) if isinstance(body, dict) else []


def rewrite(shape: Shape, body: Any, change: Callable[[str, str], str]) -> bool:
    """Applies `change(text, role)` to each user-visible text of `body`, in place; whether
    anything changed."""
    changed = False
    for text in texts(shape, body):
        before = text.value
        after = change(before, text.role)
        if after != before:
            text.set(after)
            changed = True
    return changed
