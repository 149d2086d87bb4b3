"""Redaction of stored bodies: JSON paths and regular expressions, applied before a body is logged."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import orjson

MASK = "[redacted]"


class Redactor:
    """Redacts `paths` (dot paths, `*` for any list item or key: `messages.*.content`) from JSON
    bodies, then `patterns` from the text of any body (SSE streams included)."""

    def __init__(self, paths: Sequence[str], patterns: Sequence[str]) -> None:
        self._paths = [path.split(".") for path in paths]
        self._patterns = [re.compile(pattern) for pattern in patterns]

    def __bool__(self) -> bool:
        return bool(self._paths or self._patterns)

    def redact(self, body: bytes) -> bytes:
        if self._paths:
            try:
                document = orjson.loads(body)
            except orjson.JSONDecodeError:
                document = None
            if document is not None:
                for path in self._paths:
                    _redact_path(document, path)
                body = orjson.dumps(document)
        if self._patterns:
            text = body.decode("utf-8", "replace")
            for pattern in self._patterns:
                text = pattern.sub(MASK, text)
            body = text.encode()
        return body


def _redact_path(node: Any, path: list[str]) -> None:
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head] if head in node else []
        for key in keys:
            if rest:
                _redact_path(node[key], rest)
            else:
                node[key] = MASK
    elif isinstance(node, list):
        indexes = (
            range(len(node))
            if head == "*"
            else [int(head)]
            if head.isdigit() and int(head) < len(node)
            else []
        )
        for index in indexes:
            if rest:
                _redact_path(node[index], rest)
            else:
                node[index] = MASK


@lru_cache(maxsize=256)
def redactor(paths: tuple[str, ...], patterns: tuple[str, ...]) -> Redactor:
    """One compiled redactor per distinct gateway setting."""
    return Redactor(paths, patterns)
