"""Typed, numbered placeholders (`[EMAIL_1]`) and the map back to the originals.

One `Vault` per request: the same value gets the same placeholder everywhere in that request
(its messages, and the answer), a new value the next number for its type. Only values taken from
the request are restored in the answer; what the answer itself revealed stays redacted.
"""

from __future__ import annotations

import re
from collections import Counter

import orjson

from .detector import Span
from .scanner import Scanner

PLACEHOLDER = re.compile(r"\[([A-Z][A-Z0-9_]*)_([1-9][0-9]*)\]")
# `[` and at most this many characters: what a placeholder cut at the end of a chunk can be.
PLACEHOLDER_PREFIX = re.compile(r"\[[A-Z0-9_]{0,64}")


class Vault:
    """Placeholders handed out in one request, and what they stand for."""

    def __init__(self) -> None:
        self._placeholders: dict[tuple[str, str], str] = {}
        self._originals: dict[str, str] = {}
        self._restorable: set[str] = set()
        self._counts: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._originals)

    def placeholder(self, entity: str, value: str, *, restorable: bool = True) -> str:
        key = (entity, value)
        placeholder = self._placeholders.get(key)
        if placeholder is None:
            kind = entity.upper()
            self._counts[kind] += 1
            placeholder = f"[{kind}_{self._counts[kind]}]"
            self._placeholders[key] = placeholder
            self._originals[placeholder] = value
        if restorable:
            self._restorable.add(placeholder)
        return placeholder

    def restorable(self) -> list[str]:
        """The originals that `restore` puts back (what a client may see, and a log must not), and
        each as it is written inside a JSON text (a tool call's arguments, themselves a string of
        the logged body) where that differs: a log masks what it finds in either form."""
        originals = [self._originals[placeholder] for placeholder in self._restorable]
        escaped = [orjson.dumps(original).decode()[1:-1] for original in originals]
        return originals + [
            form for form, original in zip(escaped, originals, strict=True) if form != original
        ]

    def restore(self, text: str) -> str:
        """`text` with the request's placeholders put back; others are left as they are."""
        if not self._restorable or "[" not in text:
            return text
        return PLACEHOLDER.sub(self._original, text)

    def _original(self, match: re.Match[str]) -> str:
        placeholder = match.group(0)
        return self._originals[placeholder] if placeholder in self._restorable else placeholder


def substitute(text: str, spans: list[Span], vault: Vault, *, restorable: bool = True) -> str:
    """`text` with each span (in order, not overlapping) replaced by its placeholder."""
    parts: list[str] = []
    position = 0
    for span in spans:
        parts.append(text[position : span.start])
        parts.append(vault.placeholder(span.entity, text[span.start : span.end], restorable=restorable))
        position = span.end
    parts.append(text[position:])
    return "".join(parts)


def redact(text: str, scanner: Scanner, vault: Vault, *, restorable: bool = True) -> tuple[str, list[Span]]:
    """`text` with every span `scanner` finds replaced by a placeholder, and those spans."""
    spans = scanner.find(text)
    return (substitute(text, spans, vault, restorable=restorable) if spans else text), spans


class RestoreStream:
    """Restores placeholders in text that arrives in pieces: a placeholder cut between two pieces
    is held back until its `]` arrives (at most 66 characters)."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._pending = ""
        self.changed = False  # whether a placeholder was put back

    def feed(self, chunk: str) -> str:
        text = self._pending + chunk
        cut = text.rfind("[")
        if cut == -1 or not PLACEHOLDER_PREFIX.fullmatch(text, cut):
            cut = len(text)
        self._pending = text[cut:]
        return self._restore(text[:cut])

    def close(self) -> str:
        text, self._pending = self._pending, ""
        return self._restore(text)

    def _restore(self, text: str) -> str:
        out = self._vault.restore(text)
        self.changed = self.changed or out != text
        return out
