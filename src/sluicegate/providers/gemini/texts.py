"""The text of the Gemini API that guardrails read (`providers/texts.py`'s `TextFormat`):
requests' `systemInstruction` (or `system_instruction`: a Content's text parts, or a bare string,
which the compat endpoint's Gemini ingress takes) and `contents[].parts[]`' `text`,
`functionCall.args` (JSON) and `functionResponse.response` (JSON, a tool's result); answers' and
stream chunks' `candidates[].content.parts[]` alike (a streamed function call comes whole, in one
chunk), and the model's thought summaries there (`thought: true` parts, with `includeThoughts`),
always prose. An answer's text is JSON when the request asked for it
(`generationConfig.responseMimeType` `application/json`, or a `responseSchema` or
`responseJsonSchema` with no MIME type; `text/x.enum` answers are prose). Also what the token
estimator counts of its requests (`TokenKeys`).

A thought run may be signed (`thoughtSignature` on its part, or, streamed, on the thought part that
ends the run, often an empty one): a run whose text a guardrail changed (or whose placeholders
`restore` put back) loses that signature, the key removed (an unsigned part carries none), as a
Claude thinking block's is emptied: it is not left beside words other than those it came with. A
signature on any other part (a function call's, which Gemini 3 requires back; the answer's last
text part's) is the model's encrypted reasoning for that part, not for the summary before it, and
is left alone. A request's thoughts are not read: they go back as they came, and were read as the
answer they were.
https://ai.google.dev/api/generate-content, https://ai.google.dev/api/caching#Part,
https://ai.google.dev/gemini-api/docs/structured-output, https://ai.google.dev/gemini-api/docs/thinking,
https://ai.google.dev/gemini-api/docs/thought-signatures
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sluicegate.providers.schema_texts import tool_texts
from sluicegate.providers.sse import sse_data
from sluicegate.providers.texts import (
    RequestOnlyTexts,
    Text,
    TextPipes,
    TokenKeys,
    as_list,
    json_value,
    role_of,
    string,
)

_THOUGHT = "thought"  # a candidate's thought pipe is (its index, _THOUGHT); its answer's, its index
_SIGNATURE = "thoughtSignature"


class _Thought(Text):
    """A thought part's text: set to other words, the part's signature goes."""

    __slots__ = ()

    def set(self, value: str) -> None:
        if value != self.value and isinstance(self.owner, dict):
            self.owner.pop(_SIGNATURE, None)
            self.owner.pop("thought_signature", None)
        super().set(value)


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
            else:  # a bare string, as the SDKs' own types take it and the compat ingress reads it
                yield from string(body, key, "system")
        for turn in as_list(body.get("contents")):
            if isinstance(turn, dict):
                role = role_of(turn)
                for part in as_list(turn.get("parts")):
                    yield from _part_texts(part, role)
        for tool in as_list(body.get("tools")):
            for declaration in _twin(tool, "functionDeclarations", "function_declarations", []):
                yield from tool_texts(declaration, _DECLARED_SCHEMAS)
        for key in ("generateContentRequest", "generate_content_request"):  # countTokens's
            if isinstance(inner := body.get(key), dict):
                yield from self.request_texts(inner)

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for candidate in as_list(body.get("candidates")):
            turn = candidate.get("content") if isinstance(candidate, dict) else None
            if isinstance(turn, dict):
                for part in as_list(turn.get("parts")):
                    if isinstance(part, dict) and part.get("thought"):
                        if isinstance(part.get("text"), str):
                            yield _Thought(part, "text", "assistant")
                    else:
                        yield from _part_texts(part, "assistant", json=self.json_answers)

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        for position, candidate in enumerate(event.get("candidates") or []):
            if not isinstance(candidate, dict):
                continue
            index = candidate.get("index", position)
            turn = candidate.get("content")
            parts = turn.get("parts") if isinstance(turn, dict) else None
            out = self._stream_parts(index, parts, pipes) if isinstance(parts, list) else []
            if candidate.get("finishReason"):
                # What the pipes hold goes with the candidate's last chunk: thought, then answer.
                if thought := pipes.close((index, _THOUGHT)):
                    _add_text(out, thought, thought=True)
                if rest := pipes.close(index):
                    _add_text(out, rest, thought=False)
            if isinstance(turn, dict) and isinstance(parts, list):
                turn["parts"] = out
            elif out:
                candidate["content"] = {"role": "model", "parts": out}
        return b""

    def _stream_parts(self, index: Any, parts: list[Any], pipes: TextPipes) -> list[Any]:
        """A chunk's parts with their text through the candidate's pipes: a thought part's through
        its thought pipe, which a signed thought part or any other part ends (what it held going
        out just before that other part)."""
        out: list[Any] = []
        for part in parts:
            if not isinstance(part, dict):
                out.append(part)
                continue
            if part.get("thought"):
                if isinstance(part.get("text"), str):
                    part["text"] = pipes.feed((index, _THOUGHT), part["text"])
                if _SIGNATURE in part:
                    _end_signed_run(index, part, pipes)
                out.append(part)
                continue
            if held := pipes.close((index, _THOUGHT)):
                _add_text(out, held, thought=True)
            if isinstance(part.get("text"), str):
                part["text"] = pipes.feed(index, part["text"], json=self.json_answers)
            for whole in _whole_texts(part, "assistant"):  # streamed whole, each in one chunk
                before = whole.value
                after = pipes.whole(before, json=whole.json)
                if after != before:
                    whole.set(after)
            out.append(part)
        return out

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        if isinstance(index, tuple):
            candidate, part = index[0], {"text": text, "thought": True}
        else:
            candidate, part = index, {"text": text}
        turn = {"role": "model", "parts": [part]}
        return sse_data({"candidates": [{"index": candidate, "content": turn}]})


def _end_signed_run(index: Any, part: dict[str, Any], pipes: TextPipes) -> None:
    """A signed thought part ends its run: what the run's pipe held goes in it, and a run whose
    text came out changed loses the signature."""
    key = (index, _THOUGHT)
    if held := pipes.close(key):
        part["text"] = (part.get("text") or "") + held
    if pipes.altered(key):
        del part[_SIGNATURE]
        part.pop("thought_signature", None)
        pipes.changed = True


def _add_text(parts: list[Any], text: str, *, thought: bool) -> None:
    """`text` at the end of the chunk's last text part of its kind, else as a new part at the end."""
    for part in reversed(parts):
        if (
            isinstance(part, dict)
            and isinstance(part.get("text"), str)
            and bool(part.get("thought")) == thought
        ):
            part["text"] += text
            return
    parts.append({"text": text, "thought": True} if thought else {"text": text})


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
    """A part's text (not a thought's: an answer's are read apart, a request's not at all; a JSON
    text with `json`), and what `_whole_texts` reads of it."""
    if not isinstance(part, dict) or part.get("thought"):
        return
    yield from string(part, "text", role, json=json)
    yield from _whole_texts(part, role)


