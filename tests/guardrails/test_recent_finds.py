"""A text scanned lately is not scanned again by the same scanner; another scanner (a changed
policy) scans it itself; the memory kept is bounded."""

from __future__ import annotations

from collections.abc import Iterator

from sluicegate.guardrails.detector import Detector
from sluicegate.guardrails.recent_finds import ENTRY_CHARS, RecentFinds
from sluicegate.guardrails.scanner import Scanner, builtin_detectors

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
    recent: RecentFinds[tuple[int, ...]] = RecentFinds(most_chars=3 * (100 + ENTRY_CHARS))
    owner = object()
    texts = [str(n) * 100 for n in range(4)]
    for number, text in enumerate(texts):
        recent.put(owner, text, (number,))
    assert recent.get(owner, texts[0]) is None  # the oldest went to make room
    assert [recent.get(owner, text) for text in texts[1:]] == [(1,), (2,), (3,)]
    assert recent.get(object(), texts[1]) is None
