"""What JSON values cost in a stream: a number too short for any detector to match gets no pipe
(each detector says the shortest number it can match, and that bound holds), and a value's pipe
is let go once it ends, what it found kept, so a JSON text of many values holds no more pipes
than one of few; a whole answer's short numbers are not scanned either."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sluicegate.guardrails.custom import pattern_detector, word_detector
from sluicegate.guardrails.detector import NO_NUMBER, NUMBER_CHARS, Detector, Span
from sluicegate.guardrails.guard import Guard
from sluicegate.guardrails.json_values import JsonPipe
from sluicegate.guardrails.placeholders import Vault, redact
from sluicegate.guardrails.policy import parse_policy
from sluicegate.guardrails.scanner import Scanner, builtin_detectors
from sluicegate.guardrails.sse import OpenPipes, TextPipe
from sluicegate.guardrails.stream import StreamRedactor
from sluicegate.guardrails.view import View

BUILTIN = {detector.name: detector for detector in builtin_detectors()}
# The shortest match of each built-in detector that a number can spell, at its bound.
AT_THE_BOUND = {
    "credit_card": "4222222222222",  # 13 digits, Luhn-valid
    "us_ssn": "123-45-6789",
    "phone": "+12345678",  # E.164: 8 digits
    "ip_address": "1.2.3.4",
}
NUMBERS = st.text(alphabet=NUMBER_CHARS.decode(), max_size=20)
SHAPED = st.lists(  # numbers shaped like what the detectors look for
    st.sampled_from(["+", "-", ".", "0", "1", "4", "9", "12", "555", "4111", "2671", "e", "E", "EE"]),
    max_size=12,
).map("".join)


def test_each_detector_says_the_shortest_number_it_matches() -> None:
    for name, example in AT_THE_BOUND.items():
        detector = BUILTIN[name]
        assert detector.shortest_number == len(example)
        assert Scanner([detector]).find(example) != []
    assert BUILTIN["iban"].shortest_number == len("NO9386011117947")  # the shortest IBAN
    assert Scanner([BUILTIN["iban"]]).find("NO9386011117947") != []
    unmatched = [name for name, detector in BUILTIN.items() if detector.shortest_number == NO_NUMBER]
    secrets = [name for name in BUILTIN if name.startswith("secret.")]  # keys, JWTs, PEM blocks
    assert sorted(unmatched) == sorted(["email", "ip_address.v6", *secrets])
    assert len(secrets) == 10


def test_a_scanner_s_bound_is_its_detectors_least() -> None:
    assert Scanner(builtin_detectors()).shortest_number == 7  # an IPv4 address
    assert Scanner(builtin_detectors(["credit_card", "email"])).shortest_number == 13
    assert Scanner(builtin_detectors(["email", "secret"])).shortest_number == NO_NUMBER
    assert Scanner([]).shortest_number == NO_NUMBER
    # Words are measured as matched (a phrase's words one space apart); patterns are not measured.
    assert word_detector("w", ["Zeta", "a   b", "42"]).shortest_number == 2
    assert word_detector("w", ["Zeta", "a   b"]).shortest_number == 3
    assert pattern_detector("p", [r"[0-9]{4}"]).shortest_number == 1


@pytest.mark.parametrize("name", sorted(BUILTIN))
@given(number=st.one_of(NUMBERS, SHAPED))
def test_no_number_shorter_than_a_detector_s_bound_holds_its_match(name: str, number: str) -> None:
    detector: Detector = BUILTIN[name]
    found = Scanner([detector]).find(number)
    assert all(span.end - span.start >= detector.shortest_number for span in found)
    if len(number) < detector.shortest_number:
        assert found == []


def pipes_made(scanner: Scanner, arguments: str) -> tuple[str, int]:
    """The arguments piped in 7-character pieces, and how many text pipes that made."""
    vault, made = Vault(), []

    def make() -> TextPipe:
        made.append(pipe := TextPipe(StreamRedactor(scanner, vault), None))
        return pipe

    pipe = JsonPipe(make)
    out = "".join(pipe.feed(arguments[at : at + 7]) for at in range(0, len(arguments), 7)) + pipe.close()
    return out, len(made)


def test_numbers_too_short_for_every_detector_get_no_pipe() -> None:
    arguments = json.dumps({"values": list(range(2000)), "card": 4111111111111111, "ip": 1.5})
    out, made = pipes_made(Scanner(builtin_detectors(["credit_card", "email"])), arguments)
    assert json.loads(out) == {"values": list(range(2000)), "card": "[CREDIT_CARD_1]", "ip": 1.5}
    assert made == 4  # three keys and the card; no number of fewer than 13 characters
    # A rule that may match any number (a custom pattern) reads them all, however short.
    digit = Scanner([pattern_detector("digit", ["[0-9]"])])
    out, made = pipes_made(digit, '{"n": 7, "m": [1, 2]}')
    assert json.loads(out) == {"n": "[DIGIT_1]", "m": ["[DIGIT_2]", "[DIGIT_3]"]}
    assert made == 5


def test_a_json_value_s_pipe_is_let_go_once_it_ends_its_findings_kept() -> None:
    vault = Vault()
    flags = Scanner(builtin_detectors(["ip_address"]))
    pipes = OpenPipes(
        lambda: TextPipe(
            StreamRedactor(Scanner(builtin_detectors(["email"])), vault), None, StreamRedactor(flags, Vault())
        )
    )
    rows = [{"to": f"user{n}@example.com" if n % 100 == 0 else "nobody", "n": n} for n in range(1000)]
    arguments = json.dumps({"host": "10.0.0.1", "rows": rows})
    held = 0
    out = ""
    for at in range(0, len(arguments), 16):
        out += pipes.feed(("call", 0), arguments[at : at + 16], json=True)
        held = max(held, len(pipes.made))
    out += pipes.close(("call", 0))
    assert held <= 1  # the one string being read, at most
    assert pipes.made == []
    assert json.loads(out)["rows"][100]["to"] == "[EMAIL_2]"
    assert [span.entity for span in pipes.spans] == ["email"] * 10
    assert [span.entity for span in pipes.flagged] == ["ip_address"]


@given(text=st.text(max_size=40), cut=st.integers(min_value=0, max_value=40))
def test_closing_with_the_last_piece_equals_feeding_it_first(text: str, cut: int) -> None:
    text = text + " bob@example.com 4111 1111 1111 1111"[: cut % 37]
    scanner = Scanner(builtin_detectors())
    fed, closed = StreamRedactor(scanner, Vault()), StreamRedactor(scanner, Vault())
    head, last = text[: cut % (len(text) + 1)], text[cut % (len(text) + 1) :]
    out = fed.feed(head) + fed.feed(last) + fed.close()
    assert closed.feed(head) + closed.close(last) == out == redact(text, scanner, Vault())[0]
    assert closed.spans == fed.spans


def test_a_whole_text_spelled_like_a_short_number_is_not_scanned() -> None:
    # A whole answer's JSON values each go through Guard.inspect: its numbers, mostly short.
    def counted(guard: Guard) -> list[str]:
        scanned: list[str] = []
        for action in ("block", "redact", "flag"):
            scanner = guard.scanner("response", action)

            def find_in(view: View, start: int = 0, find_in: Any = scanner.find_in) -> list[Span]:
                scanned.append(view.text)
                return find_in(view, start)  # type: ignore[no-any-return]

            scanner.find_in = find_in  # type: ignore[method-assign]
        return scanned

    guard = Guard(parse_policy({"pii": {"action": "redact", "entities": ["credit_card", "email"]}}))
    scanned = counted(guard)
    for text in ("7", "-1.5e3", "123456789012"):
        assert guard.inspect(text, "response", Vault()).text == text
    assert scanned == []
    assert guard.inspect("4111111111111111", "response", Vault()).text == "[CREDIT_CARD_1]"
    assert guard.inspect("a@b.cd", "response", Vault()).text == "[EMAIL_1]"
    # A custom pattern may match any number: every one is read.
    guard = Guard(parse_policy({"custom": [{"name": "digit", "patterns": ["[0-9]"], "action": "redact"}]}))
    scanned = counted(guard)
    assert guard.inspect("7", "response", Vault()).text == "[DIGIT_1]"
    assert scanned
