"""A long text cut into pieces that tiktoken counts in linear time.

tiktoken's byte-pair merging is quadratic in the length of one pre-tokenized word, so a text that
is one long run without spaces (megabytes of base64, or of one letter) took seconds of a worker
thread to count: 2.8 s for 4 MB idle (0.8 s in pieces), up to 30 s under load. Cut at a space or
after a line break at most `PIECE` characters apart (a run without one, at `PIECE`), the pieces count
what the whole text does, but for a token or so at a hard cut (1 MB of base64: 715,739 tokens
against 715,715): an estimate either way.
"""

from __future__ import annotations

from collections.abc import Iterator

PIECE = 8192  # characters


def pieces(text: str) -> Iterator[str]:
    """`text` in consecutive pieces of at most `PIECE` characters, each but the last ending just
    before a space or just after a line break where one is within reach, as tiktoken's
    pre-tokenizer cuts it (the word after keeps its space)."""
    start, length = 0, len(text)
    while length - start > PIECE:
        end = start + PIECE
        # Before a space (a word keeps its own), after a line break (`.\n` is one token).
        cut = max(text.rfind(" ", start + 1, end), text.rfind("\n", start, end - 1) + 1)
        cut = end if cut <= start else cut
        yield text[start:cut]
        start = cut
    yield text[start:]
