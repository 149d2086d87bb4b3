"""OpenAI chat completions to Workers AI's native text generation and back.

OpenAI's side: https://platform.openai.com/docs/api-reference/chat; Workers AI's: a model's input
schema (https://developers.cloudflare.com/workers-ai/models/llama-3.1-8b-instruct/: `messages` of
role and string content, `max_tokens`, `temperature`, `top_p`, `seed`, penalties, `tools`,
`response_format`, `stream`) and its answer, `{"result": {"response", "tool_calls", "usage"}}`
(https://developers.cloudflare.com/workers-ai/features/function-calling/traditional/). What Workers AI
cannot do (stop sequences, n > 1, logprobs, images, forced tool choice, streamed JSON mode, token
biases) is refused with a `TranslationError` naming the field; a field at a value that changes
nothing (`logit_bias: {}`) is taken (compat/fields.py).

Its messages carry a role and a string only, so an assistant's tool calls are written as the JSON
list the model itself answers with (`[{"name", "arguments"}]`), and a tool's answer names its tool.
Workers AI answers carry no id nor timestamp: the answer's id is made from its bytes, and `created`
is read from the translator's `clock` when the answer (or the stream) is translated, one value for
every chunk of a stream. Each tool call gets an id of its own, random as OpenAI's are (`call_ids`):
native calls have none, and newer models' ids repeat from one answer to the next
(`chatcmpl-tool-…` counting from the call's index), so a client keeping a conversation's calls by
id would mix them up. A cached answer replays the ids it was stored with.

A stream ends with `data: [DONE]`
(https://developers.cloudflare.com/workers-ai/models/llama-3.1-8b-instruct/, "Using streaming"): one
whose body closes before it is unfinished, as Anthropic's without `message_stop`, and ends in
OpenAI's in-stream error (compat/base.py `StreamTranslator.close`). Its tool calls come as OpenAI's
streamed ones do, keyed by `index`: a call's first event has its id and name (and maybe a first
piece of its arguments), later ones with its index more of its arguments, and an event of nulls
closes it (as Cloudflare's own AI SDK provider reads them: github.com/cloudflare/ai,
packages/workers-ai-provider/src/streaming.ts); older models send each call whole, `{name,
arguments}`, without an index.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import orjson

from sluicegate.compat.base import NativeRequest, TranslationError, broke_off, ended_early, openai_usage
from sluicegate.providers.sse import SseParser, sse_data
from sluicegate.providers.workers_ai.adapter import usage_from
from sluicegate.providers.workers_ai.compat_request import as_mapping, native_body
from sluicegate.types import Usage

_STATUS_ERROR_TYPES: Final[Mapping[int, str]] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


@dataclass(frozen=True, slots=True)
class WorkersAITranslator:
    """The `compat.base.Translator` for Workers AI's native `run` endpoint; `clock` gives the
    answers' `created` time."""

    clock: Callable[[], float] = time.time
    call_ids: Callable[[], str] = field(default=lambda: new_call_id())

    def request(self, payload: dict[str, Any], model: str) -> NativeRequest:
        return NativeRequest(path=quote(model, safe="/@"), body=orjson.dumps(native_body(payload)))

    def response(self, body: bytes, model: str) -> bytes:
        result = as_mapping(as_mapping(_json_object(body)).get("result"))
        if not result:
            raise TranslationError("response: not a Workers AI answer")
        if isinstance(result.get("choices"), list):  # newer models answer OpenAI-shaped here too
            choice = as_mapping(result["choices"][0] if result["choices"] else None)
            message = as_mapping(choice.get("message"))
            content, calls = message.get("content"), list(message.get("tool_calls") or ())
            finish = choice.get("finish_reason")
        else:
            content, calls, finish = _text(result.get("response")), _native_calls(result), None
        calls = [{"id": self.call_ids(), **_without_id(call)} for call in calls]
        reply: dict[str, Any] = {"role": "assistant", "content": content or "", "refusal": None}
        if calls:
            reply["content"] = content or None
            reply["tool_calls"] = calls
        finish = "tool_calls" if calls else finish if isinstance(finish, str) else "stop"
        answer: dict[str, Any] = {
            "id": _id(body),
            "object": "chat.completion",
            "created": int(self.clock()),
            "model": model,
            "choices": [{"index": 0, "message": reply, "logprobs": None, "finish_reason": finish}],
        }
        if (usage := usage_from(result.get("usage"))) is not None:
            answer["usage"] = openai_usage(usage)
        return orjson.dumps(answer)

    def error(self, status: int, body: bytes) -> bytes:
        return orjson.dumps({"error": _openai_error(status, body)})

    def stream(self, model: str, include_usage: bool) -> WorkersAIStream:
        return WorkersAIStream(model, include_usage, created=int(self.clock()), call_ids=self.call_ids)


