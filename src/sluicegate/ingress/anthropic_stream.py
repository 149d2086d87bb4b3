"""Chat completion chunks in, Anthropic's Messages stream events out, chunk by chunk.

Events: https://docs.anthropic.com/en/docs/build-with-claude/streaming — `message_start`, per
content block `content_block_start`, its deltas (`text_delta`, `input_json_delta`, `thinking_delta`,
`signature_delta`) and `content_block_stop`, then `message_delta` (stop reason, cumulative usage)
and `message_stop`. Chat reports usage after the finish reason, so `message_delta` waits for the
end of the chunks.

A provider's thinking is chat's `reasoning_content` (or `reasoning`: its text, as it comes) and
`thinking_blocks` (LiteLLM's field: the Anthropic translation's whole blocks, signed, each once it
is done): Anthropic's `thinking` blocks, before the text, as Claude's stream has them
(https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#streaming-thinking): opened
with empty `thinking` and `signature`, the text in `thinking_delta`s, the signature in one
`signature_delta` just before the block stops — only where there is one: another provider's
thinking (Gemini's thought summaries, DeepSeek's reasoning) is unsigned, its `signature` empty, and
Anthropic refuses it back. `redacted_thinking` blocks come whole, in their content_block_start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from sluicegate.ingress.base import ChatStreamRendering, int_or_zero, mapping
from sluicegate.ingress.reasoning_items import thought_text
from sluicegate.providers.anthropic.errors import error_body, error_kind
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


def stop_sequence(choice: Mapping[str, Any], asked: Any) -> str | None:
    """The stop sequence that ended a chat choice, where the answer tells it: vLLM's `stop_reason`
    (the string matched; a token id or null else) naming one the request asked for
    (https://docs.vllm.ai/en/latest/api/vllm/entrypoints/openai/protocol.html). OpenAI's, Gemini's
    (finishReason STOP for both) and Workers AI's answers do not tell an end at a stop sequence
    from a natural one: None, and the stop reason is end_turn."""
    matched = choice.get("stop_reason")
    stops = asked if isinstance(asked, list) else ()
    return matched if isinstance(matched, str) and matched in stops else None


def thinking_content(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A chat message's thinking as Messages content blocks: its `thinking_blocks` as they came
    (signed thinking, redacted thinking), else its `reasoning_content` as one unsigned block."""
    blocks: list[dict[str, Any]] = []
    for block in message.get("thinking_blocks") or ():
        block = mapping(block)
        if block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str):
            blocks.append({"type": "redacted_thinking", "data": block["data"]})
        elif block.get("type") == "thinking" and isinstance(block.get("thinking"), str):
            blocks.append({"type": "thinking", "thinking": block["thinking"], "signature": _signature(block)})
    if not blocks and (thought := thought_text(message)):
        blocks.append({"type": "thinking", "thinking": thought, "signature": ""})
    return blocks


def _signature(block: Mapping[str, Any]) -> str:
    signature = block.get("signature")
    return signature if isinstance(signature, str) else ""


