"""Chat completion chunks in, the Responses API's typed stream events out, chunk by chunk.

Events: https://platform.openai.com/docs/api-reference/responses-streaming — `response.created`
and `response.in_progress`; per output item `response.output_item.added`, its content
(`response.content_part.added`, `response.output_text.delta`…, `.done`s) or its arguments
(`response.function_call_arguments.delta`…, `.done`) and `response.output_item.done`; last
`response.completed` (or `response.incomplete`, cut by max_output_tokens) with the whole response
and its usage. Every event carries a `sequence_number`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sluicegate.ingress.base import ChatStreamRendering, int_or_zero, mapping
from sluicegate.ingress.output_logprobs import output_logprobs
from sluicegate.ingress.reasoning_items import sealed, thought_text
from sluicegate.providers.sse import sse_data

# Why a response stopped short: https://platform.openai.com/docs/api-reference/responses/object
_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def responses_usage(usage: Any) -> dict[str, Any] | None:
    """A chat usage object as the Responses API's (the same counts, named otherwise)."""
    if not isinstance(usage, Mapping) or not isinstance(usage.get("prompt_tokens"), int):
        return None
    details = mapping(usage.get("prompt_tokens_details"))
    input_details = {
        "cached_tokens": int_or_zero(details.get("cached_tokens")),
        "cache_write_tokens": int_or_zero(details.get("cache_write_tokens")),
    }
    reasoning = int_or_zero(mapping(usage.get("completion_tokens_details")).get("reasoning_tokens"))
    output = int_or_zero(usage.get("completion_tokens"))
    return {
        "input_tokens": usage["prompt_tokens"],
        "input_tokens_details": input_details,
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": usage["prompt_tokens"] + output,
    }


def response_object(
    asked: Mapping[str, Any],
    head: Mapping[str, Any],
    output: list[dict[str, Any]],
    usage: Any,
    finish: str,
    completed_at: int | None = None,
) -> dict[str, Any]:
    """The Response object: `head` (id, created_at, model), what the request asked echoed back, and
    the status that `finish` (chat's finish_reason, "" while in progress) means; `completed_at`,
    when it is done, said only of a completed one, as OpenAI's."""
    incomplete = _INCOMPLETE.get(finish)
    status = "in_progress" if not finish else "incomplete" if incomplete else "completed"
    return {
        **head,
        "completed_at": completed_at if status == "completed" else None,
        "object": "response",
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": asked.get("instructions"),
        "max_output_tokens": asked.get("max_output_tokens"),
        "max_tool_calls": asked.get("max_tool_calls"),
        "metadata": asked.get("metadata") or {},
        "output": output,
        "parallel_tool_calls": asked.get("parallel_tool_calls", True),
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        # Whether the gateway keeps the output items, which pipeline/ingress.py writes in `asked`;
        # it keeps no responses to read back (`previous_response_id`).
        "store": asked.get("store") is True,
        "temperature": asked.get("temperature"),
        "text": asked.get("text") or {"format": {"type": "text"}},
        "tool_choice": asked.get("tool_choice", "auto"),
        "tools": asked.get("tools") or [],
        "top_logprobs": asked.get("top_logprobs"),
        "top_p": asked.get("top_p"),
        "truncation": "disabled",
        "usage": responses_usage(usage) if finish else None,
        "user": asked.get("user"),
    }


def reasoning_item(
    item_id: str, summary: str, status: str = "completed", blocks: Any = None
) -> dict[str, Any]:
    """A chat answer's `reasoning_content` (a provider's thinking) as a reasoning item: its summary
    text, and its signed `thinking_blocks` as `encrypted_content` (reasoning_items.py), which
    bring Claude's thinking back when the client sends the item again."""
    summary_parts = [{"type": "summary_text", "text": summary}] if summary else []
    item = {"type": "reasoning", "id": item_id, "summary": summary_parts, "status": status}
    if (content := sealed(blocks)) is not None:
        item["encrypted_content"] = content
    return item


def created_at(created: Any, clock: Callable[[], float]) -> int:
    """Chat's `created` (Unix seconds) when it says one, else the time now: a Response that says
    0 is shown as created in 1970 (the Vercel AI SDK's `response.timestamp`)."""
    if isinstance(created, int) and not isinstance(created, bool) and created > 0:
        return created
    return int(clock())


@dataclass
class _Item:
    """An output item being streamed: a message's text, or a function call's arguments."""

    index: int
    body: dict[str, Any]
    text: list[str] = field(default_factory=list)
    logprobs: list[dict[str, Any]] = field(default_factory=list)  # a message's, when asked for
    blocks: list[Any] = field(default_factory=list)  # a reasoning item's thinking_blocks


