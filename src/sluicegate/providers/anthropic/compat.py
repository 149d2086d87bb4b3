"""OpenAI chat completions to Anthropic's Messages API and back.

OpenAI's side: https://platform.openai.com/docs/api-reference/chat; Anthropic's:
https://docs.anthropic.com/en/api/messages and, for streams,
https://docs.anthropic.com/en/docs/build-with-claude/streaming. What cannot be said to Anthropic
(audio, n > 1, logprobs) is refused with a `TranslationError` naming the field; sampling knobs
Anthropic lacks (penalties, seed, logit_bias) are dropped, as they only tune. A response format is
asked for as a tool call (compat_request.py): the call of `ANSWER_TOOL` comes back as the answer's
`content`, its JSON text, whole or streamed as its `input_json_delta`s, and not as a tool call.

Anthropic's answers carry no timestamp: `created` is read from the translator's `clock` when the
answer (or the stream) is translated, one value for every chunk of a stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from sluicegate.compat.base import (
    NativeRequest,
    TranslationError,
    answered_model,
    broke_off,
    ended_early,
    openai_usage,
)
from sluicegate.providers.anthropic.adapter import usage_from
from sluicegate.providers.anthropic.compat_request import ANSWER_TOOL, as_mapping, native_body
from sluicegate.providers.anthropic.errors import error_fields
from sluicegate.providers.sse import SseParser, sse_data
from sluicegate.types import Usage

MESSAGES_PATH: Final = "v1/messages"

# https://docs.anthropic.com/en/api/messages#response-stop-reason
_FINISH_REASONS: Final[Mapping[str, str]] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    # A server tool's loop paused, to be resumed by sending the turn back. OpenAI's finish_reason
    # has no such value, and stop is what LiteLLM (its default), Vercel's AI SDK and Portkey give:
    # a value outside OpenAI's set would break clients that check it (typed SDKs' enums).
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}
# Anthropic's error types (errors.py) -> OpenAI-style error types.
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
# Thinking blocks (extended thinking: compat_thinking.py) come back as the message's
# `reasoning_content` (their text, as DeepSeek's and vLLM's OpenAI-compatible servers name it) and
# `thinking_blocks` (whole, signed, as LiteLLM gives them), which the client sends back in a tool loop.
_THINKING: Final = frozenset({"thinking", "redacted_thinking"})
_STATUS_ERROR_TYPES: Final[Mapping[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


@dataclass(frozen=True, slots=True)
class AnthropicTranslator:
    """The `compat.base.Translator` for Anthropic; `clock` gives the answers' `created` time."""

    clock: Callable[[], float] = time.time

    def request(self, payload: dict[str, Any], model: str) -> NativeRequest:
        return NativeRequest(path=MESSAGES_PATH, body=orjson.dumps(native_body(payload, model)))

    def response(self, body: bytes, model: str) -> bytes:
        message = _json_object(body)
        if message is None or not isinstance(message.get("content"), list):
            raise TranslationError("response: not an Anthropic message")
        blocks = [as_mapping(block) for block in message["content"]]
        tool_calls = [_tool_call(b) for b in blocks if b.get("type") == "tool_use" and not _is_answer(b)]
        content = "".join(_content_of(block) for block in blocks)
        reply: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if thought := [_thinking_block(block) for block in blocks if block.get("type") in _THINKING]:
            reply["reasoning_content"] = "".join(block.get("thinking", "") for block in thought)
            reply["thinking_blocks"] = thought
        if tool_calls:
            reply["content"] = reply["content"] or None
            reply["tool_calls"] = tool_calls
        answered = any(_is_answer(block) for block in blocks) and not tool_calls
        finish = _finish(message.get("stop_reason"), answered)
        choice = {"index": 0, "message": reply, "logprobs": None, "finish_reason": finish}
        answer: dict[str, Any] = {
            "id": str(message.get("id", "")),
            "object": "chat.completion",
            "created": int(self.clock()),
            "model": answered_model(message, "model", model),
            "choices": [choice],
        }
        if (usage := usage_from(message.get("usage"))) is not None:
            answer["usage"] = openai_usage(usage)
        return orjson.dumps(answer)

    def error(self, status: int, body: bytes) -> bytes:
        return orjson.dumps({"error": _openai_error(status, _json_object(body), body)})

    def stream(self, model: str, include_usage: bool) -> AnthropicStream:
        return AnthropicStream(model, include_usage, created=int(self.clock()))