def _whole_texts(part: dict[str, Any], role: str) -> Iterator[Text]:
    """What a part holds besides its text, each in the REST API's spelling or the protos' (Google's
    JSON parsing takes both: `functionCall` or `function_call`): a function call's `args` and a
    function response's `response` (JSON; the response is a tool's result), code the model wrote
    (`executableCode.code`) and what running it printed (`codeExecutionResult.output`)."""
    yield from json_value(_twin(part, "functionCall", "function_call"), "args", role)
    yield from json_value(_twin(part, "functionResponse", "function_response"), "response", "tool")
    yield from string(_twin(part, "executableCode", "executable_code"), "code", role)
    yield from string(_twin(part, "codeExecutionResult", "code_execution_result"), "output", "tool")


def _twin(owner: Any, camel: str, snake: str, default: Any = None) -> Any:
    """`owner[camel]`, else `owner[snake]` (the same field as the protos name it), else `default`."""
    if not isinstance(owner, dict):
        return default
    return owner[camel] if camel in owner else owner.get(snake, default)


# A function declaration's schemas (its parameters' and its result's), in both spellings.
_DECLARED_SCHEMAS = (
    "parameters",
    "parametersJsonSchema",
    "parameters_json_schema",
    "response",
    "responseJsonSchema",
    "response_json_schema",
)


@dataclass(frozen=True, slots=True)
class GeminiEmbedTexts(RequestOnlyTexts):
    """embedContent's and batchEmbedContents' requests: each `content`'s text parts and its `title`
    (a document's, with the task type `RETRIEVAL_DOCUMENT`), read as documents (not a user's turn:
    not read for prompt injection); their answers are vectors, not read."""

    name: str = "gemini_embed"

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for request in [body, *as_list(body.get("requests"))]:
            if isinstance(request, dict):
                yield from string(request, "title", "document")
                content = request.get("content")
                for part in as_list(content.get("parts") if isinstance(content, dict) else None):
                    yield from string(part, "text", "document")


GEMINI_TEXTS = GeminiTexts()
GEMINI_EMBED_TEXTS = GeminiEmbedTexts()

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
