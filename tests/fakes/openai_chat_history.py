"""The structural rules OpenAI's chat completions hold a message history to, and the 400 it gives
for the first one broken (type invalid_request_error). A gateway translating another format to chat
must send a history these pass, so the fake OpenAI refuses, as OpenAI does, one that does not.

    Invalid 'messages': empty array. Expected an array      param messages, code empty_array
    with minimum length 1, but got an empty array instead.  (CopilotKit/CopilotKit#529)
    Missing required parameter: 'messages[i].role'.         param messages[i].role, code
                                                            missing_required_parameter
                                                            (riverscuomo/cuomputer#31)
    Invalid value: '<role>'. Supported values are: …        param messages[i].role, code invalid_value
                                                            (the shape OpenAI gives for an unknown
                                                            Responses role, openai/openai-python#2677)
    Invalid value for 'content': expected a string, got     param messages.[i].content: no content on
    null.                                                   a message that must have it; an assistant
                                                            message may omit it only with tool_calls
                                                            (langchain-ai/langchainjs#4153)
    Invalid 'messages[i]'. Image URLs are only allowed for  param messages[i] (openai/openai-node#1030,
    messages with role 'user', but this message with role  OpenHands/OpenHands#7700)
    '<role>' contains an image URL.
    Missing parameter 'tool_call_id': messages with role    param messages.[i].tool_call_id
    'tool' must have a 'tool_call_id'.                      (vercel/ai#2177)
    Invalid parameter: messages with role 'tool' must be a  param messages.[i].role: a tool message
    response to a preceeding message with 'tool_calls'.     not in the run of tool messages right
                                                            after an assistant's tool_calls
                                                            (miurla/morphic#136, sdcb/chats#132)
    Invalid parameter: 'tool_call_id' of '<id>' not found   param messages.[i].tool_call_id: it
    in 'tool_calls' of previous message.                    answers an id that assistant did not call
                                                            (dapr/dapr-agents#145)
    Invalid parameter: Duplicate value for 'tool_call_id'   param messages.[i].tool_call_id: a second
    of '<id>', in messages[j] and messages[i].              answer to one call (agno-agi/agno#5116)
    An assistant message with 'tool_calls' must be followed param messages.[k].role, k the assistant
    by tool messages responding to each 'tool_call_id'. The message (router-for-me/CLIProxyAPI#2798,
    following tool_call_ids did not have response messages: sdcb/chats#132, tidyverse/ellmer#459)
    <id>, <id>

OpenAI's own spelling is kept ("preceeding"; `messages.[i]` in some params, `messages[i]` in others).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ROLES = ("system", "assistant", "user", "function", "tool", "developer")
EMPTY = (
    "Invalid 'messages': empty array. Expected an array with minimum length 1,"
    " but got an empty array instead."
)
NO_CALLER = (
    "Invalid parameter: messages with role 'tool' must be a response to a preceeding message"
    " with 'tool_calls'."
)
PREVIOUS_CALLS = "'tool_calls' of previous message"
UNANSWERED = (
    "An assistant message with 'tool_calls' must be followed by tool messages responding to each"
    " 'tool_call_id'. The following tool_call_ids did not have response messages: "
)


@dataclass(frozen=True)
class HistoryError:
    """OpenAI's 400 for a history it refuses."""

    message: str
    param: str
    code: str | None = None


def history_error(messages: Any) -> HistoryError | None:
    """The first rule the chat `messages` break, as OpenAI reports it; None when they hold."""
    if not isinstance(messages, list):
        return None  # not a history at all: the SDKs never send one, and the fake answers it as before
    if not messages:
        return HistoryError(EMPTY, "messages", "empty_array")
    for i, message_ in enumerate(messages):
        if isinstance(message_, dict) and (error := _message_error(i, message_)) is not None:
            return error
    return _tool_order_error(messages)


def _message_error(i: int, message: dict[str, Any]) -> HistoryError | None:
    """What is wrong with one message on its own."""
    role = message.get("role")
    if role is None:
        return HistoryError(
            f"Missing required parameter: 'messages[{i}].role'.",
            f"messages[{i}].role",
            "missing_required_parameter",
        )
    if role not in ROLES:
        supported = ", ".join(f"'{r}'" for r in ROLES[:-1]) + f", and '{ROLES[-1]}'"
        return HistoryError(
            f"Invalid value: '{role}'. Supported values are: {supported}.",
            f"messages[{i}].role",
            "invalid_value",
        )
    content = message.get("content")
    if content is None and not (
        role == "assistant" and (message.get("tool_calls") or message.get("function_call"))
    ):
        return HistoryError(
            "Invalid value for 'content': expected a string, got null.", f"messages.[{i}].content"
        )
    if role != "user" and any(
        isinstance(part, dict) and part.get("type") == "image_url" for part in content or ()
    ):
        text = (
            f"Invalid 'messages[{i}]'. Image URLs are only allowed for messages with role 'user', but this"
            f" message with role '{role}' contains an image URL."
        )
        return HistoryError(text, f"messages[{i}]")
    if role == "tool" and not message.get("tool_call_id"):
        text = "Missing parameter 'tool_call_id': messages with role 'tool' must have a 'tool_call_id'."
        return HistoryError(text, f"messages.[{i}].tool_call_id")
    return None


def _tool_order_error(messages: list[Any]) -> HistoryError | None:
    """Tool messages must answer, each once, the calls of the assistant message right before their run,
    and every call must be answered before any other message (or the end)."""
    caller: int | None = None  # the assistant message whose calls the current run of tool messages answers
    called: list[str] = []
    answered: dict[str, int] = {}
    for i, message in enumerate([*messages, None]):
        role = message.get("role") if isinstance(message, dict) else None
        if role == "tool":
            assert isinstance(message, dict)
            id_ = message.get("tool_call_id")
            if caller is None:
                return HistoryError(NO_CALLER, f"messages.[{i}].role")
            if id_ not in called:
                text = f"Invalid parameter: 'tool_call_id' of '{id_}' not found in {PREVIOUS_CALLS}."
                return HistoryError(text, f"messages.[{i}].tool_call_id")
            if id_ in answered:
                where = f"in messages[{answered[id_]}] and messages[{i}]"
                text = f"Invalid parameter: Duplicate value for 'tool_call_id' of '{id_}', {where}."
                return HistoryError(text, f"messages.[{i}].tool_call_id")
            answered[str(id_)] = i
            continue
        if caller is not None and (missing := [id_ for id_ in called if id_ not in answered]):
            return HistoryError(UNANSWERED + ", ".join(missing), f"messages.[{caller}].role")
        calls = message.get("tool_calls") if role == "assistant" and isinstance(message, dict) else None
        caller = i if calls else None
        called = [str(call.get("id")) for call in calls or () if isinstance(call, dict)]
        answered = {}
    return None
