"""The text of Cohere's native chat API that guardrails read (`providers/texts.py`'s `TextFormat`),
v1 and v2 in one format, told apart by their fields (a body is one or the other).

v2 (`/v2/chat`): requests' `messages` (`content` a string or a list of parts: `text`, an assistant's
`thinking`, a `document`'s JSON), an assistant turn's `tool_plan`, its `tool_calls[].function.
arguments` (JSON text) and `citations[].text`, and the top-level `documents` (strings, or objects
read as JSON). Answers' `message` alike: its content's text and thinking, `tool_plan`, tool call
arguments and citations' `text` (a quote of the answer's text: left unread it would repeat what the
text no longer says; its `start`/`end` still count the text as it came).

v1 (`/v1/chat`): requests' `preamble`, `message`, `chat_history[]` (`message`, a turn's
`tool_calls[].parameters` and a TOOL turn's `tool_results`), `tool_results[]` (each call's
`parameters` and its `outputs`, JSON) and `documents` (objects, JSON). Answers' `text`, its
`tool_calls[].parameters` (a JSON object), `citations[].text` and the `chat_history` it repeats:
of that, only the model's (CHATBOT) turns are read as the answer is; the client's own turns (USER,
SYSTEM, TOOL: what it wrote, as it went upstream) are echoes (`Text.echo`), which `restore` puts
the request's values back in and no response rule reads; the last turn, the answer's text and
calls again, is set with them (`Text.copies`), not read a second time.

Streams (cohere_streams.py): v2's SSE events and v1's events (newline-delimited JSON, or SSE).
The answer's text is JSON when the request's `response_format` is of type `json_object` (both
versions; a `json_schema` in it, or v1's `schema`, makes no difference). Search results, the
sources a citation names (the client's documents and tool results, as it sent them) and the
legacy `/v1/generate` are not read.
https://docs.cohere.com/reference/chat, https://docs.cohere.com/v1/reference/chat,
https://docs.cohere.com/docs/streaming, https://docs.cohere.com/docs/tool-use-streaming
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sluicegate.providers.cohere_streams import stream_leftover, v1_event, v2_event
from sluicegate.providers.texts import Text, TextPipes, as_list, json_value, role_of, string

# v1's turn roles as the guardrails name them (only a user's turn is read for prompt injection).
_V1_ROLES = {"USER": "user", "CHATBOT": "assistant", "SYSTEM": "system", "TOOL": "tool"}
_DOCUMENT_ROLE = "tool"  # what the client hands the model to read: data, as a tool's result is


@dataclass(frozen=True, slots=True)
class CohereTexts:
    """`json_answers`: the answers' text is JSON text (the request's `response_format` asked)."""

    name: str = "cohere_chat"
    json_answers: bool = False

    def answering(self, request: Any) -> CohereTexts:
        wanted = request.get("response_format") if isinstance(request, dict) else None
        asked = isinstance(wanted, dict) and wanted.get("type") == "json_object"
        return self if asked == self.json_answers else replace(self, json_answers=asked)

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        yield from string(body, "preamble", "system")  # v1
        yield from v1_turns(body.get("chat_history"))
        yield from string(body, "message", "user")
        yield from _tool_results(body.get("tool_results"))
        for message in as_list(body.get("messages")):  # v2
            if isinstance(message, dict):
                yield from _v2_message(message, role_of(message))
        yield from _documents(body.get("documents"))

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        message = body.get("message")
        if isinstance(message, dict):  # v2
            yield from _v2_message(message, "assistant", json=self.json_answers)
        yield from _v1_answer(body, self.json_answers)

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        if isinstance(event.get("type"), str):
            return v2_event(event, pipes, self.json_answers, self.answer_texts)
        if isinstance(event.get("event_type"), str):
            return v1_event(event, pipes, self.json_answers, self.answer_texts)
        return b""

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        return stream_leftover(index, text, last)


def _v2_message(message: dict[str, Any], role: str, *, json: bool = False) -> Iterator[Text]:
    """A v2 turn's text: its content (a string or parts; an answer's text parts JSON with `json`),
    tool plan, tool call arguments and citations."""
    if isinstance(message.get("content"), str):
        yield Text(message, "content", role, json)
    for part in as_list(message.get("content")):
        if not isinstance(part, dict):
            continue
        kind = part.get("type", "text")
        if kind == "text":
            yield from string(part, "text", role, json=json)
        elif kind == "thinking":
            yield from string(part, "thinking", role)
        elif kind == "document":
            yield from json_value(part, "document", role)
    yield from string(message, "tool_plan", role)
    for call in as_list(message.get("tool_calls")):
        if isinstance(call, dict):
            yield from json_value(call.get("function"), "arguments", role)
    yield from citations(message.get("citations"), role)


def _v1_answer(body: dict[str, Any], json: bool) -> Iterator[Text]:
    """A v1 answer's text, tool calls and citations, then the `chat_history` it repeats: the model's
    (CHATBOT) turns read as the answer is, the client's own (its messages, preamble, tool results)
    echoes, only restored (a response rule is not for what the user wrote). The last turn repeats
    the answer's text and calls: set with them as their copies, not read twice."""
    history = as_list(body.get("chat_history"))
    last = history[-1] if history and _v1_role(history[-1]) == "assistant" else {}
    copied: set[tuple[int, str]] = set()  # (id(owner), key) of what the answer's texts set as copies

    def with_copy(found: Iterator[Text], owner: Any, key: str) -> Iterator[Text]:
        for text in found:
            said = text.owner[text.key]  # type: ignore[index]  # as it came: a string, or parsed JSON
            if isinstance(owner, dict) and owner.get(key) == said:
                copied.add((id(owner), key))
                text = replace(text, copies=((owner, key),))
            yield text

    yield from with_copy(string(body, "text", "assistant", json=json), last, "message")
    repeated = as_list(last.get("tool_calls"))
    for at, call in enumerate(as_list(body.get("tool_calls"))):
        copy = repeated[at] if at < len(repeated) else None
        yield from with_copy(json_value(call, "parameters", "assistant"), copy, "parameters")
    yield from citations(body.get("citations"), "assistant")
    for turn in history:
        model = _v1_role(turn) == "assistant"
        for text in v1_turns([turn]):
            if not model:
                yield replace(text, echo=True)
            elif (id(text.owner), text.key) not in copied:
                yield text


