"""What a semantic-cache lookup compares, and what it must never cross.

A request is split in two:

- the **scope**: everything that must match *exactly* for a stored answer to be reusable: the
  gateway, provider, endpoint, cache-key segment, the provider credentials when the gateway keeps
  entries per key (`cache_per_key`), and the body minus its last user message and a
  few sampling fields (model, system prompt, tool definitions, response format, output limits,
  every earlier turn, any non-text part of the last message). Its digest names the partition of
  the vector index that is searched, so a hit is never wrong for a structural reason.
- the **text**: the last user message's text, the only part compared by meaning.

Readable bodies: OpenAI chat completions (`messages`), legacy completions (a string `prompt`),
Anthropic messages (`messages` + `system`), Gemini (`contents` + `systemInstruction`).

Not eligible (answered upstream, never served semantically): a body in none of these shapes; a
last message not from the user, or without text; tool or function results anywhere in the
conversation; temperature above `max_temperature`; more than one choice (`n`, `candidateCount`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from sluicegate.headertext import header_bytes
from sluicegate.jsondepth import encode

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
    """`scope` starts with the gateway (`account/slug/`), so a purge by gateway prefix works."""

    scope: str
    text: str


@dataclass(frozen=True, slots=True)
class Ineligible:
    reason: str


def read_scope(origin: Origin, payload: Any, rules: ScopeRules = ScopeRules()) -> Scoped | Ineligible:
    """The scope and text of a request body (parsed JSON), or why it cannot be served semantically."""
    if not isinstance(payload, dict):
        return Ineligible("the body is not a JSON object")
    if isinstance(payload.get("messages"), list):
        parts = _chat(payload, rules)
    elif isinstance(payload.get("contents"), list):
        parts = _gemini(payload, rules)
    elif isinstance(payload.get("prompt"), str):
        parts = _completion(payload, rules)
    else:
        return Ineligible("no messages, contents or prompt to compare")
    if isinstance(parts, Ineligible):
        return parts
    context, text = parts
    if not text.strip():
        return Ineligible("the last user message has no text")
    digest = hashlib.sha256(_VERSION)
    for part in (origin.gateway, origin.provider, origin.endpoint, origin.segment):
        digest.update(b"\0" + header_bytes(part))  # the segment is a header value
    if origin.credentials:  # only when set, so the scopes of shared entries stay as they were
        digest.update(b"\0credentials:" + origin.credentials.encode())
    digest.update(b"\0" + encode(context, option=orjson.OPT_SORT_KEYS, source=payload))
    return Scoped(f"{origin.gateway}/sem:{digest.hexdigest()}", text.strip())


def _chat(payload: dict[str, Any], rules: ScopeRules) -> tuple[Any, str] | Ineligible:
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
    context = {
        "kind": "chat",
        "params": {key: value for key, value in payload.items() if key not in _NOT_SCOPED},
        "earlier": messages[:-1],
        "last": [rest, other_parts],
    }
    return context, text


def _gemini(payload: dict[str, Any], rules: ScopeRules) -> tuple[Any, str] | Ineligible:
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
    context = {"kind": "gemini", "params": params, "earlier": contents[:-1], "last": other_parts}
    return context, text


def _completion(payload: dict[str, Any], rules: ScopeRules) -> tuple[Any, str] | Ineligible:
    refusal = _sampling(payload.get("temperature"), payload.get("n"), rules)
    if refusal is not None:
        return refusal
    params = {key: value for key, value in payload.items() if key not in _NOT_SCOPED}
    return {"kind": "completion", "params": params}, payload["prompt"]


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
