"""Anthropic's Messages API in, OpenAI chat to the providers, Anthropic's shapes back.

Anthropic's side: https://docs.anthropic.com/en/api/messages (request, answer),
https://docs.anthropic.com/en/api/messages-count-tokens and https://docs.anthropic.com/en/api/errors.
What chat cannot say is refused with a `TranslationError` naming the field (server tools, MCP
servers, containers, file ids, `top_k`, an unknown field: request_fields.py); fields that change no
answer (`cache_control`, `service_tier`) are taken; images and documents inside tool results go in
a user message after the turn's tool messages (tool_media.py). `thinking` goes as LiteLLM's chat
field of that name, which Gemini's translator makes a thinkingConfig (its budget kept, its thoughts
asked for); OpenAI-compatible servers go without. The answer's thinking (chat's `reasoning_content`,
`thinking_blocks`) comes back as thinking blocks (anthropic_stream.py), signed only where the
provider signed it.
Structured outputs (`output_config.format`, and the beta's `output_format`) become chat's
`response_format` json_schema, which every provider takes, so the answer's text is the JSON the
SDKs' `parse` reads. Earlier thinking blocks are dropped: they are only meaningful to the Anthropic
model that wrote them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from multidict import CIMultiDict

from sluicegate.compat.request_ids import ANTHROPIC_REQUEST_ID
from sluicegate.ingress.anthropic_stream import (
    STOP_REASONS,
    MessagesStream,
    anthropic_usage,
    stop_sequence,
    thinking_content,
)
from sluicegate.ingress.base import Native, TranslationError, file_part, mapping, new_id
from sluicegate.ingress.request_fields import check_messages_fields
from sluicegate.ingress.tool_media import shown_media, tool_text
from sluicegate.providers.anthropic.adapter import ANTHROPIC
from sluicegate.providers.anthropic.errors import ANTHROPIC_ERRORS
from sluicegate.providers.anthropic.texts import MESSAGES_TEXTS
from sluicegate.providers.texts import TextFormat
from sluicegate.types import Usage

_TOOL_CHOICES: Final[Mapping[str, str]] = {"auto": "auto", "any": "required", "none": "none"}
_DROPPED_BLOCKS: Final = frozenset({"thinking", "redacted_thinking"})


@dataclass(frozen=True, slots=True)
class AnthropicMessages:
    """`POST …/compat/v1/messages` (and `…/compat/messages`); with `counts`, `…/count_tokens`.
    `ids`: the random part of the `msg_…` id of each message it renders (never the chat answer's
    id, which is another API's and may be shared: `chatcmpl-gemini`, a server counting from 1)."""

    counts: bool = False
    name: str = "anthropic-messages"
    text_format: TextFormat = MESSAGES_TEXTS
    native: Native = field(default_factory=lambda: Native(ANTHROPIC, "v1/messages"))
    item_references: None = None  # a Messages request sends its whole conversation
    path_model: None = None  # the body names the model
    openai_errors: bool = False  # Anthropic's errors name no field (`param`)
    says_wait: bool = False  # Retry-After only
    request_id_header: str = ANTHROPIC_REQUEST_ID
    ids: Callable[[], str] = new_id

    def hub_headers(self, headers: CIMultiDict[str], query: str = "") -> CIMultiDict[str]:
        hub = CIMultiDict((k, v) for k, v in headers.items() if not k.lower().startswith("anthropic-"))
        key = hub.popall("x-api-key", [])
        if key and "authorization" not in hub:
            hub["Authorization"] = f"Bearer {key[0]}"
        return hub

    def to_chat(self, payload: dict[str, Any]) -> dict[str, Any]:
        check_messages_fields(payload)
        chat: dict[str, Any] = {"model": payload.get("model"), "messages": _messages(payload)}
        max_tokens = payload.get("max_tokens")
        if max_tokens is not None or not self.counts:
            if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
                raise TranslationError("max_tokens: a positive integer is required")
            chat["max_completion_tokens"] = max_tokens
        for name in ("temperature", "top_p"):
            if (value := payload.get(name)) is not None:
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise TranslationError(f"{name}: must be a number")
                chat[name] = value
        if (stops := payload.get("stop_sequences")) is not None:
            if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
                raise TranslationError("stop_sequences: must be a list of strings")
            if stops:
                chat["stop"] = stops
        if tools := payload.get("tools"):
            chat["tools"] = _tools(tools)
        if (choice := payload.get("tool_choice")) is not None:
            chat.update(_tool_choice(choice))
        if (response_format := _response_format(payload)) is not None:
            chat["response_format"] = response_format
        if isinstance(thinking := payload.get("thinking"), dict):
            chat["thinking"] = thinking  # LiteLLM's chat field: Gemini's thinkingConfig
        if isinstance(user := mapping(payload.get("metadata")).get("user_id"), str):
            chat["user"] = user
        if payload.get("stream") is True and not self.counts:
            chat["stream"] = True
            chat["stream_options"] = {"include_usage": True}  # Anthropic streams always report usage
        return chat

    def count_answer(self, tokens: int) -> bytes:
        # https://docs.anthropic.com/en/api/messages-count-tokens
        return orjson.dumps({"input_tokens": tokens})

    def answer(self, asked: Mapping[str, Any], body: bytes) -> bytes:
        if self.counts:  # the gateway counted the tokens itself: already Anthropic's answer
            return body
        completion = orjson.loads(body)
        choice = mapping(next(iter(completion.get("choices") or ()), None))
        message = mapping(choice.get("message"))
        content = thinking_content(message)  # before the text, as Claude's answers have it
        text = message.get("content")
        refusal = message.get("refusal")
        if isinstance(text, str) and text:
            content.append({"type": "text", "text": text})
        elif isinstance(refusal, str) and refusal:
            content.append({"type": "text", "text": refusal})
        for call in message.get("tool_calls") or ():
            function = mapping(mapping(call).get("function"))
            content.append(
                {
                    "type": "tool_use",
                    "id": mapping(call).get("id"),
                    "name": function.get("name"),
                    "input": tool_input(function.get("arguments")),
                }
            )
        finish = str(choice.get("finish_reason"))
        stop = "refusal" if refusal and not text else STOP_REASONS.get(finish, "end_turn")
        matched = stop_sequence(choice, asked.get("stop_sequences")) if finish == "stop" else None
        return orjson.dumps(
            {
                "id": f"msg_{self.ids()}",
                "type": "message",
                "role": "assistant",
                "model": completion.get("model") or asked.get("model"),
                "content": content,
                "stop_reason": stop if matched is None else "stop_sequence",
                "stop_sequence": matched,
                "usage": anthropic_usage(completion.get("usage")) or {"input_tokens": 0, "output_tokens": 0},
            }
        )

    def stream(self, asked: Mapping[str, Any], usage: Usage | None = None) -> MessagesStream:
        model, stops = str(asked.get("model", "")), asked.get("stop_sequences")
        return MessagesStream(f"msg_{self.ids()}", model, usage, stops)

    def error(self, status: int, body: bytes) -> bytes:
        """Anthropic's `{"type": "error", "error": {"type", "message"}}`, as on its provider endpoint."""
        return ANTHROPIC_ERRORS.error(status, body)


def tool_input(arguments: Any) -> dict[str, Any]:
    """A chat tool call's JSON arguments as a tool_use block's input (an object, always)."""
    try:
        value = orjson.loads(arguments) if isinstance(arguments, str) and arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _messages(payload: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TranslationError("messages: a non-empty list is required")
    chat = _system(payload.get("system"))
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        role = mapping(message).get("role")
        content = mapping(message).get("content")
        if role not in ("user", "assistant"):
            raise TranslationError(f"{where}.role: must be 'user' or 'assistant', not {role!r}")
        if isinstance(content, str):
            chat.append({"role": role, "content": content})
        elif isinstance(content, list):
            chat += _user_turn(content, where) if role == "user" else _assistant_turn(content, where)
        else:
            raise TranslationError(f"{where}.content: must be a string or a list of content blocks")
    return chat


def _system(system: Any) -> list[dict[str, Any]]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    if not isinstance(system, list):
        raise TranslationError("system: must be a string or a list of text blocks")
    texts = []
    for j, block in enumerate(system):
        if mapping(block).get("type") != "text" or not isinstance(mapping(block).get("text"), str):
            raise TranslationError(f"system.{j}: only text blocks can be system prompts")
        texts.append(block["text"])
    return [{"role": "system", "content": _joined_text(texts)}] if texts else []


def _joined_text(texts: list[str]) -> Any:
    """One text as a string (the form chat clients send), several as text parts."""
    return texts[0] if len(texts) == 1 else [{"type": "text", "text": text} for text in texts]


def _user_turn(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    """Tool results first, each its own `tool` message (chat wants them right after the call),
    then whatever else the turn says as one user message: the media the tools returned first."""
    results: list[dict[str, Any]] = []
    media: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content.{j}"
        kind = mapping(block).get("type")
        if kind == "tool_result":
            result, returned = _tool_result(block, at)
            results.append(result)
            media += returned
        elif kind == "text" and isinstance(block.get("text"), str):
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image":
            parts.append(_image(mapping(block.get("source")), at))
        elif kind == "document":
            parts.append(_document(block, at))
        else:
            raise TranslationError(f"{at}: a {kind!r} block cannot be sent to this provider")
    parts = media + parts
    if not parts:
        return results
    if all(part["type"] == "text" for part in parts):
        return [*results, {"role": "user", "content": _joined_text([p["text"] for p in parts])}]
    return [*results, {"role": "user", "content": parts}]


def _assistant_turn(blocks: list[Any], where: str) -> list[dict[str, Any]]:
    """The assistant message; none for a turn of thinking alone (a reply cut short while thinking):
    chat refuses an assistant message with neither content nor tool calls."""
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, block in enumerate(blocks):
        at = f"{where}.content.{j}"
        kind = mapping(block).get("type")
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind == "tool_use":
            call_id, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
            if not isinstance(call_id, str) or not isinstance(name, str) or not isinstance(arguments, dict):
                raise TranslationError(
                    f"{at}: a tool_use block needs a string id and name and an object input"
                )
            function = {"name": name, "arguments": orjson.dumps(arguments).decode()}
            calls.append({"id": call_id, "type": "function", "function": function})
        elif kind not in _DROPPED_BLOCKS:
            raise TranslationError(f"{at}: a {kind!r} block cannot be sent to this provider")
    if not "".join(texts) and not calls:
        return []
    turn: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        turn["tool_calls"] = calls
    return [turn]


def _tool_result(block: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `tool` message, and the user message parts of the images and documents it returned."""
    call_id, content = block.get("tool_use_id"), block.get("content", "")
    if not isinstance(call_id, str):
        raise TranslationError(f"{where}.tool_use_id: a string is required")
    media: list[dict[str, Any]] = []
    if isinstance(content, list):
        texts = []
        for k, part in enumerate(content):
            kind, at = mapping(part).get("type"), f"{where}.content.{k}"
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "image":
                media.append(_image(mapping(part.get("source")), at))
            elif kind == "document":
                media.append(_document(part, at))
            else:
                raise TranslationError(
                    f"{at}: only text, images and documents can be returned by a tool to this provider"
                )
        content = tool_text(texts, media)
    elif not isinstance(content, str):
        raise TranslationError(f"{where}.content: must be a string or a list of content blocks")
    if block.get("is_error") is True:
        content = f"Error: {content}"  # chat has no error flag on tool results
    return {"role": "tool", "tool_call_id": call_id, "content": content}, shown_media(call_id, media)


def _image(source: Mapping[str, Any], where: str) -> dict[str, Any]:
    """https://docs.anthropic.com/en/docs/build-with-claude/vision: base64 or URL sources."""
    if source.get("type") == "base64":
        return {"type": "image_url", "image_url": {"url": _data_url(source, where)}}
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise TranslationError(f"{where}.source: only base64 and url images can be sent to this provider")


def _document(block: Mapping[str, Any], where: str) -> dict[str, Any]:
    """https://docs.anthropic.com/en/docs/build-with-claude/pdf-support: a base64 PDF, named by the
    block's `title` (else `document.pdf`), or plain text."""
    source = mapping(block.get("source"))
    if source.get("type") == "base64":
        return file_part(_data_url(source, where), block.get("title"))
    if source.get("type") == "text" and isinstance(source.get("data"), str):
        return {"type": "text", "text": source["data"]}
    raise TranslationError(f"{where}.source: only base64 and text documents can be sent to this provider")


def _data_url(source: Mapping[str, Any], where: str) -> str:
    media_type, data = source.get("media_type"), source.get("data")
    if not isinstance(media_type, str) or not isinstance(data, str):
        raise TranslationError(f"{where}.source: media_type and data strings are required")
    return f"data:{media_type};base64,{data}"


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise TranslationError("tools: must be a list")
    chat = []
    for i, tool in enumerate(tools):
        tool = mapping(tool)
        kind, name, schema = tool.get("type") or "custom", tool.get("name"), tool.get("input_schema")
        if kind != "custom":
            raise TranslationError(
                f"tools.{i}.type: {kind!r} is one of Anthropic's server tools, which Anthropic runs;"
                " only custom tools (a name and an input_schema) can be sent to this provider"
            )
        if not isinstance(schema, dict):
            raise TranslationError(f"tools.{i}.input_schema: a JSON Schema object is required")
        if not isinstance(name, str):
            raise TranslationError(f"tools.{i}.name: a string is required")
        function: dict[str, Any] = {"name": name, "parameters": schema}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        chat.append({"type": "function", "function": function})
    return chat


def _response_format(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """`output_config.format` (or the beta's top-level `output_format`) as a chat response_format:
    https://docs.claude.com/en/docs/build-with-claude/structured-outputs. Not strict: OpenAI's strict
    mode wants every property required, which Anthropic's does not."""
    where, fmt = "output_config.format", mapping(payload.get("output_config")).get("format")
    if fmt is None:
        where, fmt = "output_format", payload.get("output_format")
    if fmt is None:
        return None
    if mapping(fmt).get("type") != "json_schema" or not isinstance(mapping(fmt).get("schema"), dict):
        raise TranslationError(f'{where}: must be {{"type": "json_schema", "schema": {{...}}}}')
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": fmt["schema"]}}


def _tool_choice(choice: Any) -> dict[str, Any]:
    """https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/implement-tool-use#forcing-tool-use"""
    kind = str(mapping(choice).get("type"))
    chat: dict[str, Any]
    if kind in _TOOL_CHOICES:
        chat = {"tool_choice": _TOOL_CHOICES[kind]}
    elif kind == "tool" and isinstance(choice.get("name"), str):
        chat = {"tool_choice": {"type": "function", "function": {"name": choice["name"]}}}
    else:
        raise TranslationError("tool_choice.type: must be auto, any, tool (with a name) or none")
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        chat["parallel_tool_calls"] = False
    return chat


MESSAGES = AnthropicMessages()
COUNT_TOKENS = AnthropicMessages(
    counts=True, name="anthropic-count-tokens", native=Native(ANTHROPIC, "v1/messages/count_tokens")
)