def v1_turns(history: Any) -> Iterator[Text]:
    """A v1 `chat_history`'s text: each turn's `message`, tool calls and tool results."""
    for turn in as_list(history):
        if (role := _v1_role(turn)) is not None:
            yield from string(turn, "message", role)
            yield from _v1_calls(turn.get("tool_calls"), role)
            yield from _tool_results(turn.get("tool_results"))


def _v1_role(turn: Any) -> str | None:
    """A v1 turn's role as the guardrails name it (None: not a turn)."""
    return _V1_ROLES.get(str(turn.get("role", "")).upper(), "user") if isinstance(turn, dict) else None


def _v1_calls(calls: Any, role: str) -> Iterator[Text]:
    """v1 tool calls' `parameters` (a JSON object)."""
    for call in as_list(calls):
        yield from json_value(call, "parameters", role)


def _tool_results(results: Any) -> Iterator[Text]:
    """v1 tool results: the call's `parameters`, then each of its `outputs` (JSON objects)."""
    for result in as_list(results):
        if isinstance(result, dict):
            yield from json_value(result.get("call"), "parameters", "assistant")
            outputs = as_list(result.get("outputs"))
            for at, output in enumerate(outputs):
                if isinstance(output, dict | list | str):
                    yield Text(outputs, at, "tool", json=True)


def citations(found: Any, role: str) -> Iterator[Text]:
    """Citations' `text`: the quote of the answer each one marks."""
    for citation in as_list(found):
        yield from string(citation, "text", role)


def _documents(documents: Any) -> Iterator[Text]:
    """The request's `documents`: a string (v2) as prose, an object (v2's `{data, id}`, v1's fields)
    as JSON."""
    for at, document in enumerate(as_list(documents)):
        if isinstance(document, str):
            yield Text(documents, at, _DOCUMENT_ROLE)
        elif isinstance(document, dict):
            yield Text(documents, at, _DOCUMENT_ROLE, json=True)


COHERE_TEXTS = CohereTexts()
