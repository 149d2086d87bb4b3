"""OpenAI chat completions to Anthropic's Messages API and back.

OpenAI's side: https://platform.openai.com/docs/api-reference/chat; Anthropic's:
https://docs.anthropic.com/en/api/messages and, for streams,
https://docs.anthropic.com/en/docs/build-with-claude/streaming. What cannot be said to Anthropic
(audio, n > 1, logprobs, response formats) is refused with a `TranslationError` naming the field;
sampling knobs Anthropic lacks (penalties, seed, logit_bias) are dropped, as they only tune.

Anthropic's answers carry no timestamp and translators have no clock, so translated answers say
`created: 0`; the endpoint may stamp its own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from sluicegate.compat.base import NativeRequest, TranslationError, openai_usage
from sluicegate.providers.anthropic import usage_from
from sluicegate.providers.sse import SseParser

MESSAGES_PATH: Final = "v1/messages"
# Anthropic requires max_tokens; OpenAI's default is "as many as the model allows".
DEFAULT_MAX_TOKENS: Final = 4096

# OpenAI request fields sent under Anthropic's name, unchanged. Anthropic's temperature stops at 1
# where OpenAI's goes to 2: a larger value is passed on, and Anthropic's 400 names it.
_RENAMES: Final[Mapping[str, str]] = {"temperature": "temperature", "top_p": "top_p"}
# Fields that ask for something Anthropic cannot do; refused when set to anything but their default.
_UNSUPPORTED: Final[Mapping[str, object]] = {
    "audio": None,
    "functions": None,  # the deprecated function-calling API; `tools` is supported
    "function_call": None,
    "logprobs": False,
    "top_logprobs": None,
    "prediction": None,
    "web_search_options": None,
}
# https://docs.anthropic.com/en/api/messages#response-stop-reason
_FINISH_REASONS: Final[Mapping[str, str]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Anthropic's error types (https://docs.anthropic.com/en/api/errors) -> OpenAI-style error types.
_ERROR_TYPES: Final[Mapping[str, str]] = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "billing_error": "permission_error",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "request_too_large": "invalid_request_error",
    "rate_limit_error": "rate_limit_error",
    "api_error": "server_error",
    "timeout_error": "server_error",
    "overloaded_error": "server_error",
}
_STATUS_ERROR_TYPES: Final[Mapping[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}
_TOOL_CHOICES: Final[Mapping[str, str]] = {"auto": "auto", "none": "none", "required": "any"}
_DATA_URL = re.compile(r"data:(?P<media_type>[\w.+-]+/[\w.+-]+)(?:;[^,;]*)*;base64,(?P<data>.*)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class AnthropicTranslator:
    """The `compat.base.Translator` for Anthropic."""

    def request(self, payload: dict[str, Any], model: str) -> NativeRequest:
        _refuse_unsupported(payload)
        system, messages = _conversation(payload.get("messages"))
        body: dict[str, Any] = {"model": model, "max_tokens": _max_tokens(payload), "messages": messages}
        if system:
            body["system"] = system[0]["text"] if len(system) == 1 else system
        for ours, theirs in _RENAMES.items():
            if payload.get(ours) is not None:
                body[theirs] = payload[ours]
        if stop := payload.get("stop"):
            body["stop_sequences"] = _stop_sequences(stop)
        if tools := payload.get("tools"):
            if not isinstance(tools, list):
                raise TranslationError("tools: must be a list")
            body["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
            choice = _tool_choice(payload.get("tool_choice"), payload.get("parallel_tool_calls"))
            if choice is not None:
                body["tool_choice"] = choice
        if isinstance(payload.get("user"), str):
            body["metadata"] = {"user_id": payload["user"]}
        if payload.get("stream") is True:
            body["stream"] = True
        return NativeRequest(path=MESSAGES_PATH, body=orjson.dumps(body))

    def response(self, body: bytes, model: str) -> bytes:
        message = _json_object(body)
        if message is None or not isinstance(message.get("content"), list):
            raise TranslationError("response: not an Anthropic message")
        blocks = [_mapping(block) for block in message["content"]]
        texts = [b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)]
        tool_calls = [_tool_call(b) for b in blocks if b.get("type") == "tool_use"]
        reply: dict[str, Any] = {"role": "assistant", "content": "".join(texts), "refusal": None}
        if tool_calls:
            reply["content"] = reply["content"] or None
            reply["tool_calls"] = tool_calls
        choice = {"index": 0, "message": reply, "logprobs": None, "finish_reason": _finish(message)}
        answer: dict[str, Any] = {
            "id": str(message.get("id", "")),
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [choice],
        }
        if (usage := usage_from(message.get("usage"))) is not None:
            answer["usage"] = openai_usage(usage)
        return orjson.dumps(answer)

    def error(self, status: int, body: bytes) -> bytes:
        return orjson.dumps({"error": _openai_error(status, _json_object(body), body)})

    def stream(self, model: str, include_usage: bool) -> AnthropicStream:
        return AnthropicStream(model, include_usage)


class AnthropicStream:
    """Anthropic's SSE events in, `chat.completion.chunk` events out, one event at a time.

    Text deltas become `content` deltas; a tool_use block becomes a `tool_calls` entry whose
    arguments arrive as its input_json_delta pieces; thinking is not sent (OpenAI's chat schema has
    no place for it). An `error` event becomes OpenAI's in-stream `{"error": ...}`.
    """

    def __init__(self, model: str, include_usage: bool) -> None:
        self._model = model
        self._include_usage = include_usage
        self._events = SseParser()
        self._id = ""
        self._usage: dict[str, Any] = {}
        self._tool_calls: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_calls index
        self._failed = False

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._dispatch(event.data) for event in self._events.feed(chunk))

    def close(self) -> bytes:
        # An event the upstream did not end with a blank line still counts, if it is whole.
        out = [b"".join(self._dispatch(event.data) for event in self._events.close())]
        usage = usage_from(self._usage)
        if self._include_usage and usage is not None and not self._failed:
            out.append(_sse({**self._head(), "choices": [], "usage": openai_usage(usage)}))
        out.append(b"data: [DONE]\n\n")
        return b"".join(out)

    def _dispatch(self, data: bytes | None) -> bytes:
        # `event:` repeats the data's `type`; comments and ids are of no use here
        try:
            event = orjson.loads(data) if data else None
        except orjson.JSONDecodeError:
            return b""
        return self._translate(event) if isinstance(event, dict) else b""

    def _translate(self, event: dict[str, Any]) -> bytes:
        match event.get("type"):
            case "message_start":
                message = _mapping(event.get("message"))
                self._id = str(message.get("id", ""))
                self._add_usage(message.get("usage"))
                return self._chunk({"role": "assistant", "content": ""})
            case "content_block_start":
                return self._block_start(_int(event.get("index")), _mapping(event.get("content_block")))
            case "content_block_delta":
                return self._block_delta(_int(event.get("index")), _mapping(event.get("delta")))
            case "message_delta":
                self._add_usage(event.get("usage"))
                stop = _mapping(event.get("delta")).get("stop_reason")
                return self._chunk({}, _FINISH_REASONS.get(stop, "stop")) if isinstance(stop, str) else b""
            case "error":
                self._failed = True
                return _sse({"error": _openai_error(None, event, b"")})
        return b""  # ping, content_block_stop, message_stop, and event types added later

    def _block_start(self, index: int, block: Mapping[str, Any]) -> bytes:
        if block.get("type") == "tool_use":
            position = self._tool_calls.setdefault(index, len(self._tool_calls))
            call = {"index": position, **_tool_call(block, arguments="")}
            return self._chunk({"tool_calls": [call]})
        if block.get("type") == "text" and block.get("text"):
            return self._chunk({"content": block["text"]})
        return b""

    def _block_delta(self, index: int, delta: Mapping[str, Any]) -> bytes:
        if delta.get("type") == "text_delta" and delta.get("text"):
            return self._chunk({"content": delta["text"]})
        if (
            delta.get("type") == "input_json_delta"
            and delta.get("partial_json")
            and index in self._tool_calls
        ):
            call = {"index": self._tool_calls[index], "function": {"arguments": delta["partial_json"]}}
            return self._chunk({"tool_calls": [call]})
        return b""

    def _add_usage(self, raw: Any) -> None:
        # message_delta figures are cumulative: they replace message_start's, and a null keeps it.
        if isinstance(raw, Mapping):
            self._usage.update((key, value) for key, value in raw.items() if value is not None)

    def _head(self) -> dict[str, Any]:
        return {"id": self._id, "object": "chat.completion.chunk", "created": 0, "model": self._model}

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        # As OpenAI does: once include_usage is asked, every chunk has `usage`, null until the last.
        usage = {"usage": None} if self._include_usage else {}
        return _sse({**self._head(), "choices": [choice], **usage})


def _refuse_unsupported(payload: Mapping[str, Any]) -> None:
    for name, default in _UNSUPPORTED.items():
        if payload.get(name, default) not in (default, None):
            raise TranslationError(f"{name}: not supported by Anthropic")
    if payload.get("n", 1) not in (1, None):
        raise TranslationError("n: Anthropic returns one choice per request")
    if _mapping(payload.get("response_format")).get("type", "text") != "text":
        raise TranslationError("response_format: only 'text' can be translated for Anthropic")
    if any(modality != "text" for modality in payload.get("modalities") or ()):
        raise TranslationError("modalities: Anthropic answers with text only")


def _max_tokens(payload: Mapping[str, Any]) -> int:
    name = "max_completion_tokens" if payload.get("max_completion_tokens") is not None else "max_tokens"
    value = payload.get(name)
    if value is None:
        return DEFAULT_MAX_TOKENS
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TranslationError(f"{name}: must be a positive integer")
    return value


def _stop_sequences(stop: Any) -> list[str]:
    sequences = [stop] if isinstance(stop, str) else stop
    if not isinstance(sequences, list) or not all(isinstance(s, str) for s in sequences):
        raise TranslationError("stop: must be a string or a list of strings")
    return sequences


def _conversation(raw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """System text blocks, and the turns: consecutive same-role messages merge into one turn."""
    if not isinstance(raw, list) or not raw:
        raise TranslationError("messages: a non-empty list is required")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            system += _content_blocks(message.get("content"), where)
            continue
        if role == "user":
            blocks = _content_blocks(message.get("content"), where, media=True)
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
        elif role == "tool":
            role, blocks = "user", [_tool_result(message, where)]
        else:
            raise TranslationError(f"{where}.role: {role!r} cannot be translated for Anthropic")
        if not blocks:
            continue  # Anthropic refuses empty content
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += blocks  # Anthropic's turns alternate
        else:
            turns.append({"role": role, "content": blocks})
    return system, [_compact(turn) for turn in turns]


def _compact(turn: dict[str, Any]) -> dict[str, Any]:
    """Tool results first in a user turn, as Anthropic requires; a lone text block as a string."""
    blocks = sorted(turn["content"], key=lambda block: block["type"] != "tool_result")  # stable
    if len(blocks) == 1 and blocks[0]["type"] == "text":
        return {"role": turn["role"], "content": blocks[0]["text"]}
    return {"role": turn["role"], "content": blocks}


def _content_blocks(content: Any, where: str, *, media: bool = False) -> list[dict[str, Any]]:
    """A string or a list of parts as Anthropic blocks, empty texts left out. Text and refusal parts
    are allowed everywhere; image and file parts only with `media` (user messages)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if content is None:
        return []
    if not isinstance(content, list):
        raise TranslationError(f"{where}.content: must be a string or a list of parts")
    blocks = []
    for j, part in enumerate(content):
        at, kind = f"{where}.content[{j}]", _mapping(part).get("type")
        if kind in ("text", "refusal") and isinstance(text := part.get(kind), str):
            blocks += [{"type": "text", "text": text}] if text else []
        elif media and kind == "image_url":
            blocks.append(_image(part.get("image_url"), f"{at}.image_url"))
        elif media and kind == "file":
            blocks.append(_document(_mapping(part.get("file")), f"{at}.file"))
        else:
            raise TranslationError(f"{at}: a {kind!r} part cannot be translated here for Anthropic")
    return blocks


