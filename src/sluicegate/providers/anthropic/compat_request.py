"""An OpenAI chat request as the body of an Anthropic Messages request (`native_body`); what
cannot be expressed raises `TranslationError` naming the field.

A `response_format` (json_schema or json_object) becomes one more tool, `ANSWER_TOOL`, whose input
schema is the format's schema and which the model is made to call whenever it may answer: the
classic way to get JSON from Claude (https://docs.anthropic.com/en/docs/build-with-claude/tool-use#json-mode),
which every Claude model takes, whatever the schema. compat.py turns that call back into the
answer's `content`. Anthropic's own structured outputs (`output_config.format`) would constrain
decoding, but only on the models since Claude Sonnet 4.5 and only for schemas in its subset: see
docs/providers.md.

Prompt caching breakpoints (https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching) are
written the way OpenRouter and LiteLLM take them in the OpenAI schema, `cache_control` (`{"type":
"ephemeral"}`, maybe with a `ttl`) on a content part, a message, a tool call or a tool, and each goes,
as it is, on the Anthropic block or tool it becomes: a message's on its last block, a tool message
part's on its tool_result. Anthropic refuses more than `MAX_BREAKPOINTS` (400); so does this."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from sluicegate.compat.base import TranslationError
from sluicegate.compat.fields import refuse_unsendable
from sluicegate.providers.anthropic.compat_thinking import signed_blocks, with_thinking

# Anthropic requires max_tokens; OpenAI's default is "as many as the model allows".
DEFAULT_MAX_TOKENS: Final = 4096

# OpenAI request fields sent under Anthropic's name, unchanged.
_RENAMES: Final[Mapping[str, str]] = {"temperature": "temperature", "top_p": "top_p"}
# Anthropic's temperature runs from 0 to 1 where OpenAI's runs to 2. A larger one is refused before
# it is sent, not scaled (0.7 would become 0.35) nor cut to 1 (Portkey clamps it unseen).
MAX_TEMPERATURE: Final = 1.0
# Sampling fields Anthropic has no place for: taken at values that change nothing, else refused
# (compat/fields.py). `seed` is taken and not sent: Anthropic has none, and OpenAI's is best effort.
_UNSENDABLE: Final = ("presence_penalty", "frequency_penalty", "logit_bias", "verbosity")

# Fields that ask for something Anthropic cannot do; refused when set to anything but their default.
_UNSUPPORTED: Final[Mapping[str, object]] = {
    "audio": None,
    "functions": None,  # the deprecated function-calling API; `tools` is supported
    "function_call": None,
    "logprobs": False,
    "top_logprobs": None,
    "prediction": None,
    "web_search_options": None,
}

_TOOL_CHOICES: Final[Mapping[str, str]] = {"auto": "auto", "none": "none", "required": "any"}

# The tool a response format becomes; reserved, so that an answer's call of it is always the answer.
ANSWER_TOOL: Final = "json_answer"
# Anthropic's limit: "A maximum of 4 blocks with cache_control may be provided", else a 400.
MAX_BREAKPOINTS: Final = 4
# json_object has no schema: any JSON object (Anthropic refuses a null `properties`).
_ANY_OBJECT: Final[Mapping[str, Any]] = {"type": "object", "properties": {}, "additionalProperties": True}

_DATA_URL = re.compile(r"data:(?P<media_type>[\w.+-]+/[\w.+-]+)(?:;[^,;]*)*;base64,(?P<data>.*)", re.DOTALL)


def _refuse_unsupported(payload: Mapping[str, Any]) -> None:
    for name, default in _UNSUPPORTED.items():
        if payload.get(name, default) not in (default, None):
            raise TranslationError("not supported by Anthropic", field=name)
    refuse_unsendable(payload, _UNSENDABLE, "Anthropic")
    if payload.get("n", 1) not in (1, None):
        raise TranslationError("Anthropic returns one choice per request", field="n")
    if any(modality != "text" for modality in payload.get("modalities") or ()):
        raise TranslationError("Anthropic answers with text only", field="modalities")


def _refuse_hot(temperature: Any) -> None:
    number = isinstance(temperature, int | float) and not isinstance(temperature, bool)
    if number and temperature > MAX_TEMPERATURE:
        raise TranslationError(
            f"Anthropic's temperature runs from 0 to {MAX_TEMPERATURE:g} (OpenAI's to 2) and the gateway "
            f"does not rescale it: send a value from 0 to {MAX_TEMPERATURE:g}",
            field="temperature",
        )


def _max_tokens(payload: Mapping[str, Any]) -> int:
    name = "max_completion_tokens" if payload.get("max_completion_tokens") is not None else "max_tokens"
    value = payload.get(name)
    if value is None:
        return DEFAULT_MAX_TOKENS
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TranslationError("must be a positive integer", field=name)
    return value


def _stop_sequences(stop: Any) -> list[str]:
    sequences = [stop] if isinstance(stop, str) else stop
    if not isinstance(sequences, list) or not all(isinstance(s, str) for s in sequences):
        raise TranslationError("must be a string or a list of strings", field="stop")
    return sequences


def _conversation(raw: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """System text blocks, and the turns: consecutive same-role messages merge into one turn."""
    if not isinstance(raw, list) or not raw:
        raise TranslationError("a non-empty list is required", field="messages")
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    empty: str | None = None  # the first message left out for having no content
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            blocks = _content_blocks(message.get("content"), where)
        elif role == "user":
            blocks = _content_blocks(message.get("content"), where, media=True)
        elif role == "assistant":
            blocks = _assistant_blocks(message, where)
        elif role == "tool":
            role, blocks = "user", [_tool_result(message, where)]
        else:
            raise TranslationError(f"{role!r} cannot be translated for Anthropic", field=f"{where}.role")
        if blocks and (control := _cache_control(message, where)) is not None:
            blocks[-1].setdefault("cache_control", control)  # the message's end; a part's own wins
        if role in ("system", "developer"):
            system += blocks
            continue
        if not blocks:
            empty = empty or f"{where}.content"
            continue  # Anthropic refuses empty content; an empty message says nothing
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"] += blocks  # Anthropic's turns alternate
        else:
            turns.append({"role": role, "content": blocks})
    if not turns:  # Anthropic would refuse `"messages": []`, naming nothing the client sent
        raise TranslationError(
            "Anthropic takes no empty message, and no other user or assistant message has content: "
            "send some text",
            field=empty or "messages",
        )
    return system, [_compact(turn) for turn in turns]


def _compact(turn: dict[str, Any]) -> dict[str, Any]:
    """Tool results first in a user turn, as Anthropic requires; a lone unmarked text block as a string."""
    blocks = sorted(turn["content"], key=lambda block: block["type"] != "tool_result")  # stable
    if len(blocks) == 1 and blocks[0]["type"] == "text" and "cache_control" not in blocks[0]:
        return {"role": turn["role"], "content": blocks[0]["text"]}
    return {"role": turn["role"], "content": blocks}


def _content_blocks(content: Any, where: str, *, media: bool = False) -> list[dict[str, Any]]:
    """A string or a list of parts as Anthropic blocks, empty texts left out. Text and refusal parts
    are allowed everywhere; image and file parts only with `media` (user messages)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if content is None:
        return []
    if not isinstance(content, list):
        raise TranslationError("must be a string or a list of parts", field=f"{where}.content")
    blocks = []
    for j, part in enumerate(content):
        at, kind = f"{where}.content[{j}]", as_mapping(part).get("type")
        if kind in ("text", "refusal") and isinstance(text := part.get(kind), str):
            if not text:
                continue  # Anthropic refuses an empty text block, with or without cache_control
            block = {"type": "text", "text": text}
        elif media and kind == "image_url":
            block = _image(part.get("image_url"), f"{at}.image_url")
        elif media and kind == "file":
            block = _document(as_mapping(part.get("file")), f"{at}.file")
        else:
            raise TranslationError(f"a {kind!r} part cannot be translated here for Anthropic", field=at)
        blocks.append(_marked(block, _cache_control(part, at)))
    return blocks


