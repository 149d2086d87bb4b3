"""The values of a JSON text (a tool call's arguments) redacted where they are: read as the text
they stand for (escapes decoded), written back as valid JSON, whole or in pieces cut anywhere."""

from __future__ import annotations

import itertools
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sluicegate.guardrails.json_values import JsonPipe, rewrite_json
from sluicegate.guardrails.placeholders import RestoreStream, Vault, redact
from sluicegate.guardrails.scanner import Scanner, builtin_detectors
from sluicegate.guardrails.sse import TextPipe
from sluicegate.guardrails.stream import StreamRedactor

SCANNER = Scanner(builtin_detectors(["credit_card", "email"]))
CARD = "4111 1111 1111 1111"


def redacted(text: str, vault: Vault | None = None) -> str:
    return redact(text, SCANNER, Vault() if vault is None else vault)[0]


def piped(pieces: list[str], vault: Vault | None = None, restore: bool = False) -> str:
    vault = Vault() if vault is None else vault

    def make() -> TextPipe:
        return TextPipe(StreamRedactor(SCANNER, vault), RestoreStream(vault) if restore else None)

    pipe = JsonPipe(make)
    return "".join(pipe.feed(piece) for piece in pieces) + pipe.close()


def cut(text: str, cuts: list[int]) -> list[str]:
    points = sorted({0, len(text), *(c % (len(text) + 1) for c in cuts)})
    return [text[a:b] for a, b in itertools.pairwise(points)]


def test_a_value_is_read_as_its_text_not_its_spelling() -> None:
    # Raw, `\nbob@example.com` reads as the address `nbob@example.com`, and `\n4111 …` as no card.
    arguments = json.dumps({"note": f"to:\nbob@example.com\n{CARD}", "n": 1})
    for out in (rewrite_json(arguments, redacted), piped([arguments])):
        assert json.loads(out) == {"note": "to:\n[EMAIL_1]\n[CREDIT_CARD_1]", "n": 1}


def test_keys_and_numbers_are_values_too() -> None:
    arguments = '{"bob@example.com": 4111111111111111, "ok": [1.5, true, null]}'
    expected = {"[EMAIL_1]": "[CREDIT_CARD_1]", "ok": [1.5, True, None]}  # the number became a string
    assert json.loads(rewrite_json(arguments, redacted)) == expected
    assert json.loads(piped([arguments])) == expected


def test_unchanged_values_keep_their_spelling() -> None:
    arguments = '{ "a" : "caf\\u00e9 \\/ ok", "b": 10e2 }'
    assert rewrite_json(arguments, redacted) is arguments
    assert piped([arguments]) == '{ "a" : "café / ok", "b": 10e2 }'  # a string piped is written anew
    changed = rewrite_json('{"a": "caf\\u00e9", "b": "bob@example.com"}', redacted)
    assert changed == '{"a": "caf\\u00e9", "b": "[EMAIL_1]"}'


def test_a_text_cut_short_is_read_as_far_as_it_goes() -> None:
    for arguments in ('{"note": "mail bob@example.com', '{"note": "x\\', '{"n": 4111111111111111'):
        assert "bob@" not in rewrite_json(arguments, redacted)
        assert "bob@" not in piped([arguments])
    assert piped(['{"n": 4111111111111111']) == '{"n": "[CREDIT_CARD_1]"'
    assert piped(['{"note": "x\\']) == '{"note": "x\\\\'  # a lone backslash, escaped


def test_a_text_that_is_not_json_is_read_as_prose_from_where_it_stops_being_json() -> None:
    text = '{"a": 1} card 4111 1111 1111 1111 to bob@example.com'
    expected = '{"a": 1} card [CREDIT_CARD_1] to [EMAIL_1]'
    assert rewrite_json(text, redacted) == expected
    for at in range(len(text) + 1):
        assert piped([text[:at], text[at:]]) == expected
    assert rewrite_json('{"a": 1} true', redacted) == '{"a": 1} true'  # nothing to change


def test_only_a_short_tail_is_held() -> None:
    vault = Vault()

    def make() -> TextPipe:
        return TextPipe(StreamRedactor(SCANNER, vault), None)

    pipe = JsonPipe(make)
    assert pipe.feed('{"note": "hello there, ') == '{"note": "hello there'
    assert pipe.feed("card 4111 1111") == ", card"  # what may still be a card is held
    assert pipe.feed(' 1111 1111", "n": 12') == ' [CREDIT_CARD_1]", "n": '  # a number until it ends
    assert pipe.feed("}") == "12}"
    assert pipe.close() == ""


