"""The text of the tools and answer schemas a request offers, which the model reads as it reads the
turns (`providers/texts.py`'s `Text`s, read in the request direction only): a tool's
`description`, and in its parameters' JSON schema (or an answer's, structured outputs) each
`description` and `title`, and the values it names, `enum`, `const`, `default` and `examples`. A
schema's structure (its `type`s, property names, `required`) is not read: it is the client's
contract with the model, and a placeholder in it would break the arguments the client parses.
https://json-schema.org/understanding-json-schema/reference/annotations,
https://json-schema.org/understanding-json-schema/reference/enum
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sluicegate.providers.texts import Text, as_list, string

_PROSE = ("description", "title")  # a schema's annotations, read as prose
_VALUES = ("enum", "const", "default", "examples", "example")  # the values it names, any JSON
# Nested schemas are found under any key; a schema nests no deeper than this (past it, a body
# built to be deep is not walked: jsondepth.py bounds what the gateway parses at all).
_DEEPEST = 64


def schema_texts(schema: Any, role: str = "system", depth: int = 0) -> Iterator[Text]:
    """The annotations and named values of a JSON schema (an OpenAPI schema, Gemini's, alike),
    each nested schema's too: under `properties`, `items`, `anyOf`, `$defs` or any other key."""
    if depth > _DEEPEST:
        return
    if isinstance(schema, list):
        for item in schema:
            yield from schema_texts(item, role, depth + 1)
        return
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        if key in _PROSE and isinstance(value, str):
            yield Text(schema, key, role)
        elif key in _VALUES:
            yield from any_json(schema, key, role)
        elif isinstance(value, dict | list):
            yield from schema_texts(value, role, depth + 1)


def any_json(owner: dict[str, Any], key: str, role: str) -> Iterator[Text]:
    """`owner[key]` as the JSON value it is: a string as prose, an object, array or number as JSON
    (each of its strings and numbers read, the value still JSON; a matched number becomes a
    string)."""
    value = owner.get(key)
    if isinstance(value, str):
        yield Text(owner, key, role)
    elif isinstance(value, dict | list) or (isinstance(value, int | float) and not isinstance(value, bool)):
        yield Text(owner, key, role, json=True)


def tool_texts(tool: Any, schemas: tuple[str, ...], role: str = "system") -> Iterator[Text]:
    """A tool definition's `description` and what its schemas at `schemas` keys say."""
    if not isinstance(tool, dict):
        return
    yield from string(tool, "description", role)
    for key in schemas:
        yield from schema_texts(tool.get(key), role)


def tools_texts(tools: Any, schemas: tuple[str, ...], role: str = "system") -> Iterator[Text]:
    """`tool_texts` of each tool in a list."""
    for tool in as_list(tools):
        yield from tool_texts(tool, schemas, role)
