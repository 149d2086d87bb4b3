"""What the semantic cache compares in OpenAI's bodies (`providers/conversation.py`).

- Chat completions' `messages` (https://platform.openai.com/docs/api-reference/chat/create), also
  Anthropic's Messages (its `system` is a top-level field, https://docs.anthropic.com/en/api/messages),
  Cohere's v2 chat, Workers AI's and Hugging Face's: the last message is the question, system and
  developer messages before the first turn are instructions, `tool` and `function` messages results.
- Legacy completions' string `prompt` (https://platform.openai.com/docs/api-reference/completions),
  also Anthropic's Text Completions and Workers AI's native `prompt`: the whole prompt is the question.
"""

from __future__ import annotations

from typing import Any

from sluicegate.providers.conversation import (
    SYSTEM_ROLES,
    UNSCOPED,
    Conversation,
    ConversationReader,
    Refusal,
    Turns,
    earlier_turn,
    has_tool_result,
    split_content,
)

_TOOL_RESULT_ROLES = frozenset({"tool", "function"})


def read_chat(payload: dict[str, Any]) -> Conversation | None:
    """A body with a `messages` list; its choices are `n`."""
    messages = payload.get("messages")
    if not isinstance(messages, list):
        return None
    tool_results, turns = _chat_turns(payload, messages)
    return Conversation(payload.get("temperature"), payload.get("n"), tool_results, turns)


def _chat_turns(payload: dict[str, Any], messages: list[Any]) -> tuple[bool, Turns | Refusal]:
    if not messages or not isinstance(messages[-1], dict) or messages[-1].get("role") != "user":
        return False, Refusal("the last message is not from the user")
    tool_results = False
    for message in messages:
        if not isinstance(message, dict):
            return tool_results, Refusal("a message is not an object")
        tool_results = tool_results or (
            message.get("role") in _TOOL_RESULT_ROLES or has_tool_result(message.get("content"))
        )
    last = messages[-1]
    text, other_parts = split_content(last.get("content"))
    if text is None:
        return tool_results, Refusal("the last user message has no text")
    rest = {key: value for key, value in last.items() if key != "content"}
    exact = {
        "kind": "chat",
        "params": {key: value for key, value in payload.items() if key not in UNSCOPED},
        "earlier": messages[:-1],
        "last": [rest, other_parts],
    }
    count = 0
    while count < len(messages) - 1 and messages[count].get("role") in SYSTEM_ROLES:
        count += 1
    earlier = tuple(earlier_turn(message, "content") for message in messages[count:-1])
    return tool_results, Turns(exact, text, earlier, tuple(messages[:count]))


def read_completion(payload: dict[str, Any]) -> Conversation | None:
    """A body with a string `prompt`; its choices are `n`."""
    prompt = payload.get("prompt")
    if not isinstance(prompt, str):
        return None
    params = {key: value for key, value in payload.items() if key not in UNSCOPED}
    turns = Turns({"kind": "completion", "params": params}, prompt)
    return Conversation(payload.get("temperature"), payload.get("n"), False, turns)


CHAT_MESSAGES = ConversationReader("messages", read_chat)
COMPLETION_PROMPT = ConversationReader("prompt", read_completion)
OPENAI_CONVERSATIONS = (CHAT_MESSAGES, COMPLETION_PROMPT)
