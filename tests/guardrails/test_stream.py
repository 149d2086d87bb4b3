"""The stream filter: matches split across pieces are caught, only a short tail is held back, and
however a text is cut the pieces put together equal the redaction of the whole text."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluicegate.guardrails.custom import pattern_detector, word_detector
from sluicegate.guardrails.placeholders import RestoreStream, Vault, redact
from sluicegate.guardrails.scanner import Scanner, builtin_detectors
from sluicegate.guardrails.stream import StreamRedactor

SCANNER = Scanner(
    [
        *builtin_detectors(),
        word_detector("codename", ["Project Falcon", "falcon", "Zeta"]),
        pattern_detector("employee", [r"EMP-[0-9]{4,6}"]),
    ]
)

BUILTIN = Scanner(builtin_detectors())

FRAGMENTS = [
    "4111 1111 1111 1111", "5555-5555-5555-4444", "4111", "1", "12", "555", "0", "7", " ", "  ", "-",
    ".", ",", ":", "(", ")", "+", "\n", "\n\n", "a", "word", "x.y", "@", "bob@example.com",
    "DE89 3704 0044 0532 0130 00", "GB82WEST12345698765432", "+1 (415) 555-2671", "020 7946 0958",
    "123-45-6789", "192.168.1.1", "fe80::1", "sk-proj-" + "a1B2" * 10, "AKIAIOSFODNN7EXAMPLE",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln", "-----BEGIN PRIVATE KEY-----", "MIIEowIBAAKCAQEA",
    "-----END PRIVATE KEY-----", "Project Falcon", "falcon", "EMP-12345", "zeta", "é", "日本", "😀",
]  # fmt: skip

texts = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=30).map("".join)


def pieces(text: str, cuts: list[int]) -> list[str]:
    points = sorted({cut % (len(text) + 1) for cut in cuts})
    return [text[start:end] for start, end in zip([0, *points], [*points, len(text)], strict=True)]


def streamed(text: str, cuts: list[int]) -> str:
    stream = StreamRedactor(SCANNER, Vault())
    return "".join(stream.feed(piece) for piece in pieces(text, cuts)) + stream.close()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_any_cut_equals_whole_text_redaction(text: str, cuts: list[int]) -> None:
    whole, _ = redact(text, SCANNER, Vault(), restorable=False)
    assert streamed(text, cuts) == whole


def test_card_split_across_pieces_is_caught() -> None:
    stream = StreamRedactor(SCANNER, Vault())
    parts = ["Your card is 4111 11", "11 1111 ", "1111 and that", " is all."]
    out = "".join(stream.feed(part) for part in parts) + stream.close()
    assert out == "Your card is [CREDIT_CARD_1] and that is all."
    assert [(span.entity, span.start, span.end) for span in stream.spans] == [("credit_card", 13, 32)]


def test_holds_back_only_a_short_tail_of_prose() -> None:
    stream = StreamRedactor(BUILTIN, Vault())
    prose = "The quarterly report is ready; revenue grew in every region and costs fell. " * 20
    held = []
    released = []
    for start in range(0, len(prose), 7):
        released.append(stream.feed(prose[start : start + 7]))
        held.append(len(prose[: start + 7]) - len("".join(released)))
    assert max(held) <= 16  # a word or so, never the stream
    assert "".join(released) + stream.close() == prose


def test_holds_an_unfinished_key_until_it_ends() -> None:
    stream = StreamRedactor(BUILTIN, Vault())
    assert stream.feed("token: sk-proj-") == "token: "
    assert stream.feed("a1B2" * 40) == ""
    assert stream.feed(" done") + stream.close() == "[SECRET_1] done"


def test_numbers_are_shared_with_the_request() -> None:
    vault = Vault()
    redact("mail bob@example.com", SCANNER, vault)
    stream = StreamRedactor(SCANNER, vault)
    out = stream.feed("bob@example.com and eve@example.com") + stream.close()
    assert out == "[EMAIL_1] and [EMAIL_2]"


@settings(max_examples=200, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(["[EMAIL_1]", "[EMAIL_2]", "[", "]", "EMAIL_1", "x", " ", "[PHONE_1]"])
    ).map("".join),
    cuts=st.lists(st.integers(min_value=0, max_value=1000), max_size=8),
)
def test_restore_of_any_cut_equals_whole_restore(text: str, cuts: list[int]) -> None:
    vault = Vault()
    redact("bob@example.com +1 (415) 555-2671", SCANNER, vault)
    stream = RestoreStream(vault)
    out = "".join(stream.feed(piece) for piece in pieces(text, cuts)) + stream.close()
    assert out == vault.restore(text)
