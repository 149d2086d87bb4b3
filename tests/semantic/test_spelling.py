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


def test_a_lookalike_of_another_word_is_not_aligned() -> None:
    spelling = Spelling.packaged()
    # an edit at the start or end of a short word, or a vowel near its end, makes another word
    assert spelling.align("Is it safe to drink ethanol?", "drink methanol") == "drink methanol"
    assert spelling.align("Is butane heavier than air?", "is butene heavier") == "is butene heavier"
    assert spelling.align("the molar mass of hexane", "mass of hexene") == "mass of hexene"
    assert spelling.lookalike("Is it safe to drink ethanol?", "drink methanol") == "methanol/ethanol"
    assert spelling.lookalike("the Fitzbillies bakery", "the Fitzbilles bakery") == ""
    # letters inside a model code are not a word
    assert spelling.align("Is the Galaxy S23a waterproof?", "the Galaxy S23e") == "the Galaxy S23e"
    # a plural "s" is still a slip
    assert spelling.align("Which laptop is good?", "good laptops") == "good laptop"


def test_the_verifier_refuses_lookalikes_and_changed_model_codes() -> None:
    aligned = Verifier(Rules(), spelling=Spelling.packaged())
    for stored, new in [
        ("Is it safe to drink ethanol?", "Is it safe to drink methanol?"),
        ("Is butane heavier than air?", "Is butene heavier than air?"),
        ("Is the Pixel 8a waterproof?", "Is the Pixel 8 waterproof?"),
        ("Is the Galaxy S23 waterproof?", "Is the Galaxy S23+ waterproof?"),
        ("Is C++ hard to learn?", "Is C hard to learn?"),
    ]:
        for query, candidate in [(new, stored), (stored, new)]:
            assert not aligned.verify(aligned.align(query, candidate), candidate), (query, candidate)
    assert aligned.verify("Book a table at 3pm for 5k people", "book a table at 3pm for 5k people")
