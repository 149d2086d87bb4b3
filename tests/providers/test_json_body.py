"""What a request body meant as JSON gets wrong, in words and bytes a client can act on."""

from __future__ import annotations

import pytest

from sluicegate.providers.json_body import read_json


@pytest.mark.parametrize(
    ("body", "byte", "what"),
    [
        ('{"a": "é \\ud83d"}'.encode(), 10, "a lone surrogate escape \\ud83d"),
        (b'{"a": "\\udc00 x"}', 7, "a lone surrogate escape \\udc00"),
        (b'{"a": "\\ud83d\\u0041"}', 7, "a lone surrogate escape \\ud83d"),
        (b'{"a": NaN}', 6, "NaN is not a JSON number"),
        (b'{"a": -Infinity}', 6, "-Infinity is not a JSON number"),
        (b"\xef\xbb\xbf{}", 0, "a UTF-8 byte order mark (EF BB BF)"),
        (b'{"a": "\xff"}', 7, "bytes that are not UTF-8 (FF)"),
        (b"[" * 1100 + b"]" * 1100, 1025, "arrays and objects nested deeper than 1024 levels"),
        (b'{"a": 1,}', 7, "trailing comma is not allowed"),
    ],
)
def test_a_problem_is_named_at_its_byte(body: bytes, byte: int, what: str) -> None:
    payload, problem = read_json(body)
    assert payload is None
    assert problem is not None
    assert (problem.byte, problem.what) == (byte, what)


@pytest.mark.parametrize("body", [b"", b"--boundary\r\n", b"\x89PNG", b"\xef\xbb\xbfplain text", b"not json"])
def test_a_body_not_meant_as_json_has_no_problem(body: bytes) -> None:
    assert read_json(body) == (None, None)


def test_json_is_read() -> None:
    assert read_json(b' {"a": [1]}') == ({"a": [1]}, None)
