"""Unicode tricks and other separators do not hide a value from the detectors: they read a view of
the text (no-break and thin spaces, tabs and dots between a card's groups, digits of other scripts,
zero-width characters, fullwidth forms, Latin look-alikes in custom words), while redaction
replaces the text's own characters, restore puts them back, and a stream agrees with the whole."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluicegate.guardrails.custom import pattern_detector, word_detector
from sluicegate.guardrails.placeholders import Vault, redact
from sluicegate.guardrails.scanner import Scanner, builtin_detectors
from sluicegate.guardrails.stream import MOST_HELD, StreamRedactor

SCANNER = Scanner([*builtin_detectors(), word_detector("project", ["Falcon", "Blue Harbor"])])
KEY = "sk-proj-" + "a1B2c3D4" * 5
ZWSP, ZWJ, NBSP, NNBSP, THIN, SHY = "\u200b", "\u200d", "\u00a0", "\u202f", "\u2009", "\u00ad"

TRICKS = [
    ("card 4111\u00a01111\u00a01111\u00a01111 ok", "credit_card", "4111\u00a01111\u00a01111\u00a01111"),
    ("card 4111\u202f1111\u202f1111\u202f1111 ok", "credit_card", "4111\u202f1111\u202f1111\u202f1111"),
    ("card 4111\u20091111\u20091111\u20091111 ok", "credit_card", "4111\u20091111\u20091111\u20091111"),
    ("card 4111\t1111\t1111\t1111 ok", "credit_card", "4111\t1111\t1111\t1111"),
    ("card 4111.1111.1111.1111. ok", "credit_card", "4111.1111.1111.1111"),
    ("card 4111\u20131111\u20131111\u20131111 ok", "credit_card", "4111\u20131111\u20131111\u20131111"),
    ("card ４１１１１１１１１１１１１１１１ ok", "credit_card", "４１１１１１１１１１１１１１１１"),
    ("card ٤١١١١١١١١١١١١١١١ ok", "credit_card", "٤١١١١١١١١١١١١١١١"),
    ("card 4111\u200b1111\u200b1111\u200b1111 ok", "credit_card", "4111\u200b1111\u200b1111\u200b1111"),
    ("mail bob\u200b@example.com ok", "email", "bob\u200b@example.com"),
    ("mail bob@exam\u00adple.com ok", "email", "bob@exam\u00adple.com"),
    ("mail bob＠example.com ok", "email", "bob＠example.com"),
    (f"key {KEY[:20]}\u200b{KEY[20:]} ok", "secret", f"{KEY[:20]}\u200b{KEY[20:]}"),
    ("ssn 123\u201145\u20116789 ok", "us_ssn", "123\u201145\u20116789"),
    ("project F\u0430lcon ok", "project", "F\u0430lcon"),  # a Cyrillic а
    ("project Fal\u200dcon ok", "project", "Fal\u200dcon"),
    ("project ＦＡＬＣＯＮ ok", "project", "ＦＡＬＣＯＮ"),
    ("project Blue\u00a0H\u0430rbor ok", "project", "Blue\u00a0H\u0430rbor"),
]


@pytest.mark.parametrize(("text", "entity", "value"), TRICKS)
def test_a_trick_does_not_hide_a_value_and_its_own_characters_are_redacted(
    text: str, entity: str, value: str
) -> None:
    vault = Vault()
    redacted, spans = redact(text, SCANNER, vault)
    assert [(span.entity, text[span.start : span.end]) for span in spans] == [(entity, value)]
    assert redacted == text.replace(value, f"[{entity.upper()}_1]")
    assert vault.restore(redacted) == text


def test_zero_width_characters_around_a_value_stay_and_those_inside_go() -> None:
    text = f"a{ZWSP} 4111{ZWSP}1111{ZWSP}1111{ZWSP}1111 {ZWSP}z"
    assert redact(text, SCANNER, Vault())[0] == f"a{ZWSP} [CREDIT_CARD_1] {ZWSP}z"


def test_amounts_dates_and_luhn_failures_pass_beside_a_disguised_card() -> None:
    legit = (
        f"Montant : 1{NNBSP}000{NBSP}€, soit 4{NNBSP}111{NNBSP}111{NNBSP}111{NNBSP}111{NNBSP}111{NBSP}€ "
        f"au total, le 15.01.2024 (2024-01-15) à 12:30, version 10.0.0.1.5, "
        f"commande 4111{NBSP}1111{NBSP}1111{NBSP}1112, 4111.1111.1111.1112 et 1.234.567.890.123.456 ; "
        "Zoé, l’équipe Überweisung — ok…"
    )
    text = legit + f" carte 4111{NBSP}1111{NBSP}1111{NBSP}1111."
    assert redact(text, SCANNER, Vault())[0] == legit + " carte [CREDIT_CARD_1]."


def test_a_stream_holds_back_only_what_a_word_may_still_become() -> None:
    stream = StreamRedactor(
        Scanner([*builtin_detectors(["credit_card"]), word_detector("p", ["Falcon"])]), Vault()
    )
    assert stream.feed("card 4111") == "card"
    assert stream.feed(" 1111 1111 1111 from Fal") == " [CREDIT_CARD_1] from "
    assert stream.feed("con.") + stream.close() == "[P_1]."


def test_a_stream_padded_with_zero_width_characters_holds_back_a_bounded_tail() -> None:
    card = f"4111{ZWSP}1111{NNBSP}1111{ZWSP}1111"
    stream = StreamRedactor(SCANNER, Vault())
    fed = f"card {card}{ZWSP}"
    out = stream.feed(fed[:20]) + stream.feed(fed[20:])
    held = []
    for _ in range(100):  # 100,000 zero-width spaces after a card, as an upstream could stream them
        fed += ZWSP * 1000
        out += stream.feed(ZWSP * 1000)
        held.append(len(fed) - len(out.replace("[CREDIT_CARD_1]", card)))
    out += stream.close()
    assert max(held) <= MOST_HELD
    assert out == "card [CREDIT_CARD_1]" + ZWSP * 100_001


FRAGMENTS = [
    "4111", "1111", " ", "1", "-", ".", "\t", "@", "bob", "example.com", "Falcon", "F\u0430l", "con",
    "Blue", "Harbor", ZWSP, ZWJ, NBSP, NNBSP, THIN, SHY, "\ufe0f", "ﬁ", "…", "⑴", "٤", "１", "＠", "\u2013",
    "\U000e0041", "😀", "é", "日本", "EMP-1234", KEY[:12], KEY[12:],
]  # fmt: skip
CARD_TRICK = f" card 4111{NBSP}1111{ZWSP}1111\t1111 end"
STREAMED = Scanner([*SCANNER.detectors, pattern_detector("employee", [r"EMP-[0-9]{4,6}"])])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=24),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
)
def test_any_cut_of_a_disguised_text_equals_its_whole_redaction(words: list[str], cuts: list[int]) -> None:
    text = "".join(words) + CARD_TRICK
    whole, spans = redact(text, STREAMED, Vault(), restorable=False)
    assert re.search(r" card \[CREDIT_CARD_[0-9]+\] end$", whole)
    points = sorted({cut % (len(text) + 1) for cut in cuts})
    stream = StreamRedactor(STREAMED, Vault())
    pieces = [text[start:end] for start, end in zip([0, *points], [*points, len(text)], strict=True)]
    assert "".join(stream.feed(piece) for piece in pieces) + stream.close() == whole
    assert stream.spans == spans
