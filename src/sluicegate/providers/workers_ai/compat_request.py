"""An OpenAI chat request as the body of a Workers AI text-generation request (`native_body`);
what cannot be expressed raises `TranslationError` naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from sluicegate.compat.base import TranslationError
from sluicegate.compat.fields import refuse_unsendable

# OpenAI request fields Workers AI takes under the same name. Its ranges differ in places (penalties
# 0..2 where OpenAI's go down to -2): such values are passed on, and Workers AI's 400 names them.
_SAME_NAME: Final = ("temperature", "top_p", "seed", "frequency_penalty", "presence_penalty")

# Fields Workers AI has no place for: taken at values that change nothing, else refused
# (compat/fields.py).
_UNSENDABLE: Final = ("logit_bias", "verbosity")

# Fields that ask for something Workers AI cannot do; refused when set to anything but their default.
_UNSUPPORTED: Final[Mapping[str, object]] = {
    "audio": None,
    "functions": None,  # OpenAI's deprecated function calling; Workers AI's `functions` is another thing
    "function_call": None,
    "logprobs": False,
    "top_logprobs": None,
    "prediction": None,
    "web_search_options": None,
    "stop": None,
}


def _refuse_unsupported(payload: Mapping[str, Any]) -> None:
    for name, default in _UNSUPPORTED.items():
        if payload.get(name, default) not in (default, None, []):
            raise TranslationError("not supported by Workers AI", field=name)
    refuse_unsendable(payload, _UNSENDABLE, "Workers AI")
    if payload.get("n", 1) not in (1, None):
        raise TranslationError("Workers AI returns one choice per request", field="n")
    if any(modality != "text" for modality in payload.get("modalities") or ()):
        raise TranslationError("Workers AI text models answer with text only", field="modalities")


def _max_tokens(payload: Mapping[str, Any]) -> int | None:
    """`max_completion_tokens` or `max_tokens`; None leaves Workers AI's default (256 tokens)."""
    name = "max_completion_tokens" if payload.get("max_completion_tokens") is not None else "max_tokens"
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TranslationError("must be a positive integer", field=name)
    return value


def _messages(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        raise TranslationError("a non-empty list is required", field="messages")
    names: dict[str, str] = {}  # tool call id -> function name, for the tool messages that answer it
    messages = []
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer", "user"):
            messages.append(
                {"role": "user" if role == "user" else "system", "content": _content(message, where)}
            )
        elif role == "assistant":
            messages.append({"role": "assistant", "content": _assistant_content(message, where, names)})
        elif role == "tool":
            translated = {"role": "tool", "content": _content(message, where)}
            if (name := names.get(str(message.get("tool_call_id")))) is not None:
                translated["name"] = name
            messages.append(translated)
        else:
            raise TranslationError(f"{role!r} cannot be translated for Workers AI", field=f"{where}.role")
    return messages


def _content(message: Mapping[str, Any], where: str) -> str:
    """A string, or the text of a list of text parts; Workers AI text models read no other parts."""
    content = message.get("content")
    if isinstance(content, str) or content is None:
        return content or ""
    if not isinstance(content, list):
        raise TranslationError("must be a string or a list of parts", field=f"{where}.content")
    texts = []
    for j, part in enumerate(content):
        kind = as_mapping(part).get("type")
        if kind not in ("text", "refusal") or not isinstance(text := part.get(kind), str):
            raise TranslationError(
                f"a {kind!r} part cannot be translated for Workers AI", field=f"{where}.content[{j}]"
            )
        texts.append(text)
    return "\n".join(texts)


def _assistant_content(message: Mapping[str, Any], where: str, names: dict[str, str]) -> str:
    text = _content(message, where)
    calls = message.get("tool_calls")
    if not calls:
        return text
    native = []
    for j, call in enumerate(calls if isinstance(calls, list) else ()):
        function = as_mapping(as_mapping(call).get("function"))
        if not isinstance(function.get("name"), str):
            raise TranslationError("required", field=f"{where}.tool_calls[{j}].function.name")
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except (orjson.JSONDecodeError, TypeError):
            raise TranslationError(
                "must be JSON", field=f"{where}.tool_calls[{j}].function.arguments"
            ) from None
        names[str(as_mapping(call).get("id"))] = function["name"]
        native.append({"name": function["name"], "arguments": arguments})
    calls_json = orjson.dumps(native).decode()
    return f"{text}\n{calls_json}" if text else calls_json


def _tools(tools: Any, choice: Any) -> list[dict[str, Any]] | None:
    """Function tools in the OpenAI form Workers AI also accepts; `tool_choice` only auto or none."""
    if choice not in (None, "auto", "none"):
        raise TranslationError("Workers AI only chooses tools itself ('auto' or 'none')", field="tool_choice")
    if not tools or choice == "none":
        return None
    if not isinstance(tools, list):
        raise TranslationError("must be a list", field="tools")
    translated = []
    for i, tool in enumerate(tools):
        function = as_mapping(tool).get("function") if as_mapping(tool).get("type") == "function" else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise TranslationError("only function tools with a name can be translated", field=f"tools[{i}]")
        # Workers AI requires a description and an object schema with properties.
        parameters = function.get("parameters") or {"type": "object", "properties": {}}
        spec = {
            "name": function["name"],
            "description": function.get("description") or "",
            "parameters": parameters,
        }
        translated.append({"type": "function", "function": spec})
    return translated


def _response_format(response_format: Any, stream: bool) -> dict[str, Any] | None:
    """JSON mode: https://developers.cloudflare.com/workers-ai/features/json-mode/ (no streaming)."""
    kind = as_mapping(response_format).get("type", "text")
    if kind == "text":
        return None
    if stream:
        raise TranslationError("Workers AI's JSON mode does not stream", field="response_format")
    if kind == "json_object":
        return {"type": "json_object"}
    schema = as_mapping(as_mapping(response_format).get("json_schema")).get("schema")
    if kind != "json_schema" or not isinstance(schema, dict):
        raise TranslationError(
            "must be text, json_object or json_schema with a schema", field="response_format"
        )
    return {"type": "json_schema", "json_schema": schema}


def native_body(payload: dict[str, Any]) -> dict[str, Any]:
    """The Workers AI body for an OpenAI chat `payload`."""
    _refuse_unsupported(payload)
    stream = payload.get("stream") is True
    body: dict[str, Any] = {"messages": _messages(payload.get("messages"))}
    if (max_tokens := _max_tokens(payload)) is not None:
        body["max_tokens"] = max_tokens
    body |= {name: payload[name] for name in _SAME_NAME if payload.get(name) is not None}
    if (response_format := _response_format(payload.get("response_format"), stream)) is not None:
        body["response_format"] = response_format
    if (tools := _tools(payload.get("tools"), payload.get("tool_choice"))) is not None:
        body["tools"] = tools
    if stream:
        body["stream"] = True
    return body


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
