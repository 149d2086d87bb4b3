"""OpenAI chat completions to Google AI Studio's generateContent, and back.

Request: https://ai.google.dev/api/generate-content#request-body — system messages become
`systemInstruction`, the other turns `contents` with roles `user`/`model`, tools `functionDeclarations`,
sampling options `generationConfig`. Answer: https://ai.google.dev/api/generate-content#v1beta.GenerateContentResponse
— candidates (`n` asks for several: candidateCount) become choices, each with its own
finish reason and, when asked, its `logprobsResult` as `logprobs` (compat_logprobs.py), and its
thought summaries (`includeThoughts`: compat_thinking.py) as `reasoning_content`, as DeepSeek's and
vLLM's servers name a model's thinking; `usageMetadata` the usage. A call of `ANSWER_FUNCTION` (a response
format beside tools, compat_request.py) is the answer: its arguments, as JSON text, are the message's
`content` and it is no tool call. A stream (`?alt=sse`) is one
GenerateContentResponse per SSE event, each turned into chat.completion.chunk events as it arrives.

`created` is Vertex's `createTime`; AI Studio's answers carry no time, so it is read from the
translator's `clock` when the answer (or the stream) is translated, one value for every chunk of a
stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote

import orjson

from sluicegate.compat.base import (
    NativeRequest,
    StreamTranslator,
    TranslationError,
    answered_model,
    broke_off,
    ended_early,
    openai_usage,
)
from sluicegate.providers.gemini.adapter import usage as gemini_usage
from sluicegate.providers.gemini.compat_logprobs import choice_logprobs
from sluicegate.providers.gemini.compat_request import ANSWER_FUNCTION, native_body
from sluicegate.providers.sse import SseParser, sse_data
from sluicegate.types import Usage

API_VERSION: Final = "v1beta"
# https://ai.google.dev/api/generate-content#FinishReason; anything else (OTHER, LANGUAGE, ...) is "stop".
FINISH_REASONS: Final = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}
ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


@dataclass(frozen=True, slots=True)
class GoogleAIStudioTranslator:
    """The `Translator` for `google-ai-studio/{model}`; `clock` gives the `created` time of answers
    that carry none."""

    clock: Callable[[], float] = time.time

    def request(self, payload: dict[str, Any], model: str) -> NativeRequest:
        body = native_body(payload, model)
        stream = payload.get("stream") is True
        method = "streamGenerateContent" if stream else "generateContent"
        return NativeRequest(
            path=f"{API_VERSION}/{_model_path(model)}:{method}",
            body=orjson.dumps(body),
            query="alt=sse" if stream else "",
        )

    def response(self, body: bytes, model: str) -> bytes:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise TranslationError(f"the upstream answer is not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise TranslationError("the upstream answer is not a JSON object")
        choices = [_choice(candidate, n, document) for n, candidate in enumerate(_candidates(document))]
        completion: dict[str, Any] = {
            "id": _completion_id(document),
            "object": "chat.completion",
            "created": _created(document) or int(self.clock()),
            "model": answered_model(document, "modelVersion", model),
            "choices": choices or [_blocked_choice(document)],
        }
        if (usage := gemini_usage(document.get("usageMetadata"))) is not None:
            completion["usage"] = openai_usage(usage)
        return orjson.dumps(completion)

    def error(self, status: int, body: bytes) -> bytes:
        return orjson.dumps({"error": _openai_error(status, body)})

    def stream(self, model: str, include_usage: bool) -> StreamTranslator:
        return GeminiChunkStream(model, include_usage, created=int(self.clock()))


class GeminiChunkStream:
    """Gemini SSE (any line ends, split anywhere) to chat.completion.chunk SSE, event by event;
    `created` is the stream's time unless its first response says its own (Vertex's createTime).
    A stream that ends before each candidate said its finishReason (or the prompt was blocked)
    is unfinished: no usage chunk and no `[DONE]`, but OpenAI's in-stream error
    (`StreamTranslator.close`)."""

    def __init__(self, model: str, include_usage: bool, created: int) -> None:
        self._model = model
        self._include_usage = include_usage
        self._events = SseParser()
        self._id = ""
        self._created = created
        self._started: set[int] = set()  # choices whose role was sent
        self._calls: dict[int, int] = {}  # choice -> tool calls sent
        self._usage: Usage | None = None
        self._finished: set[int] = set()  # choices whose finishReason came
        self._ended = False  # an error event, or a blocked prompt, ended the stream

    def feed(self, chunk: bytes) -> bytes:
        return b"".join(self._dispatch(event.data) for event in self._events.feed(chunk))

    def close(self) -> bytes:
        # A last event the upstream did not close with a blank line still counts.
        out = b"".join(self._dispatch(event.data) for event in self._events.close())
        if (reason := self.unfinished()) is not None:
            return out + broke_off(reason)
        if self._include_usage and self._usage is not None:
            out += sse_data(self._chunk([], usage=openai_usage(self._usage)))
        return out + b"data: [DONE]\n\n"

    def unfinished(self) -> str | None:
        if self._ended or (self._started and self._started <= self._finished):
            return None
        return ended_early("finishReason")

    def usage(self) -> Usage | None:
        return self._usage

    def _dispatch(self, data: bytes | None) -> bytes:
        if data is None:
            return b""  # comments or other fields only
        try:
            response = orjson.loads(data)
        except orjson.JSONDecodeError:
            return b""
        if not isinstance(response, dict):
            return b""
        if "error" in response:
            self._ended = True
            return sse_data({"error": _openai_error(None, data)})
        return b"".join(sse_data(chunk) for chunk in self._translate(response))

    def _translate(self, response: dict[str, Any]) -> list[dict[str, Any]]:
        if not self._id:
            self._id, self._created = _completion_id(response), _created(response) or self._created
            self._model = answered_model(response, "modelVersion", self._model)
        self._usage = gemini_usage(response.get("usageMetadata")) or self._usage
        chunks = []
        for position, candidate in enumerate(_candidates(response)):
            index = _index(candidate, position)
            delta: dict[str, Any] = {}
            if index not in self._started:
                self._started.add(index)
                delta["role"] = "assistant"
            if thought := _text(candidate, thought=True):
                delta["reasoning_content"] = thought
            if text := _text(candidate):
                delta["content"] = text
            if calls := _tool_calls(candidate, response, first=self._calls.get(index, 0)):
                self._calls[index] = self._calls.get(index, 0) + len(calls)
                delta["tool_calls"] = calls
            logprobs = choice_logprobs(candidate)
            if delta or logprobs:
                choice = {"index": index, "delta": delta, "finish_reason": None}
                if logprobs is not None:
                    choice["logprobs"] = logprobs
                chunks.append(self._chunk([choice]))
            if reason := candidate.get("finishReason"):
                self._finished.add(index)
                finish = _finish_reason(reason, bool(self._calls.get(index)))
                chunks.append(self._chunk([{"index": index, "delta": {}, "finish_reason": finish}]))
        if not chunks and (response.get("promptFeedback") or {}).get("blockReason"):
            choice = {"index": 0, "delta": {"role": "assistant"}, "finish_reason": "content_filter"}
            chunks.append(self._chunk([choice]))
            self._ended = True
        return chunks

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self._id or "chatcmpl-gemini",
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
            "choices": choices,
        }
        if self._include_usage:
            chunk["usage"] = usage  # null on every chunk but the last, as OpenAI sends it
        return chunk


def _model_path(model: str) -> str:
    collection, slash, name = model.partition("/")
    if not slash or collection not in ("models", "tunedModels"):
        collection, name = "models", model
    return f"{collection}/{quote(name, safe='-._~')}"


def _candidates(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in response.get("candidates") or () if isinstance(c, dict)]


def _content_parts(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    return [p for p in parts or () if isinstance(p, dict)]


def _text(candidate: dict[str, Any], thought: bool = False) -> str:
    """The candidate's answer text, or (`thought`) its thought summaries (`thought: true` parts,
    which Gemini sends when asked: `includeThoughts`), chat's `reasoning_content`."""
    texts = []
    for part in _content_parts(candidate):
        if isinstance(part.get("text"), str) and bool(part.get("thought")) == thought:
            texts.append(part["text"])
        elif _is_answer(part) and not thought:
            texts.append(orjson.dumps(part["functionCall"].get("args") or {}).decode())
    return "".join(texts)