def _image(image_url: Any, where: str) -> dict[str, Any]:
    """An OpenAI image part as an Anthropic image block: https://docs.anthropic.com/en/docs/build-with-claude/vision"""
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str) or not url:
        raise TranslationError(f"{where}.url: a URL or a data URL is required")
    if url.startswith("data:"):
        return {"type": "image", "source": _base64_source(url, where)}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _document(file: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A PDF file part as a document block: https://docs.anthropic.com/en/docs/build-with-claude/pdf-support"""
    data = file.get("file_data")
    if not isinstance(data, str):
        raise TranslationError(f"{where}: only inline file_data can be translated for Anthropic")
    source = _base64_source(data, where)
    if source["media_type"] != "application/pdf":
        raise TranslationError(f"{where}: Anthropic reads PDF documents only")
    return {"type": "document", "source": source}


def _base64_source(url: str, where: str) -> dict[str, str]:
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise TranslationError(f"{where}: only base64 data URLs can be translated for Anthropic")
    return {"type": "base64", "media_type": match["media_type"], "data": match["data"]}


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    blocks = _content_blocks(message.get("content"), where)
    for j, call in enumerate(message.get("tool_calls") or ()):
        call_id, function = _mapping(call).get("id"), _mapping(_mapping(call).get("function"))
        if not isinstance(call_id, str) or not isinstance(function.get("name"), str):
            raise TranslationError(f"{where}.tool_calls[{j}]: an id and a function name are required")
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except (orjson.JSONDecodeError, TypeError):
            arguments = None
        if not isinstance(arguments, dict):
            raise TranslationError(f"{where}.tool_calls[{j}].function.arguments: must be a JSON object")
        blocks.append({"type": "tool_use", "id": call_id, "name": function["name"], "input": arguments})
    return blocks


def _tool_result(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A tool message as a tool_result block: https://docs.anthropic.com/en/docs/build-with-claude/tool-use"""
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str):
        raise TranslationError(f"{where}.tool_call_id: required")
    content = message.get("content")
    text = (
        content if isinstance(content, str) else "".join(b["text"] for b in _content_blocks(content, where))
    )
    return {"type": "tool_result", "tool_use_id": call_id, "content": text}


def _tool(tool: Any, where: str) -> dict[str, Any]:
    function = _mapping(tool).get("function") if _mapping(tool).get("type") == "function" else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise TranslationError(f"{where}: only function tools with a name can be translated")
    schema = function.get("parameters") or {"type": "object", "properties": {}}
    translated = {"name": function["name"], "input_schema": schema}
    if function.get("description"):
        translated["description"] = function["description"]
    return translated


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    """https://docs.anthropic.com/en/docs/build-with-claude/tool-use#controlling-claudes-output"""
    translated: dict[str, Any] | None
    if choice is None:
        translated = {"type": "auto"} if parallel is False else None
    elif isinstance(choice, str) and choice in _TOOL_CHOICES:
        translated = {"type": _TOOL_CHOICES[choice]}
    elif isinstance(name := _mapping(_mapping(choice).get("function")).get("name"), str):
        translated = {"type": "tool", "name": name}
    else:
        raise TranslationError("tool_choice: must be none, auto, required or a named function")
    if translated is not None and parallel is False and translated["type"] != "none":
        translated["disable_parallel_tool_use"] = True
    return translated


def _tool_call(block: Mapping[str, Any], arguments: str | None = None) -> dict[str, Any]:
    """A tool_use block as an OpenAI tool call; `arguments` overrides its (complete) input."""
    if arguments is None:
        arguments = orjson.dumps(block.get("input") or {}).decode()
    function = {"name": block.get("name"), "arguments": arguments}
    return {"id": block.get("id"), "type": "function", "function": function}


def _finish(message: Mapping[str, Any]) -> str:
    stop = message.get("stop_reason")
    return _FINISH_REASONS.get(stop, "stop") if isinstance(stop, str) else "stop"


def _openai_error(status: int | None, document: Mapping[str, Any] | None, body: bytes) -> dict[str, Any]:
    """Anthropic's `{"type": "error", "error": {"type", "message"}}` as OpenAI's error object: `type`
    in the compat endpoint's vocabulary, `code` Anthropic's own type. `status` None: a stream's error."""
    error = _mapping(document.get("error")) if document is not None else {}
    message, code = error.get("message"), error.get("type")
    if not isinstance(message, str):
        message = body.decode("utf-8", "replace").strip()[:2000] or f"Anthropic answered HTTP {status}"
    code = code if isinstance(code, str) else None
    kind = _ERROR_TYPES.get(code or "") or _STATUS_ERROR_TYPES.get(status or 500)
    if kind is None:
        kind = "server_error" if (status or 500) >= 500 else "invalid_request_error"
    return {"message": message, "type": kind, "param": None, "code": code}


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) else -1


def _sse(payload: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(payload) + b"\n\n"


ANTHROPIC_TRANSLATOR = AnthropicTranslator()
