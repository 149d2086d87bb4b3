"""What a semantic-cache lookup compares, and what it must never cross.

A request is split in two:

- the **scope**: everything that must match *exactly* for a stored answer to be reusable: the
  gateway, provider, endpoint, cache-key segment, the provider credentials when the gateway keeps
  entries per key (`cache_per_key`), and the body minus its last user message's text, its
  earlier conversation turns and a few sampling fields (so: model, system prompt, tool
  definitions, response format, output limits, any non-text part of the last message, and the
  number and roles of the compared earlier turns). Its digest names the partition of the vector
  index that is searched, so a hit is never wrong for a structural reason.
- the **turns** compared by meaning: the last user message's `text`, then the `context`, the
  earlier turns it depends on, most recent first (`history`: the exchange before it, and further
  back while a turn refers to an earlier one). Turns it does not depend on are left out, their
  names and numbers kept in the scope. A history that is not plain text, or whose left-out turns
  set terms ("Answer in French"), is part of the scope instead, byte for byte (`history` says
  when).

Readable bodies: OpenAI chat completions (`messages`), legacy completions (a string `prompt`),
Anthropic messages (`messages` + `system`), Gemini (`contents` + `systemInstruction`).

Not eligible (answered upstream, never served semantically): a body in none of these shapes; a
last message not from the user, or without text; tool or function results anywhere in the
conversation; temperature above `max_temperature`; more than one choice (`n`, `candidateCount`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import orjson

from sluicegate.headertext import header_bytes
from sluicegate.jsondepth import encode
from sluicegate.semantic.history import Message, context

DEFAULT_SEGMENT = "_default_"
_VERSION = b"sluicegate-semantic-scope/1"

# Top-level fields that do not change what a correct answer is, so they stay out of the scope.
# Every other field (model, tools, response_format, max_tokens, stop, ...) is in it.
_NOT_SCOPED = frozenset(
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
_NOT_SCOPED_GENERATION = frozenset({"temperature", "topP", "topK", "seed", "candidateCount"})
_TOOL_RESULT_ROLES = frozenset({"tool", "function"})
_TOOL_RESULT_PARTS = frozenset({"tool_result", "function_result", "functionResponse", "function_response"})
_SYSTEM_ROLES = frozenset({"system", "developer"})
# The body shapes read here, in the order a body is tried against them: OpenAI chat and Anthropic
# messages (`messages`), Gemini (`contents`), legacy completions (a string `prompt`).
CHAT, GEMINI, COMPLETION = "chat", "gemini", "completion"
SHAPES = (CHAT, GEMINI, COMPLETION)
_FIELD_NAMES = {CHAT: "messages", GEMINI: "contents", COMPLETION: "prompt"}
_FIELDS: dict[str, Callable[[dict[str, Any]], bool]] = {
    CHAT: lambda payload: isinstance(payload.get("messages"), list),
    GEMINI: lambda payload: isinstance(payload.get("contents"), list),
    COMPLETION: lambda payload: isinstance(payload.get("prompt"), str),
}


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a request was sent. `gateway` is `account/slug`; `endpoint` the provider path;
    `credentials` a digest of the provider key it goes upstream with, "" when entries are shared
    by every key (pipeline/cache_keys.py)."""

    gateway: str
    provider: str
    endpoint: str
    segment: str = DEFAULT_SEGMENT
    credentials: str = ""


@dataclass(frozen=True, slots=True)
class ScopeRules:
    """Which requests may be served by meaning (the issue's defaults)."""

    max_temperature: float = 1.0
    allow_multiple_choices: bool = False
    allow_tool_results: bool = False


@dataclass(frozen=True, slots=True)
class Scoped:
    """`scope` starts with the gateway (`account/slug/`), so a purge by gateway prefix works.
    `context`: the earlier turns compared by meaning, most recent first (empty for none)."""

    scope: str
    text: str
    context: tuple[str, ...] = ()

    @property
    def turns(self) -> tuple[str, ...]:
        """Everything compared by meaning, the last question first."""
        return (self.text, *self.context)


@dataclass(frozen=True, slots=True)
class Ineligible:
    reason: str


def read_scope(
    origin: Origin, payload: Any, rules: ScopeRules = ScopeRules(), shapes: Collection[str] = SHAPES
) -> Scoped | Ineligible:
    """The scope and text of a request body (parsed JSON), or why it cannot be served semantically.
    `shapes`: the body shapes the provider's API takes (`Provider.semantic_shapes`), tried in the
    order of SHAPES."""
    if not isinstance(payload, dict):
        return Ineligible("the body is not a JSON object")
    shape = next((shape for shape in SHAPES if shape in shapes and _FIELDS[shape](payload)), None)
    if shape is None:
        fields = [_FIELD_NAMES[shape] for shape in SHAPES if shape in shapes]
        if not fields:
            return Ineligible("the provider's bodies have no shape the semantic cache reads")
        listed = " or ".join(filter(None, (", ".join(fields[:-1]), fields[-1])))
        return Ineligible(f"no {listed} to compare")
    parts = _READERS[shape](payload, rules)
    if isinstance(parts, Ineligible):
        return parts
    exact, text, compared = parts
    if not text.strip():
        return Ineligible("the last user message has no text")
    digest = hashlib.sha256(_VERSION)
    for part in (origin.gateway, origin.provider, origin.endpoint, origin.segment):
        digest.update(b"\0" + header_bytes(part))  # the segment is a header value
    if origin.credentials:  # only when set, so the scopes of shared entries stay as they were
        digest.update(b"\0credentials:" + origin.credentials.encode())
    digest.update(b"\0" + encode(exact, option=orjson.OPT_SORT_KEYS, source=payload))
    return Scoped(f"{origin.gateway}/sem:{digest.hexdigest()}", text.strip(), compared)