def _is_answer(part: dict[str, Any]) -> bool:
    call = part.get("functionCall")
    return isinstance(call, dict) and call.get("name") == ANSWER_FUNCTION


def _answered(candidate: dict[str, Any]) -> bool:
    return any(_is_answer(part) for part in _content_parts(candidate))


def _tool_calls(candidate: dict[str, Any], response: dict[str, Any], first: int = 0) -> list[dict[str, Any]]:
    parts = [
        p for p in _content_parts(candidate) if isinstance(p.get("functionCall"), dict) and not _is_answer(p)
    ]
    prefix = f"call_{response.get('responseId') or 'gemini'}"
    calls = []
    for k, part in enumerate(parts):
        call = part["functionCall"]
        tool_call: dict[str, Any] = {
            "index": first + k,
            "id": call.get("id") or f"{prefix}_{_index(candidate, 0)}_{first + k}",
            "type": "function",
            "function": {
                "name": call.get("name", ""),
                "arguments": orjson.dumps(call.get("args") or {}).decode(),
            },
        }
        if isinstance(signature := part.get("thoughtSignature"), str):
            # Gemini 3 refuses a function call sent back without its signature; Google's own
            # OpenAI compatibility carries it here, where the OpenAI SDKs keep it for the next turn.
            tool_call["extra_content"] = {"google": {"thought_signature": signature}}
        calls.append(tool_call)
    return calls


