"""Redaction of text that arrives in pieces (the deltas of a streamed answer).

Each piece is scanned together with what is still held back; text is let through as soon as no
match can still span it, so only the tail a match may still grow into is held (the trailing run
of characters a detector's matches are made of, at most its longest match: a few characters in
prose, up to 128 inside an e-mail-like run, longer only inside an unfinished key or PEM block).
Whatever way a text is cut, the pieces put together equal `redact` of the whole text.

Detectors read a view of the text (view.py) in which zero-width characters are removed, so a
match may span more characters than the view holds; a tail longer than `MOST_HELD` characters
(only a stream padded with those could hold one) is let through, scanned as far as it goes.
"""

from __future__ import annotations

from .detector import BEFORE, Span
from .placeholders import Vault, substitute
from .scanner import Scanner
from .view import View, tail, view_of

# Characters kept after they are let through: what detectors read before a match (`BEFORE` bytes,
# which never take more characters than that).
CONTEXT_CHARS = BEFORE
# The most a stream holds back: a private key's block (secrets.PEM_MAX bytes), twice over.
MOST_HELD = 32768


class StreamRedactor:
    """Feed pieces in order, then `close()` (which may take the last piece: the same text out as
    feeding it first, with one scan less); each call returns the text that may go out now.
    `spans` lists what was found, in offsets of the whole stream."""

    def __init__(self, scanner: Scanner, vault: Vault, *, restorable: bool = False) -> None:
        self._scanner = scanner
        self._vault = vault
        self._restorable = restorable
        self._context = ""  # the end of what was let through, read as context only
        self._pending = ""
        self._offset = 0  # stream offset of the first pending character
        self.spans: list[Span] = []

    @property
    def shortest_number(self) -> int:
        """A JSON number with fewer characters than this holds nothing this redactor finds."""
        return self._scanner.shortest_number

    def feed(self, chunk: str) -> str:
        self._pending += chunk
        if not self._scanner:
            return self._release(len(self._pending), [])
        view = view_of(self._context + self._pending)
        hold = self._scanner.open_in(view) - len(self._context)
        hold = max(hold, len(self._pending) - MOST_HELD)
        if hold <= 0:
            return ""
        return self._emit(view, hold)

    def close(self, chunk: str = "") -> str:
        self._pending += chunk
        if not self._scanner:
            return self._release(len(self._pending), [])
        return self._emit(view_of(self._context + self._pending), len(self._pending))

    def _emit(self, view: View, hold: int) -> str:
        base = len(self._context)
        spans: list[Span] = []
        cut = hold
        for span in self._scanner.find_in(view, base):
            start, end = span.start - base, span.end - base
            if start >= hold:
                break
            spans.append(Span(start, end, span.entity, span.detector))
            cut = max(cut, end)  # a span found whole goes out whole
        return self._release(cut, spans)

    def _release(self, cut: int, spans: list[Span]) -> str:
        text = self._pending[:cut]
        self._pending = self._pending[cut:]
        self._context = tail(self._context + text, CONTEXT_CHARS)
        self.spans.extend(
            Span(span.start + self._offset, span.end + self._offset, span.entity, span.detector)
            for span in spans
        )
        self._offset += cut
        return substitute(text, spans, self._vault, restorable=self._restorable) if spans else text
