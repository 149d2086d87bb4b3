"""A Gemini `generateContent` request as the OpenAI chat request it means (`chat_request`).

Google's side: https://ai.google.dev/api/generate-content (the request body, `GenerationConfig`),
https://ai.google.dev/api/caching#Content (`Content`, `Part`, `Tool`, `FunctionDeclaration`,
`ToolConfig`) and https://ai.google.dev/gemini-api/docs/function-calling. Google's JSON parser takes
each field's proto name too (`system_instruction`, `inline_data`, `mime_type`, as its curl examples
write them), so these are read by either name (`_camel`); the client's data (function arguments,
responses, schemas' properties) is never renamed.

`systemInstruction` is the system message; `contents` the turns (`model` is chat's assistant):
text, `inlineData` (images as image parts, audio as input_audio, other media as file parts),
`fileData` images by URL, `functionCall` parts as the assistant's tool calls and `functionResponse`
parts as tool messages, each after the call it answers. Gemini's function calls need no id: the
gateway gives each call without one `call_{turn}_{part}`, and a response without one answers the
first call of its name still unanswered, so the same conversation is always the same chat request
(one cache key). Thought parts (Gemini's thought summaries) are left out, as a Messages client's
thinking blocks are; a function call's `thoughtSignature` rides with the call as Google's own
OpenAI compatibility carries it (`extra_content.google.thought_signature`), for a Gemini 3 target.
`generationConfig` goes to chat's fields (`maxOutputTokens` as `max_completion_tokens`,
`stopSequences` as `stop`, JSON mode as `response_format`, `responseSchema`'s OpenAPI subset as a
JSON Schema); its `thinkingConfig` as the Messages ingress's `thinking` (a budget) or chat's
`reasoning_effort` (a level). What chat cannot say is a `TranslationError` naming the field (Google's
own tools, `cachedContent`, `topK`, logprobs, safety settings that block, other modalities): the
gateway's rule is never to drop one unseen (ingress/request_fields.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from sluicegate.compat.base import TranslationError
from sluicegate.ingress.base import file_part, mapping
from sluicegate.ingress.gemini_config import camel, generation, refuse_unknown, tool_choice, tools_of

# Top-level fields: translated, or (`labels`, `model`, which the path names) changing no answer.
_TAKEN: Final = frozenset(
    {"model", "contents", "systemInstruction", "generationConfig", "tools", "toolConfig", "safetySettings",
     "labels"}
)  # fmt: skip
_ONLY_GOOGLE: Final = ("cachedContent",)
# Safety settings that block nothing ask nothing another provider fails to do.
_BLOCKS_NOTHING: Final = frozenset({"OFF", "BLOCK_NONE"})
_PART_KINDS: Final = ("text", "inlineData", "fileData", "functionCall", "functionResponse")


def chat_request(payload: Mapping[str, Any], model: Any, streams: bool, counts: bool) -> dict[str, Any]:
    """The chat request `payload` means to `model`; `streams`: a `streamGenerateContent` call;
    `counts`: a `countTokens` call, whose request may wrap a whole one (`generateContentRequest`)."""
    payload = camel(payload)
    if counts and "generateContentRequest" in payload:  # countTokens may wrap a whole request
        payload = {**camel(payload.pop("generateContentRequest")), **payload}
    for name in _ONLY_GOOGLE:
        if payload.get(name) is not None:
            raise TranslationError("only Google's own API has it; use a google-ai-studio/ model", field=name)
    refuse_unknown(payload, _TAKEN, "")
    _check_safety(payload.get("safetySettings"))
    contents = payload.get("contents")
    if not isinstance(contents, list) or not contents:
        raise TranslationError("a non-empty list of Content is required", field="contents")
    chat: dict[str, Any] = {"model": model, "messages": _system(payload.get("systemInstruction"))}
    chat["messages"] += _conversation(contents)
    chat.update(generation(camel(mapping(payload.get("generationConfig")))))
    if (tools := payload.get("tools")) is not None and (declared := tools_of(tools)):
        chat["tools"] = declared
    if (config := payload.get("toolConfig")) is not None:
        chat.update(tool_choice(camel(mapping(config))))
    if streams and not counts:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # a Gemini stream tells its usage
    return chat


def _check_safety(settings: Any) -> None:
    for i, setting in enumerate(settings or ()):
        if camel(setting).get("threshold") not in _BLOCKS_NOTHING:
            raise TranslationError(
                "only Gemini blocks by its safety categories: another provider cannot honour a"
                " threshold that blocks (OFF and BLOCK_NONE are taken)",
                field=f"safetySettings[{i}].threshold",
            )


def _system(instruction: Any) -> list[dict[str, Any]]:
    if instruction is None:
        return []
    if isinstance(instruction, str):
        return [{"role": "system", "content": instruction}] if instruction else []
    parts = camel(instruction).get("parts")
    texts = []
    for j, part in enumerate(parts if isinstance(parts, list) else ()):
        text = camel(part).get("text")
        if not isinstance(text, str):
            raise TranslationError(
                "only text parts can be a system instruction", field=f"systemInstruction.parts[{j}]"
            )
        texts.append(text)
    return [{"role": "system", "content": "\n".join(texts)}] if texts else []


def _conversation(contents: list[Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    unanswered: list[tuple[str, str]] = []  # (name, id) of the last model turn's calls not yet answered
    for i, content in enumerate(contents):
        content = camel(content)
        role, parts, where = content.get("role") or "user", content.get("parts"), f"contents[{i}]"
        if not isinstance(parts, list):
            raise TranslationError("a list of parts is required", field=f"{where}.parts")
        if role == "model":
            turn, unanswered = _model_turn(parts, i, where)
            if turn is not None:
                messages.append(turn)
        elif role == "user":
            messages += _user_turn(parts, where, unanswered)
        else:
            raise TranslationError(f"must be 'user' or 'model', not {role!r}", field=f"{where}.role")
    return messages


def _model_turn(
    parts: list[Any], turn: int, where: str
) -> tuple[dict[str, Any] | None, list[tuple[str, str]]]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        part, at = camel(part), f"{where}.parts[{j}]"
        if part.get("thought") is True:
            continue  # a thought summary: meaningful to the Gemini model that wrote it only
        kind = _kind(part, at)
        if kind == "text":
            texts.append(part["text"])
        elif kind == "functionCall":
            call = camel(part["functionCall"])
            name, args = call.get("name"), call.get("args", {})
            if not isinstance(name, str) or not isinstance(args, dict):
                raise TranslationError("a name and object args are required", field=f"{at}.functionCall")
            call_id = (
                call.get("id") if isinstance(call.get("id"), str) and call.get("id") else f"call_{turn}_{j}"
            )
            tool_call: dict[str, Any] = {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": orjson.dumps(args).decode()},
            }
            if isinstance(signature := part.get("thoughtSignature"), str):
                tool_call["extra_content"] = {"google": {"thought_signature": signature}}
            calls.append(tool_call)
        else:
            raise TranslationError(f"a model turn cannot hold {kind} parts", field=at)
    if not "".join(texts) and not calls:  # thoughts, or an empty text that only carries a signature:
        return None, []  # chat refuses an assistant message with neither content nor tool calls
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) or None}
    if calls:
        message["tool_calls"] = calls
    return message, [(call["function"]["name"], call["id"]) for call in calls]


def _user_turn(parts: list[Any], where: str, unanswered: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The turn's function responses first, each a tool message (chat wants them right after the
    calls), then what else it says as one user message."""
    results: list[dict[str, Any]] = []
    said: list[dict[str, Any]] = []
    for j, part in enumerate(parts):
        part, at = camel(part), f"{where}.parts[{j}]"
        if part.get("thought") is True:
            continue
        kind = _kind(part, at)
        if kind == "functionResponse":
            results.append(
                _function_response(camel(part["functionResponse"]), f"{at}.functionResponse", unanswered)
            )
        elif kind == "text":
            said.append({"type": "text", "text": part["text"]})
        elif kind == "inlineData":
            said.append(_inline(camel(part["inlineData"]), f"{at}.inlineData"))
        elif kind == "fileData":
            said.append(_file_data(camel(part["fileData"]), f"{at}.fileData"))
        else:
            raise TranslationError("a user turn cannot hold functionCall parts", field=at)
    if not said:
        return results
    if all(p["type"] == "text" for p in said):
        return [*results, {"role": "user", "content": "".join(p["text"] for p in said)}]
    return [*results, {"role": "user", "content": said}]