class AnthropicStream:
    """Anthropic's SSE events in, `chat.completion.chunk` events out, one event at a time.

    Text deltas become `content` deltas; a tool_use block becomes a `tool_calls` entry whose
    arguments arrive as its input_json_delta pieces, except `ANSWER_TOOL`'s, whose pieces are
    `content`; thinking deltas are `reasoning_content` deltas, and each thinking block, once stopped,
    one `thinking_blocks` delta holding it whole with its signature. A tool_use block
    that ends with nothing written (a tool without parameters: Anthropic streams no piece, or one
    empty piece) gets its content_block_start `input`, `"{}"`, in one delta before the finish, so
    its arguments are JSON, as whole. An `error` event becomes OpenAI's in-stream `{"error": ...}`.
    Every chunk says `created`. A stream that ends without `message_stop` is unfinished: no
    usage chunk and no `[DONE]`, but OpenAI's in-stream error (`StreamTranslator.close`).
    """

    def __init__(self, model: str, include_usage: bool, created: int) -> None:
        self._model = model
        self._include_usage = include_usage
        self._created = created
        self._events = SseParser()
        self._id = ""
        self._usage: dict[str, Any] = {}
        self._tool_calls: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_calls index
        self._answers: set[int] = set()  # ANSWER_TOOL block indexes
        self._unwritten: dict[int, str] = {}  # tool_use block index -> its start input, until a piece
        self._thinking: dict[int, dict[str, Any]] = {}  # thinking block index -> the block so far
        self._failed = False
        self._stopped = False  # message_stop came

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._dispatch(event.data) for event in self._events.feed(chunk))

    def close(self) -> bytes:
        # An event the upstream did not end with a blank line still counts, if it is whole.
        out = [b"".join(self._dispatch(event.data) for event in self._events.close())]
        if (reason := self.unfinished()) is not None:
            return out[0] + broke_off(reason)
        usage = usage_from(self._usage)
        if self._include_usage and usage is not None and not self._failed:
            out.append(sse_data({**self._head(), "choices": [], "usage": openai_usage(usage)}))
        out.append(b"data: [DONE]\n\n")
        return b"".join(out)

    def unfinished(self) -> str | None:
        return None if self._stopped or self._failed else ended_early("message_stop")

    def usage(self) -> Usage | None:
        # message_start's input figures count even if the stream failed or broke off after it.
        return usage_from(self._usage)

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
                message = as_mapping(event.get("message"))
                self._id = str(message.get("id", ""))
                self._model = answered_model(message, "model", self._model)
                self._add_usage(message.get("usage"))
                return self._chunk({"role": "assistant", "content": ""})
            case "content_block_start":
                return self._block_start(_int(event.get("index")), as_mapping(event.get("content_block")))
            case "content_block_delta":
                return self._block_delta(_int(event.get("index")), as_mapping(event.get("delta")))
            case "content_block_stop":
                return self._block_stop(_int(event.get("index")))
            case "message_delta":
                self._add_usage(event.get("usage"))
                stop = as_mapping(event.get("delta")).get("stop_reason")
                if not isinstance(stop, str):
                    return b""
                return self._chunk({}, _finish(stop, bool(self._answers) and not self._tool_calls))
            case "error":
                self._failed = True
                return sse_data({"error": _openai_error(None, event, b"")})
            case "message_stop":
                self._stopped = True
        return b""  # ping, and event types added later

    def _block_start(self, index: int, block: Mapping[str, Any]) -> bytes:
        if block.get("type") == "tool_use":
            self._unwritten[index] = orjson.dumps(block.get("input") or {}).decode()
            if _is_answer(block):
                self._answers.add(index)
                return b""
            position = self._tool_calls.setdefault(index, len(self._tool_calls))
            call = {"index": position, **_tool_call(block, arguments="")}
            return self._chunk({"tool_calls": [call]})
        if block.get("type") == "text" and block.get("text"):
            return self._chunk({"content": block["text"]})
        if block.get("type") in _THINKING:
            self._thinking[index] = _thinking_block(block)
            if text := self._thinking[index].get("thinking"):
                return self._chunk({"reasoning_content": text})
        return b""

    def _block_delta(self, index: int, delta: Mapping[str, Any]) -> bytes:
        if delta.get("type") == "text_delta" and delta.get("text"):
            return self._chunk({"content": delta["text"]})
        if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
            self._unwritten.pop(index, None)
            return self._input(index, delta["partial_json"])
        if (block := self._thinking.get(index)) is not None:
            if (
                delta.get("type") == "thinking_delta"
                and isinstance(text := delta.get("thinking"), str)
                and text
            ):
                block["thinking"] += text
                return self._chunk({"reasoning_content": text})
            if delta.get("type") == "signature_delta" and isinstance(delta.get("signature"), str):
                block["signature"] = delta["signature"]
        return b""

    def _block_stop(self, index: int) -> bytes:
        # A tool_use block without input streams no piece (or an empty one); its input is still a
        # JSON object, as when whole: what content_block_start showed, `{}` from Anthropic.
        if (thought := self._thinking.pop(index, None)) is not None:
            return self._chunk({"thinking_blocks": [thought]})
        unwritten = self._unwritten.pop(index, None)
        return b"" if unwritten is None else self._input(index, unwritten)

    def _input(self, index: int, piece: str) -> bytes:
        """A piece of a tool_use block's input: content for the answer tool, else its arguments."""
        if index in self._answers:
            return self._chunk({"content": piece})
        if index in self._tool_calls:
            call = {"index": self._tool_calls[index], "function": {"arguments": piece}}
            return self._chunk({"tool_calls": [call]})
        return b""

    def _add_usage(self, raw: Any) -> None:
        # message_delta figures are cumulative: they replace message_start's, and a null keeps it.
        if isinstance(raw, Mapping):
            self._usage.update((key, value) for key, value in raw.items() if value is not None)

    def _head(self) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        # As OpenAI does: once include_usage is asked, every chunk has `usage`, null until the last.
        usage = {"usage": None} if self._include_usage else {}
        return sse_data({**self._head(), "choices": [choice], **usage})


