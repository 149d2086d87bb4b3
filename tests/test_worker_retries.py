"""How long `serve --workers N` waits before trying again a place that keeps dying at start while
another worker serves (tests/integration/test_worker_supervision.py runs the whole of it)."""

from __future__ import annotations

from sluicegate.workers import CRASH_LOOP, RETRY_MAX_SECONDS, retry_delay


def test_a_crash_looping_place_is_tried_again_ever_later_up_to_a_minute() -> None:
    delays = [retry_delay(deaths) for deaths in range(CRASH_LOOP, CRASH_LOOP + 8)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]
    # A config broken for days while the other worker serves: still a minute, never an overflow
    # (2.0 ** 1024 raises OverflowError, which would take the parent down).
    assert retry_delay(CRASH_LOOP + 5000) == RETRY_MAX_SECONDS
