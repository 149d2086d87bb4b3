"""A set of detectors run as one: one RE2 set pass tells which detectors match at all, then only
those look for their matches and validate them; overlaps are settled left to right.

Built once per policy (it compiles RE2 programs), then shared by every request: it holds no
per-request state, and what it found in a text is kept a while for the next request that sends
the same text (recent_finds.py). Detectors read the text's view (view.py: zero-width characters
removed, Unicode spaces, dashes and digits made ASCII, NFKC, Latin look-alikes folded); spans are
in the text's own characters.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import re2

from .addresses import address_detectors
from .detector import NO_NUMBER, Detector, Span
from .numbers import number_detectors
from .recent_finds import SHORTEST, RecentFinds
from .secrets import secret_detectors
from .view import View, view_of

BUILTIN_ENTITIES = ("email", "phone", "credit_card", "iban", "us_ssn", "ip_address", "secret")


def builtin_detectors(entities: Sequence[str] = BUILTIN_ENTITIES) -> list[Detector]:
    every = [*secret_detectors(), *number_detectors(), *address_detectors()]
    return [detector for detector in every if detector.entity in entities]


@dataclass(frozen=True, slots=True)
class _Found:
    start: int
    end: int
    rank: int  # the detector's place in the scanner: the earlier wins a tie


# Shared by every scanner (each keys its own entries): bounded once for the whole process.
RECENT: RecentFinds[tuple[_Found, ...]] = RecentFinds()
_SERIALS = itertools.count()


class Scanner:
    """Finds the spans of `detectors` in a text, in character offsets, without overlaps: of
    matches that overlap, the one starting first wins, then the longest, then the detector
    listed first."""

    def __init__(self, detectors: Sequence[Detector]) -> None:
        self.detectors = tuple(detectors)
        self._serial = next(_SERIALS)  # its entries in RECENT
        # A JSON number with fewer bytes than this holds no match (`NO_NUMBER`: none does).
        self.shortest_number = min((detector.shortest_number for detector in detectors), default=NO_NUMBER)
        options = re2.Options()
        options.log_errors = False
        # A set that runs out of DFA memory reports no match at all: give it room to spare.
        options.max_mem = 64 << 20
        self._set = re2.Set.SearchSet(options)
        for detector in self.detectors:
            self._set.Add(detector.pattern)
        if self.detectors:
            self._set.Compile()

    def __bool__(self) -> bool:
        return bool(self.detectors)

    def find(self, text: str, start: int = 0) -> list[Span]:
        """The spans that start at or after `start` (a character offset); text before it is
        still read as context, and a match starting there takes precedence over none after it."""
        return self.find_in(view_of(text), start) if self.detectors else []

    def find_in(self, view: View, start: int = 0) -> list[Span]:
        """`find` in a text whose view is already made."""
        text = view.text
        data = text.encode()
        found = self._recent_found(text, data)
        if not found:
            return []
        begin = view.position(start) if start else 0
        reach = len(text[:begin].encode()) if begin else 0
        chosen: list[_Found] = []
        for item in found:
            if item.start >= reach:
                chosen.append(item)
                reach = item.end
        offsets = _Offsets(text, data)
        spans: list[Span] = []
        floor = 0  # a character the view spread over two matches (a ligature) goes to the first
        for item in chosen:
            first, end = view.span(offsets.char(item.start), offsets.char(item.end))
            if max(first, floor) < end:
                detector = self.detectors[item.rank]
                spans.append(Span(max(first, floor), end, detector.entity, detector.name))
                floor = end
        return spans

    def open_from(self, text: str) -> int:
        """A character offset before which no span can change however the text goes on."""
        return self.open_in(view_of(text))

    def open_in(self, view: View) -> int:
        """`open_from` for a text whose view is already made."""
        text = view.text
        data = text.encode()
        position = min((detector.open_from(data) for detector in self.detectors), default=len(data))
        while 0 < position < len(data) and 0x80 <= data[position] < 0xC0:
            position -= 1  # back to the start of a character
        return view.original(_Offsets(text, data).char(position))

    def _recent_found(self, text: str, data: bytes) -> tuple[_Found, ...]:
        """`_found`, read from what was found in the same text lately (recent_finds.py)."""
        if len(text) < SHORTEST or not self.detectors:
            return tuple(self._found(data))
        found = RECENT.get(self._serial, text)
        if found is None:
            found = tuple(self._found(data))
            RECENT.put(self._serial, text, found)
        return found

    def _found(self, data: bytes) -> list[_Found]:
        if not self.detectors:
            return []
        hits = self._set.Match(data)
        if not hits:
            return []
        found = [
            _Found(start, end, rank)
            for rank in sorted(hits)
            for start, end in self.detectors[rank].scan(data)
        ]
        found.sort(key=lambda item: (item.start, item.start - item.end, item.rank))
        return found


class _Offsets:
    """Byte offsets to character offsets; free for ASCII text, one decode per offset otherwise."""

    def __init__(self, text: str, data: bytes) -> None:
        self._data = None if len(data) == len(text) else data

    def char(self, offset: int) -> int:
        if self._data is None:
            return offset
        return len(self._data[:offset].decode())
