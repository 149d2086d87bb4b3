"""Redaction of stored bodies: JSON paths and regular expressions, applied before a body is logged.

Gateway admins write the patterns, so they run on RE2, whose matching time grows linearly with the
body (no catastrophic backtracking; no backreferences or lookaround either). A record's redaction
also has a time budget: a body that cannot be redacted within it is not stored at all.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import orjson
import re2

from sluicegate.utf8 import whole_characters

MASK = b"[redacted]"
# CPU time one record's redaction may take (its request and response bodies together). CPU time
# of the building thread, not wall time: waiting for the GIL while the event loop runs is no cost.
BUDGET_S = 0.05
_CHECK_EVERY = 256  # matches between two looks at the clock


class RedactionFailed(Exception):
    """A body that could not be redacted; `str(exc)` says why (no body content in it)."""


class PatternError(ValueError):
    """A pattern RE2 cannot compile; the message names it."""


def compile_pattern(pattern: str) -> Any:
    """`pattern` compiled by RE2 to match bytes (as UTF-8); raises `PatternError` when RE2 cannot
    take it."""
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    try:
        return re2.compile(pattern.encode(), options)
    except re2.error as exc:
        reason = (
            exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        )
        raise PatternError(
            f"pattern {pattern!r} is not one RE2 accepts ({reason}); patterns run in linear time, "
            "so backreferences and lookaround are not available"
        ) from None


class Redactor:
    """Redacts `paths` (dot paths, `*` for any list item or key: `messages.*.content`) from JSON
    bodies, then `patterns` from the text of any body (SSE streams included)."""

    def __init__(self, paths: Sequence[str], patterns: Sequence[str]) -> None:
        self._paths = [path.split(".") for path in paths]
        self._patterns = [compile_pattern(pattern) for pattern in patterns]

    def __bool__(self) -> bool:
        return bool(self._paths or self._patterns)

    def redact(self, body: bytes, deadline: float, limit: int) -> tuple[bytes, int]:
        """`body` redacted and cut to `limit` bytes, and its whole size redacted (patterns are run
        on its first `2 * limit` bytes only: past those, the size after its paths); raises
        `RedactionFailed` past `deadline` (a `time.thread_time()` value) or when a JSON body
        cannot be read or written again."""
        if self._paths and body.lstrip()[:1] in (b"{", b"["):
            body = self._redact_paths(body, deadline)
        # Patterns only look a little past the limit: a match starting inside the part kept would
        # have to be longer than `limit` to reach beyond what they see.
        if len(body) > 2 * limit:
            size, body = len(body), body[: 2 * limit]
            for pattern in self._patterns:
                body = _substitute(pattern, body, deadline)
            return whole_characters(body, limit), size
        for pattern in self._patterns:
            body = _substitute(pattern, body, deadline)
        return whole_characters(body, limit), len(body)

    def _redact_paths(self, body: bytes, deadline: float) -> bytes:
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise RedactionFailed("its JSON could not be read to redact paths") from None
        for path in self._paths:
            _redact_path(document, path)
            _check(deadline)
        try:
            return orjson.dumps(document)
        except orjson.JSONEncodeError:
            raise RedactionFailed("its JSON is nested too deeply to write again after redaction") from None


def _substitute(pattern: Any, body: bytes, deadline: float) -> bytes:
    """`pattern.sub(MASK, body)`, looking at the clock as it goes."""
    pieces: list[bytes] = []
    last = 0
    for count, match in enumerate(pattern.finditer(body), 1):
        start, end = match.span()
        pieces += (body[last:start], MASK)
        last = end
        if count % _CHECK_EVERY == 0:
            _check(deadline)
    _check(deadline)
    if not pieces:
        return body
    pieces.append(body[last:])
    return b"".join(pieces)


def _check(deadline: float) -> None:
    if time.thread_time() > deadline:
        raise RedactionFailed(f"redaction ran past its budget of {BUDGET_S * 1000:g} ms of CPU per record")


def _redact_path(node: Any, path: list[str]) -> None:
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head] if head in node else []
        for key in keys:
            if rest:
                _redact_path(node[key], rest)
            else:
                node[key] = MASK.decode()
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
                node[index] = MASK.decode()


@lru_cache(maxsize=256)
def redactor(paths: tuple[str, ...], patterns: tuple[str, ...]) -> Redactor:
    """One compiled redactor per distinct gateway setting."""
    return Redactor(paths, patterns)
