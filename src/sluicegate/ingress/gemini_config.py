"""A Gemini request's `generationConfig` and `tools` as the chat fields they mean; the field rules
its translation (gemini_request.py) shares.

https://ai.google.dev/api/generate-content#generationconfig: sampling fields go to chat's of the
same meaning (`maxOutputTokens` as `max_completion_tokens`, `stopSequences` as `stop`,
`candidateCount` as `n`); JSON mode (`responseMimeType: application/json`) as `response_format`,
`json_object`, or `json_schema` with `responseJsonSchema` as it is or `responseSchema`'s OpenAPI
subset as the JSON Schema it means (`json_schema_of`); `thinkingConfig` as the Messages ingress's
`thinking` (a budget) or chat's `reasoning_effort` (a level). `tools`' functionDeclarations are chat
function tools and `toolConfig` its `tool_choice` (https://ai.google.dev/api/caching#Tool). `topK`,
logprobs, other modalities, Google's own tools (search, code execution) and forcing a choice among
several functions have no chat form: a `TranslationError` naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from sluicegate.compat.base import TranslationError
from sluicegate.ingress.base import mapping

# generationConfig: the fields `generation` translates.
_CONFIG_TAKEN: Final = frozenset(
    {"temperature", "topP", "maxOutputTokens", "stopSequences", "candidateCount", "seed", "presencePenalty",
     "frequencyPenalty", "responseMimeType", "responseSchema", "responseJsonSchema", "thinkingConfig",
     "responseModalities"}
)  # fmt: skip
_TO_CHAT: Final = {
    "temperature": "temperature",
    "topP": "top_p",
    "maxOutputTokens": "max_completion_tokens",
    "candidateCount": "n",
    "seed": "seed",
    "presencePenalty": "presence_penalty",
    "frequencyPenalty": "frequency_penalty",
}
# https://ai.google.dev/api/caching#Mode: VALIDATED (calls checked against the schemas) has no chat form.
_MODES: Final = {"AUTO": "auto", "MODE_UNSPECIFIED": "auto", "ANY": "required", "NONE": "none"}
_THINKING_LEVELS: Final = frozenset({"minimal", "low", "medium", "high"})
_SNAKE = re.compile(r"_([a-z])")


def camel(value: Any) -> dict[str, Any]:
    """An object's keys by their JSON (camelCase) names: Google takes the proto names too."""
    return {_SNAKE.sub(lambda m: m[1].upper(), k): v for k, v in mapping(value).items()}


def refuse_unknown(payload: Mapping[str, Any], taken: frozenset[str], where: str) -> None:
    for name, value in payload.items():
        if name not in taken and value is not None:
            raise TranslationError(
                "a field the gateway cannot translate for this provider: its answer would not do what"
                " it asks; leave it out, or use a google-ai-studio/ model",
                field=where + name,
            )


def generation(config: Mapping[str, Any]) -> dict[str, Any]:
    where = "generationConfig."
    if config.get("topK") is not None:
        raise TranslationError(
            "chat, in which the gateway asks the providers, has no top_k: leave it out, or use a"
            " google-ai-studio/ model",
            field=where + "topK",
        )
    refuse_unknown(config, _CONFIG_TAKEN, where)
    chat: dict[str, Any] = {}
    for name, chat_name in _TO_CHAT.items():
        if (value := config.get(name)) is not None:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise TranslationError("must be a number", field=where + name)
            chat[chat_name] = value
    if (stops := config.get("stopSequences")) is not None:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise TranslationError("must be a list of strings", field=where + "stopSequences")
        if stops:
            chat["stop"] = stops
    if any(m not in ("TEXT", "text") for m in config.get("responseModalities") or ()):
        raise TranslationError("only text answers can be translated", field=where + "responseModalities")
    if (response_format := _response_format(config)) is not None:
        chat["response_format"] = response_format
    chat.update(_thinking(camel(config.get("thinkingConfig"))))
    return chat


