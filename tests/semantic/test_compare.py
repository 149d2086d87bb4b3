"""Judging a candidate turn by turn: each differing turn verified at its own place, the lowest
cosine as the similarity, earlier turns embedded by their head."""

from __future__ import annotations

import numpy as np

from sluicegate.semantic.compare import CONTEXT_WORDS, align_turns, embedded, lowest_cosine, verify_turns
from sluicegate.semantic.spelling import Spelling
from sluicegate.semantic.verify import Rules, Verifier

RULES = Verifier(Rules())


def test_every_differing_turn_is_verified_at_its_own_place() -> None:
    stored = ("What's their phone number?", "Yu Garden is a Chinese restaurant.", "I want Yu Garden.")
    assert verify_turns(RULES, stored, stored).ok
    swapped = ("What's their phone number?", "Golden Curry is an Indian restaurant.", "I want Yu Garden.")
    verdict = verify_turns(RULES, swapped, stored)
    assert not verdict.ok
    assert verdict.reason.startswith("earlier turn 1: entity")


def test_the_similarity_is_the_lowest_over_the_turns() -> None:
    stored = np.eye(3, dtype=np.float32)
    query = np.array([[1, 0, 0], [0, 0.6, 0.8], [0, 0, 1]], dtype=np.float32)
    assert lowest_cosine(query, stored) == np.float32(0.6)


def test_each_turn_is_aligned_to_the_stored_turn_at_its_place() -> None:
    aligned = Verifier(Rules(), spelling=Spelling.packaged())
    turns = align_turns(
        aligned, ("And the postcode?", "I want Fitzbilles."), ("And the postcode?", "I want Fitzbillies.")
    )
    assert turns == ("And the postcode?", "I want Fitzbillies.")


def test_an_earlier_turn_is_embedded_by_its_head_the_question_whole() -> None:
    long = " ".join(f"word{i}" for i in range(CONTEXT_WORDS * 2))
    assert embedded(0, long) == long
    assert embedded(1, long).split() == long.split()[:CONTEXT_WORDS]
    assert embedded(2, "Short answer.") == "Short answer."
