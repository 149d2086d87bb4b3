"""Chat answers in, Gemini `GenerateContentResponse`s out: whole (`gemini_response`) or as a
`streamGenerateContent?alt=sse` stream, chunk by chunk (`GeminiStream`).

Google's side: https://ai.google.dev/api/generate-content#v1beta.GenerateContentResponse — each
choice a candidate (`content.parts`, role `model`, `finishReason`, `index`), `usageMetadata`
(`promptTokenCount` with the cached tokens in it, as chat's `prompt_tokens`; `candidatesTokenCount`
without the thoughts, which `thoughtsTokenCount` tells apart; `totalTokenCount`), `modelVersion`,
`responseId`. A stream is one such response per SSE event: text as it comes; a function call whole,
in one part, as Gemini streams them; the last event carries each candidate's `finishReason` and the
usage, as Gemini's last chunk does (chat tells usage after its finish reasons, so they wait for the
end). A stream that fails or stops early ends in Google's error object as an event, `data:
{"error": {"code", "message", "status"}}`, which google-genai raises as an `APIError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from sluicegate.ingress.base import ChatStreamRendering, mapping
from sluicegate.ingress.reasoning_items import thought_text
from sluicegate.providers.gemini.errors import status_name
from sluicegate.providers.openai_usage import usage_object
from sluicegate.providers.sse import sse_data
from sluicegate.types import Usage

# https://ai.google.dev/api/generate-content#FinishReason, from chat's finish_reason: a function
# call ends a Gemini candidate with STOP.
FINISH_REASONS: Final[Mapping[str, str]] = {
    "stop": "STOP",
    "tool_calls": "STOP",
    "function_call": "STOP",
    "length": "MAX_TOKENS",
    "content_filter": "SAFETY",
}


def usage_metadata(usage: Usage | None) -> dict[str, int] | None:
    """A chat answer's usage as Gemini's `usageMetadata`; None when it reported none."""
    if usage is None:
        return None
    metadata = {
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": max(usage.output_tokens - usage.reasoning_tokens, 0),
        "totalTokenCount": usage.input_tokens + usage.output_tokens,
    }
    if usage.reasoning_tokens:
        metadata["thoughtsTokenCount"] = usage.reasoning_tokens
    if usage.cached_tokens:
        metadata["cachedContentTokenCount"] = usage.cached_tokens
    return metadata


def function_call_part(call: Mapping[str, Any]) -> dict[str, Any]:
    """A chat tool call as a `functionCall` part: its id kept (Gemini's FunctionCall has one), its
    arguments an object, and a Gemini model's thought signature where the call carries one."""
    function = mapping(call.get("function"))
    try:
        args = orjson.loads(function.get("arguments") or "{}")
    except orjson.JSONDecodeError:
        args = {}
    named: dict[str, Any] = {
        "name": function.get("name") or "",
        "args": args if isinstance(args, dict) else {},
    }
    if isinstance(call.get("id"), str) and call["id"]:
        named = {"id": call["id"], **named}
    part: dict[str, Any] = {"functionCall": named}
    signature = mapping(mapping(call.get("extra_content")).get("google")).get("thought_signature")
    if isinstance(signature, str):
        part["thoughtSignature"] = signature
    return part


def gemini_response(
    completion: Mapping[str, Any], model: str, response_id: str, thoughts: bool
) -> dict[str, Any]:
    """A `chat.completion` as a GenerateContentResponse; `thoughts`: the request asked to see the
    model's thinking (`includeThoughts`), given as `thought: true` parts before the answer."""
    candidates = []
    for position, choice in enumerate(completion.get("choices") or ()):
        choice = mapping(choice)
        message = mapping(choice.get("message"))
        parts: list[dict[str, Any]] = []
        if thoughts and (thought := thought_text(message)):
            parts.append({"text": thought, "thought": True})
        for key in ("content", "refusal"):  # Gemini has no refusal: it is text, as the stream's is
            if isinstance(text := message.get(key), str) and text:
                parts.append({"text": text})
        parts += [function_call_part(mapping(call)) for call in message.get("tool_calls") or ()]
        index = choice.get("index")
        candidates.append(
            {
                "content": {"parts": parts, "role": "model"},
                "finishReason": FINISH_REASONS.get(str(choice.get("finish_reason")), "STOP"),
                "index": index if isinstance(index, int) else position,
            }
        )
    response: dict[str, Any] = {"candidates": candidates}
    if (metadata := usage_metadata(usage_object(completion.get("usage")))) is not None:
        response["usageMetadata"] = metadata
    response["modelVersion"] = completion.get("model") or model
    response["responseId"] = response_id
    return response


def error_event(status: int, message: str) -> bytes:
    """Google's error object as a stream's event."""
    return sse_data({"error": {"code": status, "message": message, "status": status_name(status)}})


@dataclass
class _Candidate:
    """One choice of a stream: its function calls as they build up, and how it finished."""

    calls: dict[int, dict[str, Any]] = field(default_factory=dict)  # chat index -> the call so far
    finish: str | None = None


class GeminiStream(ChatStreamRendering):
    """One streamed answer: chat.completion.chunk SSE bytes in, Gemini's SSE events out."""

    def __init__(self, response_id: str, model: str, thoughts: bool, ahead: Usage | None = None) -> None:
        """`ahead`: the usage the chat stream will report, known before it starts (a stored stream
        replayed): the figures of the last event either way."""
        super().__init__()
        self._id, self._model, self._thoughts, self._ahead = response_id, model, thoughts, ahead
        self._candidates: dict[int, _Candidate] = {}

    def _cut_short(self, reason: str) -> bytes:
        return error_event(500, reason)

    def _finished(self) -> bytes:
        candidates = [
            self._candidate(
                index, [_call_part(call) for call in state.calls.values()], state.finish or "stop"
            )
            for index, state in sorted(self._candidates.items())
        ] or [self._candidate(0, [], "stop")]
        return self._event(candidates, usage_metadata(self._chunks.usage or self._ahead))

    def _render(self, chunk: dict[str, Any]) -> bytes:
        if self._ended:
            return b""
        if "error" in chunk:  # the provider's error inside the stream: Google's error event ends it
            self._ended = True
            error = mapping(chunk.get("error"))
            message = error.get("message")
            code = error.get("code")
            status = code if isinstance(code, int) and 400 <= code < 600 else 500
            return error_event(status, message if isinstance(message, str) else "the provider failed")
        if isinstance(model := chunk.get("model"), str) and model:
            self._model = model
        candidates = []
        for position, choice in enumerate(chunk.get("choices") or ()):
            choice = mapping(choice)
            index = choice.get("index")
            index = index if isinstance(index, int) else position
            state = self._candidates.setdefault(index, _Candidate())
            delta = mapping(choice.get("delta"))
            parts: list[dict[str, Any]] = []
            if self._thoughts and (thought := thought_text(delta)):
                parts.append({"text": thought, "thought": True})
            for key in ("content", "refusal"):
                if isinstance(text := delta.get(key), str) and text:
                    parts.append({"text": text})
            for call in delta.get("tool_calls") or ():
                _add_piece(state, mapping(call))
            if isinstance(finish := choice.get("finish_reason"), str):
                state.finish = finish
            if parts:
                candidates.append(self._candidate(index, parts, None))
        return self._event(candidates, None) if candidates else b""

    def _candidate(self, index: int, parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": index}
        if finish is not None:
            candidate["finishReason"] = FINISH_REASONS.get(finish, "STOP")
        return candidate

    def _event(self, candidates: list[dict[str, Any]], metadata: dict[str, int] | None) -> bytes:
        response: dict[str, Any] = {"candidates": candidates}
        if metadata is not None:
            response["usageMetadata"] = metadata
        response["modelVersion"] = self._model
        response["responseId"] = self._id
        return sse_data(response)


def _add_piece(state: _Candidate, call: Mapping[str, Any]) -> None:
    """A tool call's delta added to the call it continues (chat streams its arguments in pieces)."""
    index = call.get("index")
    position = index if isinstance(index, int) else len(state.calls)
    held = state.calls.setdefault(position, {"id": None, "name": "", "arguments": "", "extra": None})
    function = mapping(call.get("function"))
    if isinstance(call.get("id"), str) and call["id"]:
        held["id"] = call["id"]
    if isinstance(function.get("name"), str) and function["name"]:
        held["name"] = function["name"]
    if isinstance(function.get("arguments"), str):
        held["arguments"] += function["arguments"]
    if call.get("extra_content") is not None:
        held["extra"] = call["extra_content"]


def _call_part(held: Mapping[str, Any]) -> dict[str, Any]:
    call = {"id": held["id"], "function": {"name": held["name"], "arguments": held["arguments"]}}
    if held["extra"] is not None:
        call["extra_content"] = held["extra"]
    return function_call_part(call)
