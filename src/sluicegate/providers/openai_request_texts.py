"""What OpenAI's chat and Responses requests hold for the model beside their turns' text, read by
guardrails in the request direction (`openai_texts.py`, `openai_responses_texts.py` call these):

Chat: a message's `name` and an assistant turn's `refusal` (a string, or `refusal` content parts);
the `tools` offered (a function's `description` and what its `parameters` schema says, a custom
tool's `description`) and the legacy `functions`; a `json_schema` `response_format`'s description
and schema; `prediction.content` (a string or `text` parts).

Responses: the `tools` offered and `text.format`'s schema alike; `prompt.variables` (strings and
`input_text` values); and the input items other than messages and function calls: a message's
`refusal` parts, the output of local shell, shell
(`stdout`, `stderr`), apply-patch and MCP calls, MCP calls' and approval requests' arguments, a
shell call's commands and a patch's diff, and a program's result.
https://platform.openai.com/docs/api-reference/chat/create,
https://platform.openai.com/docs/api-reference/responses/create
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sluicegate.providers.schema_texts import any_json, tool_texts
from sluicegate.providers.texts import Text, as_list, content, json_value, string

# The formats whose answer is JSON text: a schema's (structured outputs) or any object (JSON mode).
# https://platform.openai.com/docs/guides/structured-outputs
JSON_FORMATS = frozenset({"json_schema", "json_object"})


def asks_json(owner: Any, key: str) -> bool:
    """Whether `owner[key]` is a format object of one of `JSON_FORMATS`."""
    value = owner.get(key) if isinstance(owner, dict) else None
    return isinstance(value, dict) and value.get("type") in JSON_FORMATS


def message_extras(message: dict[str, Any], role: str) -> Iterator[Text]:
    """A chat message's `name` and its refusal: the `refusal` string, or its `refusal` parts."""
    yield from string(message, "name", role)
    yield from string(message, "refusal", role)
    yield from refusal_parts(message.get("content"), role)


def refusal_parts(parts: Any, role: str) -> Iterator[Text]:
    """The `refusal` of each `refusal` part in a list (chat's, Responses' output messages')."""
    for part in as_list(parts):
        if isinstance(part, dict) and part.get("type") == "refusal":
            yield from string(part, "refusal", role)


def chat_extras(body: dict[str, Any]) -> Iterator[Text]:
    """A chat request's tools, legacy functions, answer schema and predicted output."""
    for tool in as_list(body.get("tools")):
        if isinstance(tool, dict):
            yield from tool_texts(tool.get("function"), ("parameters",))
            yield from tool_texts(tool.get("custom"), ())
    for function in as_list(body.get("functions")):
        yield from tool_texts(function, ("parameters",))
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        yield from tool_texts(response_format.get("json_schema"), ("schema",))
    prediction = body.get("prediction")
    yield from content(prediction, "content", "assistant", ("text",))


def responses_extras(body: dict[str, Any]) -> Iterator[Text]:
    """A Responses request's tools, answer schema and prompt template variables."""
    for tool in as_list(body.get("tools")):
        if isinstance(tool, dict) and tool.get("type") in ("function", "custom"):
            yield from tool_texts(tool, ("parameters",))
    text = body.get("text")
    if isinstance(text, dict):
        yield from tool_texts(text.get("format"), ("schema",))
    prompt = body.get("prompt")
    variables = prompt.get("variables") if isinstance(prompt, dict) else None
    if isinstance(variables, dict):
        for name, value in variables.items():
            if isinstance(value, str):
                yield Text(variables, name, "user")
            elif isinstance(value, dict) and value.get("type") == "input_text":
                yield from string(value, "text", "user")


def input_item_extras(item: dict[str, Any]) -> Iterator[Text]:
    """An input item's text that `openai_responses_texts._item_texts` does not read: that of the
    calls and results of tools other than functions and custom tools."""
    kind = item.get("type")
    if kind in ("local_shell_call_output", "apply_patch_call_output"):
        yield from string(item, "output", "tool")
    elif kind == "shell_call_output":
        for chunk in as_list(item.get("output")):
            yield from string(chunk, "stdout", "tool")
            yield from string(chunk, "stderr", "tool")
    elif kind == "mcp_call":
        yield from json_value(item, "arguments", "assistant")
        yield from string(item, "output", "tool")
        error = item.get("error")  # a string once, now an object with a `message` or `content`
        yield from string(item, "error", "tool")
        if isinstance(error, dict):
            yield from string(error, "message", "tool")
            yield from any_json(error, "content", "tool")
    elif kind == "mcp_approval_request":
        yield from json_value(item, "arguments", "assistant")
    elif kind == "program_output":
        yield from string(item, "result", "tool")
    elif kind in ("local_shell_call", "shell_call"):
        action = item.get("action")
        if isinstance(action, dict):
            yield from any_json(action, "command", "assistant")
            yield from any_json(action, "commands", "assistant")
    elif kind == "apply_patch_call":
        yield from string(item.get("operation"), "diff", "assistant")
