"""An OpenAI chat request as the body of a Gemini generateContent request (`native_body`); what
cannot be expressed raises `TranslationError` naming the field.

A `response_format` becomes generationConfig's responseMimeType (and responseJsonSchema), except
beside the request's own tools on a model before Gemini 3: those answer 400 "Function calling with a
response mime type: 'application/json' is unsupported" (only Gemini 3 combines structured outputs
with function calling: https://ai.google.dev/gemini-api/docs/structured-output). There the format
becomes one more function, `ANSWER_FUNCTION`, whose parameters are the format's schema, and
function calling mode ANY makes the model call it or one of the request's tools, as the Anthropic
translator does; compat.py turns that call back into the answer's `content`."""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from sluicegate.compat.base import TranslationError
from sluicegate.compat.fields import refuse_unsendable
from sluicegate.providers.gemini.compat_thinking import thinking_config

# OpenAI parameter -> generationConfig field: https://ai.google.dev/api/generate-content#generationconfig
GENERATION_FIELDS: Final = {
    "max_tokens": "maxOutputTokens",
    "max_completion_tokens": "maxOutputTokens",
    "temperature": "temperature",
    "top_p": "topP",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}

# Fields that ask for something the translation cannot give; refused when set to anything but their
# default (as the Anthropic translator does), not dropped. The reason follows each.
_UNSUPPORTED: Final = {
    "functions": (None, "the deprecated function-calling API; send `tools`"),
    "function_call": (None, "the deprecated function-calling API; send `tool_choice`"),
    "audio": (None, "audio answers cannot be translated from Gemini"),
    "web_search_options": (
        None,
        "OpenAI's web search has no translation; Google Search grounding is a native tool",
    ),
    "prediction": (None, "predicted outputs are OpenAI's alone"),
}

# Fields Gemini has no place for: taken at values that change nothing, else refused (compat/fields.py).
_UNSENDABLE: Final = ("logit_bias", "verbosity")

# generationConfig.logprobs, the top candidates per token: "in the range of [0, 20]"
# (https://ai.google.dev/api/generate-content#generationconfig), as OpenAI's top_logprobs.
MAX_TOP_LOGPROBS: Final = 20

# https://ai.google.dev/api/caching#FunctionCallingConfig
TOOL_CHOICE_MODES: Final = {"auto": "AUTO", "none": "NONE", "required": "ANY"}

IMAGE_TYPES: Final = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "heic": "image/heic",
    "heif": "image/heif",
}

ROLES: Final = {"user": "user", "assistant": "model", "tool": "user", "function": "user"}


# Google's documented stand-in for a function call whose signature is lost (a client that keeps only
# the call's id and arguments, a history from another model): Gemini 3 refuses the call without one.
# https://ai.google.dev/gemini-api/docs/thought-signatures
NO_SIGNATURE: Final = "skip_thought_signature_validator"
_SIGNING_MODEL = re.compile(r"gemini-(\d+)")

# The function a response format becomes beside tools (see above); reserved, so that a call of it
# is always the answer.
ANSWER_FUNCTION: Final = "json_answer"
# json_object has no schema: any JSON object.
_ANY_OBJECT: Final = {"type": "object"}


def _contents(messages: list[Any], signed: bool = False) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """System parts, and the other messages as Contents (consecutive turns of one role merged).
    `signed`: the model requires a thought signature on each model turn's first function call."""
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    call_names: dict[str, str] = {}  # tool call id -> function name, for the results that follow
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise TranslationError("must be an object", field=f"messages[{i}]")
        role = message.get("role")
        if role in ("system", "developer"):
            system += _parts(message.get("content"), f"messages[{i}]")
            continue
        if role not in ROLES:
            raise TranslationError(
                f"{role!r} cannot be sent to Google AI Studio", field=f"messages[{i}].role"
            )
        if role in ("tool", "function"):
            parts = [_function_response(message, call_names, f"messages[{i}]")]
        else:
            parts = _parts(message.get("content"), f"messages[{i}]")
        calls = (message.get("tool_calls") or []) if role == "assistant" else []
        called = [
            _function_call(call, call_names, f"messages[{i}].tool_calls[{j}]") for j, call in enumerate(calls)
        ]
        if signed and called and "thoughtSignature" not in called[0]:
            called[0]["thoughtSignature"] = NO_SIGNATURE
        parts += called
        if not parts:
            continue
        if contents and contents[-1]["role"] == ROLES[role]:
            contents[-1]["parts"] += parts
        else:
            contents.append({"role": ROLES[role], "parts": parts})
    if not contents:
        raise TranslationError("at least one user or assistant message is required", field="messages")
    return system, contents


