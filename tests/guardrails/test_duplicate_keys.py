"""Repeated keys in a request body the guardrails read (duplicate_keys.py): found in any object,
named by the key and where it is, as OpenAI names a request field."""

from __future__ import annotations

import orjson
import pytest

from sluicegate.guardrails.duplicate_keys import Duplicate, duplicate_key


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (b'{"a": 1, "a": 2}', Duplicate("a", "a")),
        (b'{"m": [{"c": 1}, {"c": 2, "r": 0, "c": 3}]}', Duplicate("c", "m[1].c")),
        (b'[{"x": {"y": [[{"k": 1, "k": 1}]]}}]', Duplicate("k", "[0].x.y[0][0].k")),
        # The first in document order: the outer object opens before the inner one.
        (b'{"o": {"i": 1, "i": 2}, "o": 3}', Duplicate("o", "o")),
        # Keys are compared as JSON reads them: an escape is the character it stands for.
        (b'{"content": 1, "cont\\u0065nt": 2}', Duplicate("content", "content")),
    ],
)
def test_a_repeated_key_is_found_with_its_path(body: bytes, found: Duplicate) -> None:
    orjson.loads(body)  # what the gateway reads
    assert duplicate_key(body) == found


@pytest.mark.parametrize(
    "body",
    [
        b'{"a": {"k": 1}, "b": {"k": 1}}',
        b'[{"k": 1}, {"k": 2}]',
        b'{"k": "k", "v": {"k": "k"}}',
        b"[]",
        b"{}",
    ],
)
def test_the_same_key_in_different_objects_is_no_repeat(body: bytes) -> None:
    assert duplicate_key(body) is None


def test_a_body_nested_deeper_than_python_reads_is_unchecked_not_passed() -> None:
    depth = 1000  # orjson reads up to 1024 levels; Python 3.11's reader stops at its recursion limit
    body = b'{"a": 1, "a": ' + b"[" * depth + b"]" * depth + b"}"
    orjson.loads(body)
    # Either way it is refused: found where Python reads that deep, unchecked where it does not.
    assert duplicate_key(body) in (Duplicate("a", "a"), Duplicate("", "", unchecked=True))
    assert duplicate_key(b'{"a": ' + b"[" * depth + b"]" * depth + b"}") in (
        None,
        Duplicate("", "", unchecked=True),
    )
