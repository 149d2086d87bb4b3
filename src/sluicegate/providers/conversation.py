"""What the semantic cache reads of a request body: the conversation, as the provider's format says.

A provider names the readers of the body shapes its API takes, in the order a body is tried
(`Provider.conversations`): OpenAI chat and legacy completions (`openai_conversation.py`, also
Anthropic's, Cohere's, Workers AI's and Hugging Face's), Gemini's `contents`
(`gemini/conversation.py`). A reader only says what a body holds; `semantic/scope.py` decides
what may be served (the sampling limits, tool results) and digests the scope, so it knows no
field name of any format.

`Turns.exact` is digested as it is into every scope (`semantic/scope.py`): what a reader puts in
it must stay byte for byte what it was, or the entries stored before no longer match.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Top-level fields that do not change what a correct answer is, so they stay out of the scope;
# every other field (model, tools, response_format, max_tokens, stop, ...) is in it. One list for
# every reader, each reader's own field among them, as the digests of stored entries were made.
UNSCOPED = frozenset(
    {
        "messages",
        "contents",
        "prompt",
        "stream",
        "stream_options",
        "temperature",
        "top_p",
        "top_k",
        "seed",
        "n",
        "user",
        "metadata",
        "store",
        "service_tier",
        "safety_identifier",
        "prompt_cache_key",
    }
)
SYSTEM_ROLES = frozenset({"system", "developer"})
# Anthropic's `tool_result`, Gemini's `functionResponse` (REST) and `function_response` (SDKs).
_TOOL_RESULT_PARTS = frozenset({"tool_result", "function_result", "functionResponse", "function_response"})


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a body in a reader's shape cannot be compared."""

    reason: str


@dataclass(frozen=True, slots=True)
class Turn:
    """An earlier turn: its role and its text, None when anything in it but plain text matters (an
    image, a tool call, an extra field) or it is a system turn."""

    role: str
    text: str | None


@dataclass(frozen=True, slots=True)
class Turns:
    """A conversation that can be compared. `exact`: the part of the scope that must match byte for
    byte; `text`: the last user message's text; `earlier`: the turns before it that may be compared
    by meaning instead of exactly, oldest first; `systems`: the leading system turns before those,
    kept exact when they are."""

    exact: dict[str, Any]
    text: str
    earlier: tuple[Turn, ...] = ()
    systems: tuple[Any, ...] = ()


@dataclass(frozen=True, slots=True)
class Conversation:
    """A body in a reader's shape. The sampling facts as sent (`choices`: how many answers it asks
    for), checked first; `tool_results`: whether a tool or function result comes before anything
    that makes the turns unreadable; then the turns, or why they cannot be read."""

    temperature: Any
    choices: Any
    tool_results: bool
    turns: Turns | Refusal


@dataclass(frozen=True, slots=True)
class ConversationReader:
    """One body shape: `field` is the body field it compares (`messages`: "no messages to
    compare"); `read` returns None for a body not in this shape, a Refusal when its sampling
    cannot be read."""

    field: str
    read: Callable[[dict[str, Any]], Conversation | Refusal | None]


def split_content(content: Any) -> tuple[str | None, list[Any]]:
    """The text of a message (its text parts joined by newlines) and its other parts, kept whole:
    an image or a file must match exactly, only words are compared by meaning."""
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        return None, []
    texts: list[str] = []
    others: list[Any] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif (
            isinstance(part, dict)
            and isinstance(part.get("text"), str)
            and part.get("type", "text") == "text"
        ):
            texts.append(part["text"])
            extra = {key: value for key, value in part.items() if key not in ("text", "type")}
            if extra:  # e.g. Anthropic's cache_control: harmless, but kept exact
                others.append(extra)
        else:
            others.append(part)
    if not texts:
        return None, others
    return "\n".join(texts), others


def has_tool_result(content: Any) -> bool:
    """Whether a message's parts carry a tool or function result."""
    if not isinstance(content, list):
        return False
    for part in content:
        if isinstance(part, dict) and (
            part.get("type") in _TOOL_RESULT_PARTS or any(key in part for key in _TOOL_RESULT_PARTS)
        ):
            return True
    return False


def earlier_turn(message: dict[str, Any], field: str) -> Turn:
    """A message (an object with a `role` and its content in `field`) as an earlier turn."""
    role = message.get("role", "user")
    text, others = split_content(message.get(field))
    extra = [k for k, v in message.items() if k not in ("role", field) and v not in (None, "", [], {})]
    return Turn(str(role), None if others or extra or role in SYSTEM_ROLES else text)
