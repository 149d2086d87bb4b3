"""What a request body meant as JSON gets wrong, in words and bytes a client can act on."""

from __future__ import annotations

import pytest

from sluicegate.providers.base import json_facts, unreadable
from sluicegate.providers.json_body import JsonProblem, declared_json, read_json


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


TEXT = '{"model": "m"}'


@pytest.mark.parametrize(
    ("body", "what"),
    [
        (TEXT.encode("utf-16"), "text encoded as UTF-16LE (byte order mark FF FE)"),
        (b"\xfe\xff" + TEXT.encode("utf-16-be"), "text encoded as UTF-16BE (byte order mark FE FF)"),
        (TEXT.encode("utf-16-le"), "text encoded as UTF-16LE (NUL bytes among the first four)"),
        (TEXT.encode("utf-16-be"), "text encoded as UTF-16BE (NUL bytes among the first four)"),
        (TEXT.encode("utf-32"), "text encoded as UTF-32LE (byte order mark FF FE 00 00)"),
        (TEXT.encode("utf-32-le"), "text encoded as UTF-32LE (NUL bytes among the first four)"),
        (TEXT.encode("utf-32-be"), "text encoded as UTF-32BE (NUL bytes among the first four)"),
        (" [1]".encode("utf-16-be"), "text encoded as UTF-16BE (NUL bytes among the first four)"),
    ],
)
def test_json_in_utf_16_or_32_is_meant_as_json_and_named(body: bytes, what: str) -> None:
    """Python's json reads these (json.detect_encoding), so an upstream would answer them."""
    assert read_json(body) == (
        None,
        JsonProblem(what, 0, "JSON must be sent as UTF-8 (RFC 8259 section 8.1)"),
    )


@pytest.mark.parametrize(
    "body", [b"\x00\x00\x00\x18ftypmp42", b"\xff\xfe\x00\x01binary", "plain".encode("utf-16")]
)
def test_wide_text_or_bytes_that_do_not_start_as_json_are_not_meant_as_json(body: bytes) -> None:
    assert read_json(body) == (None, None)


def test_a_body_declared_json_is_read_however_it_starts() -> None:
    assert read_json(b"model=m", declared=True)[1] == JsonProblem(
        "unexpected character, expected a JSON value", 0
    )
    assert read_json('"x"'.encode("utf-16"), declared=True)[1] is not None
    assert read_json(b"null", declared=True) == (None, None)
    assert read_json(b"", declared=True) == (None, None)


@pytest.mark.parametrize(
    ("content_type", "declared"),
    [
        ("application/json", True),
        ("Application/JSON; charset=utf-8", True),
        ("application/vnd.api+json", True),
        ("multipart/form-data; boundary=x", False),
        ("application/octet-stream", False),
        ("audio/wav", False),
        ("image/png", False),
        ("video/mp4", False),
        ("text/plain", None),
        ("application/x-www-form-urlencoded", None),
        (None, None),
    ],
)
def test_what_a_content_type_declares(content_type: str | None, declared: bool | None) -> None:
    assert declared_json(content_type) is declared


@pytest.mark.parametrize(
    ("body", "content_type", "refused"),
    [
        (b'{"model": NaN}', "application/json", True),
        (b'{"model": NaN}', None, True),
        (b'{"model": NaN}', "application/octet-stream", False),
        (b"\r\n--b\r\n", "multipart/form-data; boundary=b", False),
        (b"\r\n--b\r\n", "application/json", True),
        (b"model=m", "application/json", True),
        (b"model=m", "text/plain", False),
    ],
)
def test_the_declared_type_decides_what_is_refused(
    body: bytes, content_type: str | None, refused: bool
) -> None:
    facts = json_facts(body, cacheable=True)
    assert (unreadable(facts, body, content_type) is not None) is refused