def _tool_call(block: Mapping[str, Any], arguments: str | None = None) -> dict[str, Any]:
    """A tool_use block as an OpenAI tool call; `arguments` overrides its (complete) input."""
    if arguments is None:
        arguments = orjson.dumps(block.get("input") or {}).decode()
    function = {"name": block.get("name"), "arguments": arguments}
    return {"id": block.get("id"), "type": "function", "function": function}


def _thinking_block(block: Mapping[str, Any]) -> dict[str, Any]:
    """A thinking or redacted_thinking block as `thinking_blocks` holds it (its text, signature or data)."""
    if block.get("type") == "redacted_thinking":
        return {"type": "redacted_thinking", "data": str(block.get("data") or "")}
    text, signature = block.get("thinking"), block.get("signature")
    return {
        "type": "thinking",
        "thinking": text if isinstance(text, str) else "",
        "signature": signature if isinstance(signature, str) else "",
    }


def _is_answer(block: Mapping[str, Any]) -> bool:
    return block.get("type") == "tool_use" and block.get("name") == ANSWER_TOOL


def _content_of(block: Mapping[str, Any]) -> str:
    """A block's part of the answer's content: a text's text, the answer tool's input as JSON."""
    if block.get("type") == "text" and isinstance(block.get("text"), str):
        return str(block["text"])
    return orjson.dumps(block.get("input") or {}).decode() if _is_answer(block) else ""


def _finish(stop: Any, answered: bool) -> str:
    """`stop` (Anthropic's stop_reason) as OpenAI's finish_reason; when `answered` (the answer
    tool was the only tool called), the tool_use stop is an answer's end."""
    finish = _FINISH_REASONS.get(stop, "stop") if isinstance(stop, str) else "stop"
    return "stop" if finish == "tool_calls" and answered else finish


def _openai_error(status: int | None, document: Mapping[str, Any] | None, body: bytes) -> dict[str, Any]:
    """Anthropic's `{"type": "error", "error": {"type", "message"}}` as OpenAI's error object: `type`
    in the compat endpoint's vocabulary, `code` Anthropic's own type. `status` None: a stream's error."""
    message, code = error_fields(document)
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


def _int(value: Any) -> int:
    return value if isinstance(value, int) else -1


ANTHROPIC_TRANSLATOR = AnthropicTranslator()
