"""A top-level JSON array split into its elements as its bytes arrive: what Gemini's
streamGenerateContent answers without `alt=sse`, one GenerateContentResponse an element, each
written as it is made (`[{…}\\n,\\r\\n{…}\\n]`).

Only the element still arriving is held: the bytes around elements (`[`, whitespace, commas) go
out at once, an element as soon as its last byte is in (an object's or array's closing bracket, a
string's closing quote; a number or literal at the byte after it). Strings are followed through
their escapes, so a bracket or quote inside one ends nothing. A body that is not an array passes
as it came. The elements are not checked as JSON: their readers parse them.

With `opened`, the body is read as the inside of an array whose `[` came before it: JSON values one
after another, whitespace between them (newline-delimited JSON, Cohere's v1 `application/stream+json`
streams: one object a line), split alike.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import NamedTuple


class Kind(Enum):
    RAW = "raw"  # bytes around the elements: `[`, whitespace, commas; or a body that is no array
    ELEMENT = "element"  # one element, whole (or what arrived of one, at `close`)
    END = "end"  # the array's closing `]` and whatever follows it


class Piece(NamedTuple):
    kind: Kind
    data: bytes


_BEFORE, _BETWEEN, _ELEMENT, _PASS = range(4)  # before `[`; between elements; in one; past the array
_SPACE = b" \t\r\n"
_SEPARATORS = _SPACE + b","
_SCALAR_END = re.compile(rb"[ \t\r\n,\]]")  # what ends a number or literal
_IN_STRING = re.compile(rb'["\\]')
_STRUCTURE = re.compile(rb'["{}\[\]]')


class JsonArraySplitter:
    """`feed` the bytes as they come, then `close()`; each returns the pieces complete so far, in
    order, whose data joined is what was fed."""

    def __init__(self, *, opened: bool = False) -> None:
        self._state = _BETWEEN if opened else _BEFORE
        self._held = bytearray()  # the element arriving
        self._depth = 0  # its open brackets
        self._in_string = False
        self._escaped = False  # a backslash in a string ended the last feed
        self._scalar = False  # it is a number or literal

    def feed(self, data: bytes) -> list[Piece]:
        pieces: list[Piece] = []
        raw = at = 0  # `raw`: where the bytes around elements not yet given out start
        while at < len(data) and self._state != _PASS:
            if self._state == _ELEMENT:
                end = self._element_end(data, at)
                if end is None:
                    self._held += data[at:]
                    return pieces
                self._held += data[at:end]
                pieces.append(Piece(Kind.ELEMENT, bytes(self._held)))
                self._held.clear()
                self._state = _BETWEEN
                raw = at = end
                continue
            skip = _SPACE if self._state == _BEFORE else _SEPARATORS
            while at < len(data) and data[at] in skip:
                at += 1
            if at == len(data):
                break
            byte = data[at : at + 1]
            if self._state == _BEFORE:
                self._state = _BETWEEN if byte == b"[" else _PASS
                at += byte == b"["
                continue
            if at > raw:
                pieces.append(Piece(Kind.RAW, data[raw:at]))
            raw = at
            if byte == b"]":
                pieces.append(Piece(Kind.END, data[at:]))
                self._state = _PASS
                return pieces
            self._start(byte)
        if raw < len(data):
            pieces.append(Piece(Kind.RAW, data[raw:]))
        return pieces

    def close(self) -> list[Piece]:
        """What arrived of an element the body broke off in, if it did."""
        held, self._held = bytes(self._held), bytearray()
        self._state = _PASS
        return [Piece(Kind.ELEMENT, held)] if held else []

    def _start(self, byte: bytes) -> None:
        self._state, self._depth, self._escaped = _ELEMENT, 0, False
        self._in_string = self._scalar = False
        if byte == b'"':
            self._in_string = True
        elif byte not in b"{[":
            self._scalar = True

    def _element_end(self, data: bytes, at: int) -> int | None:
        """Where the element ends in `data` (scanned from `at`; the element's state carried over
        from the bytes before), or None when it goes on past it."""
        if self._scalar:
            found = _SCALAR_END.search(data, at)
            return found.start() if found is not None else None
        if self._in_string and not self._held:
            at += 1  # a string element's opening quote (an object's or array's bracket is counted below)
        while True:
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                    at += 1
                found = _IN_STRING.search(data, at)
                if found is None:
                    return None
                at = found.end()
                if found.group() == b"\\":
                    if at == len(data):
                        self._escaped = True
                        return None
                    at += 1
                    continue
                self._in_string = False
                if self._depth == 0:
                    return at
                continue
            found = _STRUCTURE.search(data, at)
            if found is None:
                return None
            at = found.end()
            byte = found.group()
            if byte == b'"':
                self._in_string = True
            elif byte in b"{[":
                self._depth += 1
            else:
                self._depth -= 1
                if self._depth == 0:
                    return at
