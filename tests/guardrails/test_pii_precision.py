"""Detector precision: what the built-in detectors took for personal data that is none (versions,
local addresses, order and serial numbers, kebab-case names, SSH remotes), and addresses in
letters of any script that they cut short."""

from __future__ import annotations

import pytest

from sluicegate.guardrails.placeholders import Vault
from sluicegate.guardrails.scanner import Scanner, builtin_detectors
from sluicegate.guardrails.stream import StreamRedactor

SCANNER = Scanner(builtin_detectors())


def found(text: str) -> list[tuple[str, str]]:
    return [(span.entity, text[span.start : span.end]) for span in SCANNER.find(text)]


def streamed(text: str, size: int) -> str:
    """`text` redacted as a stream of `size`-character pieces."""
    redactor = StreamRedactor(SCANNER, Vault())
    pieces = [text[index : index + size] for index in range(0, len(text), size)]
    return "".join(redactor.feed(piece) for piece in pieces) + redactor.close()


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("escribe a maría.garcía@correo.es hoy", "maría.garcía@correo.es"),
        ("schreib jürgen.müller@beispiel.de.", "jürgen.müller@beispiel.de"),
        ("écrivez à rené@société.fr", "rené@société.fr"),
        ("写信给 用户@例子.广告", "用户@例子.广告"),
        ("(Zoë@example.com)", "Zoë@example.com"),
    ],
)
def test_an_address_in_any_script_is_found_whole(text: str, address: str) -> None:
    assert found(text) == [("email", address)]


def test_an_address_in_any_script_is_found_whole_however_streamed() -> None:
    text = "escribe a maría.garcía@correo.es hoy"
    for size in (1, 2, 3, 5, 8):
        assert streamed(text, size) == "escribe a [EMAIL_1] hoy"
