"""A provider translation's refusal of a Messages, Responses or Gemini request, in the client's terms.

The translators read the chat request an ingress format wrote and name its fields (`stop`,
`reasoning_effort`, `messages[2].content[0]`, a `'image_url'` part), which the client never sent.
`in_client_terms` names the field the client sent instead (`stop_sequences`, `reasoning.effort`,
`messages.1.content.0`, an `'image'` block; Gemini's `generationConfig.stopSequences`,
`contents[1].parts[0]`, an `'inlineData'` part): top-level fields by what the format writes from
them, a message's path by walking the client's conversation as the format does (the format's own
modules: anthropic_messages.py, openai_responses.py, gemini_request.py). Where the walk cannot tell
(a part the translation added, such as the note before a tool's images), the client's message is
named.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from sluicegate.compat.base import TranslationError
from sluicegate.ingress.base import mapping
from sluicegate.ingress.gemini_config import camel

# chat field -> the client's, by format (what to_chat writes each from)
_FIELDS: Final[Mapping[str, Mapping[str, str]]] = {
    "messages": {
        "stop": "stop_sequences",
        "max_completion_tokens": "max_tokens",
        "response_format": "output_config.format",
        "parallel_tool_calls": "tool_choice.disable_parallel_tool_use",
        "user": "metadata.user_id",
        "stream_options": "stream",
    },
    "responses": {
        "max_completion_tokens": "max_output_tokens",
        "reasoning_effort": "reasoning.effort",
        "response_format": "text.format",
        "verbosity": "text.verbosity",
        "logprobs": "include",
        "user": "safety_identifier",
        "stream_options": "stream",
    },
    "gemini": {  # gemini_config.py's generation, tool_choice
        "stop": "generationConfig.stopSequences",
        "max_completion_tokens": "generationConfig.maxOutputTokens",
        "temperature": "generationConfig.temperature",
        "top_p": "generationConfig.topP",
        "n": "generationConfig.candidateCount",
        "seed": "generationConfig.seed",
        "presence_penalty": "generationConfig.presencePenalty",
        "frequency_penalty": "generationConfig.frequencyPenalty",
        "response_format": "generationConfig.responseMimeType",
        "reasoning_effort": "generationConfig.thinkingConfig.thinkingLevel",
        "thinking": "generationConfig.thinkingConfig.thinkingBudget",
        "tool_choice": "toolConfig.functionCallingConfig",
        "messages": "contents",
    },
}
# chat part types -> the client's (Gemini's: the kind of the part named, `_gemini_kind`)
_KINDS: Final[Mapping[str, Mapping[str, str]]] = {
    "messages": {"image_url": "image", "file": "document"},
    "responses": {"image_url": "input_image", "file": "input_file"},
    "gemini": {"image_url": "inlineData", "file": "inlineData", "input_audio": "inlineData"},
}
_STEP = re.compile(r"\[(\d+)\]|\.(\w+)")
_KIND = re.compile(r"\ban? '(image_url|file|input_audio)' part")
_GEMINI_PART = re.compile(r"(?:generateContentRequest\.)?contents\[(\d+)\]\.parts\[(\d+)\]")
# Gemini's part kinds, in the order gemini_request.py reads a part as one.
_GEMINI_KINDS: Final = ("text", "inlineData", "fileData", "functionCall", "functionResponse")


@dataclass
class _Origin:
    """Where one chat message came from: the client's path, its content parts' and tool calls'."""

    path: str
    parts: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)


# ingress format name -> the API whose fields it names
_APIS: Final = {
    "anthropic-messages": "messages",
    "anthropic-count-tokens": "messages",
    "openai-responses": "responses",
    "gemini-generate-content": "gemini",
    "gemini-count-tokens": "gemini",
}


def in_client_terms(ingress: str, asked: Mapping[str, Any], error: TranslationError) -> TranslationError:
    """`error` (naming a chat field) naming the field of `asked`, the request in the API of the
    ingress format named `ingress` that the chat request was written from."""
    api = _APIS.get(ingress)
    if api is None:
        return error
    reason = str(error).removeprefix(f"{error.field}: ") if error.field else str(error)
    noun = "block" if api == "messages" else "part"
    where = None if error.field is None else _path(api, asked, error.field)
    kinds = {**_KINDS[api], **_gemini_kind(asked, where)} if api == "gemini" else _KINDS[api]
    reason = _KIND.sub(lambda found: _article(f"{kinds.get(found[1], found[1])!r} {noun}"), reason)
    return TranslationError(reason, field=where)


