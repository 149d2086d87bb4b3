"""Duplicate keys in a JSON request body: where the guardrails and a provider may read two bodies.

RFC 8259 (section 4) leaves an object whose names are not unique to each reader: orjson, and so the
gateway's guardrails, keep the last value of a repeated key, while other parsers keep the first
(Go's `encoding/json` merges, some refuse). A body whose raw bytes go upstream as the client sent
them could then pass the guardrails on its last `messages` while the provider reads its first. A
body the guardrails read is therefore checked for repeated keys, and refused when it has any
(pipeline/guardrail_bodies.py). orjson does not report them; Python's `json` reads every object's
pairs in order, so the check is one `json.loads` with a hook that only compares the keys, paid
only by requests the guardrails read. Where the repeat is, is found by a second reading, only
for a body that has one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Duplicate:
    """The first repeated key in document order (`key`) and where it is, as OpenAI names a request
    field (`messages[0].content`; the key alone at the top level). With `unchecked`, the body
    could not be checked at all: Python's reader refused what orjson read (nesting deeper than it
    goes), so which keys repeat is unknown."""

    key: str
    path: str
    unchecked: bool = False


class _Repeated(Exception):
    pass


class _Pairs(list[tuple[str, Any]]):
    """An object as its pairs, in order (the second reading's)."""


def _compare(pairs: list[tuple[str, Any]]) -> None:
    if len(pairs) > 1 and len({key for key, _ in pairs}) < len(pairs):
        raise _Repeated
    # Nothing kept: only the keys are compared.


def duplicate_key(body: bytes) -> Duplicate | None:
    """The first repeated key of `body` (a JSON text orjson read), or None when it has none."""
    try:
        json.loads(body, object_pairs_hook=_compare)
    except _Repeated:
        return _locate(json.loads(body, object_pairs_hook=_Pairs))
    except (RecursionError, ValueError):  # read by orjson, but not by Python's reader
        return Duplicate("", "", unchecked=True)
    return None


def _locate(document: Any) -> Duplicate | None:
    """The first object, in document order, whose keys repeat: its repeated key and its path."""
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack:
        node, path = stack.pop()
        if isinstance(node, _Pairs):
            seen: set[str] = set()
            for key, _ in node:
                if key in seen:
                    return Duplicate(key, f"{path}.{key}" if path else key)
                seen.add(key)
            stack.extend((value, f"{path}.{key}" if path else key) for key, value in reversed(node))
        elif isinstance(node, list):
            stack.extend((value, f"{path}[{at}]") for at, value in reversed(list(enumerate(node))))
    return None