def _cache_control(holder: Mapping[str, Any], where: str) -> dict[str, Any] | None:
    """`holder`'s `cache_control`, an object passed on as it is (Anthropic checks its type and ttl)."""
    control = holder.get("cache_control")
    if control is not None and not isinstance(control, dict):
        raise TranslationError(
            'must be an object, e.g. {"type": "ephemeral"}', field=f"{where}.cache_control"
        )
    return control


def _marked(block: dict[str, Any], control: dict[str, Any] | None) -> dict[str, Any]:
    if control is not None:
        block["cache_control"] = control
    return block


def _breakpoints(body: Mapping[str, Any]) -> int:
    """How many blocks and tools of an Anthropic body carry `cache_control`."""
    system = body.get("system")
    blocks = [*body.get("tools", ()), *(system if isinstance(system, list) else ())]
    for message in body["messages"]:
        blocks += message["content"] if isinstance(message["content"], list) else ()
    return sum("cache_control" in block for block in blocks)


def _image(image_url: Any, where: str) -> dict[str, Any]:
    """An OpenAI image part as an Anthropic image block: https://docs.anthropic.com/en/docs/build-with-claude/vision"""
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str) or not url:
        raise TranslationError("a URL or a data URL is required", field=f"{where}.url")
    if url.startswith("data:"):
        return {"type": "image", "source": _base64_source(url, where)}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _document(file: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A PDF file part as a document block: https://docs.anthropic.com/en/docs/build-with-claude/pdf-support"""
    data = file.get("file_data")
    if not isinstance(data, str):
        raise TranslationError("only inline file_data can be translated for Anthropic", field=where)
    source = _base64_source(data, where)
    if source["media_type"] != "application/pdf":
        raise TranslationError("Anthropic reads PDF documents only", field=where)
    return {"type": "document", "source": source}


def _base64_source(url: str, where: str) -> dict[str, str]:
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise TranslationError("only base64 data URLs can be translated for Anthropic", field=where)
    return {"type": "base64", "media_type": match["media_type"], "data": match["data"]}


def _assistant_blocks(message: Mapping[str, Any], where: str) -> list[dict[str, Any]]:
    # Its thinking first, as the answer gave it: Anthropic wants it back in a tool loop.
    blocks = signed_blocks(message) + _content_blocks(message.get("content"), where)
    for j, call in enumerate(message.get("tool_calls") or ()):
        call_id, function = as_mapping(call).get("id"), as_mapping(as_mapping(call).get("function"))
        if not isinstance(call_id, str) or not isinstance(function.get("name"), str):
            raise TranslationError("an id and a function name are required", field=f"{where}.tool_calls[{j}]")
        try:
            arguments = orjson.loads(function.get("arguments") or "{}")
        except (orjson.JSONDecodeError, TypeError):
            arguments = None
        if not isinstance(arguments, dict):
            raise TranslationError(
                "must be a JSON object", field=f"{where}.tool_calls[{j}].function.arguments"
            )
        block = {"type": "tool_use", "id": call_id, "name": function["name"], "input": arguments}
        blocks.append(_marked(block, _cache_control(as_mapping(call), f"{where}.tool_calls[{j}]")))
    return blocks


def _tool_result(message: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A tool message as a tool_result block: https://docs.anthropic.com/en/docs/build-with-claude/tool-use"""
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str):
        raise TranslationError("required", field=f"{where}.tool_call_id")
    content = message.get("content")
    if isinstance(content, str):
        return {"type": "tool_result", "tool_use_id": call_id, "content": content}
    blocks = _content_blocks(content, where)
    result = {"type": "tool_result", "tool_use_id": call_id, "content": "".join(b["text"] for b in blocks)}
    # The parts are joined into one text: a breakpoint on any of them marks the whole result.
    controls = [block["cache_control"] for block in blocks if "cache_control" in block]
    return _marked(result, controls[-1] if controls else None)


def _tool(tool: Any, where: str) -> dict[str, Any]:
    function = as_mapping(tool).get("function") if as_mapping(tool).get("type") == "function" else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise TranslationError("only function tools with a name can be translated", field=where)
    if function["name"] == ANSWER_TOOL:
        raise TranslationError(
            f"{ANSWER_TOOL!r} is reserved for response_format", field=f"{where}.function.name"
        )
    schema = function.get("parameters") or {"type": "object", "properties": {}}
    translated = {"name": function["name"], "input_schema": schema}
    if function.get("description"):
        translated["description"] = function["description"]
    # LiteLLM takes it beside `function` (OpenRouter's form) or inside it.
    control = _cache_control(tool, where)
    return _marked(
        translated, control if control is not None else _cache_control(function, f"{where}.function")
    )


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    """https://docs.anthropic.com/en/docs/build-with-claude/tool-use#controlling-claudes-output"""
    translated: dict[str, Any] | None
    if choice is None:
        translated = {"type": "auto"} if parallel is False else None
    elif isinstance(choice, str) and choice in _TOOL_CHOICES:
        translated = {"type": _TOOL_CHOICES[choice]}
    elif isinstance(name := as_mapping(as_mapping(choice).get("function")).get("name"), str):
        translated = {"type": "tool", "name": name}
    else:
        raise TranslationError("must be none, auto, required or a named function", field="tool_choice")
    if translated is not None and parallel is False and translated["type"] != "none":
        translated["disable_parallel_tool_use"] = True
    return translated


def _answer_tool(response_format: Any) -> dict[str, Any] | None:
    """The tool a json_schema or json_object `response_format` becomes; None for text or none."""
    kind = as_mapping(response_format).get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        description = "Give your answer to the user with this tool: its input is the answer, a JSON object."
        return {"name": ANSWER_TOOL, "description": description, "input_schema": dict(_ANY_OBJECT)}
    if kind != "json_schema":
        raise TranslationError(f"{kind!r} cannot be translated for Anthropic", field="response_format")
    spec = as_mapping(as_mapping(response_format).get("json_schema"))
    schema = spec.get("schema", _ANY_OBJECT)
    if as_mapping(schema).get("type") != "object":  # a tool's input is always an object
        raise TranslationError("Anthropic needs an object schema", field="response_format.json_schema.schema")
    name = spec.get("name") if isinstance(spec.get("name"), str) else "JSON object"
    description = f"Give your answer to the user with this tool: its input is the answer, a `{name}`."
    if isinstance(spec.get("description"), str) and spec["description"]:
        description += " " + spec["description"]
    return {"name": ANSWER_TOOL, "description": description, "input_schema": schema}


def _tools(payload: Mapping[str, Any]) -> dict[str, Any]:
    """`tools` and `tool_choice` for the body, each only if there is one.

    With a response format, the model answers through `ANSWER_TOOL` whenever the request lets it
    answer: alone, the tool is forced; beside the request's own tools (tool_choice auto or unset),
    the model must call one of them or the answer tool (`any`); with tool_choice none, the answer
    tool is forced. A tool_choice that requires one of the request's tools leaves the format out.
    """
    tools = payload.get("tools") or []
    if not isinstance(tools, list):
        raise TranslationError("must be a list", field="tools")
    translated = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(tools)]
    choice = _tool_choice(payload.get("tool_choice"), payload.get("parallel_tool_calls")) if tools else None
    answer = _answer_tool(payload.get("response_format"))
    if answer is not None and (choice is None or choice["type"] in ("auto", "none")):
        own = translated and (choice is None or choice["type"] == "auto")
        forced = {"type": "any"} if own else {"type": "tool", "name": ANSWER_TOOL}
        choice = {**(choice or {}), **forced}
        translated.append(answer)
    fields: dict[str, Any] = {"tools": translated} if translated else {}
    if choice is not None:
        fields["tool_choice"] = choice
    return fields


