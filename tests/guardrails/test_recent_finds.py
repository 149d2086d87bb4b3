"""A text scanned lately is not scanned again by the same scanner; another scanner (a changed
policy, another account) scans it itself; the memory kept is bounded and keeps no scanner alive."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Iterator

from sluicegate.guardrails.detector import Detector
from sluicegate.guardrails.policy import parse_policy
from sluicegate.guardrails.recent_finds import ENTRY_BYTES, RecentFinds
from sluicegate.guardrails.scanner import Scanner, builtin_detectors
from sluicegate.pipeline.guardrails import Guardrails

HISTORY = "Earlier turn: write to jane.doe@example.com about the 12 open tickets of sprint 40. " * 3


class Counting(Detector):
    """A detector that counts the texts it scans."""

    scans = 0

    def scan(self, data: bytes) -> Iterator[tuple[int, int]]:
        Counting.scans += 1
        return super().scan(data)


def counting_email() -> Counting:
    return Counting("email", "email", r"[a-z.]+@[a-z]+\.[a-z]+", max_len=64)


def test_a_long_text_sent_again_is_not_scanned_again_and_is_found_alike() -> None:
    scanner = Scanner([counting_email(), *builtin_detectors(["phone"])])
    before = Counting.scans
    first = scanner.find(HISTORY)
    again = scanner.find(HISTORY)
    assert first == again
    assert [span.entity for span in first] == ["email"] * 3
    assert Counting.scans - before == 1
    scanner.find(HISTORY + " A new turn.")  # another text: scanned
    assert Counting.scans - before == 2


def test_a_short_text_is_scanned_each_time() -> None:
    scanner = Scanner([counting_email()])
    before = Counting.scans
    for _ in range(2):
        assert len(scanner.find("mail a.b@c.de")) == 1
    assert Counting.scans - before == 2


def test_a_scanner_for_another_policy_reads_nothing_an_earlier_one_found() -> None:
    text = "Call +1 (415) 555-2671 or write to jane.doe@example.com, as agreed in the meeting."
    emails, phones = Scanner(builtin_detectors(["email"])), Scanner(builtin_detectors(["phone"]))
    assert [span.entity for span in emails.find(text)] == ["email"]
    assert [span.entity for span in phones.find(text)] == ["phone"]


def test_what_is_kept_is_bounded_oldest_first() -> None:
    texts = [str(n) * 100 for n in range(4)]
    recent: RecentFinds[tuple[int, ...]] = RecentFinds(most_bytes=3 * (sys.getsizeof(texts[0]) + ENTRY_BYTES))
    for number, text in enumerate(texts):
        recent.put(7, text, (number,))
    assert recent.get(7, texts[0]) is None  # the oldest went to make room
    assert [recent.get(7, text) for text in texts[1:]] == [(1,), (2,), (3,)]
    assert recent.get(8, texts[1]) is None


def test_a_scanner_no_longer_used_is_not_kept_alive_by_what_it_found() -> None:
    scanner = Scanner(builtin_detectors())
    scanner.find(HISTORY)
    gone = weakref.ref(scanner)
    del scanner
    gc.collect()
    assert gone() is None


def test_each_account_has_its_own_scanners_even_for_the_same_policy() -> None:
    """How fast a text is read again must tell no account what another sent."""
    guardrails, policy = Guardrails(), parse_policy({"pii": {"action": "redact"}})
    red, blue = guardrails.compiled("red", policy), guardrails.compiled("blue", policy)
    assert red is guardrails.compiled("red", policy)
    assert red.guard.scanner("request", "redact") is not blue.guard.scanner("request", "redact")