def _parts(content: Any, where: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    if not isinstance(content, list):
        raise TranslationError("must be a string or a list of parts", field=f"{where}.content")
    return [_part(part, f"{where}.content[{j}]") for j, part in enumerate(content)]


def _part(part: Any, where: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise TranslationError("must be an object", field=where)
    kind, value = part.get("type"), part.get(str(part.get("type")))
    if kind in ("text", "refusal") and isinstance(value, str):
        return {"text": value}
    if kind == "image_url" and isinstance(url := value.get("url") if isinstance(value, dict) else value, str):
        return _media(url, where)
    if kind == "input_audio" and isinstance(value, dict):
        return {"inlineData": {"mimeType": f"audio/{value.get('format', 'wav')}", "data": value.get("data")}}
    if kind == "file" and isinstance(value, dict):
        if isinstance(value.get("file_data"), str):
            return _media(value["file_data"], where)
        raise TranslationError("only inline file_data can be sent to Google AI Studio", field=f"{where}.file")
    raise TranslationError(f"{kind!r} cannot be sent to Google AI Studio", field=f"{where}.type")


def _media(url: str, where: str) -> dict[str, Any]:
    """A data URL as inline bytes; any other URL by reference (https://ai.google.dev/api/caching#FileData)."""
    if url.startswith("data:"):
        header, comma, data = url[5:].partition(",")
        mime_type, _, encoding = header.partition(";")
        if not comma or encoding != "base64":
            raise TranslationError("a data URL must be base64 (data:<type>;base64,<data>)", field=where)
        return {"inlineData": {"mimeType": mime_type, "data": data}}
    file_data = {"fileUri": url}
    extension = url.split("?", 1)[0].rsplit(".", 1)[-1].lower()
    if extension in IMAGE_TYPES:
        file_data = {"mimeType": IMAGE_TYPES[extension], **file_data}
    return {"fileData": file_data}


def _function_call(call: Any, call_names: dict[str, str], where: str) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    if (
        not isinstance(call, dict)
        or not isinstance(function, dict)
        or not isinstance(function.get("name"), str)
    ):
        raise TranslationError("required", field=f"{where}.function.name")
    try:
        args = orjson.loads(function.get("arguments") or "{}")
    except orjson.JSONDecodeError as exc:
        raise TranslationError(f"not JSON ({exc})", field=f"{where}.function.arguments") from exc
    if isinstance(call.get("id"), str):
        call_names[call["id"]] = function["name"]
    part: dict[str, Any] = {"functionCall": {"name": function["name"], "args": args}}
    google = (
        (call.get("extra_content") or {}).get("google")
        if isinstance(call.get("extra_content"), dict)
        else None
    )
    if isinstance(google, dict) and isinstance(google.get("thought_signature"), str):
        part["thoughtSignature"] = google["thought_signature"]  # as Gemini gave it (compat.py)
    return part


def _gemini_version(model: Any) -> int | None:
    found = _SIGNING_MODEL.search(model) if isinstance(model, str) else None
    return int(found.group(1)) if found is not None else None


def _signs_function_calls(model: Any) -> bool:
    """Whether `model` (Gemini 3 and later) refuses function calls sent back without a signature.
    An alias without a version (`gemini-flash-latest`) may name one: the stand-in is sent for it too."""
    if not isinstance(model, str):
        return False
    version = _gemini_version(model)
    return version >= 3 if version is not None else "latest" in model


def _function_response(message: dict[str, Any], call_names: dict[str, str], where: str) -> dict[str, Any]:
    name = call_names.get(message.get("tool_call_id") or "", message.get("name"))
    if not isinstance(name, str):
        raise TranslationError("no earlier assistant tool call has this id", field=f"{where}.tool_call_id")
    content = message.get("content")
    text = content if isinstance(content, str) else "".join(p.get("text", "") for p in _parts(content, where))
    try:
        result = orjson.loads(text)
    except orjson.JSONDecodeError:
        result = text
    # `response` must be an object (https://ai.google.dev/api/caching#FunctionResponse).
    response = result if isinstance(result, dict) else {"content": result}
    return {"functionResponse": {"name": name, "response": response}}


def _declarations(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise TranslationError("must be a list", field="tools")
    declarations = []
    for i, tool in enumerate(tools):
        function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise TranslationError("only function tools can be sent to Google AI Studio", field=f"tools[{i}]")
        if function["name"] == ANSWER_FUNCTION:
            raise TranslationError(
                f"{ANSWER_FUNCTION!r} is reserved for response_format", field=f"tools[{i}].function.name"
            )
        declaration = {"name": function["name"]}
        if "description" in function:
            declaration["description"] = function["description"]
        if "parameters" in function:  # JSON Schema as OpenAI has it, not Gemini's OpenAPI subset
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    return declarations


def _calling_config(choice: Any) -> dict[str, Any]:
    if isinstance(choice, str) and choice in TOOL_CHOICE_MODES:
        return {"mode": TOOL_CHOICE_MODES[choice]}
    name = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    if not isinstance(name, str):
        raise TranslationError("must be auto, none, required or a function", field="tool_choice")
    return {"mode": "ANY", "allowedFunctionNames": [name]}


def _answer_function(response_format: dict[str, Any]) -> dict[str, Any]:
    """The declaration a json_schema or json_object `response_format` becomes beside tools."""
    if response_format.get("type") == "json_object":
        schema: Any = dict(_ANY_OBJECT)
        description = (
            "Give your answer to the user with this function: its arguments are the answer, a JSON object."
        )
    else:
        spec = response_format.get("json_schema")
        spec = spec if isinstance(spec, dict) else {}
        schema = spec.get("schema", dict(_ANY_OBJECT))
        if not isinstance(schema, dict) or schema.get("type") != "object":  # arguments are an object
            raise TranslationError(
                "beside tools, Gemini before 3 needs an object schema",
                field="response_format.json_schema.schema",
            )
        name = spec.get("name") if isinstance(spec.get("name"), str) else "JSON object"
        description = (
            f"Give your answer to the user with this function: its arguments are the answer, a `{name}`."
        )
        if isinstance(spec.get("description"), str) and spec["description"]:
            description += " " + spec["description"]
    return {"name": ANSWER_FUNCTION, "description": description, "parametersJsonSchema": schema}


def _answers_by_function(payload: dict[str, Any], model: str) -> bool:
    """Whether the response format goes as `ANSWER_FUNCTION` (tools beside it, a model before 3)."""
    response_format = payload.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    return kind in ("json_object", "json_schema") and bool(payload.get("tools")) and not _from_gemini_3(model)


def _from_gemini_3(model: str) -> bool:
    version = _gemini_version(model)
    return version is not None and version >= 3  # an alias (gemini-flash-latest) may be a 2.x


def _tool_fields(payload: dict[str, Any], model: str) -> dict[str, Any]:
    """`tools` and `toolConfig`. With `ANSWER_FUNCTION`, the model must call a function (mode ANY):
    one of the request's or the answer; with tool_choice none, the answer. A tool_choice that
    requires one of the request's tools leaves the format out, as the Anthropic translator does."""
    declarations = _declarations(payload["tools"]) if payload.get("tools") else []
    choice = payload.get("tool_choice")
    config = _calling_config(choice) if choice is not None else None
    if _answers_by_function(payload, model) and (config is None or config["mode"] in ("AUTO", "NONE")):
        forced: dict[str, Any] = {"mode": "ANY"}
        if config is not None and config["mode"] == "NONE":
            forced["allowedFunctionNames"] = [ANSWER_FUNCTION]
        config = forced
        declarations.append(_answer_function(payload["response_format"]))
    fields: dict[str, Any] = {"tools": [{"functionDeclarations": declarations}]} if declarations else {}
    if config is not None:
        fields["toolConfig"] = {"functionCallingConfig": config}
    return fields


def _generation_config(payload: dict[str, Any], model: str) -> dict[str, Any]:
    config = {field: payload[key] for key, field in GENERATION_FIELDS.items() if payload.get(key) is not None}
    stop = payload.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else stop
    response_format = payload.get("response_format")
    response_format = response_format if isinstance(response_format, dict) else {}
    if payload.get("tools") and not _from_gemini_3(model):
        pass  # the answer function carries the format, or a required tool call leaves it out
    elif response_format.get("type") == "json_object":
        config["responseMimeType"] = "application/json"
    elif response_format.get("type") == "json_schema":
        config["responseMimeType"] = "application/json"
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema is not None:
            config["responseJsonSchema"] = schema
    config.update(_logprobs_config(payload))
    return config


def _logprobs_config(payload: dict[str, Any]) -> dict[str, Any]:
    """`logprobs: true` as responseLogprobs, `top_logprobs: k` as logprobs k (compat.py turns each
    candidate's logprobsResult back into its choice's `logprobs.content`)."""
    asked, top = payload.get("logprobs"), payload.get("top_logprobs")
    if asked is not None and not isinstance(asked, bool):
        raise TranslationError("must be true or false", field="logprobs")
    if top is None:
        return {"responseLogprobs": True} if asked else {}
    if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= MAX_TOP_LOGPROBS:
        raise TranslationError(
            f"must be an integer from 0 to {MAX_TOP_LOGPROBS}: Google AI Studio's "
            f"generationConfig.logprobs returns at most {MAX_TOP_LOGPROBS} top candidates per token",
            field="top_logprobs",
        )
    if not asked:
        raise TranslationError(
            "needs logprobs: true (Gemini gives top candidates only with them)", field="top_logprobs"
        )
    return {"responseLogprobs": True, "logprobs": top}


def _refuse_unsupported(payload: dict[str, Any]) -> None:
    for name, (default, why) in _UNSUPPORTED.items():
        if payload.get(name, default) not in (default, None):
            raise TranslationError(f"not supported by Google AI Studio ({why})", field=name)
    refuse_unsendable(payload, _UNSENDABLE, "Google AI Studio")
    if any(modality != "text" for modality in payload.get("modalities") or ()):
        raise TranslationError(
            "only text answers can be translated from Google AI Studio", field="modalities"
        )
    # `parallel_tool_calls: false` has no Gemini switch: the gateway keeps the answer's first
    # function call only (pipeline/one_call.py).


def native_body(payload: dict[str, Any], model: str = "") -> dict[str, Any]:
    """The generateContent body for an OpenAI chat `payload` to `model`."""
    _refuse_unsupported(payload)
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TranslationError("a non-empty list is required", field="messages")
    system, contents = _contents(messages, signed=_signs_function_calls(model))
    body: dict[str, Any] = {"contents": contents}
    if system:
        body["systemInstruction"] = {"parts": system}
    body.update(_tool_fields(payload, model))
    generation = _generation_config(payload, model)
    if (thinking := thinking_config(payload, _from_gemini_3(model), model)) is not None:
        generation["thinkingConfig"] = thinking
    if generation:
        body["generationConfig"] = generation
    return body