# What a shape reader returns: the exact part of the scope, the last user text, the context.
_Parts = tuple[dict[str, Any], str, tuple[str, ...]]


def _chat(payload: dict[str, Any], rules: ScopeRules) -> _Parts | Ineligible:
    """OpenAI chat completions and Anthropic messages (its `system` is a top-level field)."""
    refusal = _sampling(payload.get("temperature"), payload.get("n"), rules)
    if refusal is not None:
        return refusal
    messages: list[Any] = payload["messages"]
    if not messages or not isinstance(messages[-1], dict) or messages[-1].get("role") != "user":
        return Ineligible("the last message is not from the user")
    for message in messages:
        if not isinstance(message, dict):
            return Ineligible("a message is not an object")
        if not rules.allow_tool_results and (
            message.get("role") in _TOOL_RESULT_ROLES or _has_tool_result(message.get("content"))
        ):
            return Ineligible("the conversation carries tool results")
    last = messages[-1]
    text, other_parts = _split_content(last.get("content"))
    if text is None:
        return Ineligible("the last user message has no text")
    rest = {key: value for key, value in last.items() if key != "content"}
    exact = {
        "kind": "chat",
        "params": {key: value for key, value in payload.items() if key not in _NOT_SCOPED},
        "earlier": messages[:-1],
        "last": [rest, other_parts],
    }
    count = 0
    while count < len(messages) - 1 and messages[count].get("role") in _SYSTEM_ROLES:
        count += 1
    return _with_history(exact, text, messages[count:-1], "content", messages[:count])


def _gemini(payload: dict[str, Any], rules: ScopeRules) -> _Parts | Ineligible:
    config = payload.get("generationConfig") or payload.get("generation_config") or {}
    if not isinstance(config, dict):
        return Ineligible("generationConfig is not an object")
    refusal = _sampling(config.get("temperature"), config.get("candidateCount"), rules)
    if refusal is not None:
        return refusal
    contents: list[Any] = payload["contents"]
    if not contents or not isinstance(contents[-1], dict) or contents[-1].get("role", "user") != "user":
        return Ineligible("the last message is not from the user")
    for content in contents:
        if not isinstance(content, dict):
            return Ineligible("a message is not an object")
        if not rules.allow_tool_results and _has_tool_result(content.get("parts")):
            return Ineligible("the conversation carries tool results")
    text, other_parts = _split_content(contents[-1].get("parts"))
    if text is None:
        return Ineligible("the last user message has no text")
    params = {key: value for key, value in payload.items() if key not in _NOT_SCOPED}
    params.pop("generation_config", None)
    params["generationConfig"] = {k: v for k, v in config.items() if k not in _NOT_SCOPED_GENERATION}
    exact = {"kind": "gemini", "params": params, "earlier": contents[:-1], "last": other_parts}
    return _with_history(exact, text, contents[:-1], "parts", [])


def _completion(payload: dict[str, Any], rules: ScopeRules) -> _Parts | Ineligible:
    refusal = _sampling(payload.get("temperature"), payload.get("n"), rules)
    if refusal is not None:
        return refusal
    params = {key: value for key, value in payload.items() if key not in _NOT_SCOPED}
    return {"kind": "completion", "params": params}, payload["prompt"], ()


_READERS: dict[str, Callable[[dict[str, Any], ScopeRules], _Parts | Ineligible]] = {
    CHAT: _chat,
    GEMINI: _gemini,
    COMPLETION: _completion,
}


def _with_history(
    exact: dict[str, Any], text: str, turns: list[Any], field: str, systems: list[Any]
) -> _Parts:
    """Earlier turns out of the exact scope when `history.context` can compare them by meaning;
    their number and roles stay in it. With no earlier turns, or when they must match exactly,
    `exact` is kept as it is (so are the scopes of entries stored before turns were compared)."""
    found = context([_message(turn, field) for turn in turns]) if turns else None
    if found is None:
        return exact, text, ()
    history = {"earlier": systems, "turns": list(found.roles), "left_out": list(found.left_out)}
    return exact | history, text, found.texts


def _message(message: dict[str, Any], field: str) -> Message:
    """A message's role and its text, or no text when anything in it but plain text matters."""
    role = message.get("role", "user")
    text, others = _split_content(message.get(field))
    extra = [k for k, v in message.items() if k not in ("role", field) and v not in (None, "", [], {})]
    return Message(str(role), None if others or extra or role in _SYSTEM_ROLES else text)


def _sampling(temperature: Any, choices: Any, rules: ScopeRules) -> Ineligible | None:
    if temperature is not None:
        if not isinstance(temperature, int | float) or isinstance(temperature, bool):
            return Ineligible("temperature is not a number")
        if temperature > rules.max_temperature:
            return Ineligible(f"temperature {temperature} is above {rules.max_temperature}")
    if choices is not None and choices != 1 and not rules.allow_multiple_choices:
        return Ineligible("more than one choice was asked for")
    return None


def _split_content(content: Any) -> tuple[str | None, list[Any]]:
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


def _has_tool_result(content: Any) -> bool:
    if not isinstance(content, list):
        return False
    for part in content:
        if isinstance(part, dict) and (
            part.get("type") in _TOOL_RESULT_PARTS or any(key in part for key in _TOOL_RESULT_PARTS)
        ):
            return True
    return False