def _response_format(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """https://ai.google.dev/gemini-api/docs/structured-output: JSON mode, with a schema or none."""
    mime = config.get("responseMimeType")
    schema, json_schema = config.get("responseSchema"), config.get("responseJsonSchema")
    if mime in (None, "text/plain"):
        if schema is not None or json_schema is not None:
            raise TranslationError(
                "a schema needs responseMimeType application/json", field="generationConfig.responseMimeType"
            )
        return None
    if mime != "application/json":
        raise TranslationError(
            f"{mime!r} has no translation (text/plain and application/json do)",
            field="generationConfig.responseMimeType",
        )
    if json_schema is None and schema is None:
        return {"type": "json_object"}
    converted = json_schema if json_schema is not None else json_schema_of(schema)
    if not isinstance(converted, dict):
        raise TranslationError("must be a schema object", field="generationConfig.responseSchema")
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": converted}}


def json_schema_of(schema: Any) -> Any:
    """Google's `Schema` (an OpenAPI 3.0 subset: `"type": "OBJECT"`, `nullable`, `propertyOrdering`)
    as the JSON Schema chat takes: types in lower case, `nullable` as a `null` type, the properties
    in `propertyOrdering`'s order. https://ai.google.dev/api/caching#Schema"""
    if isinstance(schema, list):
        return [json_schema_of(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    schema = camel(schema)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("nullable", "propertyOrdering"):
            continue
        if key == "type" and isinstance(value, str):
            out["type"] = value.lower()
        elif key == "properties" and isinstance(value, Mapping):
            order = [n for n in schema.get("propertyOrdering") or () if n in value]
            names = order + [n for n in value if n not in order]
            out["properties"] = {n: json_schema_of(value[n]) for n in names}
        elif key in ("items", "anyOf"):
            out[key] = json_schema_of(value)
        else:
            out[key] = value
    if schema.get("nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _thinking(config: Mapping[str, Any]) -> dict[str, Any]:
    """thinkingConfig (https://ai.google.dev/gemini-api/docs/thinking): a budget as the Messages
    ingress's `thinking` (0 turns it off; -1, the model's choice, asks nothing), a level as chat's
    `reasoning_effort`. `includeThoughts` only asks to see it: the answer renders its thinking then."""
    refuse_unknown(
        config,
        frozenset({"thinkingBudget", "thinkingLevel", "includeThoughts"}),
        "generationConfig.thinkingConfig.",
    )
    chat: dict[str, Any] = {}
    budget, level = config.get("thinkingBudget"), config.get("thinkingLevel")
    if budget is not None:
        if not isinstance(budget, int) or isinstance(budget, bool) or budget < -1:
            raise TranslationError(
                "must be -1, 0 or a positive integer", field="generationConfig.thinkingConfig.thinkingBudget"
            )
        if budget == 0:
            chat["thinking"] = {"type": "disabled"}
        elif budget > 0:
            chat["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if level is not None:
        if not isinstance(level, str) or level.lower() not in _THINKING_LEVELS:
            raise TranslationError(
                "must be minimal, low, medium or high", field="generationConfig.thinkingConfig.thinkingLevel"
            )
        chat["reasoning_effort"] = level.lower()
    return chat


def shows_thoughts(payload: Mapping[str, Any]) -> bool:
    """Whether the request asks to see the model's thinking (`thinkingConfig.includeThoughts`)."""
    thinking = camel(camel(camel(payload).get("generationConfig")).get("thinkingConfig"))
    return thinking.get("includeThoughts") is True


def tools_of(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise TranslationError("must be a list", field="tools")
    chat = []
    for i, tool in enumerate(tools):
        tool = camel(tool)
        for name, value in tool.items():
            if name != "functionDeclarations" and value is not None:
                raise TranslationError(
                    "one of Google's own tools, which Google runs: only functionDeclarations can be sent"
                    " to this provider; use a google-ai-studio/ model",
                    field=f"tools[{i}].{name}",
                )
        for j, declaration in enumerate(tool.get("functionDeclarations") or ()):
            chat.append(_function(camel(declaration), f"tools[{i}].functionDeclarations[{j}]"))
    return chat


def _function(declaration: Mapping[str, Any], at: str) -> dict[str, Any]:
    name = declaration.get("name")
    if not isinstance(name, str):
        raise TranslationError("a name is required", field=f"{at}.name")
    refuse_unknown(
        declaration,
        frozenset({"name", "description", "parameters", "parametersJsonSchema", "behavior"}),
        f"{at}.",
    )
    if declaration.get("behavior") not in (None, "UNSPECIFIED", "BLOCKING"):
        raise TranslationError("only blocking functions can be called through chat", field=f"{at}.behavior")
    function: dict[str, Any] = {"name": name}
    if isinstance(declaration.get("description"), str):
        function["description"] = declaration["description"]
    if (schema := declaration.get("parametersJsonSchema")) is not None:
        function["parameters"] = schema
    elif (schema := declaration.get("parameters")) is not None:
        function["parameters"] = json_schema_of(schema)
    else:
        function["parameters"] = {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def tool_choice(config: Mapping[str, Any]) -> dict[str, Any]:
    """https://ai.google.dev/api/caching#FunctionCallingConfig"""
    refuse_unknown(config, frozenset({"functionCallingConfig"}), "toolConfig.")
    calling = camel(config.get("functionCallingConfig"))
    where = "toolConfig.functionCallingConfig."
    refuse_unknown(calling, frozenset({"mode", "allowedFunctionNames"}), where)
    mode, allowed = calling.get("mode") or "AUTO", calling.get("allowedFunctionNames")
    if mode not in _MODES:
        raise TranslationError(f"{mode!r} has no translation (AUTO, ANY and NONE do)", field=where + "mode")
    if not allowed:
        return {"tool_choice": _MODES[mode]}
    if mode != "ANY" or not isinstance(allowed, list) or len(allowed) != 1 or not isinstance(allowed[0], str):
        raise TranslationError(
            "chat can force one named function (mode ANY with one name), not choose among several",
            field=where + "allowedFunctionNames",
        )
    return {"tool_choice": {"type": "function", "function": {"name": allowed[0]}}}