class ResponsesStream(ChatStreamRendering):
    """One streamed answer; items are numbered in the order they open, and one closes when the next
    opens. A function call's item stays open for its argument pieces; a call that begins while
    another's item is open is held back and written whole, in order, at the end: chat may interleave
    parallel calls (index 0 begins, index 1 begins, then 0's arguments, then 1's), and a piece must
    never follow its item's `output_item.done` (the SDKs take the call's arguments there)."""

    def __init__(self, asked: Mapping[str, Any], clock: Callable[[], float], ids: Callable[[], str]) -> None:
        """`clock`: read once for the time the Response says it was created when chat's chunks say
        none, and once at its end for `completed_at`; `ids`: the random part of each id."""
        super().__init__()
        self._asked = asked
        self._clock = clock
        self._ids = ids
        self._sequence = 0
        self._head: dict[str, Any] | None = None
        self._items: list[_Item] = []
        self._open: _Item | None = None
        self._message: _Item | None = None  # the message being written, while it is the open item
        self._calls: dict[int, _Item] = {}  # chat tool_calls index -> its item
        self._held: dict[int, _Item] = {}  # calls begun while another's item was open (not numbered)
        self._finish = "stop"
        self._usage: Any = None

    def _cut_short(self, reason: str) -> bytes:
        return self._start({}) + self._failed(reason, "server_error")

    def _finished(self) -> bytes:
        out = self._start({}) + self._close_item() + b"".join(map(self._held_call, self._held.values()))
        items = [item.body for item in self._items]
        response = response_object(
            self._asked, self._head or {}, items, self._usage, self._finish, int(self._clock())
        )
        kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        return out + self._event(kind, {"response": response})

    def _failed(self, message: str, code: str) -> bytes:
        """The end of a chat stream cut short (no `[DONE]`) or ended by the provider's error event:
        `response.failed`, as OpenAI ends a response that fails mid-way, its items as far as they
        came. The error is also at the event's top level, where the openai SDKs look for one in any
        event and raise it (a Response's own `error` they leave to the caller, and the Responses
        API's `error` event, which has none there, they pass on: `get_final_response` would only say
        no `response.completed` came). `unfinished` says why, for the log record: the rendered
        stream holds no error event the log stage would read."""
        self._unfinished = message
        error = {"code": code, "message": message}
        if (item := self._open) is not None:  # written so far, never done
            text = "".join(item.text)
            kind = item.body["type"]
            key, value = (
                ("content", [_text_part(text)])
                if kind == "message"
                else ("summary", [_summary_part(text)])
                if kind == "reasoning"
                else ("arguments", text)
            )
            item.body.update({key: value, "status": "incomplete"})
        held = [
            {**call.body, "arguments": "".join(call.text), "status": "incomplete"}
            for call in self._held.values()
        ]
        response = self._response([item.body for item in self._items] + held, "stop")
        return self._event(
            "response.failed", {"response": {**response, "status": "failed", "error": error}, "error": error}
        )

    def _render(self, chunk: dict[str, Any]) -> bytes:
        if self._ended:
            return b""
        if "error" in chunk:  # the provider's error inside the stream ends it, as a failed response
            self._ended = True
            error = mapping(chunk.get("error"))
            message = error.get("message")
            message = message if isinstance(message, str) else "the provider failed"
            limited = "rate_limit" in f"{error.get('type')} {error.get('code')}"
            code = "rate_limit_exceeded" if limited else "server_error"  # the Responses API's codes
            return self._start(chunk) + self._failed(message, code)
        out = [self._start(chunk)]
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            choice = mapping(choice)
            if choice.get("index", 0) != 0:
                continue  # a response has one output: the first choice is it
            delta = mapping(choice.get("delta"))
            if thought := thought_text(delta):
                out.append(self._reasoning(thought))
            if isinstance(blocks := delta.get("thinking_blocks"), list) and blocks:
                out.append(self._open_reasoning())
                self._items[-1].blocks += blocks
            for key in ("content", "refusal"):
                if isinstance(text := delta.get(key), str) and text:
                    out.append(self._text(text, output_logprobs(choice.get("logprobs"))))
            for call in delta.get("tool_calls") or ():
                out.append(self._tool_call(mapping(call)))
            if isinstance(finish := choice.get("finish_reason"), str):
                self._finish = finish
        return b"".join(out)

    def _start(self, chunk: Mapping[str, Any]) -> bytes:
        if self._head is not None:
            return b""
        self._head = {
            "id": f"resp_{self._ids()}",
            "created_at": created_at(chunk.get("created"), self._clock),
            "model": chunk.get("model") or self._asked.get("model"),
        }
        started = {"response": self._response([], "")}
        return self._event("response.created", started) + self._event("response.in_progress", started)

    def _text(self, text: str, logprobs: list[dict[str, Any]]) -> bytes:
        out = b""
        if self._message is None:
            body = {
                "id": f"msg_{self._ids()}",
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
            out = self._open_item(body)
            self._message = self._items[-1]
            part = _text_part("")
            out += self._event("response.content_part.added", {**self._at(self._message), "part": part})
        self._message.text.append(text)
        self._message.logprobs += logprobs
        return out + self._event(
            "response.output_text.delta", {**self._at(self._message), "delta": text, "logprobs": logprobs}
        )

    def _open_reasoning(self) -> bytes:
        """A reasoning item opened, unless it is the open item."""
        if self._open is not None and self._open.body["type"] == "reasoning":
            return b""
        out = self._open_item(reasoning_item(f"rs_{self._ids()}", "", "in_progress"))
        added = {**self._at(self._items[-1]), "summary_index": 0, "part": _summary_part("")}
        del added["content_index"]
        return out + self._event("response.reasoning_summary_part.added", added)

    def _reasoning(self, text: str) -> bytes:
        """A piece of the provider's thinking: the summary text of a reasoning item (opened first)."""
        out = self._open_reasoning()
        item = self._items[-1]
        item.text.append(text)
        delta = {"item_id": item.body["id"], "output_index": item.index, "summary_index": 0, "delta": text}
        return out + self._event("response.reasoning_summary_text.delta", delta)

    def _tool_call(self, call: Mapping[str, Any]) -> bytes:
        position = int_or_zero(call.get("index"))
        function = mapping(call.get("function"))
        arguments = function.get("arguments")
        piece = arguments if isinstance(arguments, str) else ""
        if position in self._held:
            self._held[position].text.append(piece)
            return b""
        out = b""
        if position not in self._calls:
            call_id = str(call.get("id") or f"call_{position}")
            body = {
                "id": f"fc_{self._ids()}",
                "type": "function_call",
                "status": "in_progress",
                "call_id": call_id,
                "name": function.get("name"),
                "arguments": "",
            }
            if self._open is not None and self._open.body["type"] == "function_call":
                self._held[position] = _Item(-1, body, [piece])  # another call's item is open
                return b""
            out = self._open_item(body)
            self._calls[position] = self._items[-1]
        item = self._calls[position]
        if piece:
            item.text.append(piece)
            out += self._arguments(item, piece)
        return out

    def _held_call(self, held: _Item) -> bytes:
        """A call held back, written whole: its item, its arguments in one piece, its done."""
        out = self._open_item(held.body)
        item = self._items[-1]
        if arguments := "".join(held.text):
            item.text.append(arguments)
            out += self._arguments(item, arguments)
        return out + self._close_item()

    def _arguments(self, item: _Item, piece: str) -> bytes:
        event = {"item_id": item.body["id"], "output_index": item.index, "delta": piece}
        return self._event("response.function_call_arguments.delta", event)

    def _open_item(self, body: dict[str, Any]) -> bytes:
        out = self._close_item()
        self._open = _Item(len(self._items), body)
        self._items.append(self._open)
        added = {"output_index": self._open.index, "item": dict(body)}
        return out + self._event("response.output_item.added", added)

    def _close_item(self) -> bytes:
        item, self._open, self._message = self._open, None, None
        if item is None:
            return b""
        text = "".join(item.text)
        out = b""
        if item.body["type"] == "message":
            part = _text_part(text, item.logprobs)
            done = {**self._at(item), "text": text, "logprobs": item.logprobs}
            out += self._event("response.output_text.done", done)
            out += self._event("response.content_part.done", {**self._at(item), "part": part})
            item.body["content"] = [part]
        elif item.body["type"] == "reasoning":
            at = {"item_id": item.body["id"], "output_index": item.index, "summary_index": 0}
            out += self._event("response.reasoning_summary_text.done", {**at, "text": text})
            out += self._event("response.reasoning_summary_part.done", {**at, "part": _summary_part(text)})
            item.body["summary"] = [_summary_part(text)]
            if (content := sealed(item.blocks)) is not None:
                item.body["encrypted_content"] = content
        else:
            item.body["arguments"] = text
            done = {"item_id": item.body["id"], "output_index": item.index, "arguments": text}
            out += self._event("response.function_call_arguments.done", {**done, "name": item.body["name"]})
        item.body["status"] = "completed"
        return out + self._event("response.output_item.done", {"output_index": item.index, "item": item.body})

    def _at(self, item: _Item) -> dict[str, Any]:
        return {"item_id": item.body["id"], "output_index": item.index, "content_index": 0}

    def _response(self, output: list[dict[str, Any]], finish: str) -> dict[str, Any]:
        return response_object(self._asked, self._head or {}, output, self._usage, finish)

    def _event(self, kind: str, payload: Mapping[str, Any]) -> bytes:
        event = {"type": kind, "sequence_number": self._sequence, **payload}
        self._sequence += 1
        return sse_data(event, kind)


def _summary_part(text: str) -> dict[str, Any]:
    return {"type": "summary_text", "text": text}


def _text_part(text: str, logprobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs or []}