def _kind(part: Mapping[str, Any], at: str) -> str:
    for kind in _PART_KINDS:
        if part.get(kind) is not None:
            extra = [
                k for k in part if k not in (kind, "thought", "thoughtSignature") and part[k] is not None
            ]
            if extra:
                raise TranslationError("cannot be sent to this provider", field=f"{at}.{extra[0]}")
            if kind == "text" and not isinstance(part["text"], str):
                raise TranslationError("must be a string", field=f"{at}.text")
            return kind
    named = next((k for k in part if part[k] is not None), "")
    raise TranslationError(
        f"a {named!r} part cannot be sent to this provider (text, inlineData, fileData, functionCall and"
        " functionResponse parts can)",
        field=at,
    )


def _function_response(
    response: Mapping[str, Any], at: str, unanswered: list[tuple[str, str]]
) -> dict[str, Any]:
    name, given, result = response.get("name"), response.get("id"), response.get("response", {})
    if not isinstance(name, str):
        raise TranslationError("a name is required", field=f"{at}.name")
    if not isinstance(result, dict):
        raise TranslationError("must be an object", field=f"{at}.response")
    for extra in response:
        if extra not in ("name", "id", "response") and response[extra] is not None:
            raise TranslationError("cannot be sent to this provider", field=f"{at}.{extra}")
    match = next((c for c in unanswered if c[1] == given), None) if isinstance(given, str) else None
    match = match or next((c for c in unanswered if c[0] == name), None)
    if match is None:
        raise TranslationError(
            f"no function call of {name!r} in the model turn before it is left to answer", field=at
        )
    unanswered.remove(match)
    return {"role": "tool", "tool_call_id": match[1], "content": orjson.dumps(result).decode()}


def _inline(data: Mapping[str, Any], at: str) -> dict[str, Any]:
    """https://ai.google.dev/gemini-api/docs/image-understanding: base64 bytes and their type."""
    mime, encoded = data.get("mimeType"), data.get("data")
    if not isinstance(mime, str) or not isinstance(encoded, str):
        raise TranslationError("mimeType and data strings are required", field=at)
    url = f"data:{mime};base64,{encoded}"
    if mime.startswith("image/"):
        return {"type": "image_url", "image_url": {"url": url}}
    if mime in ("audio/wav", "audio/mp3", "audio/mpeg"):
        return {
            "type": "input_audio",
            "input_audio": {"data": encoded, "format": "wav" if mime == "audio/wav" else "mp3"},
        }
    return file_part(url, data.get("displayName"))


def _file_data(data: Mapping[str, Any], at: str) -> dict[str, Any]:
    uri, mime = data.get("fileUri"), data.get("mimeType")
    if (
        isinstance(uri, str)
        and uri.startswith(("https://", "http://"))
        and (not isinstance(mime, str) or mime.startswith("image/"))
    ):
        return {"type": "image_url", "image_url": {"url": uri}}
    raise TranslationError("only images by http(s) URL can be sent to this provider by fileUri", field=at)
