"""The text of the Gemini API that guardrails read (`providers/texts.py`'s `TextFormat`):
requests' `systemInstruction` (or `system_instruction`) and `contents[].parts[]`' `text`,
`functionCall.args` (JSON) and `functionResponse.response` (JSON, a tool's result); answers' and
stream chunks' `candidates[].content.parts[]` alike (a streamed function call comes whole, in one
chunk); thoughts are left alone. An answer's text is JSON when the request asked for it
(`generationConfig.responseMimeType` `application/json`, or a `responseSchema` or
`responseJsonSchema` with no MIME type; `text/x.enum` answers are prose). Also what the token
estimator counts of its requests (`TokenKeys`).
https://ai.google.dev/api/generate-content, https://ai.google.dev/api/caching#Part,
https://ai.google.dev/gemini-api/docs/structured-output
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sluicegate.providers.sse import sse_data
from sluicegate.providers.texts import Text, TextPipes, TokenKeys, as_list, json_value, role_of, string


@dataclass(frozen=True, slots=True)
class GeminiTexts:
    """`json_answers`: the answers' text parts are JSON text (the request asked for it)."""

    name: str = "gemini"
    json_answers: bool = False

    def answering(self, request: Any) -> GeminiTexts:
        asked = _asks_json(request)
        return self if asked == self.json_answers else replace(self, json_answers=asked)

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for key in ("systemInstruction", "system_instruction"):
            instruction = body.get(key)
            if isinstance(instruction, dict):
                for part in as_list(instruction.get("parts")):
                    yield from string(part, "text", "system")
        for turn in as_list(body.get("contents")):
            if isinstance(turn, dict):
                role = role_of(turn)
                for part in as_list(turn.get("parts")):
                    yield from _part_texts(part, role)

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for candidate in as_list(body.get("candidates")):
            turn = candidate.get("content") if isinstance(candidate, dict) else None
            if isinstance(turn, dict):
                for part in as_list(turn.get("parts")):
                    yield from _part_texts(part, "assistant", json=self.json_answers)

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        for position, candidate in enumerate(event.get("candidates") or []):
            if not isinstance(candidate, dict):
                continue
            index = candidate.get("index", position)
            turn = candidate.get("content")
            parts = turn.get("parts") if isinstance(turn, dict) else None
            texts = [
                part
                for part in (parts if isinstance(parts, list) else [])
                if isinstance(part, dict) and isinstance(part.get("text"), str) and not part.get("thought")
            ]
            for part in texts:
                part["text"] = pipes.feed(index, part["text"], json=self.json_answers)
            for part in as_list(parts):
                call = part.get("functionCall") if isinstance(part, dict) else None
                for args in json_value(call, "args", "assistant"):
                    before = args.value
                    after = pipes.whole(before, json=True)
                    if after != before:
                        args.set(after)
            rest = pipes.close(index) if candidate.get("finishReason") else ""
            if rest and texts:
                texts[-1]["text"] += rest
            elif rest:
                candidate["content"] = {"role": "model", "parts": [*(parts or []), {"text": rest}]}
        return b""

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        turn = {"role": "model", "parts": [{"text": text}]}
        return sse_data({"candidates": [{"index": index, "content": turn}]})


# A request's generation settings, in the REST API's spelling or the protos' (both are taken).
_CONFIG_KEYS = ("generationConfig", "generation_config")
_MIME_KEYS = ("responseMimeType", "response_mime_type")
_SCHEMA_KEYS = ("responseSchema", "response_schema", "responseJsonSchema", "response_json_schema")


def _asks_json(request: Any) -> bool:
    """Whether a request asks for a JSON answer: the JSON MIME type, or a schema with no MIME type
    (`text/x.enum` with a schema asks for one of its values, as prose)."""
    if not isinstance(request, dict):
        return False
    config = next((request[key] for key in _CONFIG_KEYS if key in request), None)
    if not isinstance(config, dict):
        return False
    mime = next((config[key] for key in _MIME_KEYS if key in config), None)
    if isinstance(mime, str):
        return mime.partition(";")[0].strip().lower() == "application/json"
    return any(config.get(key) is not None for key in _SCHEMA_KEYS)


def _part_texts(part: Any, role: str, *, json: bool = False) -> Iterator[Text]:
    """A part's text (not a thought's; a JSON text with `json`), a function call's `args` and a
    function response's `response` (JSON; the response is a tool's result)."""
    if not isinstance(part, dict) or part.get("thought"):
        return
    yield from string(part, "text", role, json=json)
    yield from json_value(part.get("functionCall"), "args", role)
    yield from json_value(part.get("functionResponse"), "response", "tool")


GEMINI_TEXTS = GeminiTexts()

# `systemInstruction` (or `system_instruction`) and `contents`, their `parts`' `text`, an embedding
# request's `content` and a batch's `requests` of them (google-genai's `embed_content` always sends
# `:batchEmbedContents`); a part with inline media (`inlineData`, or `inline_data`) counts as an image.
# https://ai.google.dev/api/embeddings
GEMINI_TOKEN_KEYS = TokenKeys(
    text=frozenset(
        {"systemInstruction", "system_instruction", "contents", "content", "requests", "parts", "text"}
    ),
    media=frozenset({"inlineData", "inline_data"}),
)
