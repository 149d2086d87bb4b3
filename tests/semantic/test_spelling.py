"""Spelling alignment: a misspelt word takes the stored request's spelling, a known word never does."""

from __future__ import annotations

from sluicegate.semantic.spelling import Spelling, one_slip
from sluicegate.semantic.verify import Rules, Verifier

RULES = Verifier(Rules())


def test_a_misspelt_word_takes_the_candidates_spelling() -> None:
    spelling = Spelling.packaged()
    assert spelling.align("the Fitzbillies bakery", "the Fitzbilles bakery") == "the Fitzbillies bakery"
    assert spelling.align("How do I reset my password?", "how do i reset my pasword") == (
        "how do i reset my password"
    )
    # known words are never rewritten, however close
    assert (
        spelling.align("a restaurant in the east", "a restaurant in the west") == "a restaurant in the west"
    )
    assert spelling.align("a cheap hotel", "a cheap hostel") == "a cheap hostel"
    assert spelling.align("Kymmoy or Kymmoa", "Kymmoi") == "Kymmoi"  # two candidates: left alone
    assert spelling.unknown("the Fitzbilles bakery")
    assert not spelling.unknown("the bakery")


def test_the_verifier_aligns_only_with_a_spelling() -> None:
    aligned = Verifier(Rules(), spelling=Spelling.packaged())
    query = aligned.align("Whats the phone number of Fitzbilles?", "What's the phone number of Fitzbillies?")
    assert query == "What's the phone number of Fitzbillies?"
    assert aligned.verify(query, "What's the phone number of Fitzbillies?")
    assert RULES.align("Fitzbilles", "Fitzbillies") == "Fitzbilles"


def test_one_slip_is_one_edit_or_two_neighbours_swapped() -> None:
    assert one_slip("garden", "garen")
    assert one_slip("garden", "gardne")
    assert one_slip("garden", "gardens")
    assert one_slip("garden", "harden")
    assert not one_slip("garden", "gadrne")
    assert not one_slip("garden", "garden")
