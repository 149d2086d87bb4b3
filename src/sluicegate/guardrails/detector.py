"""What a detector is, and the span it reports.

Detectors work on the UTF-8 bytes of a text, so that one RE2 pass serves them all; the scanner
turns byte offsets into character offsets. Every detector obeys one locality contract, which is
what lets the stream filter hold back only a short tail and still agree with a whole-text scan:

- whether a match starts at `s` depends only on `data[s - BEFORE : s + max_len + 2]`, never on
  where the scan began (a detector rejects any match that does not start where a token starts, so
  a scan that begins inside a token finds nothing there); the stream filter keeps `BEFORE`
  characters of what it let through to read as that context;
- `open_from(data)` is a position before which no match can still change when more text is
  appended: every unfinished match, and every byte its validation still has to look at, lies
  after it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import re2

# Validators look at no more than this many bytes after a match, and `BEFORE` before it (a label
# such as `version` or `Serial:` that makes a number something else).
CONTEXT = 2
BEFORE = 32
# What a JSON number is spelled with, as json_values.py reads one (valid or not: `1.2.3.4` too).
NUMBER_CHARS = b"0123456789.eE+-"
# `shortest_number` when no match can be made of NUMBER_CHARS alone.
NO_NUMBER = sys.maxsize

Accept = Callable[[bytes, int, int], int | None]


@dataclass(frozen=True, slots=True)
class Span:
    """A match, in character offsets of the text it was found in. `entity` is what it is
    (`email`, or a custom rule's name), `detector` which rule found it (`secret.github`)."""

    start: int
    end: int
    entity: str
    detector: str


def compile_re2(pattern: str, *, case_sensitive: bool = True) -> re2._Regexp:
    """An RE2 program with the options every detector uses: UTF-8, no log noise on bad input."""
    options = re2.Options()
    options.log_errors = False
    options.case_sensitive = case_sensitive
    return re2.compile(pattern, options)


class Detector:
    """A rule: an RE2 pattern found left to right, each match checked by `accept` (which may
    shorten it, or refuse it by returning None).

    `alphabet` holds every byte a match, or the context its check reads after it, may consist of;
    a match that is still growing at the end of the text is then inside the trailing run of these
    bytes, so the stream filter need hold back only that run (at most `max_len` + context).

    `shortest_number` is the fewest bytes an accepted match made of `NUMBER_CHARS` alone can have
    (`NO_NUMBER`: none can, an e-mail address needs its @), so that a JSON number shorter than
    every detector's is not scanned at all (json_values.py); 1, the default, claims nothing."""

    def __init__(
        self,
        name: str,
        entity: str,
        pattern: str,
        *,
        max_len: int,
        accept: Accept | None = None,
        alphabet: bytes | None = None,
        case_sensitive: bool = True,
        shortest_number: int = 1,
    ) -> None:
        self.name = name
        self.entity = entity
        self.pattern = pattern
        self.max_len = max_len
        self.shortest_number = shortest_number
        self.case_sensitive = case_sensitive
        self._regex = compile_re2(pattern, case_sensitive=case_sensitive)
        self._accept = accept
        self._alphabet = alphabet

    def scan(self, data: bytes) -> Iterator[tuple[int, int]]:
        """Byte spans of the accepted matches in `data`."""
        for match in self._regex.finditer(data):
            start, end = match.span()
            if self._accept is not None:
                accepted = self._accept(data, start, end)
                if accepted is None:
                    continue
                end = accepted
            if end - start <= self.max_len:
                yield start, end

    def open_from(self, data: bytes) -> int:
        floor = max(0, len(data) - self.max_len - CONTEXT)
        if self._alphabet is None:
            return floor
        return max(floor, len(data.rstrip(self._alphabet)))


def before(data: bytes, start: int) -> str:
    """The text just before `start`, at most `BEFORE` bytes (a character cut at its edge dropped)."""
    return data[max(0, start - BEFORE) : start].decode(errors="ignore")


def is_in(data: bytes, index: int, chars: bytes) -> bool:
    """Whether `data[index]` exists and is one of `chars`."""
    return 0 <= index < len(data) and data[index] in chars


DIGITS = b"0123456789"
UPPER = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LOWER = b"abcdefghijklmnopqrstuvwxyz"
ALNUM = DIGITS + UPPER + LOWER
