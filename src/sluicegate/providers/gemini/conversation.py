"""What the semantic cache compares in a Gemini body (`providers/conversation.py`).

https://ai.google.dev/api/generate-content#request-body — `contents` is the conversation (each
turn's `parts`, a turn without a `role` is the user's), `systemInstruction` a top-level field and
the sampling settings are in `generationConfig` (`generation_config` as some SDKs write it), its
choices `candidateCount`.
"""

from __future__ import annotations

from typing import Any

from sluicegate.providers.conversation import (
    UNSCOPED,
    Conversation,
    ConversationReader,
    Refusal,
    Turns,
    earlier_turn,
    has_tool_result,
    split_content,
)

# Sampling settings in `generationConfig`: like the top-level ones of UNSCOPED, outside the scope.
_UNSCOPED_GENERATION = frozenset({"temperature", "topP", "topK", "seed", "candidateCount"})


def read_contents(payload: dict[str, Any]) -> Conversation | Refusal | None:
    """A body with a `contents` list."""
    contents = payload.get("contents")
    if not isinstance(contents, list):
        return None
    config = payload.get("generationConfig") or payload.get("generation_config") or {}
    if not isinstance(config, dict):
        return Refusal("generationConfig is not an object")
    tool_results, turns = _turns(payload, contents, config)
    return Conversation(config.get("temperature"), config.get("candidateCount"), tool_results, turns)


def _turns(
    payload: dict[str, Any], contents: list[Any], config: dict[str, Any]
) -> tuple[bool, Turns | Refusal]:
    if not contents or not isinstance(contents[-1], dict) or contents[-1].get("role", "user") != "user":
        return False, Refusal("the last message is not from the user")
    tool_results = False
    for content in contents:
        if not isinstance(content, dict):
            return tool_results, Refusal("a message is not an object")
        tool_results = tool_results or has_tool_result(content.get("parts"))
    text, other_parts = split_content(contents[-1].get("parts"))
    if text is None:
        return tool_results, Refusal("the last user message has no text")
    params = {key: value for key, value in payload.items() if key not in UNSCOPED}
    params.pop("generation_config", None)
    params["generationConfig"] = {k: v for k, v in config.items() if k not in _UNSCOPED_GENERATION}
    exact = {"kind": "gemini", "params": params, "earlier": contents[:-1], "last": other_parts}
    return tool_results, Turns(exact, text, tuple(earlier_turn(turn, "parts") for turn in contents[:-1]))


GEMINI_CONTENTS = ConversationReader("contents", read_contents)
