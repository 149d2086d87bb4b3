"""Chat completion chunks in, Anthropic's Messages stream events out, chunk by chunk.

Events: https://docs.anthropic.com/en/docs/build-with-claude/streaming — `message_start`, per
content block `content_block_start`, its deltas (`text_delta`, `input_json_delta`) and
`content_block_stop`, then `message_delta` (stop reason, cumulative usage) and `message_stop`.
Chat reports usage after the finish reason, so `message_delta` waits for the end of the chunks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from sluicegate.ingress.base import ChatChunks, int_or_zero, mapping
from sluicegate.providers.anthropic.errors import ERROR_TYPES, error_body
from sluicegate.providers.sse import sse_data
from sluicegate.types import Usage

# https://docs.anthropic.com/en/api/messages#response-stop-reason, from chat's finish_reason
STOP_REASONS: Final[Mapping[str, str]] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def anthropic_usage(usage: Any) -> dict[str, int] | None:
    """A chat usage object as Anthropic's: its `input_tokens` leave out cache reads and writes,
    which chat counts inside `prompt_tokens`. None when there is no usage to tell."""
    if not isinstance(usage, Mapping) or not isinstance(usage.get("prompt_tokens"), int):
        return None
    details = mapping(usage.get("prompt_tokens_details"))
    read, written = int_or_zero(details.get("cached_tokens")), int_or_zero(details.get("cache_write_tokens"))
    return {
        "input_tokens": max(int_or_zero(usage.get("prompt_tokens")) - read - written, 0),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "output_tokens": int_or_zero(usage.get("completion_tokens")),
    }


class MessagesStream:
    """One streamed answer. Blocks are numbered in the order they open; a block closes when the
    next one opens (a tool call's late argument pieces still go to its own index)."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._chunks = ChatChunks()
        self._started = self._ended = False
        self._open: int | None = None  # the index of the block still open
        self._blocks = 0
        self._text_block: int | None = None  # the text block being written, if it is the open one
        self._tools: dict[int, int] = {}  # chat tool_calls index -> block index
        self._stop = "end_turn"
        self._usage: dict[str, int] | None = None

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._render(event) for event in self._chunks.feed(chunk))

    def close(self) -> bytes:
        out = b"".join(self._render(event) for event in self._chunks.close())
        if self._ended:
            return out
        self._ended = True
        usage = self._usage or {"output_tokens": 0}
        delta = {"stop_reason": self._stop, "stop_sequence": None}
        return (
            out
            + self._start({})
            + self._close_block()
            + sse_data({"type": "message_delta", "delta": delta, "usage": usage}, "message_delta")
            + sse_data({"type": "message_stop"}, "message_stop")
        )

    def usage(self) -> Usage | None:
        return self._chunks.usage

    def _render(self, chunk: dict[str, Any]) -> bytes:
        if self._ended:
            return b""
        if "error" in chunk:  # an error reported inside the stream: Anthropic's `error` event ends it
            self._ended = True
            error = mapping(chunk.get("error"))
            code = error.get("code")
            kind = code if isinstance(code, str) and code in ERROR_TYPES else "api_error"
            message = error.get("message")
            if not isinstance(message, str):
                message = "the provider failed"
            return sse_data(error_body(kind, message), "error")
        out = [self._start(chunk)]
        if (usage := anthropic_usage(chunk.get("usage"))) is not None:
            self._usage = usage
        for choice in chunk.get("choices") or ():
            choice = mapping(choice)
            if choice.get("index", 0) != 0:
                continue  # Anthropic answers one message: the first choice is it
            delta = mapping(choice.get("delta"))
            for key in ("content", "refusal"):
                if isinstance(text := delta.get(key), str) and text:
                    out.append(self._text(text))
            for call in delta.get("tool_calls") or ():
                out.append(self._tool_call(mapping(call)))
            if isinstance(finish := choice.get("finish_reason"), str):
                self._stop = STOP_REASONS.get(finish, "end_turn")
        return b"".join(out)

    def _start(self, chunk: Mapping[str, Any]) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": str(chunk.get("id", "")),
            "type": "message",
            "role": "assistant",
            "model": chunk.get("model") or self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # Chat tells usage only at its end: message_delta carries the real figures.
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return sse_data({"type": "message_start", "message": message}, "message_start")

    def _text(self, text: str) -> bytes:
        out = b""
        if self._text_block is None:
            out = self._open_block({"type": "text", "text": ""})
            self._text_block = self._open
        delta = {"type": "text_delta", "text": text}
        return out + sse_data(
            {"type": "content_block_delta", "index": self._text_block, "delta": delta}, "content_block_delta"
        )

    def _tool_call(self, call: Mapping[str, Any]) -> bytes:
        position = int_or_zero(call.get("index"))
        function = mapping(call.get("function"))
        out = b""
        if position not in self._tools:
            block = {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{position}",
                "name": function.get("name"),
            }
            out = self._open_block({**block, "input": {}})
            self._tools[position] = self._blocks - 1
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            delta = {"type": "input_json_delta", "partial_json": arguments}
            event = {"type": "content_block_delta", "index": self._tools[position], "delta": delta}
            out += sse_data(event, "content_block_delta")
        return out

    def _open_block(self, block: dict[str, Any]) -> bytes:
        out = self._close_block()
        self._open, self._blocks = self._blocks, self._blocks + 1
        return out + sse_data(
            {"type": "content_block_start", "index": self._open, "content_block": block},
            "content_block_start",
        )

    def _close_block(self) -> bytes:
        if self._open is None:
            return b""
        index, self._open, self._text_block = self._open, None, None
        return sse_data({"type": "content_block_stop", "index": index}, "content_block_stop")
