"""The incremental splitter of a top-level JSON array: the same elements, and the same bytes out,
however the body is cut, with brackets, quotes and escapes inside strings ending nothing."""

from __future__ import annotations

import json

import pytest

from sluicegate.guardrails.json_array import JsonArraySplitter, Kind, Piece

# Gemini's framing (pretty-printed elements, `\n,\r\n` between them), then elements whose strings
# hold what would end an element outside one, escapes (an escaped quote, an escaped backslash
# before a quote, `\u005d`), nested arrays, a string, numbers and literals.
ELEMENTS = [
    b'{\n  "candidates": [\n    {\n      "content": {"parts": [{"text": "echo: a]}"}]}\n    }\n  ]\n}',
    b'{"a": "quote \\" ] } still", "b": "backslash \\\\", "c": [1, [2, {"d": "\\u005d{["}]]}',
    b'"a string ] with \\"[\\" in it"',
    b'[[], {}, [[["]"]]]]',
    b"-12.5e3",
    b"true",
    b"null",
    b"{}",
]
BODY = b" \r\n[" + b"\n,\r\n".join(ELEMENTS) + b"\n]\n"


def split(body: bytes, cuts: list[int]) -> list[Piece]:
    splitter = JsonArraySplitter()
    pieces: list[Piece] = []
    last = 0
    for cut in [*cuts, len(body)]:
        pieces += splitter.feed(body[last:cut])
        last = cut
    return pieces + splitter.close()


def elements(pieces: list[Piece]) -> list[bytes]:
    return [piece.data for piece in pieces if piece.kind is Kind.ELEMENT]


def test_the_elements_are_those_json_reads() -> None:
    assert [json.loads(element) for element in ELEMENTS] == json.loads(BODY)
    pieces = split(BODY, [])
    assert elements(pieces) == ELEMENTS
    assert pieces[-1] == Piece(Kind.END, b"]\n")
    assert pieces[0] == Piece(Kind.RAW, b" \r\n[")


@pytest.mark.parametrize("cut", range(len(BODY) + 1))
def test_cut_at_any_byte_the_same_elements_come_and_nothing_is_lost(cut: int) -> None:
    pieces = split(BODY, [cut])
    assert elements(pieces) == ELEMENTS
    assert b"".join(piece.data for piece in pieces) == BODY
    assert [piece.kind for piece in pieces].count(Kind.END) == 1


def test_fed_a_byte_at_a_time_each_element_comes_at_its_last_byte() -> None:
    splitter = JsonArraySplitter()
    pieces: list[Piece] = []
    for at in range(len(BODY)):
        fed = splitter.feed(BODY[at : at + 1])
        pieces += fed
        for piece in fed:
            if piece.kind is Kind.ELEMENT and piece.data[:1] in b'{["':
                # An object, array or string is given out with its own last byte, not the next one.
                assert BODY[at : at + 1] == piece.data[-1:]
    assert elements(pieces + splitter.close()) == ELEMENTS
    assert b"".join(piece.data for piece in pieces) == BODY


ESCAPES = b'["\\\\", "\\"", "\\\\\\""]'  # strings of a backslash; a quote; a backslash then a quote


@pytest.mark.parametrize("cut", range(len(ESCAPES) + 1))
def test_an_escape_cut_between_its_backslash_and_the_next_byte(cut: int) -> None:
    assert elements(split(ESCAPES, [cut])) == [b'"\\\\"', b'"\\""', b'"\\\\\\""']


@pytest.mark.parametrize("body", [b'{"error": {"code": 500}}', b"  data: {}\n\n", b"", b"   "])
def test_a_body_that_is_no_array_passes_as_it_came(body: bytes) -> None:
    for cut in range(len(body) + 1):
        pieces = split(body, [cut])
        assert all(piece.kind is Kind.RAW for piece in pieces)
        assert b"".join(piece.data for piece in pieces) == body


def test_a_body_cut_short_gives_what_came_of_its_last_element_at_close() -> None:
    splitter = JsonArraySplitter()
    assert elements(splitter.feed(b'[{"a": 1}\n,\r\n{"b": "x]')) == [b'{"a": 1}']
    assert splitter.close() == [Piece(Kind.ELEMENT, b'{"b": "x]')]
    number = JsonArraySplitter()
    assert number.feed(b"[1, 23") == [
        Piece(Kind.RAW, b"["),
        Piece(Kind.ELEMENT, b"1"),
        Piece(Kind.RAW, b", "),
    ]
    assert number.close() == [Piece(Kind.ELEMENT, b"23")]


def test_an_empty_array_and_what_follows_its_end() -> None:
    pieces = split(b"[ ]\n", [])
    assert pieces == [Piece(Kind.RAW, b"[ "), Piece(Kind.END, b"]\n")]
    splitter = JsonArraySplitter()
    splitter.feed(b"[1]")
    assert splitter.feed(b"[2]") == [Piece(Kind.RAW, b"[2]")]  # past the array: nothing more is split