class MessagesStream(ChatStreamRendering):
    """One streamed answer. Blocks are numbered in the order they open and one is open at a time,
    as in Anthropic's streams. A tool call's block stays open for its argument pieces; a call that
    begins while another's is open is held back and written whole, in order, at the end: chat may
    interleave parallel calls (index 0 begins, index 1 begins, then 0's arguments, then 1's), and a
    piece must never go to a block already stopped (a client takes a tool_use's input at its
    content_block_stop). A chat stream that ends without `[DONE]` ends in Anthropic's `error`
    event, not in an invented stop reason."""

    def __init__(self, message_id: str, model: str, ahead: Usage | None = None, stops: Any = None) -> None:
        """`message_id`: the `msg_…` id message_start gives; `ahead`: the usage the chat stream
        will report, when known before it starts (a stored stream replayed), which message_start
        then tells, as Anthropic's own streams do; `stops`: the request's stop_sequences."""
        super().__init__()
        self._id, self._model, self._stops = message_id, model, stops
        self._stop_sequence: str | None = None
        self._ahead = ahead
        self._started = False
        self._open: int | None = None  # the index of the block still open
        self._blocks = 0
        self._text_block: int | None = None  # the text block being written, if it is the open one
        self._thinking_block: int | None = None  # the thinking block being written, if it is open
        self._tools: dict[int, int] = {}  # chat tool_calls index -> block index
        self._tool_open: int | None = None  # the chat index of the call whose block is open
        self._held: dict[int, _HeldCall] = {}  # calls begun while another's block was open
        self._stop = "end_turn"
        self._usage: dict[str, int] | None = None

    def _cut_short(self, reason: str) -> bytes:
        return sse_data(error_body("api_error", reason), "error")  # Anthropic's error event ends it

    def _finished(self) -> bytes:
        usage = self._usage or {"output_tokens": 0}
        delta = {"stop_reason": self._stop, "stop_sequence": self._stop_sequence}
        return (
            self._start({})
            + self._close_block()
            + b"".join(self._held_call(call) for call in self._held.values())
            + sse_data({"type": "message_delta", "delta": delta, "usage": usage}, "message_delta")
            + sse_data({"type": "message_stop"}, "message_stop")
        )

    def _render(self, chunk: dict[str, Any]) -> bytes:
        if self._ended:
            return b""
        if "error" in chunk:  # an error reported inside the stream: Anthropic's `error` event ends it
            self._ended = True
            error = mapping(chunk.get("error"))
            kind = error_kind(error, None)
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
            if thought := thought_text(delta):
                out.append(self._thinking(thought))
            for block in delta.get("thinking_blocks") or ():
                out.append(self._thought_block(mapping(block)))
            for key in ("content", "refusal"):
                if isinstance(text := delta.get(key), str) and text:
                    out.append(self._text(text))
            for call in delta.get("tool_calls") or ():
                out.append(self._tool_call(mapping(call)))
            if isinstance(finish := choice.get("finish_reason"), str):
                self._stop = STOP_REASONS.get(finish, "end_turn")
                if finish == "stop" and (matched := stop_sequence(choice, self._stops)) is not None:
                    self._stop, self._stop_sequence = "stop_sequence", matched
        return b"".join(out)

    def _start(self, chunk: Mapping[str, Any]) -> bytes:
        if self._started:
            return b""
        self._started = True
        message: dict[str, Any] = {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": chunk.get("model") or self._model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            # Chat tells usage only at its end: message_delta carries the real figures, and
            # message_start the input ones only when they are known ahead (a stored stream's).
            "usage": _opening_usage(self._ahead),
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

    def _thinking(self, text: str) -> bytes:
        """A piece of the provider's thinking, in the thinking block open (opened first)."""
        out = self._open_thinking()
        return out + self._delta(self._blocks - 1, {"type": "thinking_delta", "thinking": text})

    def _open_thinking(self) -> bytes:
        """A thinking block opened, unless one is open."""
        if self._thinking_block is not None:
            return b""
        out = self._open_block({"type": "thinking", "thinking": "", "signature": ""})
        self._thinking_block = self._open
        return out

    def _thought_block(self, block: Mapping[str, Any]) -> bytes:
        """A whole thinking block (`thinking_blocks`): the end of the one whose text came as
        `reasoning_content` (its signature, then its stop), else a block of its own."""
        if block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str):
            redacted = {"type": "redacted_thinking", "data": block["data"]}
            return self._open_block(redacted) + self._close_block()
        if block.get("type") != "thinking":
            return b""
        out = b""
        if self._thinking_block is None and isinstance(text := block.get("thinking"), str) and text:
            out = self._thinking(text)
        out += self._open_thinking()
        if signature := _signature(block):
            out += self._delta(self._blocks - 1, {"type": "signature_delta", "signature": signature})
        return out + self._close_block()

    def _delta(self, index: int, delta: dict[str, Any]) -> bytes:
        event = {"type": "content_block_delta", "index": index, "delta": delta}
        return sse_data(event, "content_block_delta")

    def _tool_call(self, call: Mapping[str, Any]) -> bytes:
        position = int_or_zero(call.get("index"))
        function = mapping(call.get("function"))
        arguments = function.get("arguments")
        piece = arguments if isinstance(arguments, str) else ""
        if position in self._held:
            self._held[position].pieces.append(piece)
            return b""
        out = b""
        if position not in self._tools:
            block = _tool_block(call, position)
            if self._tool_open is not None:  # another call's block is open: this one waits
                self._held[position] = _HeldCall(block, [piece])
                return b""
            out = self._open_block(block)
            self._tools[position], self._tool_open = self._blocks - 1, position
        if piece:
            out += self._input(self._tools[position], piece)
        return out

    def _held_call(self, call: _HeldCall) -> bytes:
        """A call held back, written whole: its block, its arguments in one piece, its stop."""
        out = self._open_block(call.block)
        if arguments := "".join(call.pieces):
            out += self._input(self._blocks - 1, arguments)
        return out + self._close_block()

    def _input(self, index: int, piece: str) -> bytes:
        delta = {"type": "input_json_delta", "partial_json": piece}
        return sse_data(
            {"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta"
        )

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
        index, self._open, self._text_block, self._tool_open = self._open, None, None, None
        self._thinking_block = None
        return sse_data({"type": "content_block_stop", "index": index}, "content_block_stop")


@dataclass
class _HeldCall:
    """A tool call begun while another's block was open: its block, and its argument pieces."""

    block: dict[str, Any]
    pieces: list[str]


def _tool_block(call: Mapping[str, Any], position: int) -> dict[str, Any]:
    """A chat tool call's first delta as the tool_use block it opens (its input streamed after)."""
    name = mapping(call.get("function")).get("name")
    return {"type": "tool_use", "id": call.get("id") or f"toolu_{position}", "name": name, "input": {}}


def _opening_usage(ahead: Usage | None) -> dict[str, int]:
    """message_start's usage: Anthropic's input figures (cache reads and writes apart, as
    `anthropic_usage` has them) when known ahead, else zeros; output 0 either way, as the answer
    has not begun."""
    if ahead is None:
        return {"input_tokens": 0, "output_tokens": 0}
    read, written = ahead.cached_tokens, ahead.cache_write_tokens
    return {
        "input_tokens": max(ahead.input_tokens - read - written, 0),
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": read,
        "output_tokens": 0,
    }