def native_body(payload: dict[str, Any], model: str) -> dict[str, Any]:
    """The Anthropic Messages body for an OpenAI chat `payload`."""
    _refuse_unsupported(payload)
    system, messages = _conversation(payload.get("messages"))
    body: dict[str, Any] = {"model": model, "max_tokens": _max_tokens(payload), "messages": messages}
    if system:
        body["system"] = (
            system[0]["text"] if len(system) == 1 and "cache_control" not in system[0] else system
        )
    for ours, theirs in _RENAMES.items():
        if payload.get(ours) is not None:
            body[theirs] = payload[ours]
    if stop := payload.get("stop"):
        body["stop_sequences"] = _stop_sequences(stop)
    body.update(_tools(payload))
    with_thinking(body, payload, model)  # may leave temperature out: thinking takes none
    _refuse_hot(body.get("temperature"))
    if isinstance(payload.get("user"), str):
        body["metadata"] = {"user_id": payload["user"]}
    if payload.get("stream") is True:
        body["stream"] = True
    if (marked := _breakpoints(body)) > MAX_BREAKPOINTS:
        raise TranslationError(
            f"cache_control: Anthropic takes at most {MAX_BREAKPOINTS} cache breakpoints in a request, "
            f"this one has {marked} (content parts, messages, tool calls and tools)"
        )
    return body


def as_mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