class WorkersAIStream:
    """Workers AI's SSE events in, `chat.completion.chunk` events out, one event at a time.

    `{"response": text}` events become content deltas and `tool_calls` lists tool-call deltas
    (a call's first event begins it, later ones of its `index` add to its arguments); newer models'
    OpenAI-shaped chunks are passed on as deltas. The cumulative usage event (the last one with
    `usage`) becomes the usage chunk when the request asked for it; the finish chunk goes out when
    the native stream says `[DONE]`. A stream that closes without `[DONE]` is unfinished: it ends
    with no finish chunk, usage chunk nor `[DONE]`, but OpenAI's in-stream error, so no cache stores
    it and the client's API shows it as failed (`StreamTranslator.close`).
    """

    def __init__(
        self, model: str, include_usage: bool, created: int, call_ids: Callable[[], str] | None = None
    ) -> None:
        self._model = model
        self._call_ids = call_ids or new_call_id
        self._ids: dict[int, str] = {}  # chat tool_calls index -> the id it was given
        self._include_usage = include_usage
        self._created = created
        self._events = SseParser()
        self._id = ""
        self._started = False  # the first chunk carries the role
        self._tool_calls = 0
        self._native_indexes: dict[int, int] = {}  # a native call's `index` -> its chat index
        self._argued: set[int] = set()  # chat indexes of native calls whose arguments came
        self._finish: str | None = None  # from an OpenAI-shaped chunk
        self._usage: Usage | None = None  # native, cumulative
        self._chunk_usage: Usage | None = None  # from OpenAI-shaped chunks, used if no native one
        self._ended = False  # `[DONE]` came: the stream finished

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._dispatch(event.data) for event in self._events.feed(chunk))

    def close(self) -> bytes:
        # An event the upstream did not end with a blank line still counts, if it is whole.
        out = b"".join(self._dispatch(event.data) for event in self._events.close())
        if (reason := self.unfinished()) is not None:
            return out + broke_off(reason)
        return out + b"data: [DONE]\n\n"

    def usage(self) -> Usage | None:
        return self._usage or self._chunk_usage

    def unfinished(self) -> str | None:
        return None if self._ended else ended_early("[DONE]")

    def _dispatch(self, data: bytes | None) -> bytes:
        # comments, `event:` and `id:` say nothing Workers AI uses
        if not data:
            return b""
        if data == b"[DONE]":
            return self._end()
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            return b""
        if not isinstance(event, dict) or self._ended:
            return b""
        if not self._id:
            self._id = str(event.get("id") or _id(data))
        return self._translate(event)

    def _translate(self, event: dict[str, Any]) -> bytes:
        usage = usage_from(event.get("usage"))
        if isinstance(event.get("choices"), list):
            self._chunk_usage = usage or self._chunk_usage  # incremental: only a fallback
            return b"".join(self._openai_choice(as_mapping(choice)) for choice in event["choices"][:1])
        self._usage = usage or self._usage
        out = []
        if text := _text(event.get("response")):
            out.append(self._chunk({"content": text}))
        calls = event.get("tool_calls")
        for raw in calls if isinstance(calls, list) else ():
            if (delta := self._native_call(as_mapping(raw))) is not None:
                out.append(self._chunk({"tool_calls": [delta]}))
        return b"".join(out)

    def _native_call(self, call: Mapping[str, Any]) -> dict[str, Any] | None:
        """The chat tool-call delta of one native `tool_calls` entry: a call that begins (whole, in
        older models' form), more arguments of one begun (its `index` seen before), or None."""
        name, arguments = _name_and_arguments(call)
        at = call.get("index")
        at = at if isinstance(at, int) and not isinstance(at, bool) else None
        if at is not None and at in self._native_indexes:
            index = self._native_indexes[at]
            if not arguments:
                return None
            self._argued.add(index)
            return {"index": index, "function": {"arguments": arguments}}
        if not isinstance(name, str) or not name:
            return None  # the nulls that close a call, or what names no function
        index, self._tool_calls = self._tool_calls, self._tool_calls + 1
        if at is not None:
            self._native_indexes[at] = index
        elif not arguments:
            arguments = "{}"  # a whole call without arguments
        if arguments:
            self._argued.add(index)
        spec = {"name": name, "arguments": arguments or ""}
        return {"index": index, "id": self._call_id(index), "type": "function", "function": spec}

    def _call_id(self, index: int) -> str:
        """The id of call `index`: its own, the same in each of its deltas that names one."""
        return self._ids.setdefault(index, self._call_ids())

    def _openai_choice(self, choice: Mapping[str, Any]) -> bytes:
        delta = as_mapping(choice.get("delta"))
        if isinstance(choice.get("finish_reason"), str):
            self._finish = choice["finish_reason"]
        out = []
        if isinstance(content := delta.get("content"), str) and content:
            out.append(self._chunk({"content": content}))
        if isinstance(calls := delta.get("tool_calls"), list) and calls:
            self._tool_calls = max(self._tool_calls, 1 + max(_int(as_mapping(c).get("index")) for c in calls))
            calls = [
                {**call, "id": self._call_id(_int(call.get("index")))} if call.get("id") else call
                for call in map(as_mapping, calls)
            ]
            out.append(self._chunk({"tool_calls": calls}))
        return b"".join(out)

    def _end(self) -> bytes:
        """The finish chunk, then the usage chunk if asked for; once."""
        if self._ended:
            return b""
        self._ended = True
        # A native call whose arguments never came had none: `{}`, as a whole one without them.
        out = [
            self._chunk({"tool_calls": [{"index": index, "function": {"arguments": "{}"}}]})
            for index in self._native_indexes.values()
            if index not in self._argued
        ]
        finish = "tool_calls" if self._tool_calls else self._finish or "stop"
        out.append(self._chunk({}, finish))
        usage = self._usage or self._chunk_usage
        if self._include_usage and usage is not None:
            out.append(sse_data({**self._head(), "choices": [], "usage": openai_usage(usage)}))
        return b"".join(out)

    def _head(self) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
        }

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        if not self._started:
            self._started = True
            delta = {"role": "assistant", **delta}
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        # As OpenAI does: once include_usage is asked, every chunk has `usage`, null until the last.
        usage = {"usage": None} if self._include_usage else {}
        return sse_data({**self._head(), "choices": [choice], **usage})


