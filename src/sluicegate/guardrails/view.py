"""The text as the detectors read it: a view of it in which the Unicode tricks that hide a value
from a pattern, but not from a reader or a model, are undone; and the map back from the view to
the text, so that a match found in the view is redacted in the text as it was sent (its own
characters replaced, zero-width ones inside included), and placeholders restore what was sent.

In the view, character by character:

- format characters (category Cf: zero-width space and joiners, bidi controls, the BOM …) and
  the rest of Unicode's default-ignorable code points (soft hyphen, variation selectors, Hangul
  fillers, tags) are removed;
- each space separator (category Zs: no-break, narrow no-break, thin, ideographic …) and the
  tab is a space; each dash (category Pd: hyphen, en and em dash …) and the minus sign is `-`;
  the ideographic full stops that IDNA reads as dots are `.`;
- a digit of any script (Arabic-Indic ٤, Devanagari ४, fullwidth ４) is its ASCII digit;
- everything else is its NFKC form (fullwidth `＠` is `@`, the ligature `ﬁ` is `fi`,
  mathematical letters are letters), and then a letter of another script drawn like a Latin
  letter (Cyrillic а, Greek Ο, Cherokee Ꭺ) is that letter, by Unicode's confusables table (the
  data of the pinned `confusable-homoglyphs` package; a look-alike of a capital I is `I`, of a
  small l `l`).

The view of a text is the views of its characters put together, so the view of two pieces is the
two pieces' views: the stream filter depends on that. ASCII text is its own view (a tab aside),
and so is text none of whose characters change (most prose in any script), at the cost of one
regular-expression search; the tables are built once per process (a tenth of a second), when the
first guardrails policy is compiled.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import importlib
import re
import string
import unicodedata
from dataclasses import dataclass
from typing import Any

# Default_Ignorable_Code_Point (Unicode's DerivedCoreProperties.txt) beyond category Cf.
_IGNORABLE = (
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5),
    (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164),
    (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF),
)  # fmt: skip
# Code points read one by one when the tables are built; beyond them (CJK ideographs of planes
# 2 and 3, private use) nothing changes, but for the tags and variation selectors of plane 14.
_READ = range(0x80, 0x20000)
_DOTS = "\u3002\uff61"  # ideographic and halfwidth ideographic full stops
_MINUS = "\u2212"


_IGNORED = frozenset(
    chr(code) for low, high in _IGNORABLE if high < _READ.stop for code in range(low, high + 1)
)
_OWN_RULES = frozenset(("Cf", "Zs", "Pd", "Nd"))


def _latin_look_alikes() -> dict[str, str]:
    """Letters of other scripts (and Latin's own odd forms: ɑ, ı) to the ASCII letter they are
    drawn like, from Unicode's confusables (symbols such as × and ∣ are left alone)."""
    confusables: Any = importlib.import_module("confusable_homoglyphs.confusables")
    fold: dict[str, str] = {}
    for letter in string.ascii_letters:
        for entry in confusables.is_confusable(letter, greedy=True) or []:
            for glyph in entry["homoglyphs"]:
                char = glyph["c"]
                if len(char) != 1 or char.isascii():
                    continue
                category = unicodedata.category(char)
                if category not in ("Lu", "Ll", "Lt", "Lo"):
                    continue
                # Unicode's table draws I as l; a capital stays a capital.
                fold.setdefault(char, "I" if letter == "l" and category == "Lu" else letter)
    return fold


def _mapped(char: str, fold: dict[str, str], *, nfkc: bool = True) -> str:
    """What one character is in the view."""
    if char.isascii():
        return " " if char == "\t" else char
    category = unicodedata.category(char)
    if category == "Cf" or char in _IGNORED:
        return ""
    if category == "Zs":
        return " "
    if category == "Pd" or char == _MINUS:
        return "-"
    if category == "Nd":
        return chr(48 + unicodedata.decimal(char))
    if char in _DOTS:
        return "."
    if nfkc:
        normal = unicodedata.normalize("NFKC", char)
        if normal != char:
            return "".join(_mapped(part, fold, nfkc=False) for part in normal)
    return fold.get(char, char)


def _ranges(chars: list[str]) -> str:
    """`chars` (sorted) as the ranges of a regular expression's class."""
    ranges: list[list[int]] = []
    for code in map(ord, chars):
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    return "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in ranges)


# Characters beyond the Basic Multilingual Plane (emoji, mathematical letters, some scripts'
# digits) are found apart and looked up one by one: in a regular expression's class they are
# checked range by range (for every character the class is tried on), where the BMP's are a bitmap.
_ASTRAL = re.compile("[\U00010000-\U0010ffff]+")


@dataclass(frozen=True, slots=True)
class _Tables:
    changed: dict[str, str]  # every character whose view is not itself, to its view
    # The view of each BMP character, for str.translate: a list is indexed faster than a dict is
    # looked up, and a character missing from a dict costs str.translate an exception.
    bmp: list[int | str]
    astral: dict[int, str]  # the changed characters beyond the BMP
    astral_chars: frozenset[str]  # the same
    runs: re.Pattern[str]  # a run of changed BMP characters
    uneven: re.Pattern[str]  # a run of BMP characters whose view is not one character
    removed: re.Pattern[str]  # a run of BMP characters the view removes


@functools.cache
def _tables() -> _Tables:
    fold = _latin_look_alikes()
    changed = {"\t": " "}
    category, normalized = unicodedata.category, unicodedata.is_normalized
    for code in _READ:
        char = chr(code)
        kind = category(char)
        if kind in _OWN_RULES or char in _IGNORED or char in fold or char in _DOTS or char == _MINUS:
            changed[char] = _mapped(char, fold)
        elif kind not in ("Cn", "Co", "Cs") and not normalized("NFKC", char):
            mapped = _mapped(char, fold)
            if mapped != char:
                changed[char] = mapped
    for low, high in _IGNORABLE:
        changed.update((chr(code), "") for code in range(max(low, _READ.stop), high + 1))
    bmp = sorted(char for char in changed if ord(char) <= 0xFFFF)
    table: list[int | str] = list(range(0x10000))
    for char in bmp:
        table[ord(char)] = changed[char]
    return _Tables(
        changed,
        table,
        {ord(char): mapped for char, mapped in changed.items() if ord(char) > 0xFFFF},
        frozenset(char for char in changed if ord(char) > 0xFFFF),
        re.compile(f"[{_ranges(bmp)}]+"),
        re.compile(f"[{_ranges([char for char in bmp if len(changed[char]) != 1])}]+"),
        re.compile(f"[{_ranges([char for char in bmp if not changed[char]])}]+"),
    )


def prepare() -> None:
    """Build the tables now (a policy being compiled), not in the first request that needs them."""
    _tables()


_NONE: list[int] = []  # never changed: what a view that is one character for one shares


class View:
    """`text` as the detectors read it, and where each of its characters came from: the same
    offset, but past a stretch of the original whose view is not one character for one (a
    character removed or grown, a run of removed ones), each listed with where it starts in both
    and how long it is in each."""

    __slots__ = ("_length", "_originals", "_sizes", "_starts", "text")

    def __init__(
        self,
        text: str,
        length: int,
        originals: list[int] | None = None,
        starts: list[int] | None = None,
        sizes: list[tuple[int, int]] | None = None,
    ) -> None:
        self.text = text
        self._length = length  # the original text's
        self._originals = originals or _NONE  # where each stretch starts in the original
        self._starts = starts or _NONE  # and in the view
        self._sizes = sizes or []  # its length in the original, and in the view

    def original(self, position: int) -> int:
        """The original offset of the view's character at `position` (its end: the text's)."""
        if not self._starts:
            return position
        if position >= len(self.text):
            return self._length
        at = bisect.bisect_right(self._starts, position) - 1
        if at < 0:
            return position
        start, (size, grown) = self._starts[at], self._sizes[at]
        if position < start + grown:
            return self._originals[at]  # within what one character grew into
        return self._originals[at] + size + position - start - grown

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The original characters the view's `[start, end)` came from (`end` > `start`)."""
        if not self._starts:
            return start, end
        return self.original(start), self.original(end - 1) + 1

    def position(self, original: int) -> int:
        """The view offset of the first character that comes from `original` or after it."""
        if not self._starts:
            return original
        at = bisect.bisect_right(self._originals, original) - 1
        if at < 0:
            return original
        first, (size, grown) = self._originals[at], self._sizes[at]
        if original < first + size:
            return self._starts[at]
        return self._starts[at] + grown + original - first - size


def view_of(text: str) -> View:
    if text.isascii():
        return View(text.replace("\t", " ") if "\t" in text else text, len(text))
    tables = _tables()
    first = _ASTRAL.search(text)
    astral = [] if first is None else _astral_runs(text, first.start(), tables)
    if not astral and tables.runs.search(text) is None:
        return View(text, len(text))  # most prose, in any script
    # Astral characters are out of the list's range, and stay what they are (emoji).
    view = text.translate(tables.bmp)
    if astral:
        view = view.translate(tables.astral)  # BMP characters never become astral ones
    first = tables.uneven.search(text)
    if first is None and not astral:
        return View(view, len(text))  # one character for one
    stretches = _Stretches()
    uneven = [] if first is None else tables.uneven.finditer(text, first.start())
    for start, end in heapq.merge((run.span() for run in uneven), astral) if astral else map(_span, uneven):
        stretches.uneven(text, start, end, tables)
    return View(view, len(text), stretches.originals, stretches.starts, stretches.sizes)


def _span(match: re.Match[str]) -> tuple[int, int]:
    return match.span()


def _astral_runs(text: str, start: int, tables: _Tables) -> list[tuple[int, int]]:
    """Where the runs of astral characters that hold one the view changes are."""
    return [
        match.span()
        for match in _ASTRAL.finditer(text, start)
        if not tables.astral_chars.isdisjoint(match.group())
    ]


class _Stretches:
    """Where the view stops being one character for one with the text, as View takes them."""

    def __init__(self) -> None:
        self.originals: list[int] = []
        self.starts: list[int] = []
        self.sizes: list[tuple[int, int]] = []
        self.shift = 0  # view offset less original offset, so far

    def add(self, start: int, size: int, grown: int) -> None:
        self.originals.append(start)
        self.starts.append(start + self.shift)
        self.sizes.append((size, grown))
        self.shift += grown - size

    def uneven(self, text: str, start: int, end: int, tables: _Tables) -> None:
        """`text[start:end]`: a run of BMP characters the view removes or grows, or of astral
        characters."""
        if tables.removed.fullmatch(text, start, end):
            self.add(start, end - start, 0)
            return
        for offset in range(start, end):
            grown = len(tables.changed.get(text[offset], "_"))
            if grown != 1:
                self.add(offset, 1, grown)


def tail(text: str, count: int) -> str:
    """The end of `text` whose view holds at least `count` characters (or as much as there is of
    it within `count` + 64 characters): the context a later piece of a stream is read after."""
    end = text[-count:]
    if end.isascii() or len(end) < count or _tables().removed.search(end) is None:
        return end  # no character removed: a view at least as long
    size = count
    while size < len(text) and size < count + 64 and len(view_of(text[-size:]).text) < count:
        size += count
    return text[-size:]
