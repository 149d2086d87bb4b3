"""What the scanners found in the texts they read lately, so that a text is not scanned twice.

A conversation sends its whole history with every request, and an application the same system
prompt: without this, each turn would scan every earlier one again (the cost grows with the
square of a conversation's length). A lookup costs under a microsecond, a scan of even 64
characters about 15; shorter texts are scanned again rather than kept. All scanners share one
bound, in characters (each entry counted with its keeping's own cost). An entry is keyed by its
scanner itself, not its id: a scanner made for a changed policy never reads what an earlier one
found.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

Found = TypeVar("Found")

SHORTEST = 64  # characters
MOST_CHARS = 4_000_000  # all entries' texts together, with ENTRY_CHARS each (a few MB)
ENTRY_CHARS = 256  # what keeping an entry costs beside its text (key, tuple, dict slot)


class RecentFinds(Generic[Found]):
    """A least-recently-used map of (scanner, text) to what it found, bounded in characters."""

    def __init__(self, most_chars: int = MOST_CHARS) -> None:
        self._most = most_chars
        self._chars = 0
        self._entries: OrderedDict[tuple[object, str], Found] = OrderedDict()

    def get(self, scanner: object, text: str) -> Found | None:
        key = (scanner, text)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, scanner: object, text: str, found: Found) -> None:
        key = (scanner, text)
        if key in self._entries or len(text) > self._most:
            return
        self._entries[key] = found
        self._chars += len(text) + ENTRY_CHARS
        while self._chars > self._most:
            (_, oldest), _ = self._entries.popitem(last=False)
            self._chars -= len(oldest) + ENTRY_CHARS