def new_call_id() -> str:
    """A tool call's id, random as OpenAI's are (`call_` and 24 hex digits)."""
    return "call_" + secrets.token_hex(12)


def _without_id(call: Any) -> dict[str, Any]:
    return {key: value for key, value in as_mapping(call).items() if key != "id"}


def _name_and_arguments(call: Mapping[str, Any]) -> tuple[Any, str | None]:
    """A native `tool_calls` entry's function name and its arguments as JSON text (None: none came),
    in either form (`{name, arguments}`, or OpenAI's `{id, function}` on newer models)."""
    function = as_mapping(call.get("function")) or call
    name, arguments = function.get("name"), function.get("arguments")
    if arguments is not None and not isinstance(arguments, str):
        arguments = orjson.dumps(arguments).decode()
    return name, arguments


def _native_calls(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Workers AI's `tool_calls` (`{name, arguments}`, or OpenAI's `{id, function}` on newer models)."""
    calls = result.get("tool_calls")
    translated: list[dict[str, Any]] = []
    for raw in calls if isinstance(calls, list) else ():
        call = as_mapping(raw)
        name, arguments = _name_and_arguments(call)
        if not isinstance(name, str):
            continue
        arguments = "{}" if arguments is None else arguments
        spec = {"name": name, "arguments": arguments}
        translated.append({"type": "function", "function": spec})  # its id: the translator's
    return translated


def _text(response: Any) -> str:
    if isinstance(response, str):
        return response
    # JSON mode answers with the object itself.
    return orjson.dumps(response).decode() if isinstance(response, dict | list) else ""


def _openai_error(status: int, body: bytes) -> dict[str, Any]:
    """Cloudflare's `{"errors": [{"code", "message"}], "success": false}` as OpenAI's error object,
    `code` the first Workers AI code (https://developers.cloudflare.com/workers-ai/platform/errors/)."""
    document = _json_object(body) or {}
    errors = [as_mapping(e) for e in document.get("errors") or () if isinstance(e, dict)]
    messages = [e["message"] for e in errors if isinstance(e.get("message"), str)]
    message = (
        "; ".join(messages)
        or body.decode("utf-8", "replace").strip()[:2000]
        or f"Workers AI answered HTTP {status}"
    )
    code = errors[0].get("code") if errors else None
    kind = _STATUS_ERROR_TYPES.get(status) or ("server_error" if status >= 500 else "invalid_request_error")
    return {"message": message, "type": kind, "param": None, "code": None if code is None else str(code)}


def _id(data: bytes) -> str:
    return "chatcmpl-" + _digest(data)[:24]


def _digest(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


WORKERS_AI_TRANSLATOR = WorkersAITranslator()
