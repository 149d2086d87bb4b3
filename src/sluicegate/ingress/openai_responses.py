"""OpenAI's Responses API in, OpenAI chat to the providers, Responses shapes back.

The Responses side: https://platform.openai.com/docs/api-reference/responses/create (request and
the Response object). The gateway keeps no responses, so `previous_response_id`, `conversation`
and stored prompts are refused (send the whole conversation in `input`), as are built-in tools (web
search, file search, code interpreter: OpenAI runs them, no other provider); it keeps the output
items it rendered, which a later request may name by id (`item_reference`: openai_response_items.py,
resolved before `to_chat`). Ids are the format's own (`ids`), never the provider's.
`reasoning.effort` is chat's `reasoning_effort` (Anthropic's extended thinking, Gemini's
thinkingConfig; left out for OpenAI-compatible servers), `reasoning.summary` chat's
`include_reasoning` (OpenRouter's name: Gemini's `includeThoughts`; Claude shows its thinking
anyway), and the answer's `reasoning_content` a reasoning item with its summary text. `include`'s
logprobs (with `top_logprobs`) are chat's `logprobs` and `text.verbosity` chat's `verbosity`;
fields that change no answer are taken, and those chat cannot say refused by name
(request_fields.py).
A Response says when it was created (`created_at`): the chat answer's `created`, else the format's
`clock`, read once per answer (a stream's every event carries the same time); a completed one says
when it completed (`completed_at`), the clock's time at its end.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from multidict import CIMultiDict

from sluicegate.compat.request_ids import OPENAI_REQUEST_ID
from sluicegate.ingress.base import ItemReferences, Native, TranslationError, file_part, mapping, new_id
from sluicegate.ingress.openai_response_items import ITEM_REFERENCE, RESPONSE_ITEM_REFERENCES
from sluicegate.ingress.openai_responses_stream import (
    ResponsesStream,
    created_at,
    reasoning_item,
    response_object,
)
from sluicegate.ingress.output_logprobs import output_logprobs
from sluicegate.ingress.reasoning_items import opened, thought_text
from sluicegate.ingress.request_fields import responses_fields
from sluicegate.ingress.tool_media import shown_media, tool_text
from sluicegate.providers.error_shapes import openai_error
from sluicegate.providers.openai import OPENAI
from sluicegate.providers.openai_texts import RESPONSES_TEXTS
from sluicegate.providers.texts import TextFormat
from sluicegate.types import Usage

# Request fields that need state or tools only OpenAI keeps.
_STATEFUL: Final = ("previous_response_id", "conversation", "prompt")
_ROLES: Final[Mapping[str, str]] = {
    "user": "user",
    "assistant": "assistant",
    "system": "system",
    "developer": "system",
}
_TOOL_CHOICES: Final = ("auto", "none", "required")
_SUMMARIES: Final = ("auto", "concise", "detailed")  # reasoning.summary: how much of it to show
_ERROR_TYPES: Final[Mapping[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


@dataclass(frozen=True, slots=True)
class OpenAIResponses:
    """`POST …/compat/responses`; `clock` gives `created_at` where chat's answer has no time (and
    `completed_at`), `ids` the random part of every id it renders."""

    counts: bool = False
    name: str = "openai-responses"
    text_format: TextFormat = RESPONSES_TEXTS
    native: Native = field(default_factory=lambda: Native(OPENAI, "responses"))
    clock: Callable[[], float] = time.time
    ids: Callable[[], str] = new_id
    item_references: ItemReferences | None = RESPONSE_ITEM_REFERENCES
    path_model: None = None  # the body names the model
    openai_errors: bool = True
    says_wait: bool = False  # Retry-After only
    request_id_header: str = OPENAI_REQUEST_ID

    def hub_headers(self, headers: CIMultiDict[str], query: str = "") -> CIMultiDict[str]:
        return headers  # the openai SDK sends its key as chat clients do

    def to_chat(self, payload: dict[str, Any]) -> dict[str, Any]:
        for name in _STATEFUL:
            if payload.get(name) is not None:
                raise TranslationError(
                    "the gateway keeps no responses, only the output items it rendered;"
                    " send the conversation in input (earlier output items may go as item_reference)",
                    field=name,
                )
        if payload.get("background") is True:
            raise TranslationError(
                "only OpenAI's own API runs responses in the background", field="background"
            )
        fields = responses_fields(payload)  # refuses what chat cannot say (request_fields.py)
        conversation = _input(payload.get("input"))
        if not conversation:
            raise TranslationError("a string or a non-empty list of items is required", field="input")
        messages = _instructions(payload.get("instructions")) + conversation
        chat: dict[str, Any] = {"model": payload.get("model"), "messages": messages}
        if (limit := payload.get("max_output_tokens")) is not None:
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
                raise TranslationError("must be a positive integer", field="max_output_tokens")
            chat["max_completion_tokens"] = limit
        for name in ("temperature", "top_p"):
            if (value := payload.get(name)) is not None:
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise TranslationError("must be a number", field=name)
                chat[name] = value
        if tools := payload.get("tools"):
            chat["tools"] = _tools(tools)
        if (choice := payload.get("tool_choice")) is not None:
            chat["tool_choice"] = _tool_choice(choice)
        if isinstance(parallel := payload.get("parallel_tool_calls"), bool):
            chat["parallel_tool_calls"] = parallel
        if (response_format := _response_format(mapping(payload.get("text")).get("format"))) is not None:
            chat["response_format"] = response_format
        reasoning = mapping(payload.get("reasoning"))
        if isinstance(effort := reasoning.get("effort"), str):
            chat["reasoning_effort"] = effort  # Anthropic's thinking, Gemini's thinkingConfig
        if reasoning.get("summary") in _SUMMARIES:  # the client shows the reasoning: Gemini's thoughts
            chat["include_reasoning"] = True
        if isinstance(user := payload.get("safety_identifier", payload.get("user")), str):
            chat["user"] = user
        chat.update(fields)  # logprobs, verbosity
        if payload.get("stream") is True:
            chat["stream"] = True
            chat["stream_options"] = {"include_usage": True}  # response.completed always has usage
        return chat

    def count_answer(self, tokens: int) -> bytes:
        # https://platform.openai.com/docs/api-reference/responses/input-tokens (not routed yet:
        # `counts` is False, so the gateway never counts for this format)
        return orjson.dumps({"object": "response.input_tokens", "input_tokens": tokens})

    def answer(self, asked: Mapping[str, Any], body: bytes) -> bytes:
        completion = orjson.loads(body)
        choice = mapping(next(iter(completion.get("choices") or ()), None))
        message = mapping(choice.get("message"))
        output: list[dict[str, Any]] = []
        content_id = f"msg_{self.ids()}"
        thought, blocks = thought_text(message), message.get("thinking_blocks")
        if thought or blocks:
            output.append(reasoning_item(f"rs_{self.ids()}", thought, blocks=blocks))
        if isinstance(text := message.get("content"), str) and text:
            logprobs = output_logprobs(choice.get("logprobs"))
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs}
            output.append(_message(content_id, part))
        elif isinstance(refusal := message.get("refusal"), str) and refusal:
            output.append(_message(content_id, {"type": "refusal", "refusal": refusal}))
        for call in message.get("tool_calls") or ():
            function = mapping(mapping(call).get("function"))
            call_id = str(mapping(call).get("id"))
            arguments = function.get("arguments")
            output.append(
                {
                    "type": "function_call",
                    "id": f"fc_{self.ids()}",
                    "call_id": call_id,
                    "name": function.get("name"),
                    "arguments": arguments if isinstance(arguments, str) else "{}",
                    "status": "completed",
                }
            )
        head = {
            "id": f"resp_{self.ids()}",
            "created_at": created_at(completion.get("created"), self.clock),
            "model": completion.get("model") or asked.get("model"),
        }
        finish = str(choice.get("finish_reason"))
        done = int(self.clock())
        return orjson.dumps(response_object(asked, head, output, completion.get("usage"), finish, done))

    def stream(self, asked: Mapping[str, Any], usage: Usage | None = None) -> ResponsesStream:
        # response.created says no usage (null until response.completed), as OpenAI's does.
        return ResponsesStream(asked, self.clock, self.ids)

    def error(self, status: int, body: bytes) -> bytes:
        """The Responses API's errors are OpenAI's: an OpenAI-shaped body is kept as it is."""
        if openai_error(body) is not None:
            return body
        message = body.decode("utf-8", "replace").strip()[:2000] or f"the provider answered HTTP {status}"
        kind = _ERROR_TYPES.get(status) or ("server_error" if status >= 500 else "invalid_request_error")
        return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}})


def _message(item_id: str, part: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "id": item_id, "status": "completed", "role": "assistant", "content": [part]}


def _instructions(instructions: Any) -> list[dict[str, Any]]:
    if instructions is None or instructions == "":
        return []
    if not isinstance(instructions, str):
        raise TranslationError("must be a string", field="instructions")
    return [{"role": "system", "content": instructions}]


def _input(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}] if raw else []
    if not isinstance(raw, list):
        raise TranslationError("must be a string or a list of items", field="input")
    messages: list[dict[str, Any]] = []
    media: list[dict[str, Any]] = []  # what the tool outputs so far returned besides text
    thinking: list[dict[str, Any]] = []  # a reasoning item's blocks, for the assistant turn after it
    for i, item in enumerate(raw):
        where = f"input[{i}]"
        item = mapping(item)
        kind = item.get("type", "message")
        if media and kind != "function_call_output":  # after the turn's last tool message
            messages.append({"role": "user", "content": media})
            media = []
        if kind == "message":
            messages.append(_input_message(item, where))
        elif kind == "function_call":
            _add_call(messages, item, where)
        if kind in ("message", "function_call"):  # the thinking goes with the assistant turn after it
            if thinking and messages[-1]["role"] == "assistant":
                messages[-1].setdefault("thinking_blocks", []).extend(thinking)
            thinking = []
        if kind == "reasoning":  # Claude's signed thinking (reasoning_items.py); others' are dropped
            thinking += opened(item)
        elif kind == "function_call_output":
            output, returned = _call_output(item, where)
            messages.append(output)
            media += returned
        elif kind == ITEM_REFERENCE:  # the gateway puts kept items in place before this
            raise TranslationError(
                "an item_reference names no item here; send the item itself", field=f"{where}.type"
            )
        elif kind not in ("message", "function_call", "reasoning"):
            raise TranslationError(f"a {kind!r} item cannot be sent to this provider", field=f"{where}.type")
    if media:
        messages.append({"role": "user", "content": media})
    return messages


def _input_message(item: Mapping[str, Any], where: str) -> dict[str, Any]:
    role, content = item.get("role"), item.get("content")
    if not isinstance(role, str) or role not in _ROLES:
        raise TranslationError(
            f"must be user, assistant, system or developer, not {role!r}", field=f"{where}.role"
        )
    if isinstance(content, str):
        return {"role": _ROLES[role], "content": content}
    if not isinstance(content, list):
        raise TranslationError("must be a string or a list of content parts", field=f"{where}.content")
    parts = [_part(part, f"{where}.content[{j}]", media=role == "user") for j, part in enumerate(content)]
    if all(part["type"] == "text" for part in parts):
        texts = [part["text"] for part in parts]
        joined: Any = texts[0] if len(texts) == 1 else [{"type": "text", "text": t} for t in texts]
        return {"role": _ROLES[role], "content": joined if role != "assistant" else "".join(texts)}
    return {"role": _ROLES[role], "content": parts}


def _part(part: Any, where: str, *, media: bool) -> dict[str, Any]:
    part = mapping(part)
    kind = part.get("type")
    if kind in ("input_text", "output_text") and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "refusal" and isinstance(part.get("refusal"), str):
        return {"type": "text", "text": part["refusal"]}
    if media and kind == "input_image" and isinstance(part.get("image_url"), str):
        image: dict[str, Any] = {"url": part["image_url"]}
        if isinstance(detail := part.get("detail"), str) and detail != "auto":
            image["detail"] = detail
        return {"type": "image_url", "image_url": image}
    if media and kind == "input_file" and isinstance(part.get("file_data"), str):
        return file_part(part["file_data"], part.get("filename"))
    raise TranslationError(
        f"a {kind!r} part cannot be sent to this provider (images by URL or data URL and"
        " files by file_data only: the gateway cannot read OpenAI's stored files)",
        field=where,
    )


def _add_call(messages: list[dict[str, Any]], item: Mapping[str, Any], where: str) -> None:
    """A function call joins the assistant turn before it: chat holds a turn's calls together."""
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments", "{}")
    if not isinstance(call_id, str) or not isinstance(name, str) or not isinstance(arguments, str):
        raise TranslationError("a function_call needs string call_id, name and arguments", field=where)
    call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant" and isinstance(last.get("content") or "", str):
        last.setdefault("tool_calls", []).append(call)
        last["content"] = last.get("content") or None
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _call_output(item: Mapping[str, Any], where: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The `tool` message, and the user message parts of the images and files the output holds:
    chat's tool messages hold text only (tool_media.py)."""
    call_id, output = item.get("call_id"), item.get("output")
    if not isinstance(call_id, str):
        raise TranslationError("a string is required", field=f"{where}.call_id")
    media: list[dict[str, Any]] = []
    if isinstance(output, list):
        texts: list[str] = []
        for k, part in enumerate(output):
            translated = _part(part, f"{where}.output[{k}]", media=True)
            if translated["type"] == "text":
                texts.append(translated["text"])
            else:
                media.append(translated)
        output = "".join(texts) if texts or not media else tool_text([], media)
    if not isinstance(output, str):
        raise TranslationError("must be a string or a list of content parts", field=f"{where}.output")
    return {"role": "tool", "tool_call_id": call_id, "content": output}, shown_media(call_id, media)


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise TranslationError("must be a list", field="tools")
    chat = []
    for i, tool in enumerate(tools):
        tool = mapping(tool)
        kind = tool.get("type")
        if kind == "custom":
            raise TranslationError(
                "a custom tool (free-form text input) has no form the providers take through chat;"
                " only function tools can be sent to this provider",
                field=f"tools[{i}].type",
            )
        if kind != "function":
            raise TranslationError(
                f"{kind!r} is one of OpenAI's built-in tools, which OpenAI runs; only function tools"
                " can be sent to this provider",
                field=f"tools[{i}].type",
            )
        if not isinstance(tool.get("name"), str) or not tool["name"]:
            raise TranslationError("a function tool needs a name", field=f"tools[{i}].name")
        if tool.get("parameters") is not None and not isinstance(tool["parameters"], dict):
            raise TranslationError("must be a JSON Schema object", field=f"tools[{i}].parameters")
        function: dict[str, Any] = {"name": tool["name"]}
        for key in ("description", "parameters", "strict"):
            if tool.get(key) is not None:
                function[key] = tool[key]
        chat.append({"type": "function", "function": function})
    return chat


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str) and choice in _TOOL_CHOICES:
        return choice
    if mapping(choice).get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise TranslationError("must be auto, none, required or {type: function, name}", field="tool_choice")


def _response_format(text_format: Any) -> dict[str, Any] | None:
    """https://platform.openai.com/docs/guides/structured-outputs: the same formats, nested otherwise."""
    kind = mapping(text_format).get("type")
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema" and isinstance(text_format.get("schema"), dict):
        schema = {k: text_format[k] for k in ("name", "schema", "strict", "description") if k in text_format}
        return {"type": "json_schema", "json_schema": schema}
    raise TranslationError("must be text, json_object or json_schema with a schema", field="text.format")


RESPONSES = OpenAIResponses()