def _choice(candidate: dict[str, Any], position: int, response: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": _text(candidate) or None}
    if thought := _text(candidate, thought=True):
        message["reasoning_content"] = thought
    calls = _tool_calls(candidate, response)
    if calls:
        message["tool_calls"] = [
            {key: value for key, value in call.items() if key != "index"} for call in calls
        ]
    return {
        "index": _index(candidate, position),
        "message": message,
        "logprobs": choice_logprobs(candidate),
        "finish_reason": _finish_reason(candidate.get("finishReason"), bool(calls)),
    }


def _blocked_choice(response: dict[str, Any]) -> dict[str, Any]:
    """No candidates: the prompt itself was blocked (https://ai.google.dev/api/generate-content#PromptFeedback)."""
    blocked = bool((response.get("promptFeedback") or {}).get("blockReason"))
    return {
        "index": 0,
        "message": {"role": "assistant", "content": None},
        "logprobs": None,
        "finish_reason": "content_filter" if blocked else "stop",
    }


def _finish_reason(reason: Any, called: bool) -> str:
    finish = FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"
    return "tool_calls" if called and finish == "stop" else finish


def _index(candidate: dict[str, Any], position: int) -> int:
    index = candidate.get("index")
    return index if isinstance(index, int) else position


def _completion_id(response: dict[str, Any]) -> str:
    response_id = response.get("responseId")
    return f"chatcmpl-{response_id}" if isinstance(response_id, str) else "chatcmpl-gemini"


def _created(response: dict[str, Any]) -> int | None:
    """Vertex's `createTime` as Unix time; None without one (AI Studio stamps nothing)."""
    stamp = response.get("createTime")
    if not isinstance(stamp, str):
        return None
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())
    except ValueError:
        return None


def _openai_error(status: int | None, body: bytes) -> dict[str, Any]:
    """Google's `{"error": {"code", "message", "status"}}` (or a one-element array of it) in OpenAI's
    shape; `status` None (an error inside a stream) means the one in the body."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, list) and document:
        document = document[0]
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        message, code = error["message"], error.get("status")
        if status is None and isinstance(error.get("code"), int):
            status = error["code"]
    else:
        message, code = body.decode("utf-8", "replace")[:2000] or f"upstream answered {status}", None
    status = 500 if status is None else status
    return {
        "message": message,
        "type": ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error"),
        "param": None,
        "code": code.lower() if isinstance(code, str) else None,
    }


GOOGLE_AI_STUDIO_TRANSLATOR = GoogleAIStudioTranslator()