def _article(noun: str) -> str:
    return ("an " if noun.strip("'")[:1] in "aeiou" else "a ") + noun


def _path(api: str, asked: Mapping[str, Any], chat_field: str) -> str:
    head, _, _ = chat_field.partition(".")
    head = head.partition("[")[0]
    steps = [int(index) if index else name for index, name in _STEP.findall(chat_field[len(head) :])]
    if api == "gemini":
        return _gemini_path(asked, chat_field, head, steps)
    if head == "tools" and steps and isinstance(steps[0], int):
        rest = [step for step in steps[1:] if step != "function"]
        rest = ["input_schema" if api == "messages" and step == "parameters" else step for step in rest]
        return _join(api, "tools", [steps[0], *rest])
    if head == "messages" and steps and isinstance(steps[0], int):
        return _message_path(_messages(asked) if api == "messages" else _items(asked), chat_field, steps)
    return _FIELDS[api].get(chat_field, chat_field)


def _message_path(origins: list[_Origin], chat_field: str, steps: list[int | str]) -> str:
    """The client's path of chat's `messages[i]…` (`steps`), by where each chat message came from."""
    assert isinstance(steps[0], int), "a message's index"
    if steps[0] >= len(origins):
        return chat_field
    origin, rest = origins[steps[0]], steps[1:]
    for key, known in (("content", origin.parts), ("tool_calls", origin.calls)):
        if rest[:1] == [key] and len(rest) > 1 and isinstance(rest[1], int):
            return known[rest[1]] if rest[1] < len(known) else origin.path
    return origin.path


def _join(api: str, head: str, steps: list[int | str]) -> str:
    if api == "messages":
        return ".".join([head, *map(str, steps)])
    return head + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in steps)


def _messages(asked: Mapping[str, Any]) -> list[_Origin]:
    """The Messages conversation's chat messages, as anthropic_messages.py writes them."""
    system = asked.get("system")
    origins = [_Origin("system")] if system not in (None, "", []) else []
    for i, message in enumerate(asked.get("messages") or ()):
        where, content = f"messages.{i}", mapping(message).get("content")
        if not isinstance(content, list):
            origins.append(_Origin(where))
        elif mapping(message).get("role") == "assistant":
            calls = [
                f"{where}.content.{j}" for j, b in enumerate(content) if mapping(b).get("type") == "tool_use"
            ]
            origins.append(_Origin(where, calls=calls))
        else:
            media: list[str] = []
            parts: list[str] = []
            for j, block in enumerate(content):
                if mapping(block).get("type") != "tool_result":
                    parts.append(f"{where}.content.{j}")
                    continue
                origins.append(_Origin(f"{where}.content.{j}"))
                returned = mapping(block).get("content")
                shown = [
                    f"{where}.content.{j}.content.{k}"
                    for k, part in enumerate(returned if isinstance(returned, list) else ())
                    if mapping(part).get("type") in ("image", "document")
                ]
                media += [f"{where}.content.{j}", *shown] if shown else []
            if media or parts:
                origins.append(_Origin(where, parts=media + parts))
    return origins


def _items(asked: Mapping[str, Any]) -> list[_Origin]:
    """The Responses input's chat messages, as openai_responses.py writes them."""
    origins = [_Origin("instructions")] if asked.get("instructions") not in (None, "") else []
    items = asked.get("input")
    if not isinstance(items, list):
        return [*origins, _Origin("input")]
    media: list[str] = []
    assistant: _Origin | None = None  # the assistant turn function calls join
    for i, item in enumerate(items):
        where, item = f"input[{i}]", mapping(item)
        kind = item.get("type", "message")
        if media and kind != "function_call_output":
            origins.append(_Origin(media[0], parts=media))
            media, assistant = [], None
        if kind == "message":
            content = item.get("content")
            parts = [f"{where}.content[{j}]" for j in range(len(content) if isinstance(content, list) else 0)]
            origins.append(_Origin(where, parts=parts))
            assistant = origins[-1] if item.get("role") == "assistant" else None
        elif kind == "function_call":
            if assistant is None:
                assistant = _Origin(where)
                origins.append(assistant)
            assistant.calls.append(where)
        elif kind == "function_call_output":
            origins.append(_Origin(where))
            output = item.get("output")
            shown = [
                f"{where}.output[{k}]"
                for k, part in enumerate(output if isinstance(output, list) else ())
                if mapping(part).get("type") in ("input_image", "input_file")
            ]
            media += [where, *shown] if shown else []
            assistant = None
    if media:
        origins.append(_Origin(media[0], parts=media))
    return origins