def test_escapes_and_surrogate_pairs_cut_in_two_are_held_whole() -> None:
    arguments = json.dumps({"note": 'smile 😀 and "quotes"\nbob@example.com'})  # ASCII: \ud83d\ude00
    assert "\\ud83d\\ude00" in arguments
    whole = piped([arguments])
    assert json.loads(whole) == {"note": 'smile 😀 and "quotes"\n[EMAIL_1]'}
    for at in range(len(arguments) + 1):
        assert piped([arguments[:at], arguments[at:]]) == whole


def test_restore_writes_the_original_as_json() -> None:
    vault = Vault()
    vault.placeholder("custom", 'a "quoted"\\value')
    out = piped(['{"v": "[CUS', 'TOM_1] ok"}'], vault, restore=True)
    assert json.loads(out) == {"v": 'a "quoted"\\value ok'}


_TEXT = st.lists(
    st.sampled_from(["plain", " ", "\n", '"', "\\", "é", "😀", CARD, "bob@example.com", "\t", "[x]"]),
    max_size=8,
).map("".join)
_JSON: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.just(4111111111111111) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=12,
)


def _expected(value: Any, vault: Vault) -> Any:
    if isinstance(value, dict):
        return {_expected(key, vault): _expected(item, vault) for key, item in value.items()}
    if isinstance(value, list):
        return [_expected(item, vault) for item in value]
    if isinstance(value, str):
        return redacted(value, vault)
    if isinstance(value, int) and not isinstance(value, bool):
        text = redacted(str(value), vault)
        return value if text == str(value) else text
    return value


@given(
    _JSON, st.booleans(), st.sampled_from([None, 2, "\t"]), st.lists(st.integers(min_value=0), max_size=10)
)
def test_any_cut_equals_the_whole_and_stays_valid_json(
    value: Any, ascii_only: bool, indent: int | str | None, cuts: list[int]
) -> None:
    arguments = json.dumps(value, ensure_ascii=ascii_only, indent=indent)
    whole = piped([arguments], Vault())
    assert piped(cut(arguments, cuts), Vault()) == whole
    # Valid JSON: the value with every string and number redacted as a text of its own.
    vault = Vault()
    assert json.loads(whole) == _expected(json.loads(arguments), vault)
    json.loads(rewrite_json(arguments, lambda text: redacted(text, Vault())))


_PIECES = st.sampled_from(
    [*'"\\{}[],: 0123456789-+.eEunltrfas\n', "\\u00e9", "\\ud83d", "\\ude00", "😀", CARD, "bob@example.com"]
)


@given(st.lists(_PIECES, max_size=30).map("".join), st.lists(st.integers(min_value=0), max_size=8))
def test_any_text_json_or_not_cut_anywhere_equals_the_whole(text: str, cuts: list[int]) -> None:
    assert piped(cut(text, cuts)) == piped([text])


# Text made of digits, spaces and brackets only: each run of digits alone is too short to scan.
_SPACED = {
    CARD: "[CREDIT_CARD_1]",
    "123 45 6789": "[US_SSN_1]",
    f'{{"a": 1}}\n{CARD}': '{"a": 1}\n[CREDIT_CARD_1]',
    f"[{CARD}]": "[[CREDIT_CARD_1]]",
    f'"x" {CARD}': '"x" [CREDIT_CARD_1]',
    f"true {CARD}": "true [CREDIT_CARD_1]",
}
_SPACED_SCANNER = Scanner(builtin_detectors(["credit_card", "us_ssn"]))


def _spaced_piped(pieces: list[str]) -> str:
    vault = Vault()
    pipe = JsonPipe(lambda: TextPipe(StreamRedactor(_SPACED_SCANNER, vault), None))
    return "".join(pipe.feed(piece) for piece in pieces) + pipe.close()


def test_a_value_right_after_a_value_is_not_json_but_prose() -> None:
    for text, expected in _SPACED.items():
        assert rewrite_json(text, lambda value: redact(value, _SPACED_SCANNER, Vault())[0]) == expected
        assert _spaced_piped([text]) == expected
        for at in range(len(text) + 1):
            assert _spaced_piped([text[:at], text[at:]]) == expected
        assert _spaced_piped(list(text)) == expected  # a character at a time


@given(st.sampled_from(sorted(_SPACED)), st.lists(st.integers(min_value=0), max_size=10))
def test_a_value_right_after_a_value_is_prose_however_cut(text: str, cuts: list[int]) -> None:
    assert _spaced_piped(cut(text, cuts)) == _SPACED[text]


def test_json_values_keep_their_grammar() -> None:
    # Numbers followed by what JSON allows stay numbers; white space between them and that too.
    for text in ("[1 , 2 ]", '{"n" : 12 }', "7 ", '{"a": [1, 2], "b": {"c": 3}}\n'):
        assert rewrite_json(text, redacted) is text
        for at in range(len(text) + 1):
            assert piped([text[:at], text[at:]]) == text
