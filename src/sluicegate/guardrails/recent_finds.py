"""What the scanners found in the texts they read lately, so that a text is not scanned twice.

A conversation sends its whole history with every request, and an application the same system
prompt: without this, each turn would scan every earlier one again (the cost grows with the
square of a conversation's length). A lookup costs under a microsecond, a scan of even 64
characters about 15; shorter texts are scanned again rather than kept. All scanners share one
bound, in bytes of memory (each entry counted with its keeping's own cost). An entry is keyed by
its scanner's serial number, never reused: a scanner made for a changed policy never reads what an
earlier one found, and a scanner no longer used is not kept alive by its entries, which age out.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from typing import Generic, TypeVar

Found = TypeVar("Found")

SHORTEST = 64  # characters
MOST_BYTES = 8 << 20  # all entries together, texts and ENTRY_BYTES each
ENTRY_BYTES = 256  # what keeping an entry costs beside its text (key, tuple, dict slot)


class RecentFinds(Generic[Found]):
    """A least-recently-used map of (scanner serial, text) to what it found, bounded in bytes."""

    def __init__(self, most_bytes: int = MOST_BYTES) -> None:
        self._most = most_bytes
        self._bytes = 0
        self._entries: OrderedDict[tuple[int, str], Found] = OrderedDict()

    def get(self, scanner: int, text: str) -> Found | None:
        key = (scanner, text)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
        return found

    def put(self, scanner: int, text: str, found: Found) -> None:
        key = (scanner, text)
        size = sys.getsizeof(text) + ENTRY_BYTES
        if key in self._entries or size > self._most:
            return
        self._entries[key] = found
        self._bytes += size
        while self._bytes > self._most:
            (_, oldest), _ = self._entries.popitem(last=False)
            self._bytes -= sys.getsizeof(oldest) + ENTRY_BYTES