def _gemini_request(asked: Mapping[str, Any]) -> tuple[Mapping[str, Any], str]:
    """The Gemini request whose fields chat's came from, and the prefix of their paths: a
    countTokens request may wrap a whole one (`generateContentRequest`), read where its own
    top-level fields do not say the same (as gemini_request.py reads it)."""
    asked = camel(asked)
    wrapped = camel(asked.get("generateContentRequest"))
    if wrapped and "contents" not in asked:
        return wrapped, "generateContentRequest."
    return asked, ""


def _gemini_path(asked: Mapping[str, Any], chat_field: str, head: str, steps: list[int | str]) -> str:
    request, prefix = _gemini_request(asked)
    if head == "tools" and steps and isinstance(steps[0], int):
        declared = [
            (f"tools[{i}].functionDeclarations[{j}]", camel(declaration))
            for i, tool in enumerate(request.get("tools") or ())
            for j, declaration in enumerate(camel(tool).get("functionDeclarations") or ())
        ]
        if steps[0] >= len(declared):
            return prefix + "tools"
        where, declaration = declared[steps[0]]
        rest = [step for step in steps[1:] if step != "function"]
        if rest[:1] == ["parameters"] and declaration.get("parametersJsonSchema") is not None:
            rest[0] = "parametersJsonSchema"
        return prefix + _join("gemini", where, rest)
    if head == "messages" and steps and isinstance(steps[0], int):
        return prefix + _message_path(_contents(request), chat_field, steps)
    if chat_field.startswith("response_format.json_schema.schema"):
        config = camel(request.get("generationConfig"))
        schema = "responseJsonSchema" if config.get("responseJsonSchema") is not None else "responseSchema"
        return f"{prefix}generationConfig.{schema}"
    named = _FIELDS["gemini"].get(chat_field)
    return chat_field if named is None else prefix + named


def _contents(request: Mapping[str, Any]) -> list[_Origin]:
    """The Gemini request's chat messages, as gemini_request.py writes them: the system
    instruction's, then each turn's (a model turn's one; a user turn's tool message per function
    response, then one message of what else it says)."""
    instruction = request.get("systemInstruction")
    parts = camel(instruction).get("parts") if not isinstance(instruction, str) else [instruction]
    instructed = instruction not in (None, "") and isinstance(parts, list) and bool(parts)
    origins = [_Origin("systemInstruction")] if instructed else []
    for i, content in enumerate(request.get("contents") or ()):
        where, content = f"contents[{i}]", camel(content)
        parts = content.get("parts")
        kinds = [(f"{where}.parts[{j}]", _part_kind(part)) for j, part in enumerate(parts or ())]
        kinds = [(at, kind) for at, kind in kinds if kind is not None]
        if content.get("role") == "model":
            if kinds:
                origins.append(_Origin(where, calls=[at for at, kind in kinds if kind == "functionCall"]))
            continue
        origins += [_Origin(at) for at, kind in kinds if kind == "functionResponse"]
        said = [at for at, kind in kinds if kind != "functionResponse"]
        if said:
            origins.append(_Origin(where, parts=said))
    return origins


def _part_kind(part: Any) -> str | None:
    """A Gemini part's kind as gemini_request.py reads it; None for a thought, which it leaves out."""
    part = camel(part)
    if part.get("thought") is True:
        return None
    return next((kind for kind in _GEMINI_KINDS if part.get(kind) is not None), "")


def _gemini_kind(asked: Mapping[str, Any], where: str | None) -> dict[str, str]:
    """The chat part kinds a refusal may name, as the kind of the Gemini part at `where`."""
    found = _GEMINI_PART.fullmatch(where or "")
    if found is None:
        return {}
    contents = _gemini_request(asked)[0].get("contents") or ()
    turn, index = int(found[1]), int(found[2])
    parts = camel(contents[turn]).get("parts") if turn < len(contents) else None
    kind = _part_kind(parts[index]) if isinstance(parts, list) and index < len(parts) else None
    return dict.fromkeys(("image_url", "file", "input_audio"), kind) if kind else {}
