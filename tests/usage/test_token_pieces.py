"""A long text is counted in pieces: the same text, none longer than PIECE, cut before a space."""

from __future__ import annotations

import itertools

from sluicegate.usage.token_pieces import PIECE, pieces
from sluicegate.usage.tokens import TokenCounter

PROSE = "The quick brown fox jumps over the lazy dog on 2024-09-12, naïvely.\n" * 2000


def test_pieces_make_the_text_again_none_longer_than_a_piece() -> None:
    for text in (PROSE, "x" * (3 * PIECE + 5), "", "short text"):
        cut = list(pieces(text))
        assert "".join(cut) == text
        assert all(len(piece) <= PIECE for piece in cut)


def test_prose_is_cut_before_a_space_or_after_a_line_break() -> None:
    cut = list(pieces(PROSE))
    assert len(cut) > 1
    assert all(piece[0] == " " or before[-1] == "\n" for before, piece in itertools.pairwise(cut))


def test_a_long_text_counts_as_it_did_whole() -> None:
    """Cut before spaces, prose counts exactly what one encode of it counts."""
    counter = TokenCounter()
    whole = len(counter.encoding("o200k_base").encode_ordinary(PROSE))
    assert counter.count_text(PROSE, "gpt-4o") == whole
