"""Detectors an operator defines: named regular expressions and word lists.

Patterns run on RE2 (linear time whatever the input) and must have a bounded length, so the
stream filter knows how much of a stream a match may still span. Matches are looked for at every
position, not only after the previous one, so where a scan starts never changes what it finds.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator, Sequence
from typing import Any

import re2

from .detector import CONTEXT, Detector, compile_re2
from .view import view_of

MAX_WIDTH = 128
_SPACE = b"\t\n\f\r "  # RE2's \s, what joins a phrase's words

# The stdlib's own parser measures how long a match can be; it has no public API.
_parser: Any = importlib.import_module("re._parser")


class PatternError(ValueError):
    """A custom pattern that cannot be used, with the reason in words."""


def pattern_width(pattern: str) -> int:
    """The most characters `pattern` can match; PatternError if it is not RE2, can match
    nothing, or can match text of unbounded length."""
    try:
        compile_re2(pattern)
    except re2.error as exc:
        raise PatternError(f"is not a valid RE2 pattern ({exc})") from exc
    try:
        low, high = _parser.parse(pattern).getwidth()
    except (re.error, OverflowError, RecursionError) as exc:
        raise PatternError(
            "uses syntax whose match length cannot be measured; write it with plain classes, "
            "groups and bounded repetitions"
        ) from exc
    if low == 0:
        raise PatternError("can match empty text; make at least one character required")
    if high > MAX_WIDTH:
        raise PatternError(
            f"can match more than {MAX_WIDTH} characters; bound every repetition "
            "(`[0-9]{1,12}` rather than `[0-9]+`), so a stream is held back only that much"
        )
    return int(high)


class OverlappingDetector(Detector):
    """Finds the match at every position where one starts, so that a scan begun anywhere agrees
    with a scan of the whole text (the stream filter depends on that)."""

    def scan(self, data: bytes) -> Iterator[tuple[int, int]]:
        position = 0
        while position < len(data):
            match = self._regex.search(data, position)
            if match is None:
                return
            start, end = match.span()
            if end > start:
                yield start, end
            position = start + 1
            while position < len(data) and 0x80 <= data[position] < 0xC0:
                position += 1  # to the next character, never inside one


def pattern_detector(name: str, patterns: Sequence[str]) -> Detector:
    """One detector for a custom rule's patterns (validated with `pattern_width`). Any number may
    hold a match (its `shortest_number` is 1): the stdlib's parser measures the shortest match of
    some RE2 syntax too long (`[[:digit:]]` is two characters to it), so it is not asked."""
    width = max(pattern_width(pattern) for pattern in patterns)
    joined = "|".join(f"(?:{pattern})" for pattern in patterns)
    # A character is at most four bytes in UTF-8.
    return OverlappingDetector(f"custom.{name}", name, joined, max_len=4 * width + CONTEXT)


def _word(word: str) -> str:
    escaped = r"\s".join(re2.escape(part) for part in word.split())
    lead = r"\b" if word[0].isalnum() or word[0] == "_" else ""
    trail = r"\b" if word[-1].isalnum() or word[-1] == "_" else ""
    return f"{lead}{escaped}{trail}"


def word_detector(name: str, words: Sequence[str], *, case_sensitive: bool = False) -> Detector:
    """Whole words or phrases; the longest listed one wins where several start together. Words
    are matched in the text's view (view.py), so each is taken as its own view too: `Falcon`
    written with a Cyrillic а, with a zero-width joiner inside or in fullwidth letters is `Falcon`.

    A list of ASCII words knows the bytes its matches are made of (the words' letters, in either
    case unless `case_sensitive`, and white space between a phrase's words), so the stream filter
    holds back only a trailing run of those, not the last `max_len` bytes of every text."""
    listed = (view_of(word).text.strip() for word in words)
    ordered = sorted({word for word in listed if word}, key=len, reverse=True)
    pattern = "|".join(_word(word) for word in ordered)
    if not case_sensitive:
        pattern = f"(?i:{pattern})"
    longest = max(len(word.encode()) for word in ordered)
    # A phrase's words are matched one white-space character apart; a number is ASCII, so what
    # matches in one has a byte per character.
    shortest = min(len(" ".join(word.split())) for word in ordered)
    letters = "".join(ordered)
    alphabet = None
    if letters.isascii():
        letters += "" if case_sensitive else letters.lower() + letters.upper()
        phrases = any(" " in word for word in ordered)
        alphabet = bytes(sorted(set(letters.encode()) | (set(_SPACE) if phrases else set())))
    return OverlappingDetector(
        f"custom.{name}",
        name,
        pattern,
        max_len=longest + CONTEXT,
        alphabet=alphabet,
        shortest_number=shortest,
    )
