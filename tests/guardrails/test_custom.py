"""Custom detectors: bounded RE2 patterns and word lists."""

from __future__ import annotations

import pytest

from sluicegate.guardrails.custom import PatternError, pattern_detector, pattern_width, word_detector
from sluicegate.guardrails.scanner import Scanner


def found(scanner: Scanner, text: str) -> list[str]:
    return [text[span.start : span.end] for span in scanner.find(text)]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        (r"EMP-[0-9]+", "more than 128 characters"),
        (r"x*", "can match empty text"),
        (r"(a", "not a valid RE2 pattern"),
        (r"(?<=a)b", "not a valid RE2 pattern"),  # look-behind: RE2 refuses what it cannot run in linear time
        (r"\pL{3}", "cannot be measured"),
    ],
)
def test_refuses_patterns_it_cannot_bound(pattern: str, reason: str) -> None:
    with pytest.raises(PatternError, match=reason):
        pattern_width(pattern)


def test_pattern_finds_every_match_and_reports_its_rule() -> None:
    scanner = Scanner([pattern_detector("employee", [r"EMP-[0-9]{4,6}", r"E[0-9]{7}"])])
    text = "EMP-1234, E1234567 and EMP-99"
    assert found(scanner, text) == ["EMP-1234", "E1234567"]
    assert {span.detector for span in scanner.find(text)} == {"custom.employee"}
    assert {span.entity for span in scanner.find(text)} == {"employee"}


def test_words_match_whole_words_longest_first_ignoring_case() -> None:
    scanner = Scanner([word_detector("codename", ["falcon", "Project Falcon", "C++"])])
    text = "PROJECT FALCON, falconry, Falcon and C++!"
    assert found(scanner, text) == ["PROJECT FALCON", "Falcon", "C++"]


def test_case_sensitive_words() -> None:
    scanner = Scanner([word_detector("codename", ["Falcon"], case_sensitive=True)])
    assert found(scanner, "falcon Falcon") == ["Falcon"]
